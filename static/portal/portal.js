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

  // Filing form: only the chosen type's categories (FL-2), and the materials the chosen
  // category needs (FL-5) under the materials.
  var type = document.querySelector('select[name="type"]');
  var subtype = document.querySelector('select[name="subtype"]');
  var required = document.getElementById("required-materials");
  if (type && subtype) {
    var needs = required ? JSON.parse(required.textContent) : {};
    var note = document.createElement("div");
    note.className = "form-text";
    note.id = "required-materials-note";
    var materials = document.getElementById("div_id_materials");
    if (materials) { materials.appendChild(note); }
    var showNeeds = function () {
      note.textContent = needs[subtype.value] ? "该类别须收材料（FL-5）：" + needs[subtype.value] : "";
    };
    var filterSubtypes = function () {
      var label = type.options[type.selectedIndex] ? type.options[type.selectedIndex].text : "";
      subtype.querySelectorAll("optgroup").forEach(function (group) {
        group.disabled = group.label !== label;
      });
      var chosen = subtype.options[subtype.selectedIndex];
      if (!chosen || chosen.parentNode.disabled) {
        var first = subtype.querySelector("optgroup:not([disabled]) option");
        if (first) { first.selected = true; }
      }
      showNeeds();
    };
    type.addEventListener("change", filterSubtypes);
    subtype.addEventListener("change", showNeeds);
    filterSubtypes();
  }

  // One-click choices (the patient's own diseases and institutions) fill their field.
  document.querySelectorAll("[data-fill]").forEach(function (button) {
    button.addEventListener("click", function () {
      var field = document.querySelector('[name="' + button.dataset.fill + '"]');
      if (!field) { return; }
      field.value = button.dataset.value;
      field.dispatchEvent(new Event("change", { bubbles: true }));
    });
  });

  // A refused form: focus the summary of its errors, read out by screen readers.
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }

  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
})();
