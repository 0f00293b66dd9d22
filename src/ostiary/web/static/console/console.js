// The console's only script (served by Ostiary, no CDN; the CSP allows no inline script).
// Copy buttons: <button data-copy="ID"> copies the text of element ID and says so.
"use strict";
document.addEventListener("click", function (event) {
  var button = event.target.closest("button[data-copy]");
  if (!button) return;
  var source = document.getElementById(button.getAttribute("data-copy"));
  var status = document.getElementById(button.getAttribute("data-status"));
  var text = source ? source.textContent.trim() : "";
  var done = function (message) { if (status) status.textContent = message; };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(
      function () { done("Copied to the clipboard."); },
      function () { done("Copy failed: select the key and copy it by hand."); });
  } else {
    var range = document.createRange();
    range.selectNodeContents(source);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    done(document.execCommand("copy") ? "Copied to the clipboard." : "Selected: press Ctrl+C.");
  }
});
