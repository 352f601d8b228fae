// Refresh the regions marked data-refresh="<ms>" in place, and confirm destructive forms.
// Plain script, no build and no library; the Content-Security-Policy allows only this file.
(function () {
  "use strict";

  function refresh(region) {
    var delay = parseInt(region.getAttribute("data-refresh"), 10) || 2000;
    window.setTimeout(function tick() {
      // Never swap what someone is using, and don't poll a hidden tab.
      if (document.hidden || region.contains(document.activeElement)) {
        window.setTimeout(tick, delay);
        return;
      }
      fetch(window.location.href, { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (html) {
            var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(region.id);
            if (fresh) { region.innerHTML = fresh.innerHTML; }
          }
        })
        .catch(function () { /* the next tick tries again */ })
        .then(function () { window.setTimeout(tick, delay); });
    }, delay);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-refresh][id]").forEach(refresh);
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });
    document.querySelectorAll("[data-select]").forEach(function (input) {
      input.addEventListener("focus", function () { input.select(); });
    });
  });
})();
