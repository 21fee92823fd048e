// The query language's tokens for the editor: highlighting and what to complete at the
// caret. Mirrors spyglass.traceql.parser's lexer closely enough for colouring; the server's
// parser stays the judge of what is valid (its errors are shown with their caret).

export const INTRINSICS = ["name", "status", "kind", "duration", "statusMessage", "rootServiceName", "rootName", "traceDuration",
  "span:id", "span:parentID", "trace:id", "event:name", "event:timeSinceStart", "link:traceID", "link:spanID",
  "instrumentation:name", "instrumentation:version", "span:name", "span:status", "span:kind", "span:duration",
  "span:statusMessage", "trace:rootService", "trace:rootName", "trace:duration"];
// attribute scopes: span.x, resource.x, event.x (any event's), link.x (any link's), instrumentation.x
export const SCOPES = ["span", "resource", "event", "link", "instrumentation"];
const ATTR = "(?:span|resource|event|link|instrumentation)?\\.";
const FIELD = `(?:${ATTR}[A-Za-z0-9_\\-/:@$.]*|[A-Za-z_][A-Za-z0-9_]*(?::[A-Za-z0-9_]*)?)`;
export const KEYWORDS = ["true", "false", "nil", "ok", "error", "unset", "server", "client", "producer", "consumer", "internal", "unspecified", "by"];
export const FUNCTIONS = ["count", "avg", "min", "max", "sum", "select", "rate", "count_over_time", "quantile_over_time",
  "min_over_time", "max_over_time", "avg_over_time", "sum_over_time", "histogram_over_time", "topk", "bottomk"];
export const METRICS_RE = /\|\s*(rate|count_over_time|quantile_over_time|min_over_time|max_over_time|avg_over_time|sum_over_time|histogram_over_time)\s*\(/;

const PATTERNS = [
  ["ws", /^\s+/],
  ["string", /^"(?:[^"\\]|\\.)*"?/],
  ["string", /^`[^`]*`?/],
  ["duration", /^-?(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|ms|s|m|h)(?![A-Za-z0-9_])/],
  ["number", /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?/],
  ["attribute", /^(?:span|resource|event|link|instrumentation)?\.[A-Za-z_][A-Za-z0-9_\-/:@$.]*/],
  ["word", /^(?:span|trace|event|link|instrumentation):[A-Za-z_][A-Za-z0-9_]*/],
  ["word", /^[A-Za-z_][A-Za-z0-9_]*/],
  ["operator", /^(?:[!&](?:>>|<<)|[!&][<>]|&~|&&|\|\||!=|!~|=~|>=|<=|>>|<<|[=<>~!|])/],
  ["brace", /^[{}()]/],
  ["punct", /^,/],
];

/** ``text`` as [{type, text, start}] (``other`` for anything unknown). */
export function tokenize(text) {
  const out = [];
  let i = 0;
  while (i < text.length) {
    const rest = text.slice(i);
    let matched = null;
    for (const [type, re] of PATTERNS) {
      const m = re.exec(rest);
      if (m && m[0]) {
        matched = { type, text: m[0], start: i };
        break;
      }
    }
    if (!matched) matched = { type: "other", text: text[i], start: i };
    if (matched.type === "word") {
      const w = matched.text;
      matched.type = INTRINSICS.includes(w) ? "intrinsic" : KEYWORDS.includes(w) ? "keyword" : FUNCTIONS.includes(w) ? "function" : "other";
    }
    out.push(matched);
    i += matched.text.length;
  }
  return out;
}

/**
 * What the caret is in: ``{kind, prefix, from, field}``; kind ``field`` (a name is being
 * typed), ``value`` (after a comparison: ``field`` names the attribute) or ``none``.
 */
export function completionContext(text, caret) {
  const before = text.slice(0, caret);
  const word = new RegExp(`${FIELD}$`).exec(before);
  // inside a string only when an odd number of (unescaped) quotes precede the caret
  const open = (before.replace(/\\./g, "").match(/"/g) || []).length % 2 === 1;
  const quoted = open ? /"([^"\\]*)$/.exec(before) : null;
  if (quoted) {
    const head = before.slice(0, quoted.index);
    const m = new RegExp(`(${FIELD})\\s*(?:=|!=|=~|!~)\\s*$`).exec(head);
    if (m) return { kind: "value", field: m[1], prefix: quoted[1], from: quoted.index + 1 };
    return { kind: "none" };
  }
  const cmp = new RegExp(`(${FIELD})\\s*(?:=|!=|>=|<=|>|<)\\s*([A-Za-z0-9_.]*)$`).exec(before);
  if (cmp && (cmp[1].includes(".") || INTRINSICS.includes(cmp[1]))) {
    return { kind: "value", field: cmp[1], prefix: cmp[2], from: caret - cmp[2].length };
  }
  const braced = (before.match(/\{/g) || []).length > (before.match(/\}/g) || []).length;
  if (word && (braced || /\(\s*[^)]*$/.test(before))) return { kind: "field", prefix: word[0], from: caret - word[0].length };
  if (braced && /[{(&|]\s*$/.test(before)) return { kind: "field", prefix: "", from: caret };
  return { kind: "none" };
}
