// The Jobs page: the index's indexing jobs, live. The list follows GET /jobs/events (server-sent events, one
// message per change); where the stream cannot be kept open it polls GET /jobs. Text only, never markup.

import { errorMessage, fetchJson } from "./api.js";
import { formatCount } from "./format.js";
import { markReady, statusLine } from "./page.js";

const state = JSON.parse(document.getElementById("vidseek-jobs").textContent);
const list = document.getElementById("jobs");
const none = document.getElementById("no-jobs");
const say = statusLine(document.getElementById("jobs-status"));
const rescan = document.getElementById("rescan");
const ACTIVE = new Set(["queued", "running"]);
const UNITS = { indexing: "segments", words: "videos", previews: "videos" };

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleString();
}

function duration(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return "";
  const s = Math.max(0, Math.ceil(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** The line under a running job's bar: "indexing: 3/10 segments · 1/4 files · ETA 12s". */
function progressText(job) {
  if (!job.stage) return "starting";
  const parts = [];
  if (job.total > 0) parts.push(`${job.stage}: ${formatCount(job.done)}/${formatCount(job.total)} ${UNITS[job.stage] || "items"}`);
  else parts.push(job.stage);
  if (job.files_total > 0) parts.push(`${formatCount(job.files_done)}/${formatCount(job.files_total)} files`);
  if (job.eta_seconds != null) parts.push(`ETA ${duration(job.eta_seconds)}`);
  return parts.join(" · ");
}

function outcomeText(job) {
  const parts = [`${formatCount(job.indexed)} files indexed`, `${formatCount(job.segments_embedded)} segments embedded`];
  if (job.moved) parts.push(`${formatCount(job.moved)} moved or renamed`);
  if (job.removed) parts.push(`${formatCount(job.removed)} removed`);
  if (job.unchanged) parts.push(`${formatCount(job.unchanged)} unchanged`);
  return parts.join(" · ");
}

function action(label, job, verb) {
  const button = el("button", "btn", label);
  button.type = "button";
  button.dataset.action = verb;
  button.setAttribute("aria-label", `${label} job ${job.id}`);
  button.addEventListener("click", () => act(job.id, verb, button));
  return button;
}

function card(job) {
  const item = el("li", "job");
  item.dataset.id = String(job.id);
  item.dataset.status = job.status;
  const head = el("div", "job-head");
  head.append(el("span", `job-status job-${job.status}`, job.cancel_requested && job.status === "running" ? "cancelling…" : job.status));
  head.append(el("span", "job-title", `job ${job.id} · ${job.reason}`));
  head.append(el("span", "job-when", job.finished_at ? `finished ${when(job.finished_at)}` : job.started_at ? `started ${when(job.started_at)}` : `asked ${when(job.requested_at)}`));
  item.append(head);
  if (job.status === "running") {
    const bar = el("progress", "job-bar");
    if (job.total > 0) {
      bar.max = job.total;
      bar.value = Math.min(job.done, job.total);
    }
    bar.setAttribute("aria-label", `job ${job.id}: ${progressText(job)}`);
    item.append(bar, el("p", "job-progress", progressText(job)));
  } else if (job.status === "done") {
    item.append(el("p", "job-outcome", outcomeText(job)));
  }
  if (job.error) item.append(el("p", "job-error", job.error));
  if (job.file_errors && job.file_errors.length) {
    const details = el("details", "job-files");
    details.append(el("summary", "", `${job.file_errors.length} file(s) could not be indexed`));
    const files = el("ul");
    for (const f of job.file_errors) files.append(el("li", "", `${f.path}: ${f.reason}`));
    details.append(files);
    item.append(details);
  }
  const actions = el("div", "job-actions");
  if (ACTIVE.has(job.status) && !job.cancel_requested) actions.append(action("Cancel", job, "cancel"));
  if (job.status === "failed" || job.status === "cancelled") actions.append(action("Retry", job, "retry"));
  if (actions.childElementCount) item.append(actions);
  return item;
}

function show(jobs) {
  list.replaceChildren(...jobs.map(card));
  none.hidden = jobs.length > 0;
}

async function act(id, verb, button) {
  button.disabled = true;
  try {
    const { res, body } = await fetchJson(`/jobs/${id}/${verb}`, { method: "POST" });
    if (!res.ok) say(errorMessage(res, body), "error");
    else say(verb === "cancel" ? `job ${id}: cancelling` : `job ${body.id} queued: a retry of job ${id}`, "ok");
  } catch (_) {
    say("the server cannot be reached", "error");
  } finally {
    button.disabled = false;
    refresh();
  }
}

async function refresh() {
  try {
    const { res, body } = await fetchJson("/jobs");
    if (res.ok && body) show(body.jobs);
  } catch (_) {
    /* the next event or poll tries again */
  }
}

rescan.addEventListener("click", async () => {
  rescan.disabled = true;
  try {
    const { res, body } = await fetchJson("/jobs/index", { method: "POST" });
    if (!res.ok) say(errorMessage(res, body), "error");
    else say(body.new ? `job ${body.job.id} queued` : `a rescan was waiting: job ${body.job.id} will do it`, "ok");
  } catch (_) {
    say("the server cannot be reached", "error");
  } finally {
    rescan.disabled = !state.can_update;
    refresh();
  }
});

/** Live: the event stream; after repeated failures, a poll every 2 s instead. */
function follow() {
  let failures = 0;
  let polling = null;
  const source = new EventSource("/jobs/events");
  source.addEventListener("jobs", (event) => {
    failures = 0;
    try {
      show(JSON.parse(event.data).jobs);
    } catch (_) {
      /* a broken message: the next one replaces it */
    }
  });
  source.addEventListener("error", () => {
    failures += 1;
    if (failures >= 3 && polling === null) {
      source.close();
      polling = setInterval(refresh, 2000);
    }
  });
}

show(state.jobs);
follow();
markReady();
