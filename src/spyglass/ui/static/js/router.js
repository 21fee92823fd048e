// Client-side routing with the History API. Paths follow Jaeger UI's, so pasted links
// keep working: /search?..., /trace/{id}, /trace/{a}...{b}, /dependencies, /monitor.
// Pages are ES modules loaded on first use; each exports
//   mount(container, ctx) -> { unmount(), update?(ctx) -> bool }
// where ctx = { name, params, query (URLSearchParams), path }.

import { config } from "./config.js";
import { h, replace } from "./dom.js";
import { errorBox, messageBox } from "./errors.js";

const ROUTES = [
  { name: "search", test: (p) => (p === "/" || p === "/search" ? {} : null), load: () => import("./search/page.js"), title: "Search" },
  { name: "compare", test: (p) => (p === "/compare" ? { a: "", b: "" } : null), load: () => import("./compare/page.js"), title: "Compare" },
  {
    name: "compare",
    test: (p) => {
      const m = /^\/trace\/([^/]*)\.\.\.([^/]*)\/?$/.exec(p);
      return m ? { a: decodeURIComponent(m[1]), b: decodeURIComponent(m[2]) } : null;
    },
    load: () => import("./compare/page.js"),
    title: "Compare",
  },
  {
    name: "trace",
    test: (p) => {
      const m = /^\/trace\/([^/]+)\/?$/.exec(p);
      return m ? { id: decodeURIComponent(m[1]) } : null;
    },
    load: () => import("./trace/page.js"),
    title: "Trace",
  },
  { name: "dependencies", test: (p) => (p === "/dependencies" ? {} : null), load: () => import("./deps/page.js"), title: "System Architecture" },
  { name: "deep-dependencies", test: (p) => (p === "/deep-dependencies" ? {} : null), load: () => import("./ddg/page.js"), title: "Deep Dependency Graph" },
  { name: "monitor", test: (p) => (p === "/monitor" ? {} : null), load: () => import("./monitor/page.js"), title: "Monitor" },
  { name: "query", test: (p) => (p === "/query" ? {} : null), load: () => import("./query/page.js"), title: "Query" },
];

let container = null;
let current = null; // { name, page }
let renderToken = 0;
const listeners = new Set();

function relativePath(pathname) {
  const base = config.basePath;
  if (base && (pathname === base || pathname.startsWith(`${base}/`))) return pathname.slice(base.length) || "/";
  return pathname || "/";
}

function resolve(path) {
  for (const route of ROUTES) {
    const params = route.test(path);
    if (params) return { route, params };
  }
  return null;
}

/** The current route context. */
export function currentContext() {
  const path = relativePath(window.location.pathname);
  const found = resolve(path);
  return {
    name: found ? found.route.name : "not-found",
    params: found ? found.params : {},
    query: new URLSearchParams(window.location.search),
    path,
  };
}

/** Goes to ``path`` (relative to the base path, may include ``?query``). */
export function navigate(path, { replace: replaceState = false } = {}) {
  const url = config.basePath + path;
  if (replaceState) window.history.replaceState(null, "", url);
  else window.history.pushState(null, "", url);
  render();
}

/** Changes the query string without re-rendering the page (view state kept in the URL). */
export function setQuery(params, { replace: replaceState = true } = {}) {
  const q = params instanceof URLSearchParams ? params : new URLSearchParams(params);
  const text = q.toString();
  const url = `${window.location.pathname}${text ? `?${text}` : ""}`;
  if (replaceState) window.history.replaceState(null, "", url);
  else window.history.pushState(null, "", url);
}

export function onRouteChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function markNav(name) {
  for (const link of document.querySelectorAll(".nav-links a[data-nav]")) {
    const active = link.dataset.nav === name || (name === "trace" && link.dataset.nav === "search");
    if (active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function notFound(target, path) {
  replace(
    target,
    h(
      "div",
      { class: "page-message" },
      messageBox({
        kind: "warning",
        title: "Page not found",
        message: `There is no Spyglass page at ${path}.`,
        actions: [h("a", { class: "button", href: `${config.basePath}/search` }, "Go to search")],
      }),
    ),
  );
}

/** Draws the page for the current URL. */
export async function render() {
  const token = ++renderToken;
  const ctx = currentContext();
  markNav(ctx.name);
  for (const fn of listeners) fn(ctx);
  if (current && current.name === ctx.name && current.page && current.page.update && current.page.update(ctx)) return;
  if (current && current.page && current.page.unmount) current.page.unmount();
  current = null;
  const found = resolve(ctx.path);
  if (!found) {
    document.title = "Not found · Spyglass";
    notFound(container, ctx.path);
    return;
  }
  document.title = `${found.route.title} · Spyglass`;
  let module;
  try {
    module = await found.route.load();
  } catch (err) {
    if (token !== renderToken) return;
    const failure = new Error(`The server did not send this page's scripts (${err.message}). Check that Spyglass is running, then try again.`);
    replace(container, h("div", { class: "page-message" }, errorBox(failure, { title: "Could not load this page's code", retry: () => window.location.reload() })));
    return;
  }
  if (token !== renderToken) return;
  const target = h("div", { class: `page page-${ctx.name}` });
  replace(container, target);
  container.scrollTop = 0;
  current = { name: ctx.name, page: module.mount(target, ctx) };
}

function onClick(e) {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target instanceof Element ? e.target.closest("a[href]") : null;
  if (!a || a.target || a.hasAttribute("download") || a.dataset.external !== undefined) return;
  const url = new URL(a.href, window.location.href);
  if (url.origin !== window.location.origin) return;
  const path = relativePath(url.pathname);
  if (config.basePath && !(url.pathname === config.basePath || url.pathname.startsWith(`${config.basePath}/`))) return;
  if (path.startsWith("/api/") || path.startsWith("/static/")) return;
  e.preventDefault();
  navigate(path + url.search + url.hash);
}

/**
 * Loads every page's modules in the background once the first page is up, so moving
 * between pages is instant and still works if the server goes away (the page then shows
 * the API's "cannot reach" message instead of failing to load its code).
 */
export function preloadPages() {
  const all = [...new Set(ROUTES.map((r) => r.load))];
  return Promise.allSettled(all.map((load) => load())).then((results) => {
    if (results.every((r) => r.status === "fulfilled")) document.documentElement.dataset.pagesLoaded = "true";
  });
}

export function startRouter(target) {
  container = target;
  document.addEventListener("click", onClick);
  window.addEventListener("popstate", () => render());
  return render();
}
