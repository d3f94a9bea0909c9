// Live dashboard: server-sent events update station rows, the alarm count and command results.
(function () {
  const live = document.getElementById("live");
  if (!live || !window.EventSource) return;
  const state = document.getElementById("live-state");
  const source = new EventSource(live.dataset.events);
  // The words in the page's language (dashboard/views.py live_labels).
  const labels = JSON.parse(live.dataset.labels || "{}");
  function text(key, fallback) {
    return labels[key] || fallback;
  }

  function age(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    seconds = Math.floor(seconds);
    if (seconds < 60) return seconds + " s";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min " + (seconds % 60) + " s";
    return Math.floor(seconds / 3600) + " h " + Math.floor((seconds % 3600) / 60) + " min";
  }
  function badge(text, kind) {
    const span = document.createElement("span");
    span.className = "badge " + kind;
    span.textContent = text;
    return span;
  }
  function put(scope, field, content) {
    scope.querySelectorAll('[data-field="' + field + '"]').forEach(function (cell) {
      if (typeof content === "string") cell.textContent = content;
      else cell.replaceChildren(content);
    });
  }

  // Red while the server's own data is stale (broker down, nothing arriving): "server" events.
  let serverStale = state.classList.contains("down");
  function showLive() {
    state.textContent = serverStale ? text("stale_data", "● data stale") : text("live", "● live");
    state.className = serverStale ? "live-state down" : "live-state";
  }
  source.addEventListener("open", showLive);
  source.addEventListener("server", function (event) {
    const link = JSON.parse(event.data);
    serverStale = link.stale;
    showLive();
    const broker = document.getElementById("broker-state");
    if (broker) {
      broker.hidden = !link.broker_down_since;
      if (link.broker_down_since) broker.textContent = text("broker_down", "broker unreachable since %(when)s").replace("%(when)s", link.broker_down_text);
    }
  });
  source.addEventListener("error", function () {
    state.textContent = text("reconnecting", "○ reconnecting");
    state.className = "live-state down";
  });
  source.addEventListener("station", function (event) {
    const row = JSON.parse(event.data);
    document.querySelectorAll('[data-station="' + row.station_id + '"]').forEach(function (scope) {
      scope.querySelectorAll('[data-field="presence"]').forEach(function (cell) {
        const presence = row.presence === "online" || row.presence === "offline" ? row.presence : "unknown";
        cell.textContent = row.stale ? text("stale", "offline (stale)") : text(presence, presence);
        cell.className = "badge " + (row.presence === "online" ? "good" : row.presence === "offline" ? "bad" : "warn");
      });
      // Written by the server in the deployment's zone and calendar (sync_server/local_time.py).
      put(scope, "last_heartbeat_at", row.last_heartbeat_text || "—");
      put(scope, "backlog", String(row.backlog));
      put(scope, "oldest_undelivered_age_s", age(row.oldest_undelivered_age_s));
      const paper = labels.paper || {};
      put(scope, "paper", row.paper === null ? "—" : badge(paper[row.paper] || row.paper, row.paper === "ok" ? "good" : row.paper === "paper-low" ? "warn" : "bad"));
      put(scope, "tamper_open", row.tamper_open ? badge(text("tamper_open", "open"), "bad") : text("tamper_closed", "closed"));
      put(scope, "watchdog_resets", row.watchdog_resets === null ? "—" : String(row.watchdog_resets));
      put(scope, "disk_free_pct", row.disk_free_pct === null ? "—" : Math.round(row.disk_free_pct) + "%");
      put(scope, "software_version", row.software_version || "—");
    });
  });
  let alarms = null;
  source.addEventListener("alarms", function (event) {
    const open = JSON.parse(event.data).open;
    const count = document.getElementById("alarm-count");
    if (count) {
      count.querySelector('[data-field="open"]').textContent = String(open);
      count.className = "badge " + (open ? "bad" : "good");
    }
    if (alarms !== null && alarms !== open && live.dataset.reloadOnAlarms) window.location.reload();
    alarms = open;
  });
  source.addEventListener("command", function (event) {
    const result = JSON.parse(event.data);
    const row = document.querySelector('[data-command="' + result.command_id + '"]');
    if (!row) return;
    const status = row.querySelector('[data-field="status"]');
    status.textContent = result.status;
    status.className = "badge " + (result.status === "done" ? "good" : result.status === "pending" ? "warn" : "bad");
    row.querySelector('[data-field="detail"]').textContent = result.detail;
  });
})();
