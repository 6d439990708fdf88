// The ranking form's enhancement: the Su/Giù buttons move the item in place (no round trip), focus
// stays with the moved item, and the change is announced; items can also be dragged with the mouse.
// Without this script the same buttons submit the form and the page comes back reordered.
(function () {
  "use strict";
  var live = document.getElementById("annuncio");

  function items(list) { return Array.prototype.slice.call(list.querySelectorAll(".ranking-item")); }

  function renumber(list) {
    items(list).forEach(function (li, index) {
      li.querySelector(".ranking-position").textContent = String(index + 1);
    });
  }

  function announce(list, li) {
    var all = items(list);
    live.textContent = "«" + li.dataset.label + "» ora in posizione " + (all.indexOf(li) + 1) + " di " +
      all.length + ". La graduatoria non è ancora inviata.";
  }

  function move(button) {
    var li = button.closest(".ranking-item"), list = li.parentNode, up = button.dataset.direction === "su";
    var other = up ? li.previousElementSibling : li.nextElementSibling;
    if (other) {
      list.insertBefore(li, up ? other : other.nextElementSibling);
      renumber(list);
    }
    // keep focus on the moved item: on the same button, or on the other one once it reached an end
    var edge = up ? !li.previousElementSibling : !li.nextElementSibling;
    var target = edge ? li.querySelector('.ranking-move[data-direction="' + (up ? "giu" : "su") + '"]') : button;
    target.focus();
    announce(list, li);
  }

  document.querySelectorAll(".ranking").forEach(function (list) {
    var dragged = null;
    list.addEventListener("click", function (event) {
      var button = event.target.closest(".ranking-move");
      if (!button) { return; }
      event.preventDefault();
      move(button);
    });
    list.addEventListener("dragstart", function (event) {
      dragged = event.target.closest(".ranking-item");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", dragged.dataset.item);
      dragged.classList.add("dragging");
    });
    list.addEventListener("dragover", function (event) {
      var over = event.target.closest(".ranking-item");
      if (!dragged || !over || over === dragged) { return; }
      event.preventDefault();
      var box = over.getBoundingClientRect();
      var after = event.clientY > box.top + box.height / 2;
      list.insertBefore(dragged, after ? over.nextElementSibling : over);
    });
    list.addEventListener("drop", function (event) { event.preventDefault(); });
    list.addEventListener("dragend", function () {
      if (!dragged) { return; }
      dragged.classList.remove("dragging");
      renumber(list);
      announce(list, dragged);
      dragged = null;
    });
  });
}());
