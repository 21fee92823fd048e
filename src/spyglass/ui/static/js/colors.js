// Service colours. A service keeps its colour everywhere (result pills, timeline bars,
// graphs) and across visits: colours are handed out in order of first sight and
// remembered in localStorage. Red is left out on purpose: red means "error".

const PALETTE = [
  "#3b82c4", "#e8833a", "#4aa564", "#9b6bc6", "#2fa9a0", "#d4a72c", "#d46a9f", "#8c6d4f",
  "#6b8fd6", "#7fb13d", "#c0703f", "#4bb3d9", "#a98bd6", "#5e9c8f", "#c59a57", "#7d7fd9",
  "#d97ca5", "#63a0a8", "#b5b03d", "#8e9aaf",
];
const KEY = "spyglass.serviceColors";
const MAX_REMEMBERED = 300;

let assigned = new Map();
try {
  const saved = JSON.parse(localStorage.getItem(KEY) || "[]");
  if (Array.isArray(saved)) assigned = new Map(saved.filter((e) => Array.isArray(e) && e.length === 2));
} catch {
  // storage blocked or corrupt: start afresh
}

let saveTimer = 0;
function save() {
  clearTimeout(saveTimer);
  saveTimer = setTimeout(() => {
    try {
      const entries = [...assigned.entries()].slice(-MAX_REMEMBERED);
      localStorage.setItem(KEY, JSON.stringify(entries));
    } catch {
      // not fatal: colours just will not persist
    }
  }, 200);
}

/** The colour index of a service (stable for the browser profile). */
export function colorIndex(service) {
  let index = assigned.get(service);
  if (index === undefined) {
    // First the palette entry least used so far, so the first 20 services all differ.
    const used = new Array(PALETTE.length).fill(0);
    for (const v of assigned.values()) used[v % PALETTE.length] += 1;
    index = used.indexOf(Math.min(...used));
    assigned.set(service, index);
    save();
  }
  return index % PALETTE.length;
}

export function serviceColor(service) {
  return PALETTE[colorIndex(service)];
}

/** Assigns colours for many services at once, in name order, so one page's services
 *  get distinct colours regardless of which one was seen first. */
export function registerServices(names) {
  for (const name of [...names].sort()) colorIndex(name);
}
