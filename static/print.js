// Shows and wires the "print" buttons (marked data-print), which need script; without it the
// page tells people to use the browser's own print command.
(function () {
  var buttons = document.querySelectorAll("[data-print]");
  for (var i = 0; i < buttons.length; i++) {
    buttons[i].hidden = false;
    buttons[i].addEventListener("click", function () { window.print(); });
  }
})();
