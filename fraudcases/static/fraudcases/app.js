// Keyboard shortcuts and small conveniences for the case workspace (no inline scripts: CSP).
(function () {
  "use strict";

  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  function initQueue() {
    var table = document.getElementById("queue");
    if (!table) return;
    var rows = Array.prototype.slice.call(table.querySelectorAll("tbody tr[data-href]"));
    var cursor = -1;

    function move(to) {
      if (!rows.length) return;
      if (cursor >= 0) rows[cursor].classList.remove("cursor");
      cursor = Math.max(0, Math.min(rows.length - 1, to));
      rows[cursor].classList.add("cursor");
      rows[cursor].scrollIntoView({ block: "nearest" });
    }

    var selectAll = document.getElementById("select-all");
    if (selectAll) {
      selectAll.addEventListener("change", function () {
        table.querySelectorAll('tbody input[name="cases"]').forEach(function (box) {
          box.checked = selectAll.checked;
        });
      });
    }

    document.addEventListener("keydown", function (ev) {
      if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(document.activeElement)) return;
      if (ev.key === "j") { move(cursor + 1); ev.preventDefault(); }
      else if (ev.key === "k") { move(cursor - 1); ev.preventDefault(); }
      else if (ev.key === "Enter" && cursor >= 0) { window.location = rows[cursor].dataset.href; }
      else if (ev.key === "x" && cursor >= 0) {
        var box = rows[cursor].querySelector('input[name="cases"]');
        if (box) box.checked = !box.checked;
      } else if (ev.key === "/") {
        var search = document.getElementById("queue-search");
        if (search) { search.focus(); ev.preventDefault(); }
      } else if (ev.key === "n") {
        var next = document.getElementById("take-next");
        if (next) { next.click(); ev.preventDefault(); }
      }
    });
  }

  document.addEventListener("DOMContentLoaded", initQueue);
})();
