// Two call structures (trace/structure.js) merged into one: every call path present in
// either trace, with its counts and times on both sides and how it changed.

export const KINDS = ["added", "removed", "changed", "slower", "faster", "same"];
export const KIND_TEXT = {
  added: "only in B",
  removed: "only in A",
  changed: "call count changed",
  slower: "slower in B",
  faster: "faster in B",
  same: "unchanged",
};

// A path counts as slower/faster when its average time changed by at least a quarter and
// by at least half a millisecond (so noise on tiny spans is not flagged).
const REL_THRESHOLD = 0.25;
const ABS_THRESHOLD_US = 500;

function side(node) {
  return node ? { count: node.count, total: node.total, self: node.self, errors: node.errors, avg: node.total / node.count } : null;
}

function parentKey(key) {
  const cut = key.lastIndexOf("\u0001");
  return cut > 0 ? key.slice(0, cut) : "";
}

export function classify(a, b) {
  if (!a) return "added";
  if (!b) return "removed";
  if (a.count !== b.count) return "changed";
  const delta = b.avg - a.avg;
  const rel = delta / Math.max(1, a.avg);
  if (Math.abs(delta) >= ABS_THRESHOLD_US && rel >= REL_THRESHOLD) return "slower";
  if (Math.abs(delta) >= ABS_THRESHOLD_US && rel <= -REL_THRESHOLD / (1 + REL_THRESHOLD)) return "faster";
  return "same";
}

/** ``{ nodes: [{id, key, parentId, service, operation, a, b, kind}], counts }`` */
export function diffStructures(structA, structB) {
  const keys = new Set([...structA.nodes.keys(), ...structB.nodes.keys()]);
  const nodes = [];
  const idOf = new Map();
  // Parents before children: sort by depth (number of separators), then A's order.
  const ordered = [...keys].sort((x, y) => x.split("\u0001").length - y.split("\u0001").length);
  const counts = Object.fromEntries(KINDS.map((k) => [k, 0]));
  for (const key of ordered) {
    const na = structA.nodes.get(key);
    const nb = structB.nodes.get(key);
    const any = na || nb;
    const a = side(na);
    const b = side(nb);
    const kind = classify(a, b);
    counts[kind] += 1;
    const id = `d${nodes.length}`;
    idOf.set(key, id);
    nodes.push({ id, key, parentId: idOf.get(parentKey(key)) || null, service: any.service, operation: any.operation, a, b, kind });
  }
  return { nodes, counts };
}
