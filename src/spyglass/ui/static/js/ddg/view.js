// The deep dependency graph view, shared by the /deep-dependencies page and the search
// results: a layered graph left to right (callers, the focal node, callees), call counts
// on the edges, hop limits for each side, a list of services to hide or show, and per
// node: focus on it, hide its service, or search its traces.

import { registerServices, serviceColor } from "../colors.js";
import { pageUrl } from "../config.js";
import { h, replace, s, uid } from "../dom.js";
import { formatNumber, plural } from "../format.js";
import { layoutDag } from "../ui/dag-layout.js";
import { createGraphCanvas, fitText } from "../ui/graph-canvas.js";
import { buildDdg } from "./graph.js";

const NODE_H = 52;
const HOP_CHOICES = [1, 2, 3, 4, 5];

function nodeWidth(node) {
  const longest = Math.max(node.service.length * 7.6, node.operation.length * 7);
  return Math.min(280, Math.max(150, longest + 56));
}

/**
 * ``payload`` is Jaeger's DDG JSON; ``focal`` {service, operation}; ``onFocus(service,
 * operation)`` moves the focus; ``onTraces(service, operation)`` searches a node's traces.
 * Returns { element, destroy() }.
 */
export function createDdgView({ payload, focal, onFocus, onTraces, hops = 2 }) {
  let up = hops;
  let down = hops;
  const hidden = new Set();
  let canvas = null;
  const all = buildDdg(payload, focal);
  registerServices(all.services);

  const hopSelect = (label, get, set) => {
    const id = uid("ddg-hops");
    const select = h(
      "select",
      { id, class: "ddg-hops", onChange: (e) => { set(e.target.value === "all" ? Infinity : Number(e.target.value)); draw(); } },
      HOP_CHOICES.map((n) => h("option", { value: String(n) }, String(n))),
      h("option", { value: "all" }, "All"),
    );
    select.value = get() === Infinity ? "all" : String(get());
    return h("label", { class: "inline-label", for: id }, label, select);
  };
  const serviceList = h("div", { class: "ddg-service-list", role: "group", "aria-label": "Services shown" });
  const servicesSummary = h("summary", { class: "button small" }, "Services");
  const servicesMenu = h("details", { class: "ddg-services" }, servicesSummary, serviceList);
  const summary = h("p", { class: "ddg-summary", "aria-live": "polite" });
  const toolbar = h(
    "div",
    { class: "ddg-toolbar" },
    h("div", { class: "ddg-focus" }, h("span", { class: "muted" }, "Focus: "), h("strong", null, focal.service), focal.operation ? h("span", null, ` · ${focal.operation}`) : null),
    hopSelect("Upstream hops", () => up, (v) => { up = v; }),
    hopSelect("Downstream hops", () => down, (v) => { down = v; }),
    servicesMenu,
  );
  const menu = h("div", { class: "ddg-menu card", role: "menu", hidden: true });
  const body = h("div", { class: "ddg-body" });
  const element = h("div", { class: "ddg-view" }, toolbar, summary, body, menu);

  function drawServiceList() {
    replace(
      serviceList,
      all.services.map((name) =>
        h(
          "label",
          { class: "ddg-service" },
          h("input", { type: "checkbox", checked: !hidden.has(name), disabled: name === focal.service, onChange: (e) => { if (e.target.checked) hidden.delete(name); else hidden.add(name); draw(); } }),
          h("span", { class: "swatch", style: { "--swatch": serviceColor(name) } }),
          name,
        ),
      ),
    );
    servicesSummary.textContent = hidden.size ? `Services (${hidden.size} hidden)` : "Services";
  }

  function closeMenu() {
    menu.hidden = true;
  }

  function openMenu(node, anchor) {
    const item = (label, run, extra = {}) => h("button", { type: "button", class: "small ghost", role: "menuitem", onClick: () => { closeMenu(); run(); }, ...extra }, label);
    replace(
      menu,
      h("div", { class: "ddg-menu-title" }, h("strong", null, node.service), h("span", { class: "muted" }, ` ${node.operation}`)),
      node.focal ? null : item("Focus on this node", () => onFocus(node.service, node.operation)),
      node.service === focal.service ? null : item(`Hide ${node.service}`, () => { hidden.add(node.service); draw(); }),
      item("View traces", () => onTraces(node.service, node.operation)),
      node.traces.length ? h("a", { class: "button small ghost", role: "menuitem", href: pageUrl(`/trace/${node.traces[0]}`) }, "Open an example trace") : null,
    );
    const box = element.getBoundingClientRect();
    const at = anchor.getBoundingClientRect();
    menu.style.left = `${Math.max(0, Math.min(box.width - 220, at.left - box.left))}px`;
    menu.style.top = `${at.bottom - box.top + 4}px`;
    menu.hidden = false;
    const firstItem = menu.querySelector("button, a");
    if (firstItem) firstItem.focus();
  }

  function draw() {
    closeMenu();
    if (canvas) canvas.destroy();
    canvas = null;
    drawServiceList();
    const graph = buildDdg(payload, focal, { up, down, hidden });
    const list = [...graph.nodes.values()];
    if (!list.length) {
      summary.textContent = "";
      replace(body, h("div", { class: "empty-state" }, h("h2", null, "No paths through this service"), h("p", null, `No calls pass through ${focal.service}${focal.operation ? ` (${focal.operation})` : ""} in these traces.`)));
      return;
    }
    const upN = Math.min(up, all.upMax);
    const downN = Math.min(down, all.downMax);
    summary.textContent = `${plural(list.length, "node")} · ${plural(upN, "hop")} upstream, ${plural(downN, "hop")} downstream · ${plural((payload.dependencies || []).length, "distinct path")}. Select a node to focus on it, hide its service or view its traces.`;
    const layout = layoutDag(
      { nodes: list.map((node) => ({ id: node.id, width: nodeWidth(node), height: NODE_H, layer: node.distance })), edges: graph.edges },
      { direction: "LR", rankSep: 90, nodeSep: 22 },
    );
    const byId = graph.nodes;
    canvas = createGraphCanvas({
      layout,
      direction: "LR",
      ariaLabel: `Deep dependency graph of ${focal.service}: ${plural(list.length, "node")}`,
      edgeLabel: (edge) => formatNumber(edge.data.count),
      nodeLabel: (id) => {
        const node = byId.get(id);
        const where = node.distance === 0 ? "focal node" : `${Math.abs(node.distance)} ${Math.abs(node.distance) === 1 ? "hop" : "hops"} ${node.distance < 0 ? "upstream" : "downstream"}`;
        return `${node.service} ${node.operation}, ${where}, ${plural(node.count, "call")}`;
      },
      drawNode: (id, box) => {
        const node = byId.get(id);
        return s(
          "g",
          { class: `ddg-node${node.focal ? " focal" : ""}`, dataset: { service: node.service, operation: node.operation, distance: String(node.distance) } },
          s("rect", { class: "node-box", width: box.width, height: box.height, rx: 8 }),
          s("rect", { class: "node-stripe", width: 6, height: box.height, rx: 3, style: { fill: serviceColor(node.service) } }),
          s("text", { class: "node-service", x: 16, y: 21 }, fitText(node.service, box.width - 70, 7.6)),
          s("text", { class: "node-count", x: box.width - 10, y: 21, "text-anchor": "end" }, `×${formatNumber(node.count)}`),
          s("text", { class: "node-op", x: 16, y: 39 }, fitText(node.operation, box.width - 26, 7)),
        );
      },
      onActivate: (id) => {
        const el = canvas.element.querySelector(`.graph-node[data-id="${CSS.escape(id)}"]`);
        openMenu(byId.get(id), el || canvas.element);
      },
    });
    replace(body, canvas.element);
  }

  const onDocClick = (e) => {
    if (!menu.hidden && !menu.contains(e.target) && !e.target.closest(".graph-node")) closeMenu();
  };
  const onKey = (e) => {
    if (e.key === "Escape" && !menu.hidden) {
      closeMenu();
      e.stopPropagation();
    }
  };
  document.addEventListener("click", onDocClick, true);
  element.addEventListener("keydown", onKey);
  draw();
  return {
    element,
    destroy() {
      document.removeEventListener("click", onDocClick, true);
      if (canvas) canvas.destroy();
    },
  };
}
