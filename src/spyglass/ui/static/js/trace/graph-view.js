// The trace graph: the call structure (structure.js) as a top-down graph. Each node is a
// (service, operation) at one place in the call tree, with its call count, total time,
// share of self time and errors. Activating a node finds its spans in the timeline.

import { serviceColor } from "../colors.js";
import { h, s } from "../dom.js";
import { messageBox } from "../errors.js";
import { formatDuration, formatNumber, plural } from "../format.js";
import { layoutDag } from "../ui/dag-layout.js";
import { createGraphCanvas, fitText } from "../ui/graph-canvas.js";
import { buildStructure, MAX_NODES } from "./structure.js";

const NODE_W = 210;
const NODE_H = 62;

export function createGraphView(model, { onShowSpans }) {
  const structure = buildStructure(model);
  const list = [...structure.nodes.values()];
  const graph = {
    nodes: list.map((node) => ({ id: node.id, width: NODE_W, height: NODE_H })),
    edges: list.filter((node) => node.parent).map((node) => ({ from: node.parent.id, to: node.id })),
  };
  const layout = layoutDag(graph, { direction: "TB", rankSep: 44, nodeSep: 18 });
  const byId = new Map(list.map((node) => [node.id, node]));
  const totalSelf = model.duration || 1;

  const canvas = createGraphCanvas({
    layout,
    direction: "TB",
    ariaLabel: `Trace graph: ${plural(list.length, "node")}`,
    nodeLabel: (id) => {
      const node = byId.get(id);
      return `${node.service} ${node.operation}, ${plural(node.count, "call")}, ${formatDuration(node.total)}${node.errors ? `, ${plural(node.errors, "error")}` : ""}`;
    },
    drawNode: (id) => {
      const node = byId.get(id);
      const color = serviceColor(node.service);
      const share = Math.min(1, node.self / totalSelf);
      return s(
        "g",
        { class: `trace-graph-node${node.errors ? " has-error" : ""}` },
        s("rect", { class: "node-box", width: NODE_W, height: NODE_H, rx: 6 }),
        s("rect", { class: "node-stripe", width: 5, height: NODE_H, rx: 2, style: { fill: color } }),
        s("rect", { class: "node-self", x: 5, y: NODE_H - 4, width: Math.max(1, (NODE_W - 5) * share), height: 4, style: { fill: color } }),
        s("text", { class: "node-service", x: 14, y: 18 }, fitText(node.service, NODE_W - 60)),
        s("text", { class: "node-count", x: NODE_W - 10, y: 18, "text-anchor": "end" }, `×${formatNumber(node.count)}`),
        s("text", { class: "node-op", x: 14, y: 35 }, fitText(node.operation, NODE_W - 24)),
        s(
          "text",
          { class: "node-stats", x: 14, y: 51 },
          `${formatDuration(node.total)} · self ${((node.self / totalSelf) * 100).toFixed(1)}%`,
          node.errors ? s("tspan", { class: "node-errors" }, ` · ${node.errors} err`) : null,
        ),
      );
    },
    onActivate: (id) => {
      const node = byId.get(id);
      onShowSpans(node.spans, `${node.service} ${node.operation}`);
    },
  });

  const note = structure.truncated
    ? messageBox({ kind: "warning", title: "Graph cut short", message: `This trace has more than ${formatNumber(MAX_NODES)} distinct call paths; the graph shows the first ${formatNumber(MAX_NODES)} (from the top of the trace).` })
    : null;
  const legend = h(
    "div",
    { class: "graph-legend" },
    h("span", null, "Each box is one operation at one place in the call tree: "),
    h("strong", null, "×N"),
    h("span", null, " calls, total time and share of self time (the bar). Click a box to find its spans in the timeline."),
  );
  const element = h("div", { class: "view-graph", dataset: { view: "graph" } }, note, legend, canvas.element);
  return { element, destroy: canvas.destroy };
}
