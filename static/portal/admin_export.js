// Binds the export page's "select all" toggle (django-import-export used an inline
// onchange attribute, which the Content Security Policy forbids).
(function () {
  "use strict";
  document.querySelectorAll("input.select-toggle").forEach(function (toggle) {
    toggle.addEventListener("change", function (event) {
      if (typeof window.onSelectToggleChange === "function") {
        window.onSelectToggleChange(event);
      }
    });
  });
})();
