// Progressive enhancement of the assessment form; without this file the server builds the
// vector from the chosen metrics and scores it on save, and a pasted vector fills the choices
// when the page comes back. Here: choices -> vector as they change, a pasted vector -> choices,
// and CWE suggestions from the staff endpoint. The score itself is always the server's
// (the `cvss` package), computed on save: no second scoring rule in the browser.
"use strict";
(function () {
  function metricSelects(fieldset) {
    return Array.prototype.slice.call(fieldset.querySelectorAll("select[data-metric]"));
  }

  function parse(prefix, vector) {
    var found = {}, others = [];
    if (vector.indexOf(prefix) !== 0) { return null; }
    vector.slice(prefix.length).split("/").forEach(function (part) {
      var pair = part.split(":");
      if (pair.length === 2 && pair[0]) { found[pair[0]] = pair[1]; others.push(part); }
    });
    return { metrics: found, parts: others };
  }

  function setUp(fieldset) {
    var prefix = "CVSS:" + fieldset.dataset.cvssVersion + "/";
    var input = document.getElementById(fieldset.dataset.cvssVector);
    var output = fieldset.querySelector("output");
    var selects = metricSelects(fieldset);
    var baseKeys = selects.map(function (s) { return s.dataset.metric; });
    fieldset.querySelector(".cvss-live").hidden = false;

    function show(text) { output.textContent = text; }

    function fromChoices() {
      var missing = selects.filter(function (s) { return !s.value; });
      if (missing.length === selects.length) {
        input.value = "";
        show(fieldset.dataset.cleared);
        return;
      }
      if (missing.length) {
        show(fieldset.dataset.incomplete + " " +
             missing.map(function (s) { return s.dataset.metric; }).join(", "));
        return;
      }
      var kept = (parse(prefix, input.value.trim()) || { parts: [] }).parts.filter(function (part) {
        return baseKeys.indexOf(part.split(":")[0]) === -1;
      });
      var base = selects.map(function (s) { return s.dataset.metric + ":" + s.value; });
      input.value = prefix + base.concat(kept).join("/");
      show(input.value + " · " + fieldset.dataset.pending);
    }

    function fromVector() {
      var vector = input.value.trim();
      var parsed = parse(prefix, vector);
      if (!vector || parsed) {
        selects.forEach(function (s) {
          var value = parsed ? parsed.metrics[s.dataset.metric] || "" : "";
          var known = Array.prototype.some.call(s.options, function (o) { return o.value === value; });
          s.value = known ? value : "";
        });
        show(vector ? vector + " · " + fieldset.dataset.pending : "");
      } else {
        show(fieldset.dataset.badPrefix + " " + prefix);
      }
    }

    selects.forEach(function (s) { s.addEventListener("change", fromChoices); });
    input.addEventListener("input", fromVector);
  }

  document.querySelectorAll("fieldset.cvss-calculator").forEach(setUp);

  // CWE suggestions: a datalist filled from the same-origin staff endpoint as one types.
  var cwe = document.querySelector("input[data-cwe-suggest]");
  if (!cwe || !window.fetch) { return; }
  var list = document.getElementById(cwe.getAttribute("list"));
  var timer = null;
  cwe.addEventListener("input", function () {
    window.clearTimeout(timer);
    var query = cwe.value.trim();
    if (query.length < 2) { return; }
    timer = window.setTimeout(function () {
      var url = cwe.dataset.cweSuggest + "?q=" + encodeURIComponent(query);
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : { results: [] }; })
        .then(function (data) {
          list.replaceChildren.apply(list, data.results.map(function (r) {
            var option = document.createElement("option");
            option.value = r.id;
            option.textContent = r.id + ": " + r.name;  // text, never markup
            return option;
          }));
        });
    }, 200);
  });
})();
