// Search time windows: Jaeger UI's lookback presets (the ``lookback`` URL parameter) and
// their conversion into the API's ``start``/``end`` in Unix microseconds.

export const LOOKBACKS = [
  { value: "5m", label: "Last 5 minutes" },
  { value: "15m", label: "Last 15 minutes" },
  { value: "30m", label: "Last 30 minutes" },
  { value: "1h", label: "Last hour" },
  { value: "2h", label: "Last 2 hours" },
  { value: "3h", label: "Last 3 hours" },
  { value: "6h", label: "Last 6 hours" },
  { value: "12h", label: "Last 12 hours" },
  { value: "24h", label: "Last 24 hours" },
  { value: "2d", label: "Last 2 days" },
  { value: "7d", label: "Last 7 days" },
  { value: "custom", label: "Custom time range" },
];

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Milliseconds in a lookback like ``1h`` or ``2d``; null if it is not one. */
export function lookbackMs(value) {
  const m = /^(\d+(?:\.\d+)?)([smhdw])$/.exec(String(value || "").trim());
  return m ? Number(m[1]) * UNIT_MS[m[2]] : null;
}

/** ``{start, end}`` in µs for a lookback ending now. */
export function lookbackRange(value, nowMs = Date.now()) {
  const ms = lookbackMs(value) ?? UNIT_MS.h;
  return { start: (nowMs - ms) * 1000, end: nowMs * 1000 };
}

/** A ``<input type=datetime-local>`` value for Unix µs (local time). */
export function toLocalInput(us) {
  const d = new Date(us / 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** Unix µs for a ``datetime-local`` value; NaN when empty or invalid. */
export function fromLocalInput(text) {
  if (!text) return NaN;
  const ms = new Date(text).getTime();
  return Number.isFinite(ms) ? ms * 1000 : NaN;
}
