// The critical path: the chain of work that decided when the trace finished. Walking back
// from a span's end, the child that finished last (before the point reached so far) was
// what the span waited for; the path goes into that child, then continues before the
// child's start. Time no child covers is the span's own. Children are clipped to their
// parent's window first (an async child may outlive its parent). Iterative, so deep
// traces do not exhaust the stack.

/**
 * Returns ``Map<span, [[start, end], ...]>`` of absolute µs segments on the path.
 */
export function criticalPath(model) {
  const segments = new Map();
  const add = (span, s, e) => {
    if (e <= s) return;
    let list = segments.get(span);
    if (!list) segments.set(span, (list = []));
    list.push([s, e]);
  };
  const root = model.root;
  const stack = [[root, root.startTime, root.startTime + root.duration]];
  while (stack.length) {
    const [span, winStart, winEnd] = stack.pop();
    let cursor = winEnd;
    if (span.children.length) {
      const kids = span.children
        .map((k) => [k, Math.max(k.startTime, winStart), Math.min(k.startTime + k.duration, winEnd)])
        .filter(([, s, e]) => e > s)
        .sort((a, b) => b[2] - a[2]);
      for (const [kid, ks, ke] of kids) {
        if (cursor <= winStart) break;
        if (ke > cursor) continue; // ran in parallel with the child already on the path
        add(span, ke, cursor);
        stack.push([kid, ks, ke]);
        cursor = ks;
      }
    }
    add(span, winStart, cursor);
  }
  for (const list of segments.values()) list.sort((a, b) => a[0] - b[0]);
  return segments;
}
