// Errors the user should see, and how they are shown. Every failure (API answer, network,
// bad file, bug in the page) ends up as a visible message with a title saying what failed
// and, where it helps, what to do next; nothing is left in the console only.

import { h, replace } from "./dom.js";

/** The query service answered with an error status. */
export class ApiError extends Error {
  constructor(message, { status = 0, url = "", body = "" } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.url = url;
    this.body = body;
  }
}

/** The request never got an HTTP answer (server down, connection refused, timeout). */
export class NetworkError extends Error {
  constructor(message, { url = "", cause = null } = {}) {
    super(message);
    this.name = "NetworkError";
    this.url = url;
    this.cause = cause;
  }
}

/** Something the user typed or loaded cannot be used (malformed file, bad field). */
export class InputError extends Error {
  constructor(message, { detail = "" } = {}) {
    super(message);
    this.name = "InputError";
    this.detail = detail;
  }
}

/** A title for the message box: what kind of failure this is. */
export function errorTitle(err) {
  if (err instanceof NetworkError) return "Cannot reach the query service";
  if (err instanceof ApiError) {
    if (err.status === 404) return "Not found";
    if (err.status === 400) return "The query service rejected the request";
    if (err.status >= 500) return `The query service failed (HTTP ${err.status})`;
    return `The query service answered with an error (HTTP ${err.status})`;
  }
  if (err instanceof InputError) return "Cannot use this input";
  return "Something went wrong in the page";
}

/**
 * A message box element. ``kind`` is "error", "warning" or "info"; ``retry`` adds a
 * "Try again" button; ``actions`` are extra elements (links, buttons).
 */
export function messageBox({ kind = "error", title, message, detail = "", detailIsCode = false, retry = null, actions = [] }) {
  const icon = kind === "info" ? "i" : "!";
  const buttons = [...actions];
  if (retry) buttons.unshift(h("button", { type: "button", class: "small", onClick: retry }, "Try again"));
  return h(
    "div",
    { class: `message-box ${kind}`, role: kind === "info" ? "status" : "alert", dataset: { kind } },
    h("span", { class: "message-icon", "aria-hidden": "true" }, icon),
    h(
      "div",
      { class: "message-body" },
      h("h2", { class: "message-title" }, title),
      message ? h("p", { class: "message-text" }, message) : null,
      detail ? h("div", { class: `message-detail${detailIsCode ? " code" : ""}` }, detail) : null,
      buttons.length ? h("div", { class: "message-actions" }, buttons) : null,
    ),
  );
}

/** A message box for an error object. */
export function errorBox(err, { title = null, retry = null, actions = [] } = {}) {
  let detail = "";
  if (err instanceof ApiError && err.url) detail = `${err.status ? `HTTP ${err.status} · ` : ""}${err.url}`;
  else if (err instanceof NetworkError && err.url) detail = err.url;
  else if (err instanceof InputError) detail = err.detail;
  return messageBox({
    kind: "error",
    title: title || errorTitle(err),
    message: err && err.message ? err.message : String(err),
    detail,
    detailIsCode: !(err instanceof InputError),
    retry,
    actions,
  });
}

/** Replaces the content of ``container`` with a centred message for ``err``. */
export function showPageError(container, err, options = {}) {
  replace(container, h("div", { class: "page-message" }, errorBox(err, options)));
}

/** A dismissable banner under the navigation bar (for failures outside any page). */
export function showBanner(err, { title = null } = {}) {
  const area = document.getElementById("banner");
  if (!area) return;
  const text = err && err.message ? err.message : String(err);
  for (const existing of area.querySelectorAll(".message-text")) {
    if (existing.textContent === text) return; // the same failure is already shown
  }
  const dismiss = h("button", { type: "button", class: "small ghost", onClick: () => box.remove() }, "Dismiss");
  const box = errorBox(err, { title, actions: [dismiss] });
  area.appendChild(box);
  while (area.children.length > 3) area.firstChild.remove();
}

/** A short notice in the corner that goes away by itself. */
export function toast(text, kind = "info", ms = 4000) {
  const area = document.getElementById("toasts");
  if (!area) return;
  const el = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
  area.appendChild(el);
  setTimeout(() => el.remove(), ms);
}

/** Page bugs and rejected promises nobody handled become a banner, not a console line. */
export function installGlobalHandlers() {
  window.addEventListener("error", (e) => {
    if (!e.error && !e.message) return; // resource loading errors (images) are not ours
    showBanner(e.error || new Error(e.message), { title: "Something went wrong in the page" });
  });
  window.addEventListener("unhandledrejection", (e) => {
    const reason = e.reason;
    if (reason && reason.name === "AbortError") return;
    showBanner(reason instanceof Error ? reason : new Error(String(reason)));
  });
}
