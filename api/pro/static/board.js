// The pipeline board with the mouse: a card dropped on another column submits its own "move"
// form with that column's stage. Without this script the form works the same with its list.
(function () {
  "use strict";
  var dragged = null;
  document.querySelectorAll(".contact-card[draggable=true]").forEach(function (card) {
    card.addEventListener("dragstart", function (event) {
      dragged = card;
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", card.id);
    });
    card.addEventListener("dragend", function () { dragged = null; });
  });
  document.querySelectorAll(".board .column").forEach(function (column) {
    column.addEventListener("dragover", function (event) {
      if (dragged) { event.preventDefault(); column.classList.add("over"); }
    });
    column.addEventListener("dragleave", function () { column.classList.remove("over"); });
    column.addEventListener("drop", function (event) {
      event.preventDefault();
      column.classList.remove("over");
      if (!dragged || dragged.closest(".column") === column) { return; }
      var form = dragged.querySelector("form.move");
      form.querySelector("select").value = column.dataset.stage;
      form.submit();
    });
  });
})();
