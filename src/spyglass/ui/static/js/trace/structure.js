// A trace's call structure: spans merged by their path of (service, operation) from the
// root, so 40 identical calls to the database become one node with count 40. The trace
// graph draws it; the compare page merges two of them.

export const MAX_NODES = 1500;

function keyOf(parentKey, span) {
  return `${parentKey}\u0001${span.serviceName}\u0000${span.operationName}`;
}

/**
 * ``{ nodes: Map(key -> node), roots: [node], truncated }``; a node is { key, id, service,
 * operation, count, total, self, errors, depth, parent, children: [node], spans: [span] }.
 * At most ``limit`` nodes are kept (breadth-first, so the top of the trace stays).
 */
export function buildStructure(model, limit = MAX_NODES) {
  const nodes = new Map();
  const nodeOf = new Map(); // span -> node
  const roots = [];
  let truncated = false;
  // Breadth-first by depth: spans in display order sorted by depth (stable).
  const byDepth = [...model.spans].sort((a, b) => a.depth - b.depth || a.index - b.index);
  for (const span of byDepth) {
    const parentNode = span.parent ? nodeOf.get(span.parent) : null;
    if (span.parent && !parentNode) continue; // parent's node was cut off
    const key = keyOf(parentNode ? parentNode.key : "", span);
    let node = nodes.get(key);
    if (!node) {
      if (nodes.size >= limit) {
        truncated = true;
        continue;
      }
      node = { key, id: `n${nodes.size}`, service: span.serviceName, operation: span.operationName, count: 0, total: 0, self: 0, errors: 0, depth: parentNode ? parentNode.depth + 1 : 0, parent: parentNode, children: [], spans: [] };
      nodes.set(key, node);
      if (parentNode) parentNode.children.push(node);
      else roots.push(node);
    }
    node.count += 1;
    node.total += span.duration;
    node.self += span.selfTime;
    if (span.hasError) node.errors += 1;
    if (node.spans.length < 50) node.spans.push(span);
    nodeOf.set(span, node);
  }
  return { nodes, roots, truncated };
}
