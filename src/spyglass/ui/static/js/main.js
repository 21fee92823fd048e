// Entry point: theme, keyboard, error handlers, the trace-ID box in the navigation bar,
// then the router draws the page for the current URL.

import { initKeyboard } from "./keyboard.js";
import { installGlobalHandlers } from "./errors.js";
import { navigate, preloadPages, startRouter } from "./router.js";
import { initSession } from "./session.js";
import { initTheme, toggleTheme } from "./theme.js";

function initLookup() {
  const form = document.getElementById("trace-lookup");
  if (!form) return;
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const input = form.elements.namedItem("traceID");
    const ids = input.value.split(/[\s,]+/).map((v) => v.trim()).filter(Boolean);
    if (!ids.length) return;
    input.value = "";
    input.blur();
    if (ids.length === 1) navigate(`/trace/${encodeURIComponent(ids[0])}`);
    else navigate(`/search?${ids.map((id) => `traceID=${encodeURIComponent(id)}`).join("&")}`);
  });
}

installGlobalHandlers();
initTheme();
initKeyboard({ toggleTheme });
initLookup();
initSession();
startRouter(document.getElementById("main")).then(() => {
  const idle = window.requestIdleCallback || ((fn) => setTimeout(fn, 200));
  idle(() => preloadPages());
});
