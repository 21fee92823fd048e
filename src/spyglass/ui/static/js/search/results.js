// Search results: count, sort order, download, compare selection, the scatter plot and
// the list (root service: operation, duration, spans, errors, spans per service in
// service colours, start time).

import { serviceColor, registerServices } from "../colors.js";
import { pageUrl } from "../config.js";
import { downloadText, h, replace } from "../dom.js";
import { toast } from "../errors.js";
import { formatAgo, formatDayTime, formatDuration, plural, shortId } from "../format.js";
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

/**
 * Renders ``summaries`` into ``container``. ``title`` heads the list; ``notices`` are
 * elements shown above it; ``onOpen(traceID)`` opens a trace; ``onCompare(a, b)``.
 */
export function renderResults(container, { summaries, title = null, notices = [], onOpen, onCompare, downloadName = "spyglass-traces" }) {
  const selected = new Set();
  let stopScatter = () => {};
  registerServices(new Set(summaries.flatMap((t) => t.services.map((svc) => svc.name))));

  const count = h("h2", { class: "results-count" }, title || plural(summaries.length, "Trace"));
  const sortSelect = h(
    "select",
    { "aria-label": "Sort results", class: "sort-select", onChange: (e) => { sortOrder = e.target.value; drawList(); } },
    SORT_ORDERS.map((o) => h("option", { value: o.value }, o.label)),
  );
  sortSelect.value = sortOrder;
  const compareButton = h("button", { type: "button", class: "compare-button", disabled: true, onClick: () => { const [a, b] = [...selected]; onCompare(a, b); } }, "Compare traces");
  const downloadButton = h("button", { type: "button", onClick: download, disabled: !summaries.length }, "Download results");
  const toolbar = h(
    "div",
    { class: "results-toolbar" },
    count,
    h("div", { class: "results-actions" }, h("label", { class: "inline-label" }, h("span", null, "Sort"), sortSelect), compareButton, downloadButton),
  );
  const scatter = h("div", { class: "scatter-wrap card" });
  const list = h("ol", { class: "result-list", "aria-label": "Traces" });

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
        const box = list.querySelector(`li[data-trace-id="${CSS.escape(first)}"] .compare-check`);
        if (box) box.checked = false;
      }
    } else selected.delete(id);
    updateCompare();
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
  replace(container, ...notices, toolbar, scatter, list);
  stopScatter = renderScatter(scatter, summaries, { onOpen });
  drawList();
  updateCompare();
  return {
    destroy() {
      stopScatter();
    },
  };
}
