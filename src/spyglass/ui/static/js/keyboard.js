// Keyboard shortcuts. Pages register theirs while mounted; "?" lists what is active.
// Shortcuts never fire while the user types in a field (Escape excepted).

import { h, isTypingTarget } from "./dom.js";

const groups = new Map(); // group name -> [{ keys, label, run }]

function keyName(e) {
  const parts = [];
  if (e.ctrlKey) parts.push("Ctrl");
  if (e.altKey) parts.push("Alt");
  if (e.metaKey) parts.push("Meta");
  let key = e.key;
  if (key === " ") key = "Space";
  if (e.shiftKey && key.length > 1 && !["Shift"].includes(key)) parts.push("Shift");
  parts.push(key);
  return parts.join("+");
}

/**
 * Adds shortcuts under a heading; returns a function that removes them.
 * ``list``: [{ keys: ["j", "ArrowDown"], label: "Next span", run(event) }]
 */
export function registerShortcuts(group, list) {
  groups.set(group, list);
  return () => {
    if (groups.get(group) === list) groups.delete(group);
  };
}

function onKeyDown(e) {
  if (e.defaultPrevented) return;
  const typing = isTypingTarget(e.target);
  const name = keyName(e);
  if (typing && name !== "Escape") return;
  if (document.querySelector("dialog[open]") && name !== "Escape") return;
  // Later groups (the page) win over earlier ones (global).
  const all = [...groups.values()].reverse();
  for (const list of all) {
    for (const item of list) {
      if (item.keys.includes(name)) {
        const handled = item.run(e);
        if (handled !== false) {
          e.preventDefault();
          return;
        }
      }
    }
  }
}

let dialog = null;

function pretty(key) {
  return key
    .replace("ArrowDown", "↓")
    .replace("ArrowUp", "↑")
    .replace("ArrowLeft", "←")
    .replace("ArrowRight", "→");
}

export function showShortcutHelp() {
  if (dialog) dialog.remove();
  const rows = [];
  for (const [group, list] of groups) {
    rows.push(h("tr", null, h("th", { colspan: 2, scope: "colgroup" }, group)));
    for (const item of list) {
      if (!item.label) continue;
      rows.push(
        h(
          "tr",
          null,
          h("td", { class: "nowrap" }, item.keys.map((k, i) => [i ? " " : null, h("kbd", null, pretty(k))])),
          h("td", null, item.label),
        ),
      );
    }
  }
  dialog = h(
    "dialog",
    { "aria-labelledby": "shortcut-title" },
    h("h2", { id: "shortcut-title" }, "Keyboard shortcuts"),
    h("table", { class: "shortcut-table" }, h("tbody", null, rows)),
    h("div", { class: "dialog-actions" }, h("button", { type: "button", class: "primary", onClick: () => dialog.close() }, "Close")),
  );
  dialog.addEventListener("close", () => {
    dialog.remove();
    dialog = null;
  });
  document.body.appendChild(dialog);
  dialog.showModal();
}

export function initKeyboard({ toggleTheme }) {
  document.addEventListener("keydown", onKeyDown);
  registerShortcuts("Everywhere", [
    { keys: ["?"], label: "Show keyboard shortcuts", run: () => showShortcutHelp() },
    { keys: ["t"], label: "Switch light / dark theme", run: () => toggleTheme() },
    {
      keys: ["/"],
      label: "Jump to the search or find field",
      run: () => {
        const target = document.querySelector("[data-primary-input]") || document.getElementById("trace-lookup-input");
        if (!target) return false;
        target.focus();
        if (target.select) target.select();
        return true;
      },
    },
  ]);
  const help = document.getElementById("help-button");
  if (help) help.addEventListener("click", showShortcutHelp);
}
