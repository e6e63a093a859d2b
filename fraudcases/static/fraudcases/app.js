// Keyboard shortcuts and small conveniences for the case workspace (no inline scripts: CSP).
// Each page registers its shortcuts with `shortcut()`; "?" lists the ones the page has.
(function () {
  "use strict";

  var shortcuts = [];

  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  function shortcut(key, label, run) {
    shortcuts.push({ key: key, label: label, run: run });
  }

  function cell(row, tag, text) {
    var td = document.createElement(tag);
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  // The "?" overlay: a modal <dialog> listing this page's shortcuts (Esc closes it).
  function helpDialog() {
    var dialog = document.getElementById("shortcuts-help");
    if (dialog) return dialog;
    dialog = document.createElement("dialog");
    dialog.id = "shortcuts-help";
    dialog.className = "shortcuts-help";
    dialog.setAttribute("aria-labelledby", "shortcuts-title");
    var title = document.createElement("h2");
    title.id = "shortcuts-title";
    title.textContent = "Keyboard shortcuts";
    dialog.appendChild(title);
    var table = document.createElement("table");
    table.className = "compact";
    var body = document.createElement("tbody");
    shortcuts.forEach(function (s) {
      var row = document.createElement("tr");
      var key = cell(row, "td", "");
      var kbd = document.createElement("kbd");
      kbd.textContent = s.key;
      key.appendChild(kbd);
      cell(row, "td", s.label);
      body.appendChild(row);
    });
    table.appendChild(body);
    dialog.appendChild(table);
    var form = document.createElement("form");
    form.method = "dialog";
    var close = document.createElement("button");
    close.textContent = "Close (Esc)";
    form.appendChild(close);
    dialog.appendChild(form);
    document.body.appendChild(dialog);
    return dialog;
  }

  function onKey(ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(document.activeElement)) return;
    var open = document.getElementById("shortcuts-help");
    if (open && open.open) return;
    for (var i = 0; i < shortcuts.length; i++) {
      if (shortcuts[i].key === ev.key && shortcuts[i].run(ev) !== false) {
        ev.preventDefault();
        return;
      }
    }
  }

  // --- the queue ---------------------------------------------------------------------------
  // Rows are looked up at each key press and the cursor follows a row's link, not a DOM node:
  // the live queue (queue_live.js) replaces the rows every time they change.
  function initQueue() {
    var table = document.getElementById("queue");
    if (!table) return;
    var cursorHref = null;
    var cursorIndex = -1;

    function rows() {
      return Array.prototype.slice.call(table.querySelectorAll("tbody tr[data-href]"));
    }

    function current(list) {
      for (var i = 0; i < list.length; i++) {
        if (list[i].getAttribute("data-href") === cursorHref) return i;
      }
      return cursorHref === null ? -1 : Math.min(cursorIndex, list.length - 1);
    }

    function mark(list, index, scroll) {
      list.forEach(function (tr, i) { tr.classList.toggle("cursor", i === index); });
      if (index < 0) return;
      cursorHref = list[index].getAttribute("data-href");
      cursorIndex = index;
      if (scroll) list[index].scrollIntoView({ block: "nearest" });
    }

    function move(delta) {
      var list = rows();
      if (!list.length) return;
      var at = current(list);
      mark(list, at < 0 ? 0 : Math.max(0, Math.min(list.length - 1, at + delta)), true);
    }

    function atCursor() {
      var list = rows();
      var at = current(list);
      return at >= 0 ? list[at] : null;
    }

    table.addEventListener("queue:redrawn", function () {
      if (cursorHref === null) return;
      var list = rows();
      mark(list, current(list), false);
    });

    var selectAll = document.getElementById("select-all");
    if (selectAll) {
      selectAll.addEventListener("change", function () {
        table.querySelectorAll('tbody input[name="cases"]').forEach(function (box) {
          box.checked = selectAll.checked;
        });
      });
    }

    shortcut("j", "Next case in the list", function () { move(1); });
    shortcut("k", "Previous case in the list", function () { move(-1); });
    shortcut("Enter", "Open the case at the cursor", function () {
      var row = atCursor();
      if (!row) return false;
      window.location = row.getAttribute("data-href");
    });
    shortcut("x", "Select the case at the cursor (bulk actions)", function () {
      var row = atCursor();
      var box = row && row.querySelector('input[name="cases"]');
      if (!box) return false;
      box.checked = !box.checked;
    });
    shortcut("/", "Search", function () {
      var search = document.getElementById("queue-search");
      if (!search) return false;
      search.focus();
    });
    if (document.getElementById("take-next")) {
      shortcut("n", "Take the next case", function () { document.getElementById("take-next").click(); });
    }
  }

  // --- the case page -----------------------------------------------------------------------
  var SCROLL_KEY = "fraudcases.case-scroll";

  // After an action (post, redirect, get) the reader is put back where they were, the
  // action's message shown in the sticky summary column.
  function keepScroll(page, side) {
    var flash = document.getElementById("case-flash");
    var messages = document.querySelector("main > ul.messages");
    if (flash && messages) flash.appendChild(messages);
    var saved = null;
    try {
      saved = JSON.parse(window.sessionStorage.getItem(SCROLL_KEY) || "null");
      window.sessionStorage.removeItem(SCROLL_KEY);
    } catch (e) { saved = null; }
    if (saved && saved.caseId === page.getAttribute("data-case") && Date.now() - saved.at < 120000) {
      window.scrollTo(0, saved.y);
      // A refused action's form (open, with its errors) stays where it was; after a done one
      // the column shows its top: the message, then the summary with the new status.
      if (side.querySelector(".messages .msg-error")) side.scrollTop = saved.side;
    }
    page.addEventListener("submit", function () {
      try {
        window.sessionStorage.setItem(SCROLL_KEY, JSON.stringify({
          caseId: page.getAttribute("data-case"), y: window.scrollY, side: side.scrollTop, at: Date.now()
        }));
      } catch (e) { /* private mode: the page opens at the top */ }
    });
  }

  function initTransactionsToggle() {
    var toggle = document.getElementById("txns-toggle");
    if (!toggle) return;
    var more = toggle.textContent;
    toggle.addEventListener("click", function (ev) {
      ev.preventDefault();
      var expanded = toggle.getAttribute("aria-expanded") === "true";
      document.querySelectorAll("#txn-table tr.txn-more").forEach(function (tr) { tr.hidden = expanded; });
      toggle.setAttribute("aria-expanded", String(!expanded));
      toggle.textContent = expanded ? more : toggle.getAttribute("data-less");
    });
  }

  function openForm(id) {
    return function () {
      var details = document.getElementById(id);
      if (!details) return false;
      details.open = true;
      var field = details.querySelector("textarea, select, input:not([type=hidden])");
      (field || details.querySelector("summary")).focus();
    };
  }

  function focusOn(id) {
    return function () {
      var el = document.getElementById(id);
      if (!el) return false;
      el.scrollIntoView({ block: "center" });
      el.focus();
    };
  }

  function goTo(id) {
    return function () {
      var el = document.getElementById(id);
      if (!el) return false;
      el.scrollIntoView({ block: "start" });
    };
  }

  function initCasePage() {
    var page = document.getElementById("case-page");
    if (!page) return;
    keepScroll(page, document.getElementById("case-side"));
    initTransactionsToggle();
    var forms = [
      ["e", "Escalate…", "action-escalate"], ["c", "Close…", "action-close"],
      ["s", "Snooze…", "action-snooze"], ["w", "Wake now", "action-wake"],
      ["m", "Merge into another case…", "action-merge"], ["r", "Reopen…", "action-reopen"],
      ["b", "Send back to review…", "action-reject"]
    ];
    forms.forEach(function (f) {
      if (document.getElementById(f[2])) shortcut(f[0], f[1], openForm(f[2]));
    });
    if (document.getElementById("approve-note")) shortcut("a", "Approve the closure", focusOn("approve-note"));
    if (document.getElementById("id_body")) shortcut("n", "Write a note", focusOn("id_body"));
    if (document.getElementById("txns-toggle")) {
      shortcut("t", "Show all transactions / the first ten", function () { document.getElementById("txns-toggle").click(); });
    }
    [["1", "Go to the transactions", "transactions"], ["2", "Go to the account history", "history"],
     ["3", "Go to the entity graph", "graph"], ["4", "Go to the notes", "notes"],
     ["5", "Go to the timeline", "timeline"], ["0", "Back to the top", "main"]].forEach(function (g) {
      if (document.getElementById(g[2])) shortcut(g[0], g[1], goTo(g[2]));
    });
    var up = document.querySelector(".crumbs a");
    if (up) shortcut("u", "Up to the case queue", function () { window.location = up.href; });
  }

  document.addEventListener("DOMContentLoaded", function () {
    initQueue();
    initCasePage();
    if (!shortcuts.length) return;
    shortcuts.unshift({ key: "?", label: "Show this list", run: function () { helpDialog().showModal(); } });
    document.addEventListener("keydown", onKey);
  });
})();
