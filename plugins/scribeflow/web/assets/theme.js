// Follow the Airflow UI's colour mode: the UI (next-themes) puts "dark" or "light" on its
// <html> and keeps the choice in localStorage "theme"; inside the UI this page is a
// same-origin frame and watches the UI's <html>, on its own it uses the stored choice or
// the system's.
(function () {
  "use strict";
  const dark = window.matchMedia("(prefers-color-scheme: dark)");
  function parentMode() {
    try {
      if (window.parent === window) return null;
      const classes = window.parent.document.documentElement.classList;
      return classes.contains("dark") ? "dark" : classes.contains("light") ? "light" : null;
    } catch (error) {
      return null;  // another origin: no access
    }
  }
  function storedMode() {
    try {
      const mode = window.localStorage.getItem("theme");
      return mode === "dark" || mode === "light" ? mode : null;
    } catch (error) {
      return null;
    }
  }
  function apply() {
    document.documentElement.dataset.theme = parentMode() || storedMode() ||
      (dark.matches ? "dark" : "light");
  }
  apply();
  try {
    if (window.parent !== window) {
      new MutationObserver(apply).observe(window.parent.document.documentElement,
        { attributes: true, attributeFilter: ["class"] });
    }
  } catch (error) { /* another origin */ }
  dark.addEventListener("change", apply);
  window.addEventListener("storage", apply);
})();
