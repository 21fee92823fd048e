// The trace page header: the trace's name, ID and key figures (start, duration,
// services, depth, span count, errors) and trace-level warnings.

import { serviceColor } from "../colors.js";
import { h } from "../dom.js";
import { toast } from "../errors.js";
import { formatDuration, formatNumber, formatTimestamp, plural } from "../format.js";

export function renderTraceSummary(model, { fromFile }) {
  const color = serviceColor(model.root.serviceName);
  const copyId = () => {
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(model.traceID).then(() => toast("Copied the trace ID.", "ok", 2000), () => toast("Could not copy the trace ID.", "error"));
    }
  };
  const title = h(
    "div",
    { class: "th-title-block" },
    h("h1", { class: "th-title", title: model.name }, h("span", { class: "th-svc", style: { color } }, `${model.root.serviceName}: `), h("span", null, model.root.operationName)),
    h(
      "div",
      { class: "th-sub" },
      h("span", { class: "mono th-id", title: "Trace ID" }, model.traceID),
      h("button", { type: "button", class: "small ghost", onClick: copyId }, "Copy ID"),
      fromFile ? h("span", { class: "badge" }, "Opened from a file") : null,
    ),
  );
  const stats = [
    ["Trace start", formatTimestamp(model.startTime)],
    ["Duration", formatDuration(model.duration)],
    ["Services", formatNumber(model.services.length)],
    ["Depth", formatNumber(model.depth)],
    ["Total spans", formatNumber(model.spans.length)],
  ];
  const statList = h(
    "dl",
    { class: "th-stats" },
    stats.map(([k, v]) => h("div", null, h("dt", null, k), h("dd", null, v))),
    h("div", null, h("dt", null, "Errors"), h("dd", { class: model.errorCount ? "error-text" : "" }, formatNumber(model.errorCount))),
    model.orphanCount ? h("div", null, h("dt", null, "Orphans"), h("dd", { title: "Spans whose parent is missing" }, formatNumber(model.orphanCount))) : null,
  );
  const services = h(
    "ul",
    { class: "th-services", "aria-label": "Spans per service" },
    model.services.map((svc) => h("li", { class: "pill", style: { "--pill-color": serviceColor(svc.name) } }, h("span", { class: "ellipsis" }, svc.name), h("span", { class: "pill-count" }, String(svc.count)))),
  );
  const warnings = model.warnings.length
    ? h("div", { class: "detail-warnings trace-warnings", role: "note" }, h("strong", null, plural(model.warnings.length, "trace warning")), h("ul", null, model.warnings.map((w) => h("li", null, w))))
    : null;
  return { title, statList, services, warnings };
}
