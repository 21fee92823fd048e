// The span detail panel: what the span is and when it ran, warnings (adjuster notes,
// clock-skew hints, missing parents), tags, process tags, logs with times relative to
// the trace start, and references/links that navigate to the other span — inside this
// trace, or to another trace's page.

import { serviceColor } from "../colors.js";
import { pageUrl } from "../config.js";
import { h } from "../dom.js";
import { toast } from "../errors.js";
import { formatDuration, formatOffset, formatTimestamp, plural } from "../format.js";
import { findSpan, isSameTrace } from "./model.js";
import { spanSemantics } from "./semantics.js";

const MAX_LOGS = 200;

function valueText(tag) {
  const v = tag.value;
  if (typeof v === "string") {
    const t = v.trim();
    if ((t.startsWith("{") && t.endsWith("}")) || (t.startsWith("[") && t.endsWith("]"))) {
      try {
        return JSON.stringify(JSON.parse(t), null, 2);
      } catch {
        return v;
      }
    }
    return v;
  }
  if (v === null || v === undefined) return "";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

function kvTable(items, label) {
  if (!items || !items.length) return h("p", { class: "muted detail-empty" }, `No ${label}.`);
  return h(
    "table",
    { class: "kv-table", "aria-label": label },
    h(
      "tbody",
      null,
      items.map((kv) => h("tr", { class: kv.key === "error" && (kv.value === true || kv.value === "true") ? "kv-error" : "" }, h("td", { class: "key" }, kv.key), h("td", { class: "value", title: kv.type || "" }, valueText(kv)))),
    ),
  );
}

function section(title, count, body, open = true) {
  return h("details", { class: "detail-section", open }, h("summary", null, h("span", null, title), count === null ? null : h("span", { class: "badge" }, String(count))), body);
}

function copy(text, what) {
  if (navigator.clipboard && navigator.clipboard.writeText) {
    navigator.clipboard.writeText(text).then(
      () => toast(`Copied ${what}.`, "ok", 2000),
      () => toast(`Could not copy ${what}; select it by hand.`, "error"),
    );
  } else toast(`Could not copy ${what}; select it by hand.`, "error");
}

function refLabel(ref, isParent) {
  if (isParent) return ref.refType === "FOLLOWS_FROM" ? "Parent (follows from)" : "Parent (child of)";
  return ref.refType === "CHILD_OF" ? "Child of" : "Follows from / link";
}

/** A link to a span of another trace that opens that trace with the span selected. */
function otherTraceLink(traceID, spanID, text) {
  return h("a", { href: pageUrl(`/trace/${encodeURIComponent(traceID)}?uiFind=${encodeURIComponent(spanID)}`), class: "ref-link" }, text);
}

/** List items for spans of other traces linking to ``span`` (backlinks.js). */
export function backlinkItems(links) {
  return links.map((link) =>
    h(
      "li",
      { class: "backlink" },
      h("span", { class: "ref-type" }, "Linked from"),
      otherTraceLink(link.traceID, link.spanID, [
        h("span", { class: "swatch", style: { "--swatch": serviceColor(link.serviceName) } }),
        `${link.serviceName}: ${link.operationName}`,
        h("span", { class: "mono faint" }, ` in trace ${link.traceID.slice(0, 7)}`),
      ]),
    ),
  );
}

/** List items for the span's parent reference (optional) and its links, each navigable. */
export function linkItems(span, model, onJump, withParent = true) {
  const refs = [];
  if (withParent && span.parentRef) refs.push([span.parentRef, true]);
  for (const ref of span.links) refs.push([ref, false]);
  return refs.map(([ref, isParent]) => {
    const same = isSameTrace(model, ref.traceID);
    const target = same ? findSpan(model, ref.spanID) : null;
    let link;
    if (same && target) {
      link = h(
        "a",
        {
          href: pageUrl(`/trace/${model.traceID}?uiFind=${encodeURIComponent(target.spanID)}`),
          class: "ref-link",
          onClick: (e) => {
            e.preventDefault();
            onJump(target);
          },
        },
        h("span", { class: "swatch", style: { "--swatch": serviceColor(target.serviceName) } }),
        `${target.serviceName}: ${target.operationName}`,
        h("span", { class: "mono faint" }, ` ${target.spanID}`),
      );
    } else if (same) {
      link = h("span", null, h("span", { class: "mono" }, ref.spanID), h("span", { class: "muted" }, " — not in this trace"));
    } else {
      link = otherTraceLink(ref.traceID, ref.spanID, `span ${ref.spanID} in trace ${ref.traceID}`);
    }
    return h("li", null, h("span", { class: "ref-type" }, refLabel(ref, isParent)), link);
  });
}

function referenceList(span, model, onJump, backlinks) {
  const items = [...linkItems(span, model, onJump), ...backlinkItems(backlinks)];
  if (!items.length) return h("p", { class: "muted detail-empty" }, "No references: this is a root span.");
  return h("ul", { class: "ref-list" }, items);
}

/**
 * The panel for ``span``. ``onClose()`` closes it; ``onJump(span)`` shows another span of
 * this trace.
 */
export function renderSpanDetail(span, model, { onClose, onJump, backlinks = [] }) {
  const sem = spanSemantics(span);
  const color = serviceColor(span.serviceName);
  const warnings = [...span.warnings, ...span.uiWarnings];
  const spanLink = pageUrl(`/trace/${model.traceID}?uiFind=${encodeURIComponent(span.spanID)}`);
  const meta = [
    ["Service", span.serviceName],
    ["Duration", formatDuration(span.duration)],
    ["Self time", formatDuration(span.selfTime)],
    ["Start", `${formatOffset(span.relStart)} · ${formatTimestamp(span.startTime)}`],
    ["Kind", sem.category !== "generic" ? sem.label : span.kind || "—"],
    ["Children", String(span.children.length)],
  ];
  const logs = span.logs.slice(0, MAX_LOGS).map((log) => {
    const eventField = (log.fields || []).find((f) => f.key === "event" || f.key === "message");
    return h(
      "details",
      { class: "log-entry", open: span.logs.length <= 5 },
      h("summary", null, h("span", { class: "log-time mono" }, formatOffset(log.timestamp - model.startTime)), h("span", { class: "log-event" }, eventField ? String(eventField.value) : `${plural((log.fields || []).length, "field")}`)),
      kvTable(log.fields || [], "log fields"),
    );
  });
  if (span.logs.length > MAX_LOGS) logs.push(h("p", { class: "muted" }, `${span.logs.length - MAX_LOGS} more logs are not shown; download the trace JSON to see them all.`));

  return h(
    "section",
    { class: "span-detail", "aria-label": `Span details: ${span.serviceName} ${span.operationName}`, dataset: { spanId: span.spanID } },
    h(
      "header",
      { class: "detail-header" },
      h("span", { class: "swatch big", style: { "--swatch": color } }),
      h("h2", { class: "detail-title" }, h("span", { class: "detail-svc", style: { color } }, `${span.serviceName}: `), span.operationName),
      span.hasError ? h("span", { class: "badge error" }, "Error") : null,
      h("span", { class: "detail-id mono", title: "Span ID" }, span.spanID),
      h("button", { type: "button", class: "small ghost", onClick: () => copy(span.spanID, "the span ID") }, "Copy ID"),
      h("button", { type: "button", class: "small ghost", onClick: () => copy(new URL(spanLink, window.location.href).href, "a link to this span") }, "Copy link"),
      h("button", { type: "button", class: "small icon-button detail-close", "aria-label": "Close span details", title: "Close (Esc)", onClick: onClose }, "×"),
    ),
    h("dl", { class: "detail-meta" }, meta.map(([k, v]) => h("div", null, h("dt", null, k), h("dd", null, v)))),
    warnings.length ? h("div", { class: "detail-warnings", role: "note" }, h("strong", null, plural(warnings.length, "warning")), h("ul", null, warnings.map((w) => h("li", null, w)))) : null,
    h(
      "div",
      { class: "detail-sections" },
      section("Tags", span.tags.length, kvTable(span.tags, "tags")),
      section(`Process: ${span.process.serviceName || span.serviceName}`, (span.process.tags || []).length, kvTable(span.process.tags || [], "process tags"), false),
      section("Logs", span.logs.length, logs.length ? h("div", { class: "log-list" }, logs) : h("p", { class: "muted detail-empty" }, "No logs."), span.logs.length > 0),
      section("References", (span.parentRef ? 1 : 0) + span.links.length + backlinks.length, referenceList(span, model, onJump, backlinks), true),
    ),
  );
}
