// Trace statistics: per service and operation (or per service) the span count, total,
// average, minimum and maximum duration, self time and errors; sortable by any column.

import { serviceColor } from "../colors.js";
import { h, replace } from "../dom.js";
import { formatDuration, formatNumber, formatPercent } from "../format.js";
import { statistics } from "./model.js";

const COLUMNS = [
  { key: "service", label: "Service", num: false },
  { key: "operation", label: "Operation", num: false, opOnly: true },
  { key: "count", label: "Spans", num: true, fmt: formatNumber },
  { key: "total", label: "Total", num: true, fmt: formatDuration },
  { key: "avg", label: "Avg", num: true, fmt: formatDuration },
  { key: "min", label: "Min", num: true, fmt: formatDuration },
  { key: "max", label: "Max", num: true, fmt: formatDuration },
  { key: "selfTotal", label: "Self total", num: true, fmt: formatDuration },
  { key: "selfAvg", label: "Self avg", num: true, fmt: formatDuration },
  { key: "selfShare", label: "Self % of trace", num: true, fmt: (v) => formatPercent(v) },
  { key: "errors", label: "Errors", num: true, fmt: formatNumber },
];

export function createStatsView(model) {
  let by = "operation";
  let sortKey = "total";
  let desc = true;
  const table = h("table", { class: "data-table stats-table" });
  const groupSelect = h(
    "select",
    { "aria-label": "Group statistics by", onChange: (e) => { by = e.target.value; draw(); } },
    h("option", { value: "operation" }, "Service and operation"),
    h("option", { value: "service" }, "Service"),
  );
  const element = h(
    "div",
    { class: "view-stats", dataset: { view: "stats" } },
    h("div", { class: "view-toolbar" }, h("label", { class: "inline-label" }, h("span", null, "Group by"), groupSelect), h("span", { class: "muted" }, "Self time is time a span spent outside its children.")),
    h("div", { class: "table-scroll" }, table),
  );

  function draw() {
    const rows = statistics(model, by);
    const cols = COLUMNS.filter((c) => !(c.opOnly && by === "service"));
    if (!cols.some((c) => c.key === sortKey)) sortKey = "total";
    rows.sort((a, b) => {
      const x = a[sortKey];
      const y = b[sortKey];
      const cmp = typeof x === "string" ? x.localeCompare(y) : x - y;
      return desc ? -cmp : cmp;
    });
    const head = h(
      "tr",
      null,
      cols.map((c) => {
        const sorted = c.key === sortKey;
        return h(
          "th",
          { class: c.num ? "num" : "", scope: "col", "aria-sort": sorted ? (desc ? "descending" : "ascending") : "none" },
          h(
            "button",
            {
              type: "button",
              class: "sort-button",
              onClick: () => {
                if (sortKey === c.key) desc = !desc;
                else {
                  sortKey = c.key;
                  desc = c.num;
                }
                draw();
              },
            },
            c.label,
            sorted ? (desc ? " ▾" : " ▴") : "",
          ),
        );
      }),
    );
    const body = rows.map((r) =>
      h(
        "tr",
        { class: r.errors ? "has-error" : "" },
        cols.map((c) => {
          if (c.key === "service") return h("td", null, h("span", { class: "swatch", style: { "--swatch": serviceColor(r.service) } }), " ", r.service);
          if (!c.num) return h("td", { class: "mono-ish" }, r[c.key]);
          return h("td", { class: `num${c.key === "errors" && r.errors ? " error-text" : ""}` }, c.fmt(r[c.key]));
        }),
      ),
    );
    replace(table, h("thead", null, head), h("tbody", null, body));
  }
  draw();
  return { element, destroy() {} };
}
