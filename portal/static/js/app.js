// Show htmx error answers to the person instead of swallowing them; no inline script anywhere (CSP).
(function () {
  function flash(text) {
    var box = document.getElementById("flash");
    if (!box) return;
    box.textContent = text;
    box.classList.add("shown");
  }
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    flash((xhr && xhr.responseText || "").trim() || "Error " + (xhr ? xhr.status : ""));
  });
  document.addEventListener("htmx:sendError", function () {
    var box = document.getElementById("flash");
    flash(box ? box.getAttribute("data-offline") || "Network error" : "Network error");
  });
  document.addEventListener("htmx:beforeRequest", function () {
    var box = document.getElementById("flash");
    if (box) { box.textContent = ""; box.classList.remove("shown"); }
  });
})();
