// Draws a laid-out graph (see dag-layout.js) as SVG that can be panned (drag, or the
// wheel) and zoomed (Ctrl+wheel, the + / − buttons or keys). Nodes are drawn by the
// caller; they are focusable and activate with Enter, Space or a click.

import { h, s } from "../dom.js";
import { edgePath } from "./dag-layout.js";

let markerCount = 0;

// Graph text is set at 12px or more: the first view never shrinks it below that (a big
// graph opens at 1:1 around its first node instead), and Fit may enlarge a small graph up
// to twice its size so it fills the view.
const MIN_INITIAL_SCALE = 1;
const MAX_FIT_SCALE = 2;
const MAX_INITIAL_SCALE = 1.5;

/**
 * ``layout`` from layoutDag; ``drawNode(id, box)`` returns an SVG element drawn with its
 * top-left corner at (0, 0); ``edgeClass(edge)`` and ``edgeLabel(edge)`` style edges;
 * ``onActivate(id)`` runs when a node is activated. Returns { element, fit(), destroy() }.
 */
export function createGraphCanvas({ layout, direction = "TB", drawNode, edgeClass = () => "", edgeLabel = () => "", nodeLabel = () => "", onActivate = null, ariaLabel = "Graph" }) {
  markerCount += 1;
  const markerId = `arrow-${markerCount}`;
  const viewport = s("g", { class: "graph-viewport" });
  const svg = s(
    "svg",
    { class: "graph-svg", role: "group", "aria-label": ariaLabel, tabindex: "0" },
    s("defs", null, s("marker", { id: markerId, viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" }, s("path", { d: "M0,0 L10,5 L0,10 z", class: "graph-arrow" }))),
    viewport,
  );
  let scale = 1;
  let tx = 0;
  let ty = 0;
  const apply = () => viewport.setAttribute("transform", `translate(${tx},${ty}) scale(${scale})`);

  const edgeLayer = s("g", { class: "graph-edges" });
  const labelLayer = s("g", { class: "graph-edge-labels" });
  for (const edge of layout.edges) {
    edgeLayer.appendChild(s("path", { d: edgePath(edge.points, direction), class: `graph-edge ${edgeClass(edge)}`, "marker-end": `url(#${markerId})` }));
    const label = edgeLabel(edge);
    if (label) {
      const mid = edge.points[Math.floor(edge.points.length / 2)];
      const prev = edge.points[Math.floor(edge.points.length / 2) - 1] || mid;
      const x = (mid[0] + prev[0]) / 2;
      const y = (mid[1] + prev[1]) / 2;
      const width = label.length * 7.6 + 12;
      labelLayer.appendChild(s("g", { class: "graph-edge-label", transform: `translate(${x},${y})` }, s("rect", { x: -width / 2, y: -9, width, height: 18, rx: 9 }), s("text", { "text-anchor": "middle", y: 4 }, label)));
    }
  }
  const nodeLayer = s("g", { class: "graph-nodes" });
  for (const [id, box] of layout.nodes) {
    const g = s("g", { class: "graph-node", transform: `translate(${box.x - box.width / 2},${box.y - box.height / 2})`, dataset: { id } }, drawNode(id, box));
    if (onActivate) {
      g.setAttribute("tabindex", "0");
      g.setAttribute("role", "button");
      const label = nodeLabel(id);
      if (label) g.setAttribute("aria-label", label);
    }
    nodeLayer.appendChild(g);
  }
  viewport.append(edgeLayer, nodeLayer, labelLayer);

  const zoomBy = (factor, cx = null, cy = null) => {
    const rect = svg.getBoundingClientRect();
    const px = cx ?? rect.width / 2;
    const py = cy ?? rect.height / 2;
    const next = Math.min(4, Math.max(0.05, scale * factor));
    tx = px - ((px - tx) * next) / scale;
    ty = py - ((py - ty) * next) / scale;
    scale = next;
    apply();
  };
  const fit = (max) => {
    const cap = typeof max === "number" ? max : MAX_FIT_SCALE;
    const rect = svg.getBoundingClientRect();
    const w = rect.width || 800;
    const hgt = rect.height || 500;
    scale = Math.min(cap, Math.max(0.05, Math.min(w / layout.width, hgt / layout.height) * 0.96));
    tx = (w - layout.width * scale) / 2;
    ty = Math.max(0, (hgt - layout.height * scale) / 2);
    apply();
  };

  const toolbar = h(
    "div",
    { class: "graph-toolbar" },
    h("button", { type: "button", class: "small icon-button", "aria-label": "Zoom in", title: "Zoom in (+)", onClick: () => zoomBy(1.25) }, "+"),
    h("button", { type: "button", class: "small icon-button", "aria-label": "Zoom out", title: "Zoom out (−)", onClick: () => zoomBy(0.8) }, "−"),
    h("button", { type: "button", class: "small", title: "Fit the graph in view (0)", onClick: () => fit() }, "Fit"),
  );
  const element = h("div", { class: "graph-canvas" }, svg, toolbar);

  svg.addEventListener("wheel", (e) => {
    e.preventDefault();
    const rect = svg.getBoundingClientRect();
    if (e.ctrlKey || e.metaKey) zoomBy(e.deltaY < 0 ? 1.1 : 0.9, e.clientX - rect.left, e.clientY - rect.top);
    else {
      tx -= e.deltaX;
      ty -= e.deltaY;
      apply();
    }
  }, { passive: false });
  svg.addEventListener("pointerdown", (e) => {
    if (e.target.closest(".graph-node")) return;
    svg.setPointerCapture(e.pointerId);
    const start = [e.clientX, e.clientY, tx, ty];
    svg.classList.add("panning");
    const move = (ev) => {
      tx = start[2] + ev.clientX - start[0];
      ty = start[3] + ev.clientY - start[1];
      apply();
    };
    const up = () => {
      svg.classList.remove("panning");
      svg.removeEventListener("pointermove", move);
      svg.removeEventListener("pointerup", up);
    };
    svg.addEventListener("pointermove", move);
    svg.addEventListener("pointerup", up);
  });
  svg.addEventListener("keydown", (e) => {
    const node = e.target.closest && e.target.closest(".graph-node");
    if (node && onActivate && (e.key === "Enter" || e.key === " ")) {
      e.preventDefault();
      onActivate(node.dataset.id);
      return;
    }
    const stepPx = 40;
    if (e.key === "+" || e.key === "=") zoomBy(1.25);
    else if (e.key === "-") zoomBy(0.8);
    else if (e.key === "0") fit();
    else if (e.key === "ArrowLeft" && !node) tx += stepPx;
    else if (e.key === "ArrowRight" && !node) tx -= stepPx;
    else if (e.key === "ArrowUp" && !node) ty += stepPx;
    else if (e.key === "ArrowDown" && !node) ty -= stepPx;
    else return;
    e.preventDefault();
    e.stopPropagation();
    apply();
  });
  if (onActivate) {
    svg.addEventListener("click", (e) => {
      const node = e.target.closest(".graph-node");
      if (node) onActivate(node.dataset.id);
    });
  }
  // First view: the whole graph when it fits legibly; otherwise a readable zoom showing
  // the top of the graph around its first node (the root), to be panned from there.
  const initialView = () => {
    fit(MAX_INITIAL_SCALE);
    if (scale >= MIN_INITIAL_SCALE) return;
    const rect = svg.getBoundingClientRect();
    if (layout.width <= rect.width && layout.height <= rect.height) {
      // it fits at 1:1: centre it unscaled
      scale = MIN_INITIAL_SCALE;
      tx = (rect.width - layout.width) / 2;
      ty = Math.max(0, (rect.height - layout.height) / 2);
      apply();
      return;
    }
    scale = MIN_INITIAL_SCALE;
    let first = null;
    for (const box of layout.nodes.values()) if (!first || box.layer < first.layer || (box.layer === first.layer && box.x < first.x)) first = box;
    tx = rect.width / 2 - (first ? first.x : 0) * scale;
    ty = 20 - (first ? first.y - first.height / 2 : 0) * scale;
    apply();
  };
  let fitted = false;
  const observer = new ResizeObserver(() => {
    const rect = svg.getBoundingClientRect();
    if (!fitted && rect.width > 0) {
      fitted = true;
      initialView();
    }
  });
  observer.observe(svg);
  apply();
  return { element, fit, scale: () => scale, destroy: () => observer.disconnect() };
}

/** Cuts ``text`` to about ``px`` pixels of 12px sans-serif, with an ellipsis. */
export function fitText(text, px, charPx = 6.8) {
  const max = Math.max(3, Math.floor(px / charPx));
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
