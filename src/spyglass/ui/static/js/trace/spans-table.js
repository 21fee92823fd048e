// The spans table: every span as a row (service, operation, span ID, start offset,
// duration, self time, kind, error), filterable and sortable. Rows are virtualised like
// the timeline's, so it stays quick at 100,000 spans. Activating a row opens the span
// in the timeline.

import { serviceColor } from "../colors.js";
import { debounce, h, rafThrottle, replace, uid } from "../dom.js";
import { formatDuration, formatNumber, formatOffset } from "../format.js";

const ROW_H = 30;
const OVERSCAN = 10;
const COLUMNS = [
  { key: "serviceName", label: "Service", get: (s) => s.serviceName },
  { key: "operationName", label: "Operation", get: (s) => s.operationName },
  { key: "spanID", label: "Span ID", get: (s) => s.spanID },
  { key: "relStart", label: "Start", num: true, get: (s) => s.relStart, fmt: formatOffset },
  { key: "duration", label: "Duration", num: true, get: (s) => s.duration, fmt: formatDuration },
  { key: "selfTime", label: "Self", num: true, get: (s) => s.selfTime, fmt: formatDuration },
  { key: "kind", label: "Kind", get: (s) => s.kind },
  { key: "hasError", label: "Error", num: true, get: (s) => (s.hasError ? 1 : 0), fmt: (v) => (v ? "error" : "") },
];

export function createSpansTable(model, { onOpenSpan }) {
  let rows = model.spans;
  let sortKey = "relStart";
  let desc = false;
  const filterId = uid("span-filter");
  const filter = h("input", { id: filterId, type: "search", placeholder: "Filter by service, operation or span ID", autocomplete: "off" });
  const count = h("span", { class: "muted", "aria-live": "polite" });
  const head = h("div", { class: "st-row st-head", role: "row" });
  const spacer = h("div", { class: "st-spacer" });
  const body = h("div", { class: "st-body", role: "rowgroup", tabindex: "0", "aria-label": "Spans" }, spacer);
  const element = h(
    "div",
    { class: "view-spans", dataset: { view: "spans" } },
    h("div", { class: "view-toolbar" }, h("label", { class: "visually-hidden", for: filterId }, "Filter spans"), filter, count),
    h("div", { class: "spans-table", role: "table", "aria-label": "Spans of the trace" }, head, body),
  );
  let focusedPos = 0;

  function drawHead() {
    replace(
      head,
      COLUMNS.map((c) =>
        h(
          "div",
          { class: `st-cell${c.num ? " num" : ""}`, role: "columnheader", "aria-sort": c.key === sortKey ? (desc ? "descending" : "ascending") : "none" },
          h("button", { type: "button", class: "sort-button", onClick: () => { if (sortKey === c.key) desc = !desc; else { sortKey = c.key; desc = Boolean(c.num) && c.key !== "relStart"; } apply(); } }, c.label, c.key === sortKey ? (desc ? " ▾" : " ▴") : ""),
        ),
      ),
    );
  }

  function apply() {
    const text = filter.value.trim().toLowerCase();
    rows = text ? model.spans.filter((s) => s.serviceName.toLowerCase().includes(text) || s.operationName.toLowerCase().includes(text) || s.spanID.toLowerCase().includes(text)) : [...model.spans];
    const col = COLUMNS.find((c) => c.key === sortKey);
    rows.sort((a, b) => {
      const x = col.get(a);
      const y = col.get(b);
      const cmp = typeof x === "string" ? x.localeCompare(y) : x - y;
      return (desc ? -cmp : cmp) || a.index - b.index;
    });
    count.textContent = text ? `${formatNumber(rows.length)} of ${formatNumber(model.spans.length)} spans` : `${formatNumber(rows.length)} spans`;
    spacer.style.height = `${rows.length * ROW_H}px`;
    focusedPos = Math.min(focusedPos, Math.max(0, rows.length - 1));
    drawHead();
    draw();
  }

  function rowEl(pos) {
    const span = rows[pos];
    return h(
      "div",
      { class: `st-row${span.hasError ? " has-error" : ""}${pos === focusedPos ? " is-focused" : ""}`, role: "row", style: { top: `${pos * ROW_H}px` }, dataset: { pos: String(pos), spanId: span.spanID } },
      COLUMNS.map((c) => {
        const v = c.get(span);
        if (c.key === "serviceName") return h("div", { class: "st-cell", role: "cell" }, h("span", { class: "swatch", style: { "--swatch": serviceColor(v) } }), h("span", { class: "ellipsis" }, v));
        return h("div", { class: `st-cell${c.num ? " num" : ""}${c.key === "spanID" ? " mono" : ""}`, role: "cell", title: typeof v === "string" ? v : "" }, c.fmt ? c.fmt(v) : v);
      }),
    );
  }

  function draw() {
    const top = body.scrollTop;
    const height = body.clientHeight || 500;
    const first = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
    const last = Math.min(rows.length - 1, Math.ceil((top + height) / ROW_H) + OVERSCAN);
    const out = [];
    for (let p = first; p <= last; p++) out.push(rowEl(p));
    replace(spacer, out);
  }

  filter.addEventListener("input", debounce(apply, 150));
  body.addEventListener("scroll", rafThrottle(draw), { passive: true });
  body.addEventListener("click", (e) => {
    const row = e.target.closest(".st-row");
    if (row) onOpenSpan(rows[Number(row.dataset.pos)]);
  });
  body.addEventListener("keydown", (e) => {
    const page = Math.max(1, Math.floor((body.clientHeight || 500) / ROW_H) - 1);
    const moves = { ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page };
    if (e.key in moves) {
      focusedPos = Math.max(0, Math.min(rows.length - 1, focusedPos + moves[e.key]));
      const top = focusedPos * ROW_H;
      if (top < body.scrollTop) body.scrollTop = top;
      else if (top + ROW_H > body.scrollTop + body.clientHeight) body.scrollTop = top + ROW_H - body.clientHeight;
      draw();
    } else if (e.key === "Enter" && rows[focusedPos]) onOpenSpan(rows[focusedPos]);
    else return;
    e.preventDefault();
    e.stopPropagation();
  });
  const observer = new ResizeObserver(() => draw());
  observer.observe(body);
  apply();
  return { element, destroy: () => observer.disconnect() };
}
