// The Activity page's live rows: new events that match the page's filters arrive over a WebSocket and appear at
// the top of the table; an outcome re-renders the row of its call. The server renders each row (the same
// template as the page), so this file only places them. Filters applied with htmx swap the table and its live
// URL: the socket follows.
(function () {
  "use strict";

  const NO_RETRY = [4400, 4403, 4404];
  let socket = null;
  let currentUrl = "";
  let attempt = 0;

  function setStatus(text, tone) {
    const badge = document.getElementById("live-status");
    if (!badge) return;
    badge.textContent = text;
    badge.className = "badge" + (tone ? " " + tone : "");
  }

  function place(row) {
    const body = document.getElementById("event-rows");
    if (!body) return;
    const existing = document.getElementById("event-" + row.id);
    if (row.remove) {
      if (existing) existing.remove();
      return;
    }
    const template = document.createElement("template");
    template.innerHTML = row.html.trim();
    const element = template.content.firstElementChild;
    if (!element) return;
    element.classList.add("arrived");
    if (existing) {
      existing.replaceWith(element);
    } else {
      body.prepend(element);
    }
    const empty = document.getElementById("no-events");
    if (empty) empty.classList.add("hidden");
  }

  function connect(url) {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const current = new WebSocket(scheme + window.location.host + url);
    socket = current;
    current.addEventListener("open", function () {
      attempt = 0;
      setStatus("Live", "ok");
    });
    current.addEventListener("message", function (message) {
      let payload;
      try { payload = JSON.parse(message.data); } catch (e) { return; }
      if (payload && Array.isArray(payload.rows)) payload.rows.forEach(place);
    });
    current.addEventListener("close", function (event) {
      if (socket !== current) return; // replaced by a socket for other filters
      socket = null;
      if (NO_RETRY.indexOf(event.code) !== -1) {
        setStatus("Not live", "warn");
        return;
      }
      setStatus("Reconnecting…", "warn");
      const delay = Math.min(30000, 1000 * Math.pow(2, attempt));
      attempt += 1;
      setTimeout(function () { if (currentUrl === url && socket === null) connect(url); }, delay);
    });
  }

  function follow() {
    const results = document.getElementById("activity-results");
    const url = results ? results.getAttribute("data-live-url") || "" : "";
    if (url === currentUrl && socket) return;
    currentUrl = url;
    if (socket) {
      const old = socket;
      socket = null;
      old.close();
    }
    attempt = 0;
    if (url && "WebSocket" in window) connect(url);
  }

  document.addEventListener("DOMContentLoaded", follow);
  document.addEventListener("htmx:afterSettle", follow);
})();
