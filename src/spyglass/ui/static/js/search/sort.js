// Jaeger UI's five result orders. Trace start and duration come from the spans.

export const SORT_ORDERS = [
  { value: "MOST_RECENT", label: "Most Recent", compare: (a, b) => b.startTime - a.startTime },
  { value: "LONGEST_FIRST", label: "Longest First", compare: (a, b) => b.duration - a.duration || b.startTime - a.startTime },
  { value: "SHORTEST_FIRST", label: "Shortest First", compare: (a, b) => a.duration - b.duration || b.startTime - a.startTime },
  { value: "MOST_SPANS", label: "Most Spans", compare: (a, b) => b.spanCount - a.spanCount || b.startTime - a.startTime },
  { value: "LEAST_SPANS", label: "Least Spans", compare: (a, b) => a.spanCount - b.spanCount || b.startTime - a.startTime },
];

export const DEFAULT_SORT = "MOST_RECENT";

export function sortSummaries(list, order) {
  const found = SORT_ORDERS.find((o) => o.value === order) || SORT_ORDERS[0];
  return [...list].sort(found.compare);
}
