// The compare page (``/trace/{a}...{b}``, Jaeger UI's URL; ``/compare`` starts empty):
// both traces' call structures merged into one graph, each node outlined by how it
// changed from A to B (added, removed, different call count, slower, faster), with a
// table of the changes below.

import { getTrace } from "../api.js";
import { registerServices, serviceColor } from "../colors.js";
import { pageUrl } from "../config.js";
import { h, replace, s, uid } from "../dom.js";
import { ApiError, errorBox, messageBox } from "../errors.js";
import { formatDuration, formatNumber, plural, shortId } from "../format.js";
import { getLocalTrace } from "../local-traces.js";
import { navigate } from "../router.js";
import { buildTraceModel } from "../trace/model.js";
import { buildStructure } from "../trace/structure.js";
import { layoutDag } from "../ui/dag-layout.js";
import { createGraphCanvas, fitText } from "../ui/graph-canvas.js";
import { diffStructures, KIND_TEXT, KINDS } from "./diff.js";

const NODE_W = 230;
const NODE_H = 64;

function idsFrom(ctx) {
  let { a, b } = ctx.params;
  const cohort = ctx.query.getAll("cohort");
  if (!a && cohort[0]) a = cohort[0];
  if (!b && cohort[1]) b = cohort[1];
  return { a: (a || "").trim(), b: (b || "").trim() };
}

async function loadSide(id, signal) {
  const local = getLocalTrace(id);
  return buildTraceModel(local || (await getTrace(id, { signal })));
}

function sideSummary(letter, id, model, failed) {
  const body = model
    ? [h("div", { class: "side-title" }, h("span", { style: { color: serviceColor(model.root.serviceName) } }, `${model.root.serviceName}: `), model.root.operationName), h("div", { class: "side-meta" }, `${shortId(model.traceID)} · ${formatDuration(model.duration)} · ${plural(model.spans.length, "span")}${model.errorCount ? ` · ${plural(model.errorCount, "error")}` : ""}`)]
    : [h("div", { class: "side-title" }, id ? `Trace ${id}` : "No trace chosen"), h("div", { class: "side-meta" }, failed ? "could not be loaded" : "enter a trace ID above")];
  return h("div", { class: `compare-side ${letter.toLowerCase()}` }, h("span", { class: "side-letter" }, letter), h("div", { class: "side-body" }, body), model ? h("a", { class: "button small", href: pageUrl(`/trace/${model.traceID}`) }, "Open") : null);
}

function legend() {
  return h(
    "div",
    { class: "compare-legend", "aria-label": "Legend" },
    KINDS.map((k) => h("span", { class: "legend-item" }, h("span", { class: `legend-swatch ${k}` }), KIND_TEXT[k])),
  );
}

function tagFor(node) {
  const { a, b, kind } = node;
  if (kind === "added") return `+${formatNumber(b.count)} new`;
  if (kind === "removed") return `−${formatNumber(a.count)} gone`;
  if (kind === "changed") return `×${formatNumber(a.count)} → ×${formatNumber(b.count)}`;
  if (kind === "slower" || kind === "faster") {
    const pct = ((b.avg - a.avg) / Math.max(1, a.avg)) * 100;
    return `${pct > 0 ? "+" : ""}${pct.toFixed(0)}%`;
  }
  return "=";
}

function sideText(x) {
  return x ? `×${formatNumber(x.count)} ${formatDuration(x.avg)}` : "—";
}

export function mount(container, ctx) {
  let controller = new AbortController();
  let canvas = null;
  const idA = uid("trace-a");
  const idB = uid("trace-b");
  const inputA = h("input", { id: idA, type: "text", placeholder: "Trace ID", spellcheck: "false", autocomplete: "off", "data-primary-input": "" });
  const inputB = h("input", { id: idB, type: "text", placeholder: "Trace ID", spellcheck: "false", autocomplete: "off" });
  const form = h(
    "form",
    { class: "compare-form", "aria-label": "Traces to compare" },
    h("div", { class: "field" }, h("label", { for: idA }, "Trace A"), inputA),
    h("button", { type: "button", class: "ghost", title: "Swap A and B", "aria-label": "Swap A and B", onClick: () => { [inputA.value, inputB.value] = [inputB.value, inputA.value]; submit(); } }, "⇄"),
    h("div", { class: "field" }, h("label", { for: idB }, "Trace B"), inputB),
    h("button", { type: "submit", class: "primary" }, "Compare"),
  );
  const sides = h("div", { class: "compare-sides" });
  const header = h("header", { class: "compare-header" }, h("div", { class: "compare-top" }, h("h1", null, "Compare traces"), form), sides, legend());
  const body = h("div", { class: "compare-body" });
  replace(container, h("div", { class: "compare-page" }, header, body));

  function submit() {
    const a = inputA.value.trim();
    const b = inputB.value.trim();
    navigate(`/trace/${encodeURIComponent(a)}...${encodeURIComponent(b)}`);
  }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    submit();
  });

  async function load(ids) {
    controller.abort();
    controller = new AbortController();
    if (canvas) canvas.destroy();
    canvas = null;
    inputA.value = ids.a;
    inputB.value = ids.b;
    replace(sides, sideSummary("A", ids.a, null, false), sideSummary("B", ids.b, null, false));
    if (!ids.a || !ids.b) {
      replace(body, h("div", { class: "page-message" }, messageBox({ kind: "info", title: "Choose two traces", message: "Enter two trace IDs above, or tick two traces in the search results and press Compare traces." })));
      return;
    }
    replace(body, h("div", { class: "loading-row", role: "status" }, h("div", { class: "spinner" }), "Loading both traces…"));
    const signal = controller.signal;
    const [ra, rb] = await Promise.allSettled([loadSide(ids.a, signal), loadSide(ids.b, signal)]);
    if (signal.aborted) return;
    const ma = ra.status === "fulfilled" ? ra.value : null;
    const mb = rb.status === "fulfilled" ? rb.value : null;
    replace(sides, sideSummary("A", ids.a, ma, !ma), sideSummary("B", ids.b, mb, !mb));
    if (!ma || !mb) {
      const boxes = [];
      for (const [letter, id, r] of [["A", ids.a, ra], ["B", ids.b, rb]]) {
        if (r.status !== "rejected") continue;
        const err = r.reason;
        const notFound = err instanceof ApiError && err.status === 404;
        boxes.push(errorBox(err, { title: notFound ? `Trace ${letter} not found` : `Could not load trace ${letter}`, retry: () => load(ids) }));
        if (notFound) boxes[boxes.length - 1].querySelector(".message-text").textContent = `No trace with ID ${id} is in storage.`;
      }
      replace(body, h("div", { class: "page-message compare-errors" }, h("div", { class: "stack" }, boxes)));
      return;
    }
    draw(ma, mb);
  }

  function draw(ma, mb) {
    registerServices(new Set([...ma.services, ...mb.services].map((svc) => svc.name)));
    const diff = diffStructures(buildStructure(ma), buildStructure(mb));
    const byId = new Map(diff.nodes.map((n) => [n.id, n]));
    const layout = layoutDag(
      { nodes: diff.nodes.map((n) => ({ id: n.id, width: NODE_W, height: NODE_H })), edges: diff.nodes.filter((n) => n.parentId).map((n) => ({ from: n.parentId, to: n.id })) },
      { direction: "TB", rankSep: 44, nodeSep: 18 },
    );
    canvas = createGraphCanvas({
      layout,
      direction: "TB",
      ariaLabel: `Comparison graph: ${plural(diff.nodes.length, "call path")}`,
      drawNode: (id) => {
        const node = byId.get(id);
        return s(
          "g",
          { class: `diff-node ${node.kind}`, dataset: { kind: node.kind } },
          s("title", null, `${node.service} ${node.operation}: ${KIND_TEXT[node.kind]}`),
          s("rect", { class: "node-box", width: NODE_W, height: NODE_H, rx: 6 }),
          s("rect", { class: "node-stripe", width: 5, height: NODE_H, rx: 2, style: { fill: serviceColor(node.service) } }),
          s("text", { class: "node-service", x: 14, y: 18 }, fitText(node.service, NODE_W - 100)),
          s("text", { class: "node-tag", x: NODE_W - 10, y: 18, "text-anchor": "end" }, tagFor(node)),
          s("text", { class: "node-op", x: 14, y: 36 }, fitText(node.operation, NODE_W - 24)),
          s("text", { class: "node-stats", x: 14, y: 53 }, `A ${sideText(node.a)}  ·  B ${sideText(node.b)}`),
        );
      },
    });
    const changed = diff.nodes.filter((n) => n.kind !== "same");
    const summary = `${plural(diff.nodes.length, "call path")}: ${KINDS.filter((k) => diff.counts[k]).map((k) => `${diff.counts[k]} ${KIND_TEXT[k]}`).join(", ")}`;
    const table = changed.length
      ? h(
          "table",
          { class: "data-table diff-table", "aria-label": "Changed call paths" },
          h("thead", null, h("tr", null, ["Change", "Service", "Operation", "Calls A", "Calls B", "Avg A", "Avg B"].map((c, i) => h("th", { scope: "col", class: i >= 3 ? "num" : "" }, c)))),
          h(
            "tbody",
            null,
            changed.map((n) =>
              h(
                "tr",
                null,
                h("td", { class: `kind ${n.kind}` }, KIND_TEXT[n.kind][0].toUpperCase() + KIND_TEXT[n.kind].slice(1)),
                h("td", null, n.service),
                h("td", null, n.operation),
                h("td", { class: "num" }, n.a ? formatNumber(n.a.count) : "—"),
                h("td", { class: "num" }, n.b ? formatNumber(n.b.count) : "—"),
                h("td", { class: "num" }, n.a ? formatDuration(n.a.avg) : "—"),
                h("td", { class: "num" }, n.b ? formatDuration(n.b.avg) : "—"),
              ),
            ),
          ),
        )
      : h("p", { class: "muted", style: { padding: "10px 20px" } }, "The two traces have the same call structure and similar timings.");
    replace(body, h("div", { class: "graph-legend compare-summary", role: "status" }, summary), canvas.element, h("div", { class: "diff-table-wrap" }, table));
  }

  load(idsFrom(ctx));
  return {
    update(next) {
      load(idsFrom(next));
      return true;
    },
    unmount() {
      controller.abort();
      if (canvas) canvas.destroy();
    },
  };
}
