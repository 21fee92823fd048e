// The deep dependency graph page (``/deep-dependencies?service=S[&operation=O]``, as
// Jaeger UI's): the paths through a focal service computed service-wide by the server
// from stored traces (``/api/deep-dependencies``, spyglass/query/deep_dependencies.py).
// The focus, time range and hop choices live in the URL.

import { getDeepDependencies, getOperations, getServices } from "../api.js";
import { h, replace, uid } from "../dom.js";
import { errorBox } from "../errors.js";
import { navigate } from "../router.js";
import { createDdgView } from "./view.js";

// The search page's presets, so "View traces" searches the same window.
const LOOKBACKS = [
  ["1h", "Last hour", 3_600_000],
  ["6h", "Last 6 hours", 21_600_000],
  ["12h", "Last 12 hours", 43_200_000],
  ["24h", "Last 24 hours", 86_400_000],
  ["2d", "Last 2 days", 172_800_000],
  ["7d", "Last 7 days", 604_800_000],
];
const DEFAULT_LOOKBACK = "24h";

export function mount(container, ctx) {
  let controller = new AbortController();
  let view = null;
  const body = h("div", { class: "ddg-page-body" });
  const serviceId = uid("ddg-service");
  const opId = uid("ddg-op");
  const lookbackId = uid("ddg-lookback");
  const serviceSelect = h("select", { id: serviceId, name: "service" }, h("option", { value: "" }, "Choose a service"));
  const opSelect = h("select", { id: opId, name: "operation" }, h("option", { value: "" }, "All operations"));
  const lookbackSelect = h("select", { id: lookbackId, name: "lookback" }, LOOKBACKS.map(([v, label]) => h("option", { value: v }, label)));
  const form = h(
    "form",
    { class: "ddg-form" },
    h("label", { class: "inline-label", for: serviceId }, "Service"),
    serviceSelect,
    h("label", { class: "inline-label", for: opId }, "Operation"),
    opSelect,
    h("label", { class: "inline-label", for: lookbackId }, "Time range"),
    lookbackSelect,
    h("button", { type: "submit", class: "small primary" }, "Show"),
  );
  replace(
    container,
    h(
      "div",
      { class: "deps-page ddg-page" },
      h("header", { class: "deps-header" }, h("div", null, h("h1", null, "Deep Dependency Graph"), h("p", null, "Paths of calls through a service: its callers upstream and its callees downstream, from stored traces.")), form),
      body,
    ),
  );

  function current(q) {
    return {
      service: q.get("service") || "",
      operation: q.get("operation") || "",
      lookback: LOOKBACKS.some(([v]) => v === q.get("lookback")) ? q.get("lookback") : DEFAULT_LOOKBACK,
      hops: Math.max(1, Math.min(5, Number(q.get("hops")) || 2)),
    };
  }

  function go(service, operation, lookback) {
    const q = new URLSearchParams();
    q.set("service", service);
    if (operation) q.set("operation", operation);
    if (lookback && lookback !== DEFAULT_LOOKBACK) q.set("lookback", lookback);
    navigate(`/deep-dependencies?${q}`);
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (serviceSelect.value) go(serviceSelect.value, opSelect.value, lookbackSelect.value);
  });
  serviceSelect.addEventListener("change", () => fillOperations(serviceSelect.value, ""));

  async function fillOperations(service, selected) {
    replace(opSelect, h("option", { value: "" }, "All operations"));
    if (!service) return;
    try {
      const ops = await getOperations(service, "", { signal: controller.signal });
      const names = [...new Set(ops.map((o) => o.name))];
      opSelect.append(...names.map((n) => h("option", { value: n }, n)));
      opSelect.value = names.includes(selected) ? selected : "";
    } catch {
      // the graph itself reports failures; the list just stays short
    }
  }

  async function load(q) {
    controller.abort();
    controller = new AbortController();
    if (view) view.destroy();
    view = null;
    const { service, operation, lookback, hops } = current(q);
    lookbackSelect.value = lookback;
    getServices({ signal: controller.signal }).then(
      (names) => {
        replace(serviceSelect, h("option", { value: "" }, "Choose a service"), names.map((n) => h("option", { value: n }, n)));
        serviceSelect.value = service;
      },
      () => {},
    );
    fillOperations(service, operation);
    if (!service) {
      replace(body, h("div", { class: "empty-state" }, h("h2", null, "Choose a focal service"), h("p", null, "The graph shows every path of calls through the service you choose.")));
      return;
    }
    replace(body, h("div", { class: "loading-row", role: "status" }, h("div", { class: "spinner" }), `Computing the paths through ${service}…`));
    const ms = LOOKBACKS.find(([v]) => v === lookback)[2];
    let payload;
    try {
      payload = await getDeepDependencies({ service, operation, endTs: Date.now(), lookback: ms, signal: controller.signal });
    } catch (err) {
      if (err.name === "AbortError") return;
      replace(body, h("div", { class: "page-message" }, errorBox(err, { title: "Could not load the deep dependency graph", retry: () => load(q) })));
      return;
    }
    view = createDdgView({
      payload,
      focal: { service, operation },
      hops,
      onFocus: (svc, op) => go(svc, op, lookback),
      onTraces: (svc, op) => {
        const search = new URLSearchParams({ service: svc });
        if (op) search.set("operation", op);
        search.set("lookback", lookback);
        navigate(`/search?${search}`);
      },
    });
    replace(body, view.element);
  }

  load(ctx.query);
  return {
    update(next) {
      load(next.query);
      return true;
    },
    unmount() {
      controller.abort();
      if (view) view.destroy();
    },
  };
}
