// Who is signed in (security/login.py): asks ``/auth/me`` once and, when the server
// authenticates, shows the user in the navigation bar with a "Sign out" button. A request
// the server refuses with 401 (the session ended: expired, signed out elsewhere, credential
// revoked) sends the browser to the sign-in page, back to the same page afterwards.

import { config } from "./config.js";

const signInUrl = () => `${config.basePath}/login?next=${encodeURIComponent(location.pathname + location.search)}`;

let mode = "none";

/** Called by the API client on a 401: go and sign in again (when there is a sign-in page). */
export function sessionEnded() {
  if (mode === "basic" || mode === "bearer" || mode === "oidc") location.assign(signInUrl());
}

async function signOut() {
  try {
    await fetch(`${config.basePath}/auth/logout`, { method: "POST", credentials: "same-origin" });
  } finally {
    location.assign(`${config.basePath}/login`);
  }
}

function render(me) {
  const header = document.querySelector("header.topnav");
  if (!header || document.getElementById("session-user")) return;
  const box = document.createElement("div");
  box.className = "session";
  box.id = "session-user";
  const who = document.createElement("span");
  who.className = "session-name";
  who.textContent = me.user;
  who.title = `Signed in as ${me.user}${me.tenant ? ` (tenant ${me.tenant})` : ""}; roles: ${(me.roles || []).join(", ")}`;
  const label = document.createElement("span");
  label.className = "session-label";
  label.textContent = "Signed in as";
  const out = document.createElement("button");
  out.type = "button";
  out.className = "session-signout";
  out.id = "sign-out";
  out.textContent = "Sign out";
  out.addEventListener("click", signOut);
  box.append(label, who);
  if (me.tenant) {
    const tenant = document.createElement("span");
    tenant.className = "session-tenant";
    tenant.textContent = me.tenant;
    box.append(tenant);
  }
  box.append(out);
  const before = document.getElementById("help-button");
  header.insertBefore(box, before || null);
}

/** Ask the server who we are; draws the header box when signed in. */
export async function initSession() {
  let response;
  try {
    response = await fetch(`${config.basePath}/auth/me`, { credentials: "same-origin", headers: { Accept: "application/json" } });
  } catch {
    return;
  }
  if (response.status === 401) {
    mode = "basic"; // any authenticating mode: the sign-in page knows which form to show
    sessionEnded();
    return;
  }
  if (!response.ok || !(response.headers.get("Content-Type") || "").startsWith("application/json")) return;
  const me = await response.json();
  mode = me.mode || "none";
  if (mode !== "none" && me.user) render(me);
}
