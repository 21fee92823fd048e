// Human-readable durations, times and counts. Trace times in the UI JSON are Unix
// microseconds, so every function here takes microseconds.

function trim(num, digits) {
  return Number(num.toFixed(digits)).toString();
}

/** 532μs, 1.23ms, 4.5s, 2m 3s, 1h 4m */
export function formatDuration(us) {
  if (!Number.isFinite(us)) return "–";
  const neg = us < 0;
  const v = Math.abs(us);
  let out;
  if (v < 1000) out = `${trim(v, v < 10 ? 2 : 0)}μs`;
  else if (v < 1_000_000) out = `${trim(v / 1000, v < 10_000 ? 2 : v < 100_000 ? 1 : 0)}ms`;
  else if (v < 60_000_000) out = `${trim(v / 1_000_000, 2)}s`;
  else if (v < 3_600_000_000) {
    const m = Math.floor(v / 60_000_000);
    const sec = Math.round((v - m * 60_000_000) / 1_000_000);
    out = sec ? `${m}m ${sec}s` : `${m}m`;
  } else {
    const hr = Math.floor(v / 3_600_000_000);
    const m = Math.round((v - hr * 3_600_000_000) / 60_000_000);
    out = m ? `${hr}h ${m}m` : `${hr}h`;
  }
  return neg ? `-${out}` : out;
}

/** "+12.3ms" style offsets relative to a trace start. */
export function formatOffset(us) {
  return (us >= 0 ? "+" : "") + formatDuration(us);
}

function pad(n, width = 2) {
  return String(n).padStart(width, "0");
}

/** 2024-05-01 13:04:05.123 (local time) */
export function formatTimestamp(us) {
  if (!Number.isFinite(us)) return "–";
  const d = new Date(us / 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** 13:04:05 */
export function formatClock(us, withMillis = false) {
  const d = new Date(us / 1000);
  const base = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return withMillis ? `${base}.${pad(d.getMilliseconds(), 3)}` : base;
}

/** "Today 13:04:05", "Yesterday 09:00:00" or "2024-05-01 13:04:05" */
export function formatDayTime(us, nowMs = Date.now()) {
  const d = new Date(us / 1000);
  const now = new Date(nowMs);
  const sameDay = (a, b) => a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
  const yesterday = new Date(nowMs - 86_400_000);
  const clock = formatClock(us);
  if (sameDay(d, now)) return `Today ${clock}`;
  if (sameDay(d, yesterday)) return `Yesterday ${clock}`;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock}`;
}

/** "5 minutes ago", "in 2 hours" */
export function formatAgo(us, nowMs = Date.now()) {
  const diff = nowMs - us / 1000;
  const future = diff < 0;
  const a = Math.abs(diff) / 1000;
  let text;
  if (a < 45) text = "a few seconds";
  else if (a < 90) text = "a minute";
  else if (a < 2700) text = `${Math.round(a / 60)} minutes`;
  else if (a < 5400) text = "an hour";
  else if (a < 79200) text = `${Math.round(a / 3600)} hours`;
  else if (a < 129600) text = "a day";
  else text = `${Math.round(a / 86400)} days`;
  return future ? `in ${text}` : `${text} ago`;
}

const numberFormat = new Intl.NumberFormat("en-US");
export function formatNumber(n) {
  return numberFormat.format(n);
}

export function plural(n, one, many = `${one}s`) {
  return `${formatNumber(n)} ${n === 1 ? one : many}`;
}

export function formatPercent(fraction, digits = 1) {
  if (!Number.isFinite(fraction)) return "–";
  return `${(fraction * 100).toFixed(digits)}%`;
}

/** The first 7 characters of an ID, as git and Jaeger UI show them. */
export function shortId(id) {
  return String(id || "").slice(0, 7);
}

const DURATION_RE = /^(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h)(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))*$/;

/** True for a Go duration string as the API's minDuration/maxDuration accept (``1.2s``). */
export function isGoDuration(text) {
  return DURATION_RE.test(text.trim());
}

/** Nice axis ticks: about ``count`` round values covering [min, max]. */
export function niceTicks(min, max, count = 5) {
  if (!(max > min)) return [min];
  const span = max - min;
  const step0 = span / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(step0));
  const norm = step0 / mag;
  const step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  const out = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) out.push(v);
  return out;
}

// Steps a time axis may use (ms), each with the label precision that tells its ticks
// apart: sub-second steps show milliseconds, sub-minute steps seconds, longer ones minutes.
const TIME_STEPS_MS = [
  1, 2, 5, 10, 20, 50, 100, 200, 500,
  1_000, 2_000, 5_000, 10_000, 15_000, 30_000,
  60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000,
  3_600_000, 7_200_000, 10_800_000, 21_600_000, 43_200_000, 86_400_000,
];

function timeLabel(ms, stepMs, spansDays) {
  const d = new Date(ms);
  let clock;
  if (stepMs < 1000) clock = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  else if (stepMs < 60_000) clock = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  else clock = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return spansDays ? `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock}` : clock;
}

/**
 * Ticks for a time axis over [minMs, maxMs] (Unix ms): about ``count`` ticks at a round
 * step, each labelled with as much precision as the step needs, so no two labels are
 * the same. Returns ``[{ value (ms), label }]``.
 */
export function timeTicks(minMs, maxMs, count = 6) {
  if (!(maxMs > minMs)) return [{ value: minMs, label: timeLabel(minMs, 1, false) }];
  const want = (maxMs - minMs) / Math.max(1, count);
  const step = TIME_STEPS_MS.find((s) => s >= want) || Math.ceil(want / 86_400_000) * 86_400_000;
  const spansDays = new Date(minMs).toDateString() !== new Date(maxMs).toDateString();
  // Round steps of a minute or more fall on local clock boundaries.
  const offset = step >= 60_000 ? new Date(minMs).getTimezoneOffset() * -60_000 : 0;
  const out = [];
  for (let v = Math.ceil((minMs + offset) / step) * step - offset; v <= maxMs; v += step) out.push({ value: v, label: timeLabel(v, step, spansDays) });
  return out;
}
