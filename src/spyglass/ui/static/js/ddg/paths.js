// Deep dependency paths from UI traces: the same computation as the server's
// spyglass/query/deep_dependencies.py, for the traces of a search (Jaeger UI's "Deep
// Dependency Graph" button on the results). A hop is a run of consecutive spans of one
// service, named by the operation the service was entered with; every root-to-leaf chain
// of hops that passes through the focal service (and operation, when given) is a path.
// Equal paths are merged with a count and up to three exemplar trace IDs.

import { parentReference } from "../trace/model.js";

const MAX_PATH_HOPS = 64;
const MAX_PATHS = 5000;
const MAX_EXEMPLARS = 3;

function normId(id) {
  return String(id || "").toLowerCase().replace(/^0+/, "");
}

function hopForest(trace) {
  const spans = trace.spans || [];
  const processes = trace.processes || {};
  const traceKey = normId(trace.traceID || (spans[0] && spans[0].traceID));
  const byId = new Map(spans.map((sp) => [normId(sp.spanID), sp]));
  const kids = new Map();
  const roots = [];
  for (const sp of spans) {
    const ref = parentReference(sp, traceKey);
    const pid = ref ? normId(ref.spanID) : "";
    if (pid && byId.has(pid) && pid !== normId(sp.spanID)) {
      if (!kids.has(pid)) kids.set(pid, []);
      kids.get(pid).push(sp);
    } else roots.push(sp);
  }
  const service = (sp) => (sp.process || processes[sp.processID] || {}).serviceName || "unknown service";
  const byStart = (a, b) => b.startTime - a.startTime;
  const forest = [];
  const seen = new Set();
  const stack = roots.sort(byStart).map((sp) => [sp, null]);
  while (stack.length) {
    const [sp, parentHop] = stack.pop();
    const key = normId(sp.spanID);
    if (seen.has(key)) continue;
    seen.add(key);
    const svc = service(sp);
    let hop;
    if (parentHop && parentHop.service === svc) {
      hop = parentHop;
      hop.operations.add(sp.operationName);
    } else {
      hop = { service: svc, operation: sp.operationName, operations: new Set([sp.operationName]), children: [] };
      if (parentHop) parentHop.children.push(hop);
      else forest.push(hop);
    }
    for (const child of (kids.get(key) || []).sort(byStart)) stack.push([child, hop]);
  }
  return forest;
}

function* leafPaths(root) {
  const stack = [[root, [root]]];
  while (stack.length) {
    const [hop, path] = stack.pop();
    if (!hop.children.length || path.length >= MAX_PATH_HOPS) {
      yield path;
      continue;
    }
    for (let i = hop.children.length - 1; i >= 0; i--) stack.push([hop.children[i], [...path, hop.children[i]]]);
  }
}

/** ``{dependencies: [{path: [{service, operation}], attributes: [{key, value}]}]}`` */
export function pathsFromTraces(traces, service, operation = "") {
  const isFocal = (hop) => hop.service === service && (!operation || hop.operations.has(operation));
  const merged = new Map();
  for (const trace of traces) {
    const traceID = String(trace.traceID || "");
    for (const root of hopForest(trace)) {
      for (const path of leafPaths(root)) {
        if (!path.some(isFocal)) continue;
        const elems = path.map((hop) => ({ service: hop.service, operation: operation && isFocal(hop) ? operation : hop.operation }));
        const key = JSON.stringify(elems.map((e) => [e.service, e.operation]));
        let stats = merged.get(key);
        if (!stats) {
          if (merged.size >= MAX_PATHS) continue;
          merged.set(key, (stats = { path: elems, count: 0, exemplars: [] }));
        }
        stats.count += 1;
        if (stats.exemplars.length < MAX_EXEMPLARS && !stats.exemplars.includes(traceID)) stats.exemplars.push(traceID);
      }
    }
  }
  return {
    dependencies: [...merged.values()]
      .sort((a, b) => b.count - a.count)
      .map((p) => ({
        path: p.path,
        attributes: [...p.exemplars.map((id) => ({ key: "exemplar_trace_id", value: id })), { key: "count", value: String(p.count) }],
      })),
  };
}
