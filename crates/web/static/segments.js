// The segment builder, enhanced: while the filter is being edited, ask the server how many
// contacts it selects now and show the count (or the filter's problem) under it. The form works
// the same without this script; the Preview button does the full preview.
(function () {
  "use strict";
  var form = document.querySelector("form.segment-form");
  var out = document.getElementById("live-count");
  if (!form || !out || !window.fetch || !window.URLSearchParams) {
    return;
  }
  var filter = form.querySelector("textarea[name=filter]");
  var csrf = form.querySelector("input[name=csrf]");
  if (!filter || !csrf) {
    return;
  }
  var timer = null;
  var asked = 0;
  function refresh() {
    var mine = ++asked;
    var body = new URLSearchParams();
    body.set("csrf", csrf.value);
    body.set("filter", filter.value);
    fetch(out.getAttribute("data-endpoint"), {
      method: "POST",
      body: body,
      credentials: "same-origin"
    })
      .then(function (r) {
        return r.json();
      })
      .then(function (j) {
        if (mine !== asked) {
          return;
        }
        var ok = typeof j.count === "string";
        out.textContent = ok ? out.getAttribute("data-label") + " " + j.count : j.error;
        out.className = ok ? "live-count" : "live-count errors";
      })
      .catch(function () {
        out.textContent = "";
      });
  }
  filter.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 600);
  });
})();
