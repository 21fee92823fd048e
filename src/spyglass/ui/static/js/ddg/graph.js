// The deep dependency graph from paths (paths.js or /api/deep-dependencies): nodes are a
// (service, operation) at a distance in hops from the focal node (negative upstream,
// positive downstream), edges join consecutive hops of a path and carry the number of
// times the paths through them occurred. ``hops`` limits how far each side reaches; a
// hidden service cuts every path where it appears, on the far side from the focus.

function pathCount(path) {
  const attr = (path.attributes || []).find((a) => a.key === "count");
  const n = attr ? Number(attr.value) : 1;
  return Number.isFinite(n) && n > 0 ? n : 1;
}

function exemplars(path) {
  return (path.attributes || []).filter((a) => a.key === "exemplar_trace_id").map((a) => String(a.value));
}

/**
 * ``{ nodes: Map(id -> {id, service, operation, distance, count, focal, traces}),
 *     edges: [{from, to, count}], services: [names], upMax, downMax }``
 */
export function buildDdg(payload, focal, { up = Infinity, down = Infinity, hidden = new Set() } = {}) {
  const nodes = new Map();
  const edges = new Map();
  const services = new Set();
  let upMax = 0;
  let downMax = 0;
  const isFocal = (e) => e.service === focal.service && (!focal.operation || e.operation === focal.operation);
  for (const dep of payload.dependencies || []) {
    const path = dep.path || [];
    const at = path.findIndex(isFocal);
    if (at < 0) continue;
    const count = pathCount(dep);
    const ids = exemplars(dep);
    for (const e of path) services.add(e.service);
    upMax = Math.max(upMax, at);
    downMax = Math.max(downMax, path.length - 1 - at);
    // walk outwards from the focus on each side, stopping at the hop limit or a hidden service
    let lo = at;
    while (lo - 1 >= 0 && at - (lo - 1) <= up && !hidden.has(path[lo - 1].service)) lo -= 1;
    let hi = at;
    while (hi + 1 < path.length && hi + 1 - at <= down && !hidden.has(path[hi + 1].service)) hi += 1;
    let prev = null;
    for (let i = lo; i <= hi; i++) {
      const e = path[i];
      const distance = i - at;
      const id = `${distance}\u0000${e.service}\u0000${e.operation}`;
      let node = nodes.get(id);
      if (!node) nodes.set(id, (node = { id, service: e.service, operation: e.operation, distance, count: 0, focal: distance === 0, traces: [] }));
      node.count += count;
      for (const t of ids) if (node.traces.length < 5 && !node.traces.includes(t)) node.traces.push(t);
      if (prev) {
        const key = `${prev}\u0001${id}`;
        const edge = edges.get(key);
        if (edge) edge.count += count;
        else edges.set(key, { from: prev, to: id, count });
      }
      prev = id;
    }
  }
  return { nodes, edges: [...edges.values()], services: [...services].sort(), upMax, downMax };
}
