// Search results: count and the time the search took, sort order, download, compare
// selection, the scatter plot, and three views of the traces: the list (root service:
// operation, duration, spans, errors, spans per service in service colours, start time),
// a table with sortable columns, and the deep dependency graph of the results' traces
// (ddg/). The view is kept in the URL (``view=table`` / ``view=ddg``); the compare
// selection is shared by the list and the table.

import { serviceColor, registerServices } from "../colors.js";
import { pageUrl } from "../config.js";
import { pathsFromTraces } from "../ddg/paths.js";
import { createDdgView } from "../ddg/view.js";
import { downloadText, h, replace } from "../dom.js";
import { toast } from "../errors.js";
import { formatAgo, formatDayTime, formatDuration, formatNumber, plural, shortId } from "../format.js";
import { setQuery } from "../router.js";
import { renderScatter } from "./scatter.js";
import { DEFAULT_SORT, SORT_ORDERS, sortSummaries } from "./sort.js";

let sortOrder = DEFAULT_SORT;

function resultItem(t, maxDuration, selected, onToggle) {
  const color = serviceColor(t.rootService);
  const checkbox = h("input", {
    type: "checkbox",
    class: "compare-check",
    checked: selected.has(t.traceID),
    "aria-label": `Select trace ${shortId(t.traceID)} for comparison`,
    onChange: (e) => onToggle(t.traceID, e.target.checked),
  });
  const href = pageUrl(`/trace/${t.traceID}`);
  const width = maxDuration > 0 ? Math.max(0.5, (t.duration / maxDuration) * 100) : 0;
  return h(
    "li",
    { class: "result-item card", dataset: { traceId: t.traceID } },
    h(
      "div",
      { class: "result-head", style: { "--svc": color } },
      checkbox,
      h(
        "a",
        { class: "result-title", href },
        h("span", { class: "result-service" }, `${t.rootService || "unknown"}: `),
        h("span", { class: "result-op" }, t.rootOperation || "(no root span)"),
      ),
      h("span", { class: "result-id mono", title: t.traceID }, shortId(t.traceID)),
      h("span", { class: "result-duration" }, formatDuration(t.duration)),
    ),
    h("div", { class: "result-bar", "aria-hidden": "true" }, h("div", { style: { width: `${width}%`, background: color } })),
    h(
      "div",
      { class: "result-body" },
      h(
        "div",
        { class: "result-counts" },
        h("span", { class: "badge" }, plural(t.spanCount, "Span")),
        t.errorCount ? h("span", { class: "badge error" }, plural(t.errorCount, "Error")) : null,
        t.sampling ? h("span", { class: "badge sampling", title: "The SDK's sampling decision on the root span" }, `sampler: ${t.sampling.type}${t.sampling.param === null ? "" : ` ${t.sampling.param}`}`) : null,
        t.orphanCount ? h("span", { class: "badge warn", title: "Spans whose parent is missing from the trace" }, `${t.orphanCount} orphan${t.orphanCount === 1 ? "" : "s"}`) : null,
      ),
      h(
        "ul",
        { class: "result-services", "aria-label": "Spans per service" },
        t.services.map((svc) =>
          h("li", { class: "pill", style: { "--pill-color": serviceColor(svc.name) }, title: `${svc.name}: ${plural(svc.count, "span")}` }, h("span", { class: "ellipsis" }, svc.name), h("span", { class: "pill-count" }, String(svc.count))),
        ),
      ),
      h("div", { class: "result-time" }, h("span", null, formatDayTime(t.startTime)), h("span", { class: "muted" }, formatAgo(t.startTime))),
    ),
  );
}

const TABLE_COLUMNS = [
  { key: "name", label: "Trace name", value: (t) => `${t.rootService}: ${t.rootOperation}`.toLowerCase(), numeric: false },
  { key: "services", label: "Services", value: (t) => t.services.length, numeric: true },
  { key: "spans", label: "Spans", value: (t) => t.spanCount, numeric: true },
  { key: "errors", label: "Errors", value: (t) => t.errorCount, numeric: true },
  { key: "duration", label: "Duration", value: (t) => t.duration, numeric: true },
  { key: "start", label: "Start time", value: (t) => t.startTime, numeric: true },
];
let tableSort = { key: "start", dir: "desc" };
const VIEWS = [
  ["list", "List"],
  ["table", "Table"],
  ["ddg", "Deep Dependency Graph"],
];

function resultsTable(summaries, selected, onToggle, onSort) {
  const col = TABLE_COLUMNS.find((c) => c.key === tableSort.key) || TABLE_COLUMNS[5];
  const sign = tableSort.dir === "asc" ? 1 : -1;
  const sorted = [...summaries].sort((a, b) => {
    const x = col.value(a);
    const y = col.value(b);
    return (x < y ? -1 : x > y ? 1 : 0) * sign || b.startTime - a.startTime;
  });
  const head = h(
    "tr",
    null,
    h("th", { scope: "col", class: "check-col" }, h("span", { class: "visually-hidden" }, "Compare")),
    TABLE_COLUMNS.map((c) => {
      const active = c.key === tableSort.key;
      const sortAttr = active ? (tableSort.dir === "asc" ? "ascending" : "descending") : "none";
      return h(
        "th",
        { scope: "col", class: c.numeric ? "num" : "", "aria-sort": sortAttr, dataset: { col: c.key } },
        h("button", { type: "button", class: "sort-header", onClick: () => onSort(c.key) }, c.label, h("span", { class: "sort-mark", "aria-hidden": "true" }, active ? (tableSort.dir === "asc" ? " ▲" : " ▼") : "")),
      );
    }),
  );
  const rows = sorted.map((t) =>
    h(
      "tr",
      { class: "result-row", dataset: { traceId: t.traceID } },
      h("td", { class: "check-col" }, h("input", { type: "checkbox", class: "compare-check", checked: selected.has(t.traceID), "aria-label": `Select trace ${shortId(t.traceID)} for comparison`, onChange: (e) => onToggle(t.traceID, e.target.checked) })),
      h("td", { class: "name-col" }, h("a", { href: pageUrl(`/trace/${t.traceID}`), class: "result-table-title" }, h("span", { class: "swatch", style: { "--swatch": serviceColor(t.rootService) } }), ` ${t.rootService || "unknown"}: ${t.rootOperation || "(no root span)"}`), h("span", { class: "mono faint" }, ` ${shortId(t.traceID)}`)),
      h("td", { class: "num", title: t.services.map((svc) => `${svc.name} (${svc.count})`).join(", ") }, formatNumber(t.services.length)),
      h("td", { class: "num" }, formatNumber(t.spanCount)),
      h("td", { class: `num${t.errorCount ? " error-text" : ""}` }, formatNumber(t.errorCount)),
      h("td", { class: "num" }, formatDuration(t.duration)),
      h("td", { class: "num" }, formatDayTime(t.startTime)),
    ),
  );
  return h("table", { class: "data-table results-table", "aria-label": "Traces" }, h("thead", null, head), h("tbody", null, rows));
}

/**
 * Renders ``summaries`` into ``container``. ``title`` heads the list; ``notices`` are
 * elements shown above it; ``onOpen(traceID)`` opens a trace; ``onCompare(a, b)``.
 */
export function renderResults(container, { summaries, title = null, notices = [], onOpen, onCompare, onSearchNode = null, downloadName = "spyglass-traces", elapsedMs = null, focal = null, view = "list" }) {
  const selected = new Set();
  let stopScatter = () => {};
  let ddgView = null;
  let currentView = VIEWS.some(([v]) => v === view) ? view : "list";
  registerServices(new Set(summaries.flatMap((t) => t.services.map((svc) => svc.name))));

  const count = h(
    "h2",
    { class: "results-count" },
    title || plural(summaries.length, "Trace"),
    elapsedMs === null ? null : h("span", { class: "search-time", title: "Time from sending the search to receiving the results" }, ` found in ${formatDuration(elapsedMs * 1000)}`),
  );
  const sortSelect = h(
    "select",
    { "aria-label": "Sort results", class: "sort-select", onChange: (e) => { sortOrder = e.target.value; drawList(); } },
    SORT_ORDERS.map((o) => h("option", { value: o.value }, o.label)),
  );
  sortSelect.value = sortOrder;
  const compareButton = h("button", { type: "button", class: "compare-button", disabled: true, onClick: () => { const [a, b] = [...selected]; onCompare(a, b); } }, "Compare traces");
  const downloadButton = h("button", { type: "button", onClick: download, disabled: !summaries.length }, "Download results");
  const sortLabel = h("label", { class: "inline-label" }, h("span", null, "Sort"), sortSelect);
  const viewTabs = h(
    "div",
    { class: "tabs results-views", role: "tablist", "aria-label": "Results view" },
    VIEWS.map(([key, label]) => h("button", { type: "button", role: "tab", dataset: { view: key }, "aria-selected": String(key === currentView), onClick: () => showView(key) }, label)),
  );
  const toolbar = h(
    "div",
    { class: "results-toolbar" },
    count,
    h("div", { class: "results-actions" }, viewTabs, sortLabel, compareButton, downloadButton),
  );
  const scatter = h("div", { class: "scatter-wrap card" });
  const list = h("ol", { class: "result-list", "aria-label": "Traces" });
  const tableWrap = h("div", { class: "results-table-wrap card" });
  const ddgWrap = h("div", { class: "results-ddg" });

  function updateCompare() {
    compareButton.disabled = selected.size !== 2;
    compareButton.textContent = selected.size ? `Compare traces (${selected.size}/2)` : "Compare traces";
  }

  function onToggle(id, on) {
    if (on) {
      selected.add(id);
      if (selected.size > 2) {
        const [first] = selected;
        selected.delete(first);
        for (const box of container.querySelectorAll(`[data-trace-id="${CSS.escape(first)}"] .compare-check`)) box.checked = false;
      }
    } else selected.delete(id);
    for (const box of container.querySelectorAll(`[data-trace-id="${CSS.escape(id)}"] .compare-check`)) box.checked = selected.has(id);
    updateCompare();
  }

  function drawTable() {
    replace(tableWrap, resultsTable(summaries, selected, onToggle, (key) => {
      tableSort = tableSort.key === key ? { key, dir: tableSort.dir === "asc" ? "desc" : "asc" } : { key, dir: key === "name" ? "asc" : "desc" };
      drawTable();
      const th = tableWrap.querySelector(`th[data-col="${key}"] button`);
      if (th) th.focus();
    }));
  }

  function ddgFocus() {
    if (focal && focal.service) return focal;
    const counts = new Map();
    for (const t of summaries) counts.set(t.rootService, (counts.get(t.rootService) || 0) + 1);
    const top = [...counts].sort((a, b) => b[1] - a[1])[0];
    return { service: top ? top[0] : "", operation: "" };
  }

  function drawDdg(target) {
    if (ddgView) ddgView.destroy();
    const traces = summaries.filter((t) => t.trace).map((t) => t.trace);
    if (!traces.length) {
      ddgView = null;
      replace(ddgWrap, h("p", { class: "muted" }, "This server returned trace summaries only; open the service-wide graph instead."), h("a", { class: "button small", href: pageUrl(`/deep-dependencies?service=${encodeURIComponent(target.service)}`) }, "Service-wide graph"));
      return;
    }
    ddgView = createDdgView({
      payload: pathsFromTraces(traces, target.service, target.operation),
      focal: target,
      onFocus: (service, operation) => drawDdg({ service, operation }),
      onTraces: (service, operation) => (onSearchNode ? onSearchNode(service, operation) : null),
    });
    const q = new URLSearchParams({ service: target.service });
    if (target.operation) q.set("operation", target.operation);
    replace(
      ddgWrap,
      h("p", { class: "ddg-source muted" }, `Computed from the ${plural(traces.length, "trace")} of these results. `, h("a", { href: pageUrl(`/deep-dependencies?${q}`) }, "Service-wide graph from stored traces")),
      ddgView.element,
    );
  }

  function showView(key) {
    currentView = key;
    for (const tab of viewTabs.children) tab.setAttribute("aria-selected", String(tab.dataset.view === key));
    scatter.hidden = key === "ddg";
    list.hidden = key !== "list";
    tableWrap.hidden = key !== "table";
    ddgWrap.hidden = key !== "ddg";
    sortLabel.hidden = key !== "list";
    if (key === "table") drawTable();
    if (key === "ddg") drawDdg(ddgFocus());
    const q = new URLSearchParams(window.location.search);
    if (key === "list") q.delete("view");
    else q.set("view", key);
    setQuery(q);
  }

  function drawList() {
    const sorted = sortSummaries(summaries, sortOrder);
    const maxDuration = Math.max(0, ...summaries.map((t) => t.duration));
    replace(list, sorted.map((t) => resultItem(t, maxDuration, selected, onToggle)));
  }

  function download() {
    const full = summaries.filter((t) => t.trace).map((t) => t.trace);
    const payload = full.length === summaries.length ? { data: full } : { summaries: summaries.map(({ trace, ...rest }) => rest) };
    const stamp = new Date().toISOString().replace(/[:.]/g, "-");
    downloadText(`${downloadName}-${stamp}.json`, JSON.stringify(payload, null, 2));
    toast(`Downloaded ${plural(summaries.length, "trace")}.`, "ok");
  }

  if (!summaries.length) {
    replace(container, ...notices);
    return { destroy() {} };
  }
  replace(container, ...notices, toolbar, scatter, list, tableWrap, ddgWrap);
  stopScatter = renderScatter(scatter, summaries, { onOpen });
  drawList();
  updateCompare();
  tableWrap.hidden = true;
  ddgWrap.hidden = true;
  if (currentView !== "list") showView(currentView);
  return {
    destroy() {
      stopScatter();
      if (ddgView) ddgView.destroy();
    },
  };
}
