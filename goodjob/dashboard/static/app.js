// GoodJob dashboard: theme toggle, confirmations, row selection, and live updates (server-sent
// events, with polling as the fallback). Everything works without this script, only less smoothly.
(function () {
  "use strict";
  var root = document.documentElement;

  function store(key, value) {
    try { if (value === undefined) return localStorage.getItem(key); if (value === null) localStorage.removeItem(key); else localStorage.setItem(key, value); } catch (e) { return null; }
    return null;
  }

  // --- theme: auto -> light -> dark -> auto ---------------------------------------------------
  function themeButton() { return document.getElementById("theme-toggle"); }
  function showTheme() {
    var b = themeButton(); if (!b) return;
    var t = root.getAttribute("data-theme") || "auto";
    b.title = "Theme: " + t + " (click to change)";
  }
  document.addEventListener("click", function (event) {
    var b = event.target.closest && event.target.closest("#theme-toggle");
    if (!b) return;
    var next = { auto: "light", light: "dark", dark: "auto" }[root.getAttribute("data-theme") || "auto"];
    if (next === "auto") { root.removeAttribute("data-theme"); store("goodjob-theme", null); }
    else { root.setAttribute("data-theme", next); store("goodjob-theme", next); }
    showTheme();
  });

  // --- selection and confirmations ------------------------------------------------------------
  function selectedBoxes() { return document.querySelectorAll('#bulk-form input[name="id"]:checked'); }
  function updateSelection() {
    var n = selectedBoxes().length;
    var counter = document.getElementById("selected-count");
    if (counter) counter.textContent = String(n);
    document.querySelectorAll("[data-confirm-selected]").forEach(function (b) { b.disabled = n === 0; });
    var all = document.getElementById("select-all");
    var boxes = document.querySelectorAll('#bulk-form input[name="id"]');
    if (all) { all.checked = n > 0 && n === boxes.length; all.indeterminate = n > 0 && n < boxes.length; }
  }
  document.addEventListener("change", function (event) {
    var t = event.target;
    if (t.id === "select-all") {
      document.querySelectorAll('#bulk-form input[name="id"]').forEach(function (b) { b.checked = t.checked; });
    }
    if (t.id === "select-all" || t.name === "id") updateSelection();
  });
  document.addEventListener("submit", function (event) {
    var form = event.target, button = event.submitter;
    if ((form.getAttribute("method") || "get").toLowerCase() === "get") {
      // Leave empty filters out of the URL: /jobs?queue=mailers, not /jobs?queue=mailers&class=&q=
      form.querySelectorAll("input[name], select[name]").forEach(function (input) {
        if (!input.value) input.disabled = true;
      });
      return;
    }
    var question = (button && button.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
    if (button && button.hasAttribute("data-confirm-selected")) {
      var n = selectedBoxes().length;
      question = button.getAttribute("data-confirm-selected") + " " + n + " selected job" + (n === 1 ? "" : "s") + "?";
    }
    if (!question) return;
    if (!window.confirm(question)) { event.preventDefault(); return; }
    var old = form.querySelector('input[name="confirmed"]');
    if (old) old.remove();
    var input = document.createElement("input");
    input.type = "hidden"; input.name = "confirmed"; input.value = "1";
    form.appendChild(input);
  });

  // --- sorting the rows of this page (the time column sorts every page, on the server) ----------
  document.addEventListener("click", function (event) {
    var th = event.target.closest && event.target.closest("table[data-sortable] th[data-sort]");
    if (!th) return;
    var table = th.closest("table"), body = table.tBodies[0];
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var descending = th.getAttribute("aria-sort") === "ascending";
    table.querySelectorAll("th[data-sort]").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
    var numeric = th.getAttribute("data-sort") === "num";
    var rows = Array.prototype.slice.call(body.rows).filter(function (r) { return r.cells.length > index; });
    rows.sort(function (a, b) {
      var x = a.cells[index].getAttribute("data-value") || a.cells[index].textContent;
      var y = b.cells[index].getAttribute("data-value") || b.cells[index].textContent;
      var c = numeric ? (parseFloat(x) || 0) - (parseFloat(y) || 0) : x.localeCompare(y);
      return descending ? -c : c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });

  // --- live updates ---------------------------------------------------------------------------
  // Every few seconds (data-live-interval) the page asks for itself with If-None-Match: the server
  // answers 304 from a digest of the tables when nothing changed, so an idle page costs a few index
  // probes and no rendering. A 200 replaces the [data-live] regions in place (counts, rows). A NOTIFY
  // (server-sent "change" event: an enqueue, a retry, a pause) asks at once. A slow page backs off;
  // search and filter results (data-live-hold) are never replaced by themselves: a note offers to.
  var eventsUrl = document.body.getAttribute("data-events");
  var baseInterval = parseInt(document.body.getAttribute("data-live-interval") || "5000", 10) || 5000;
  var hold = document.body.hasAttribute("data-live-hold");
  var toggle = document.getElementById("live-toggle");
  var paused = store("goodjob-live") === "paused";
  var inFlight = false, pending = false, source = null, timer = null, recheck = false;
  var etag = document.body.getAttribute("data-etag") || null;
  var interval = baseInterval;

  function busy() {
    if (document.hidden) return true;
    var active = document.activeElement;
    if (active && active.closest && active.closest("[data-live]") && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName)) return true;
    if (document.querySelector("[data-live] details[open]")) return true;
    return document.querySelector("[data-hold-when-selected]") !== null && selectedBoxes().length > 0;
  }

  function stamp(id, date) {
    var node = document.getElementById(id);
    if (node) node.textContent = date;
  }

  function schedule() {
    if (timer) window.clearTimeout(timer);
    timer = window.setTimeout(function () { refresh(false); }, interval);
  }

  function refresh(force) {
    if (paused) { schedule(); return; }
    if (busy() || inFlight) { pending = true; schedule(); return; }
    inFlight = true; pending = false;
    if (hold && !document.getElementById("live-stale").hidden) return;  // already told: stop asking
    var headers = { "X-GoodJob-Live": hold ? "check" : "1" };
    if (etag && !force) headers["If-None-Match"] = etag;
    var started = Date.now();
    fetch(window.location.href, { headers: headers, credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        var took = Date.now() - started;
        // Back off when the page is slow to build: never ask more often than 10x its cost.
        interval = Math.min(Math.max(baseInterval, took * 10), 60000);
        var checked = new Date().toISOString().substr(11, 8);
        if (response.status === 304) {
          stamp("live-checked", " · checked " + checked + ", no changes");
          if (recheck) { recheck = false; window.setTimeout(function () { refresh(false); }, 1500); }
          return null;
        }
        recheck = false;
        if (!response.ok || response.redirected) throw new Error("status " + response.status);
        if (hold || response.status === 204) {
          var note = document.getElementById("live-stale");
          if (note) note.hidden = false;
          stamp("live-checked", " · checked " + checked);
          return null;
        }
        etag = response.headers.get("ETag");
        return response.text();
      })
      .then(function (html) {
        if (html === null || html === undefined) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live][id]").forEach(function (node) {
          var fresh = doc.getElementById(node.id);
          if (fresh) node.replaceWith(document.importNode(fresh, true));
        });
        var fresh = doc.getElementById("updated-at"), here = document.getElementById("updated-at");
        if (fresh && here) here.replaceWith(document.importNode(fresh, true));
        stamp("live-checked", "");
        updateSelection();
        document.dispatchEvent(new CustomEvent("goodjob:refreshed"));
      })
      .catch(function () { interval = Math.min(interval * 2, 60000); })
      .then(function () { inFlight = false; schedule(); });
  }

  function showLive(mode) {
    if (!toggle) return;
    toggle.hidden = false;
    toggle.setAttribute("aria-pressed", paused ? "false" : "true");
    toggle.classList.toggle("offline", mode === "polling");
    toggle.querySelector(".live-label").textContent = paused ? "Paused" : "Live";
  }

  function connect() {
    if (!eventsUrl || !window.EventSource) return;
    source = new EventSource(eventsUrl);
    // A NOTIFY (an enqueue, a retry, a pause) may come before Postgres's row counters move: ask at
    // once, and if that is still "not modified", once more a little later.
    source.addEventListener("change", function () { recheck = true; refresh(false); });
    source.addEventListener("error", function () {
      // A stream that cannot be opened at all (an error page, a proxy) is CLOSED: the checks go on.
      if (source && source.readyState === EventSource.CLOSED) { source.close(); source = null; showLive("polling"); }
    });
  }

  if (toggle) {
    toggle.addEventListener("click", function () {
      paused = !paused;
      store("goodjob-live", paused ? "paused" : null);
      showLive(source ? "live" : "polling");
      if (!paused) refresh(false);
    });
  }
  document.addEventListener("visibilitychange", function () { if (!document.hidden && pending) refresh(false); });
  document.addEventListener("focusout", function () { if (pending) window.setTimeout(function () { refresh(false); }, 50); });
  document.addEventListener("toggle", function () { if (pending) refresh(false); }, true);
  var reload = document.getElementById("live-reload");
  if (reload) reload.addEventListener("click", function (event) { event.preventDefault(); window.location.reload(); });

  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form input:disabled[name]").forEach(function (input) {
      if (!input.closest("[data-confirm-selected]")) input.disabled = false;
    });
  });

  showTheme();
  updateSelection();
  if (eventsUrl) { showLive("live"); connect(); schedule(); }
})();
