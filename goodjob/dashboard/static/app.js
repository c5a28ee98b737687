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

  // --- live updates ---------------------------------------------------------------------------
  var eventsUrl = document.body.getAttribute("data-events");
  var toggle = document.getElementById("live-toggle");
  var paused = store("goodjob-live") === "paused";
  var inFlight = false, pending = false, pollTimer = null, source = null;

  function busy() {
    if (document.hidden) return true;
    var active = document.activeElement;
    if (active && active.closest && active.closest("[data-live]") && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName)) return true;
    if (document.querySelector("[data-live] details[open]")) return true;
    return document.querySelector("[data-hold-when-selected]") !== null && selectedBoxes().length > 0;
  }

  function refresh() {
    if (paused) return;
    if (busy() || inFlight) { pending = true; return; }
    inFlight = true; pending = false;
    fetch(window.location.href, { headers: { "X-GoodJob-Live": "1" }, credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok || response.redirected) throw new Error("status " + response.status);
        return response.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live][id]").forEach(function (node) {
          var fresh = doc.getElementById(node.id);
          if (fresh) node.replaceWith(document.importNode(fresh, true));
        });
        var stamp = doc.getElementById("updated-at"), here = document.getElementById("updated-at");
        if (stamp && here) here.replaceWith(document.importNode(stamp, true));
        updateSelection();
        document.dispatchEvent(new CustomEvent("goodjob:refreshed"));
      })
      .catch(function () { /* keep the page as it is; the next event tries again */ })
      .then(function () { inFlight = false; });
  }

  function showLive(mode) {
    if (!toggle) return;
    toggle.hidden = false;
    toggle.setAttribute("aria-pressed", paused ? "false" : "true");
    toggle.classList.toggle("offline", mode === "polling");
    toggle.querySelector(".live-label").textContent = paused ? "Paused" : (mode === "polling" ? "Polling" : "Live");
  }

  function startPolling() {
    if (source) { source.close(); source = null; }
    if (!pollTimer) pollTimer = window.setInterval(refresh, 5000);
    showLive("polling");
  }

  function connect() {
    if (!eventsUrl) return;
    if (!window.EventSource) { startPolling(); return; }
    var opened = 0;
    source = new EventSource(eventsUrl);
    source.addEventListener("open", function () { opened += 1; if (opened > 1) refresh(); showLive("live"); });
    source.addEventListener("change", refresh);
    source.addEventListener("tick", refresh);
    source.addEventListener("error", function () {
      // A stream that ends is reopened by the browser (readyState CONNECTING); one that cannot be
      // opened at all (an error page, a proxy) is CLOSED: poll instead.
      if (source && source.readyState === EventSource.CLOSED) startPolling();
    });
  }

  if (toggle) {
    toggle.addEventListener("click", function () {
      paused = !paused;
      store("goodjob-live", paused ? "paused" : null);
      showLive(pollTimer ? "polling" : "live");
      if (!paused) refresh();
    });
  }
  document.addEventListener("visibilitychange", function () { if (!document.hidden && pending) refresh(); });
  document.addEventListener("focusout", function () { if (pending) window.setTimeout(refresh, 50); });
  document.addEventListener("toggle", function () { if (pending) refresh(); }, true);

  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form input:disabled[name]").forEach(function (input) {
      if (!input.closest("[data-confirm-selected]")) input.disabled = false;
    });
  });

  showTheme();
  updateSelection();
  if (eventsUrl) { showLive("live"); connect(); }
})();
