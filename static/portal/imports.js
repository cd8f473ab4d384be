// An import's page follows its check or import: the bar and the counter move as the
// worker reports progress, and the page reloads once it is done.
(function () {
  "use strict";
  var section = document.getElementById("import-progress");
  if (!section || section.dataset.running !== "1") return;
  var bar = document.getElementById("import-bar");
  var counter = document.getElementById("import-counter");
  var status = document.getElementById("import-status");
  function poll() {
    fetch(section.dataset.progressUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) return setTimeout(poll, 5000);
        status.textContent = data.status_label;
        if (bar) { bar.value = data.percent; bar.textContent = data.percent + "%"; }
        if (counter) {
          counter.textContent = "已检查 " + data.checked + " / " + data.total + " 行" +
            (data.status === "importing" ? "，已导入 " + data.imported + " 行" : "");
        }
        if (data.running) { setTimeout(poll, 1000); } else { window.location.reload(); }
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 1000);
})();
