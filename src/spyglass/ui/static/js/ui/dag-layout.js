// A layered ("Sugiyama") layout for directed graphs: the trace graph, the compare graph
// and the service dependency graph all use it.
//
// 1. Cycles are broken by reversing the back edges of a depth-first search (service
//    graphs can have cycles; they are drawn with the arrow turned back).
// 2. Layers: the longest path from a source, so every edge points down (or right).
// 3. Edges that skip layers get invisible waypoints, one per layer, so they can route
//    around nodes and take part in crossing reduction.
// 4. Order within layers: depth-first order first (trees come out crossing-free), then
//    barycentre sweeps up and down to reduce crossings.
// 5. Positions: alternately pull every node towards the mean position of its neighbours in
//    the previous layer and the next, keeping the order and spacing. Each pull is an
//    isotonic regression (pool-adjacent-violators), the least-squares placement that keeps
//    the order and the minimum gaps.

/**
 * ``graph``: { nodes: [{id, width, height, layer?}], edges: [{from, to}] }; ``options``:
 * { direction: "TB" | "LR", rankSep, nodeSep, margin }.
 * Returns { nodes: Map(id -> {x, y, width, height, layer}), edges: [{from, to, points,
 * reversed, data}], width, height } with node centres in x/y.
 */
export function layoutDag(graph, { direction = "TB", rankSep = 60, nodeSep = 24, margin = 24 } = {}) {
  const ids = graph.nodes.map((n) => n.id);
  const index = new Map(ids.map((id, i) => [id, i]));
  const n = ids.length;
  const horizontal = direction === "LR";
  const along = (node) => (horizontal ? node.height : node.width); // size within a layer
  const across = (node) => (horizontal ? node.width : node.height); // size along the flow

  // -- edges, cycles -------------------------------------------------------------------
  const edges = [];
  for (const e of graph.edges) {
    const u = index.get(e.from);
    const v = index.get(e.to);
    if (u === undefined || v === undefined || u === v) continue;
    edges.push({ u, v, data: e, reversed: false });
  }
  const out = Array.from({ length: n }, () => []);
  for (const e of edges) out[e.u].push(e);
  const state = new Uint8Array(n); // 0 new, 1 on stack, 2 done
  for (let s = 0; s < n; s++) {
    if (state[s]) continue;
    const stack = [[s, 0]];
    state[s] = 1;
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [u, i] = top;
      if (i < out[u].length) {
        top[1] += 1;
        const e = out[u][i];
        if (state[e.v] === 1) e.reversed = true;
        else if (state[e.v] === 0) {
          state[e.v] = 1;
          stack.push([e.v, 0]);
        }
      } else {
        state[u] = 2;
        stack.pop();
      }
    }
  }
  const succ = Array.from({ length: n }, () => []);
  const pred = Array.from({ length: n }, () => []);
  for (const e of edges) {
    const [a, b] = e.reversed ? [e.v, e.u] : [e.u, e.v];
    e.a = a;
    e.b = b;
    succ[a].push(b);
    pred[b].push(a);
  }

  // -- layers ----------------------------------------------------------------------------
  const layer = new Int32Array(n);
  const indeg = pred.map((p) => p.length);
  const queue = [];
  for (let i = 0; i < n; i++) if (!indeg[i]) queue.push(i);
  for (let qi = 0; qi < queue.length; qi++) {
    const u = queue[qi];
    for (const v of succ[u]) {
      layer[v] = Math.max(layer[v], layer[u] + 1);
      if (--indeg[v] === 0) queue.push(v);
    }
  }

  // Callers that know the layers (the deep dependency graph: hops from the focal node)
  // give them on every node; edges must then point to a later layer.
  if (n && graph.nodes.every((node) => Number.isInteger(node.layer))) {
    const low = Math.min(...graph.nodes.map((node) => node.layer));
    for (let i = 0; i < n; i++) layer[i] = graph.nodes[i].layer - low;
  }

  // -- waypoints for long edges -----------------------------------------------------------
  const sizeAlong = graph.nodes.map(along);
  const sizeAcross = graph.nodes.map(across);
  const vLayer = Array.from(layer);
  const vSucc = succ.map((l) => [...l]);
  const vPred = pred.map((l) => [...l]);
  const chains = new Map(); // edge -> [virtual node ids]
  for (const e of edges) {
    const span = vLayer[e.b] - vLayer[e.a];
    if (span <= 1) continue;
    vSucc[e.a].splice(vSucc[e.a].indexOf(e.b), 1);
    vPred[e.b].splice(vPred[e.b].indexOf(e.a), 1);
    let prev = e.a;
    const chain = [];
    for (let l = vLayer[e.a] + 1; l < vLayer[e.b]; l++) {
      const d = vLayer.length;
      vLayer.push(l);
      sizeAlong.push(2);
      sizeAcross.push(0);
      vSucc.push([]);
      vPred.push([prev]);
      vSucc[prev].push(d);
      chain.push(d);
      prev = d;
    }
    vSucc[prev].push(e.b);
    vPred[e.b].push(prev);
    chains.set(e, chain);
  }
  const total = vLayer.length;

  // -- order within layers ----------------------------------------------------------------
  const layers = [];
  const seen = new Uint8Array(total);
  const visit = (start) => {
    const stack = [start];
    while (stack.length) {
      const u = stack.pop();
      if (seen[u]) continue;
      seen[u] = 1;
      (layers[vLayer[u]] ||= []).push(u);
      for (let k = vSucc[u].length - 1; k >= 0; k--) if (!seen[vSucc[u][k]]) stack.push(vSucc[u][k]);
    }
  };
  for (let i = 0; i < n; i++) if (!vPred[i].length) visit(i);
  for (let i = 0; i < total; i++) if (!seen[i]) visit(i);
  for (let l = 0; l < layers.length; l++) layers[l] ||= [];
  const pos = new Float64Array(total);
  const setPositions = () => layers.forEach((list) => list.forEach((u, i) => (pos[u] = i)));
  setPositions();
  const sweep = (down) => {
    const range = down ? [...layers.keys()].slice(1) : [...layers.keys()].reverse().slice(1);
    for (const l of range) {
      const list = layers[l];
      const bary = new Map();
      for (const u of list) {
        const nb = down ? vPred[u] : vSucc[u];
        bary.set(u, nb.length ? nb.reduce((s, v) => s + pos[v], 0) / nb.length : pos[u]);
      }
      list.sort((a, b) => bary.get(a) - bary.get(b) || pos[a] - pos[b]);
      list.forEach((u, i) => (pos[u] = i));
    }
  };
  if (total < 5000) for (let it = 0; it < 4; it++) sweep(it % 2 === 0);

  // -- coordinates within layers ------------------------------------------------------------
  const coord = new Float64Array(total);
  for (const list of layers) {
    let c = 0;
    for (const u of list) {
      coord[u] = c + sizeAlong[u] / 2;
      c += sizeAlong[u] + nodeSep;
    }
  }
  // Least-squares placement keeping order and gaps (pool adjacent violators).
  const place = (list, desired) => {
    const m = list.length;
    if (!m) return;
    const offset = new Float64Array(m);
    for (let i = 1; i < m; i++) offset[i] = offset[i - 1] + (sizeAlong[list[i - 1]] + sizeAlong[list[i]]) / 2 + nodeSep;
    const blocks = []; // [value, weight, count]
    for (let i = 0; i < m; i++) {
      blocks.push([desired[i] - offset[i], 1, 1]);
      while (blocks.length > 1 && blocks[blocks.length - 2][0] > blocks[blocks.length - 1][0]) {
        const b = blocks.pop();
        const a = blocks[blocks.length - 1];
        a[0] = (a[0] * a[1] + b[0] * b[1]) / (a[1] + b[1]);
        a[1] += b[1];
        a[2] += b[2];
      }
    }
    let i = 0;
    for (const [value, , count] of blocks) {
      for (let k = 0; k < count; k++, i++) coord[list[i]] = value + offset[i];
    }
  };
  const pull = (down) => {
    const order = down ? [...layers.keys()] : [...layers.keys()].reverse();
    for (const l of order) {
      const list = layers[l];
      const desired = list.map((u) => {
        const nb = down ? vPred[u] : vSucc[u];
        return nb.length ? nb.reduce((s, v) => s + coord[v], 0) / nb.length : coord[u];
      });
      place(list, desired);
    }
  };
  for (let it = 0; it < 6; it++) pull(it % 2 === 0);
  // a final pass that averages both directions
  for (const list of layers) {
    const desired = list.map((u) => {
      const nb = [...vPred[u], ...vSucc[u]];
      return nb.length ? nb.reduce((s, v) => s + coord[v], 0) / nb.length : coord[u];
    });
    place(list, desired);
  }

  let minC = Infinity;
  let maxC = -Infinity;
  for (let u = 0; u < total; u++) {
    minC = Math.min(minC, coord[u] - sizeAlong[u] / 2);
    maxC = Math.max(maxC, coord[u] + sizeAlong[u] / 2);
  }
  if (!Number.isFinite(minC)) {
    minC = 0;
    maxC = 0;
  }
  // -- layer positions ---------------------------------------------------------------------
  const layerSize = layers.map((list) => Math.max(0, ...list.map((u) => sizeAcross[u])));
  const layerPos = [];
  let acc = margin;
  for (let l = 0; l < layers.length; l++) {
    layerPos.push(acc + layerSize[l] / 2);
    acc += layerSize[l] + rankSep;
  }
  const flowLength = acc - rankSep + margin;
  const point = (u) => {
    const c = coord[u] - minC + margin;
    const f = layerPos[vLayer[u]];
    return horizontal ? [f, c] : [c, f];
  };

  const nodes = new Map();
  graph.nodes.forEach((node, i) => {
    const [x, y] = point(i);
    nodes.set(node.id, { x, y, width: node.width, height: node.height, layer: vLayer[i] });
  });
  const edgeOut = edges.map((e) => {
    const a = nodes.get(ids[e.a]);
    const b = nodes.get(ids[e.b]);
    const start = horizontal ? [a.x + a.width / 2, a.y] : [a.x, a.y + a.height / 2];
    const end = horizontal ? [b.x - b.width / 2, b.y] : [b.x, b.y - b.height / 2];
    const mid = (chains.get(e) || []).map(point);
    let points = [start, ...mid, end];
    if (e.reversed) points = points.reverse();
    return { from: e.data.from, to: e.data.to, points, reversed: e.reversed, data: e.data };
  });
  const extent = maxC - minC + 2 * margin;
  return {
    nodes,
    edges: edgeOut,
    width: horizontal ? flowLength : extent,
    height: horizontal ? extent : flowLength,
  };
}

/** A smooth SVG path through ``points`` (vertical or horizontal flow). */
export function edgePath(points, direction = "TB") {
  if (points.length < 2) return "";
  let d = `M${points[0][0]},${points[0][1]}`;
  for (let i = 1; i < points.length; i++) {
    const [x0, y0] = points[i - 1];
    const [x1, y1] = points[i];
    if (direction === "LR") {
      const mx = (x0 + x1) / 2;
      d += ` C${mx},${y0} ${mx},${y1} ${x1},${y1}`;
    } else {
      const my = (y0 + y1) / 2;
      d += ` C${x0},${my} ${x1},${my} ${x1},${y1}`;
    }
  }
  return d;
}
