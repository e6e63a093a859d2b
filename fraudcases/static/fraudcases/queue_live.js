// The live queue: every 10 s fetch /cases/live/ with the page's own query string (filters,
// sort, search and page stay in the URL) and, when the rows changed, redraw them in place with
// a badge counting the cases that were not there before. While the investigator has cases
// selected for a bulk action the rows are left alone and the badge says to refresh.
// No inline script (CSP).
(function () {
  "use strict";

  var body = document.getElementById("queue-rows");
  var badge = document.getElementById("queue-live-badge");
  var count = document.getElementById("queue-count");
  if (!body || !badge || !window.fetch) return;

  var url = body.getAttribute("data-live-url");
  var signature = body.getAttribute("data-signature");
  var seen = {};
  body.querySelectorAll("tr[data-href]").forEach(function (tr) { seen[tr.getAttribute("data-href")] = true; });
  var fresh = 0;
  var INTERVAL = 10000;

  function selected() {
    return body.querySelector("input[type=checkbox]:checked") !== null;
  }

  function show(text) {
    badge.textContent = text;
    badge.hidden = !text;
  }

  function poll() {
    if (document.hidden) return;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (data) {
        if (data.signature === signature) return;
        if (selected()) { show("Updated: refresh to see the changes"); return; }
        signature = data.signature;
        body.innerHTML = data.rows;
        body.setAttribute("data-signature", signature);
        body.querySelectorAll("tr[data-href]").forEach(function (tr) {
          var href = tr.getAttribute("data-href");
          if (!seen[href]) { seen[href] = true; fresh += 1; tr.classList.add("live-new"); }
        });
        // app.js puts its j/k cursor back on the new rows.
        body.dispatchEvent(new CustomEvent("queue:redrawn", { bubbles: true }));
        if (count) count.textContent = data.count + (data.count === 1 ? " case" : " cases");
        show(fresh ? fresh + " new" : "updated");
      })
      .catch(function () { show("Live updates paused (connection)"); });
  }

  window.setInterval(poll, INTERVAL);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) poll(); });
})();
