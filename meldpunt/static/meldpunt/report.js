// Progressive enhancement only: without this file the out-of-scope note stays as guidance.
// With it, the note (and its "send it anyway" box) shows, as a warning, only while a
// category that the policy excludes is chosen.
"use strict";
(function () {
  var select = document.getElementById("id_category");
  var note = document.getElementById("out-of-scope-note");
  if (!select || !note) { return; }
  var excluded = (select.dataset.outOfScope || "").split(" ");
  function update() {
    var chosen = excluded.indexOf(select.value) !== -1;
    note.hidden = !chosen;
    note.classList.toggle("warning", chosen);
    note.classList.toggle("guidance", !chosen);
  }
  select.addEventListener("change", update);
  update();
})();
