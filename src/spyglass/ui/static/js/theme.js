// Light and dark themes. The choice is stored; without one the system preference wins.
// theme-init.js applied it before the first paint; this module wires the toggle and tells
// canvas-drawn views (minimap, flame graph) to repaint through a "themechange" event.

const KEY = "spyglass.theme";

export function currentTheme() {
  return document.documentElement.getAttribute("data-theme") === "dark" ? "dark" : "light";
}

export function setTheme(theme, remember = true) {
  document.documentElement.setAttribute("data-theme", theme);
  if (remember) {
    try {
      localStorage.setItem(KEY, theme);
    } catch {
      // storage blocked: the theme lasts for this page only
    }
  }
  updateToggle();
  window.dispatchEvent(new CustomEvent("themechange", { detail: { theme } }));
}

export function toggleTheme() {
  setTheme(currentTheme() === "dark" ? "light" : "dark");
}

function updateToggle() {
  const button = document.getElementById("theme-toggle");
  if (!button) return;
  const next = currentTheme() === "dark" ? "light" : "dark";
  button.setAttribute("aria-label", `Switch to ${next} theme`);
  button.title = `Switch to ${next} theme (t)`;
}

export function initTheme() {
  const button = document.getElementById("theme-toggle");
  if (button) button.addEventListener("click", toggleTheme);
  updateToggle();
  const media = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  if (media && media.addEventListener) {
    media.addEventListener("change", (e) => {
      let saved = null;
      try {
        saved = localStorage.getItem(KEY);
      } catch {
        saved = null;
      }
      if (!saved) setTheme(e.matches ? "dark" : "light", false);
    });
  }
}
