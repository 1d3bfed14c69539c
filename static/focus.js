// Moves focus to a form's error summary once the page has loaded, for browsers that do not
// honour `autofocus` on a focusable element other than a form control.
(function () {
  var summary = document.getElementById("error-summary");
  if (summary && document.activeElement !== summary) {
    summary.focus();
  }
})();
