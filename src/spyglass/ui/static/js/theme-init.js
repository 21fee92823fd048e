// Runs before the first paint (a classic script, not a module) so the page never flashes
// in the wrong theme: the saved choice, else the system preference.
(function () {
  var theme = null;
  try { theme = localStorage.getItem("spyglass.theme"); } catch (e) { /* storage blocked */ }
  if (theme !== "light" && theme !== "dark") {
    theme = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  document.documentElement.setAttribute("data-theme", theme);
})();
