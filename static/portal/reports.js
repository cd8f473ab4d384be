// A monthly report's page follows its build: the bar moves as the worker reports
// progress, and the page reloads once the report is ready (or failed).
(function () {
  "use strict";
  var section = document.getElementById("report-progress");
  if (!section || section.dataset.running !== "1") return;
  var bar = document.getElementById("report-bar");
  var status = document.getElementById("report-status");
  function poll() {
    fetch(section.dataset.progressUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) return setTimeout(poll, 5000);
        status.textContent = data.status_label;
        if (bar) { bar.value = data.percent; bar.textContent = data.percent + "%"; }
        if (data.running) { setTimeout(poll, 1000); } else { window.location.reload(); }
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 1000);
})();
