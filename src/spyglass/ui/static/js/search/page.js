// The search page (``/`` and ``/search``). The URL holds the search (Jaeger UI's
// parameters), so results can be linked, reloaded and reached with Back; the form fills
// itself from the URL and submitting it changes the URL.

import { getTracesByIds, searchTraces } from "../api.js";
import { h, replace } from "../dom.js";
import { errorBox, InputError, messageBox } from "../errors.js";
import { loadTraceFiles } from "../file-loader.js";
import { plural } from "../format.js";
import { addLocalTraces, clearLocalTraces, localTraces } from "../local-traces.js";
import { parseTagsParam } from "../logfmt.js";
import { lookbackRange } from "../lookback.js";
import { navigate } from "../router.js";
import { summarizeTrace } from "../trace/summary.js";
import { createSearchForm, DEFAULT_LIMIT } from "./form.js";
import { renderResults } from "./results.js";

const PANEL_KEY = "spyglass.searchPanel";

function loading(text) {
  return h("div", { class: "loading-row", role: "status" }, h("div", { class: "spinner", "aria-hidden": "true" }), h("span", null, text));
}

function emptyHelp() {
  return h(
    "div",
    { class: "empty-state" },
    h("h2", null, "Find traces"),
    h("p", null, "Choose a service and press Find traces, look up trace IDs, or open a JSON file of traces."),
    h("p", { class: "faint" }, "Press ? for keyboard shortcuts."),
  );
}

export function mount(container, ctx) {
  const results = h("section", { class: "search-results", "aria-label": "Search results", "aria-busy": "false" });
  let controller = null;
  let view = { destroy() {} };
  let currentQuery = ctx.query.toString();

  const form = createSearchForm({
    onSearch: (q) => {
      // a new search keeps the results view (table, graph) the user chose
      const view = new URLSearchParams(window.location.search).get("view");
      const next = new URLSearchParams(q);
      if (view && next.get("service")) next.set("view", view);
      const text = next.toString();
      navigate(`/search?${text}`, { replace: text === currentQuery });
    },
    onFiles: openFiles,
  });
  // The search panel folds away to give the results the whole width; the choice is kept.
  const layout = h("div", { class: "search-layout" }, form.element, results);
  const panelToggle = h("button", { type: "button", class: "small panel-toggle", "aria-controls": "search-sidebar", onClick: () => setPanel(!layout.classList.contains("panel-collapsed")) });
  form.element.id = "search-sidebar";
  function setPanel(collapsed) {
    layout.classList.toggle("panel-collapsed", collapsed);
    form.element.hidden = collapsed;
    panelToggle.textContent = collapsed ? "Show search" : "Hide search";
    panelToggle.setAttribute("aria-expanded", String(!collapsed));
    try {
      localStorage.setItem(PANEL_KEY, collapsed ? "collapsed" : "open");
    } catch {
      // private mode: not remembered
    }
  }
  let startCollapsed = false;
  try {
    startCollapsed = localStorage.getItem(PANEL_KEY) === "collapsed";
  } catch {
    startCollapsed = false;
  }
  setPanel(startCollapsed);
  replace(container, h("div", { class: "search-page" }, h("div", { class: "search-page-bar" }, panelToggle), layout));

  function show(...children) {
    view.destroy();
    view = { destroy() {} };
    results.setAttribute("aria-busy", "false");
    replace(results, ...children);
  }

  function showSummaries(summaries, options) {
    view.destroy();
    results.setAttribute("aria-busy", "false");
    view = renderResults(results, {
      summaries,
      onOpen: (id) => navigate(`/trace/${id}`),
      onCompare: (a, b) => navigate(`/trace/${a}...${b}`),
      onSearchNode: (service, operation) => {
        const q = new URLSearchParams(window.location.search);
        for (const key of ["traceID", "operation", "tags", "view", "minDuration", "maxDuration"]) q.delete(key);
        q.set("service", service);
        if (operation) q.set("operation", operation);
        navigate(`/search?${q}`);
      },
      view: new URLSearchParams(window.location.search).get("view") || "list",
      ...options,
    });
  }

  function begin(text) {
    if (controller) controller.abort();
    controller = new AbortController();
    show(loading(text));
    results.setAttribute("aria-busy", "true");
    return controller.signal;
  }

  async function run(query) {
    currentQuery = query.toString();
    const ids = query.getAll("traceID").flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean);
    const service = query.get("service");
    if (!ids.length && !service) {
      if (controller) controller.abort();
      const local = localTraces();
      if (local.length) showLocal(local, []);
      else show(emptyHelp());
      return;
    }
    const signal = begin(ids.length ? `Looking up ${plural(ids.length, "trace")}…` : "Searching…");
    try {
      if (ids.length) {
        const began = performance.now();
        const { traces, missing } = await getTracesByIds(ids, { signal });
        const elapsedMs = performance.now() - began;
        const notices = missing.length
          ? [messageBox({ kind: "warning", title: missing.length === 1 ? "Trace not found" : `${missing.length} traces not found`, message: `No trace with ID ${missing.join(", ")} is in storage.` })]
          : [];
        if (!traces.length) notices.push(h("div", { class: "empty-state" }, h("h2", null, "No traces found")));
        showSummaries(traces.map(summarizeTrace), { notices, elapsedMs, downloadName: "spyglass-traces" });
        return;
      }
      let tags;
      try {
        tags = parseTagsParam(query.get("tags") || "");
      } catch (err) {
        throw new InputError(`The tags in the address are not valid: ${err.message}`, { detail: query.get("tags") });
      }
      let start = Number(query.get("start"));
      let end = Number(query.get("end"));
      if (!start || !end) ({ start, end } = lookbackRange(query.get("lookback") || "1h"));
      const form = {
        service,
        operation: query.get("operation") || "",
        tags,
        start,
        end,
        minDuration: query.get("minDuration") || "",
        maxDuration: query.get("maxDuration") || "",
        limit: Number(query.get("limit")) || DEFAULT_LIMIT,
      };
      const began = performance.now();
      const found = await searchTraces(form, { signal });
      const elapsedMs = performance.now() - began;
      const summaries = found.traces ? found.traces.map(summarizeTrace) : found.summaries;
      const notices = summaries.length
        ? []
        : [h("div", { class: "empty-state" }, h("h2", null, "No traces found"), h("p", null, "Try a longer lookback, fewer tags or a wider duration range."))];
      showSummaries(summaries, { notices, elapsedMs, focal: { service, operation: form.operation } });
    } catch (err) {
      if (err.name === "AbortError") return;
      show(h("div", { class: "results-message" }, errorBox(err, { title: err instanceof InputError ? "Cannot search with this address" : null, retry: () => run(query) })));
    }
  }

  function showLocal(traces, problems) {
    const notices = problems.map((err) => errorBox(err, { title: "Could not open a file" }));
    if (!traces.length) {
      show(...notices);
      return;
    }
    const clearButton = h("button", { type: "button", class: "small", onClick: () => { clearLocalTraces(); show(emptyHelp()); } }, "Close files");
    notices.push(messageBox({ kind: "info", title: `${plural(traces.length, "trace")} opened from files`, message: "These traces are kept in this browser tab only.", actions: [clearButton] }));
    showSummaries(traces.map(summarizeTrace), { notices, title: plural(traces.length, "Trace"), downloadName: "spyglass-file-traces" });
  }

  async function openFiles(files) {
    const signal = begin(`Opening ${plural(files.length, "file")}…`);
    try {
      const { traces, problems } = await loadTraceFiles(files, { signal });
      addLocalTraces(traces);
      showLocal(traces.length ? localTraces() : [], problems);
    } catch (err) {
      if (err.name === "AbortError") return;
      show(errorBox(err, { title: "Could not open the files" }));
    }
  }

  form.start(ctx.query);
  if (ctx.query.get("source") === "file") form.showFileTab();
  run(ctx.query);

  return {
    update(next) {
      form.fill(next.query);
      run(next.query);
      return true;
    },
    unmount() {
      if (controller) controller.abort();
      view.destroy();
      form.destroy();
    },
  };
}
