// Portal behaviour, kept out of the templates (no inline scripts).
(function () {
  "use strict";

  // Institution autocomplete: inputs with data-autocomplete="institutions" get a datalist
  // filled from /institutions/autocomplete/ as the clerk types a code or a name.
  function attachAutocomplete(input) {
    var listId = input.getAttribute("list") || "institution-options";
    var list = document.getElementById(listId);
    if (!list) {
      list = document.createElement("datalist");
      list.id = listId;
      document.body.appendChild(list);
    }
    var timer = null;
    input.addEventListener("input", function () {
      var term = input.value.trim();
      if (term.length < 2) { return; }
      clearTimeout(timer);
      timer = setTimeout(function () {
        fetch(input.dataset.url || "/institutions/autocomplete/?q=" + encodeURIComponent(term), {
          credentials: "same-origin",
          headers: { "Accept": "application/json" }
        })
          .then(function (response) { return response.ok ? response.json() : { results: [] }; })
          .then(function (data) {
            list.replaceChildren();
            data.results.forEach(function (item) {
              var option = document.createElement("option");
              option.value = item.code;
              option.label = item.code + " " + item.name;
              option.textContent = item.name;
              list.appendChild(option);
            });
          })
          .catch(function () { /* offline: the clerk can still type the code */ });
      }, 200);
    });
  }

  document.querySelectorAll('input[data-autocomplete="institutions"]').forEach(attachAutocomplete);

  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
})();
