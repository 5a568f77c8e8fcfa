// ScopeGate dashboard behaviour: copy buttons and the organization's live event stream.
// No inline scripts anywhere: the Content-Security-Policy allows only files served from here.
(function () {
  "use strict";

  function onCopyClick(event) {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    const text = source.value !== undefined ? source.value : source.textContent.trim();
    const done = function () {
      const label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { selectText(source); });
    } else {
      selectText(source);
    }
  }

  function selectText(element) {
    const range = document.createRange();
    range.selectNodeContents(element);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  // Elements marked data-refresh-on="event.name" reload themselves when the organization's stream says so.
  function refresh(eventName) {
    document.querySelectorAll("[data-refresh-on]").forEach(function (element) {
      const names = element.getAttribute("data-refresh-on").split(/\s+/);
      if (names.indexOf(eventName) === -1 || !window.htmx) return;
      window.htmx.ajax("GET", element.getAttribute("data-refresh-url"), { target: element, swap: "outerHTML" });
    });
  }

  function connectEvents(path, attempt) {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + window.location.host + path);
    socket.addEventListener("message", function (message) {
      let payload;
      try { payload = JSON.parse(message.data); } catch (e) { return; }
      if (payload && payload.event) {
        refresh(payload.event);
        document.dispatchEvent(new CustomEvent("scopegate:" + payload.event, { detail: payload.data }));
      }
    });
    socket.addEventListener("open", function () { attempt = 0; });
    socket.addEventListener("close", function (event) {
      if (event.code === 4404 || event.code === 4403) return; // not a member: do not retry
      const delay = Math.min(30000, 1000 * Math.pow(2, attempt));
      setTimeout(function () { connectEvents(path, attempt + 1); }, delay);
    });
  }

  document.addEventListener("click", onCopyClick);
  document.addEventListener("DOMContentLoaded", function () {
    const path = document.body.getAttribute("data-org-events");
    if (path && "WebSocket" in window) connectEvents(path, 0);
  });
})();
