// Folio operator console: polls the admin API every 2 s and wires the buttons.
// Served by the node; no build step, no inline script (the page's CSP forbids it).
"use strict";

(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const statusLine = document.getElementById("status");

  function say(text, bad) {
    statusLine.textContent = text;
    statusLine.classList.toggle("bad", Boolean(bad));
  }

  async function api(method, path) {
    const headers = { accept: "application/json" };
    if (method !== "GET") headers["x-csrf-token"] = csrf;
    const response = await fetch(path, { method, headers, credentials: "same-origin" });
    if (response.status === 401) {
      // The session ran out: the page shows the sign-in form again.
      window.location.reload();
      throw new Error("signed out");
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || "request failed (" + response.status + ")");
    return body;
  }

  function cell(text) {
    const td = document.createElement("td");
    td.textContent = text;
    return td;
  }

  function age(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    if (seconds < 60) return seconds.toFixed(1) + " s";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min";
    return (seconds / 3600).toFixed(1) + " h";
  }

  function renderJobs(reply) {
    const body = document.getElementById("jobs-body");
    const rows = reply.kinds.map((job) => {
      const tr = document.createElement("tr");
      tr.dataset.kind = job.kind;
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = job.kind;
      tr.append(th, cell(job.pending), cell(job.in_flight ?? "–"), cell(job.failed),
        cell(job.done_last_hour), cell(age(job.oldest_pending_age_secs)));
      return tr;
    });
    body.replaceChildren(...rows);
    document.getElementById("jobs-updated").textContent =
      "bus: " + reply.bus + " · updated " + new Date().toLocaleTimeString();
    renderReindex(reply.reindex);
  }

  function uptime(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min";
    if (seconds < 86400) return (seconds / 3600).toFixed(1) + " h";
    return (seconds / 86400).toFixed(1) + " d";
  }

  function renderNodes(reply) {
    const rows = reply.nodes.map((node) => {
      const tr = document.createElement("tr");
      tr.dataset.node = node.name;
      tr.dataset.state = node.state;
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = node.name;
      const state = cell(node.state);
      state.className = node.state === "reachable" ? "state-up" : "state-down";
      let restarts = "–";
      if (node.actor_restarts) {
        const failing = Object.entries(node.actor_restarts).filter(([, n]) => n > 0);
        restarts = failing.length === 0 ? "0" : failing.map(([actor, n]) => actor + " " + n).join(", ");
      }
      tr.append(th, state, cell(node.roles.join(", ")), cell(uptime(node.uptime_secs)),
        cell(node.http_addr || node.cluster_addr || "–"), cell(restarts));
      return tr;
    });
    document.getElementById("nodes-body").replaceChildren(...rows);
    document.getElementById("nodes-media").textContent =
      "media: " + reply.media_pending + " waiting, " + reply.media_failed + " failed";
  }

  function renderReindex(progress) {
    document.getElementById("reindex-progress").value = progress.percent;
    document.getElementById("reindex-progress").textContent = progress.percent + " %";
    document.getElementById("reindex-percent").textContent = progress.percent + " %";
    let detail = "";
    if (progress.running) detail = "running: " + progress.done + " of " + progress.total + " projects";
    else if (progress.error) detail = "stopped: " + progress.error;
    else if (progress.finished_at) detail = progress.done + " projects republished";
    document.getElementById("reindex-detail").textContent = detail;
    document.getElementById("reindex").disabled = progress.running;
  }

  function renderFailed(reply) {
    document.getElementById("failed-total").textContent = reply.total;
    const body = document.getElementById("failed-body");
    if (reply.files.length === 0) {
      const tr = document.createElement("tr");
      tr.className = "empty";
      const td = cell("Nothing has failed.");
      td.colSpan = 6;
      tr.append(td);
      body.replaceChildren(tr);
      return;
    }
    // Keep focus on a row's button across refreshes, for keyboard users.
    const focused = document.activeElement && document.activeElement.dataset
      ? document.activeElement.dataset.fileId : undefined;
    const rows = reply.files.map((f) => {
      const tr = document.createElement("tr");
      tr.dataset.fileId = f.file_id;
      const file = document.createElement("td");
      file.className = "file";
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = f.original_filename;
      const id = document.createElement("code");
      id.className = "small";
      id.textContent = f.file_id;
      file.append(name, document.createElement("br"), id);
      const err = cell(f.error);
      err.className = "err";
      const when = document.createElement("td");
      const time = document.createElement("time");
      time.dateTime = f.failed_at;
      time.textContent = new Date(f.failed_at).toLocaleString();
      when.append(time);
      const action = document.createElement("td");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "retry";
      button.dataset.fileId = f.file_id;
      button.textContent = "Retry";
      button.setAttribute("aria-label", "Retry " + f.original_filename);
      action.append(button);
      tr.append(file, cell(f.owner_username), err, cell(f.attempts), when, action);
      return tr;
    });
    body.replaceChildren(...rows);
    if (focused) {
      const again = body.querySelector('button[data-file-id="' + focused + '"]');
      if (again) again.focus();
    }
  }

  async function refresh() {
    try {
      const [jobs, failed, cluster] = await Promise.all([
        api("GET", "/admin/jobs"),
        api("GET", "/admin/media/failed?page=1&size=50"),
        api("GET", "/admin/cluster"),
      ]);
      renderJobs(jobs);
      renderFailed(failed);
      renderNodes(cluster);
    } catch (e) {
      say("Could not refresh: " + e.message, true);
    }
  }

  async function act(button, method, path, describe) {
    button.disabled = true;
    try {
      const reply = await api(method, path);
      say(describe(reply));
      await refresh();
    } catch (e) {
      say(e.message, true);
    } finally {
      button.disabled = false;
    }
  }

  document.getElementById("failed-body").addEventListener("click", (event) => {
    const button = event.target.closest("button.retry");
    if (!button) return;
    act(button, "POST", "/admin/media/" + encodeURIComponent(button.dataset.fileId) + "/retry",
      () => "Queued again.");
  });

  document.getElementById("deletions-body").addEventListener("click", (event) => {
    const button = event.target.closest("button.retry-deletion");
    if (!button) return;
    act(button, "POST", "/admin/deletions/" + encodeURIComponent(button.dataset.userId) + "/retry",
      (reply) => reply.message);
  });

  document.getElementById("retry-all-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const filter = document.getElementById("error-contains").value.trim();
    const query = filter ? "?error_contains=" + encodeURIComponent(filter) : "";
    act(document.getElementById("retry-all"), "POST", "/admin/media/retry-failed" + query,
      (reply) => reply.message);
  });

  document.getElementById("regenerate-missing").addEventListener("click", (event) => {
    act(event.currentTarget, "POST", "/admin/media/regenerate-missing", (reply) => reply.message);
  });

  document.getElementById("reindex").addEventListener("click", async (event) => {
    const button = event.currentTarget;
    button.disabled = true;
    say("Reindexing…");
    // The run answers when it is done; meanwhile its progress is polled.
    const poll = setInterval(() => {
      api("GET", "/admin/reindex-projects").then(renderReindex).catch(() => {});
    }, 250);
    try {
      const reply = await api("POST", "/admin/reindex-projects");
      say(reply.message);
    } catch (e) {
      say(e.message, true);
    } finally {
      clearInterval(poll);
      try {
        renderReindex(await api("GET", "/admin/reindex-projects"));
      } catch (e) {
        say(e.message, true);
      }
    }
  });

  refresh();
  setInterval(refresh, 2000);
})();
