// vidseek classify page (templates/classify.html loads it as a module): pick an indexed video (or a linked
// segment) or upload one, enter labels, POST /classify, and show the ranked probabilities as bars; with "Timeline"
// also the most likely label over time (timeline_classify.js). Results go in with textContent only.

import { errorMessage, fetchJson, isAbort } from "./api.js";
import { percent } from "./format.js";
import { markReady, statusLine } from "./page.js";
import { clearTimeline, renderTimeline } from "./timeline_classify.js";

const form = document.getElementById("classify-form");
const select = document.getElementById("video-select");
const fileInput = document.getElementById("video-file");
const labelsInput = document.getElementById("labels");
const templateInput = document.getElementById("template");
const timelineBox = document.getElementById("timeline");
const timelineEl = document.getElementById("classify-timeline");
const button = document.getElementById("classify-button");
const resultsEl = document.getElementById("classify-results");
const setStatus = statusLine(document.getElementById("classify-status"));
let controller = null;

function setBusy(busy) {
  document.body.classList.toggle("is-loading", busy);
  button.disabled = busy;
  resultsEl.setAttribute("aria-busy", busy ? "true" : "false");
}

function source() {
  const checked = form.querySelector('input[name="source"]:checked');
  return checked ? checked.value : "";
}

function choose(value) {
  const radio = form.querySelector(`input[name="source"][value="${value}"]`);
  if (radio && !radio.disabled) radio.checked = true;
}

function labelList() {
  return labelsInput.value.split(",").map((s) => s.trim()).filter(Boolean);
}

/** The prompt template: the box's, or (emptied) the server's default, which the page rendered as its value. */
function promptTemplate() {
  return templateInput.value.trim() || templateInput.defaultValue.trim();
}

/** One label's row: its name, a bar as wide as its probability, and the percentage. */
function barRow(item) {
  const p = Math.max(0, Math.min(1, Number(item.probability) || 0));
  const li = document.createElement("li");
  li.className = "bar-row";
  li.dataset.label = String(item.label);
  li.dataset.probability = String(p);
  const name = document.createElement("span");
  name.className = "bar-label";
  name.textContent = String(item.label);
  const track = document.createElement("span");
  track.className = "bar-track";
  track.setAttribute("role", "meter");
  track.setAttribute("aria-valuemin", "0");
  track.setAttribute("aria-valuemax", "100");
  track.setAttribute("aria-valuenow", percent(p));
  track.setAttribute("aria-label", `${item.label}: ${percent(p)} percent`);
  const fill = document.createElement("span");
  fill.className = "bar-fill";
  fill.style.width = `${percent(p, 2)}%`;
  track.appendChild(fill);
  const value = document.createElement("span");
  value.className = "bar-value";
  value.textContent = `${percent(p)}%`;
  value.title = `cosine ${Number(item.score).toFixed(3)}`;
  li.append(name, track, value);
  return li;
}

function render(labels) {
  resultsEl.replaceChildren(...labels.map(barRow));
}

/** The fetch init for clip source `kind`; {problem, focus} when the form does not name a clip. With `timeline`,
 * `videoId` is the indexed video whose blocks link to its watch page (null for an upload). */
function requestFor(kind, labels, template, timeline) {
  if (kind === "upload") {
    const file = fileInput.files && fileInput.files[0];
    if (!file) return { problem: "Choose a video file to upload, or pick an indexed video.", focus: fileInput };
    const body = new FormData();
    body.append("file", file, file.name);
    body.append("labels", labels.join(","));
    body.append("template", template);
    if (timeline) body.append("timeline", "true");
    return { init: { method: "POST", body }, videoId: null };
  }
  const payload = { labels, template };
  if (timeline && kind !== "video") {
    return { problem: "A timeline is of a whole video: pick an indexed video or upload one.", focus: timelineBox };
  }
  if (timeline) payload.timeline = true;
  if (kind === "segment") {
    payload.segment_id = Number(form.querySelector('input[value="segment"]').dataset.segmentId);
  } else if (kind === "video" && select && select.value) {
    payload.video_id = Number(select.value);
  } else {
    return { problem: "Pick an indexed video or upload one." };
  }
  const init = { method: "POST", body: JSON.stringify(payload), headers: { "Content-Type": "application/json" } };
  return { init, videoId: payload.video_id ?? null };
}

/** What to do about a refused classification, by status. */
function advice(status) {
  if (status === 413) return " Upload a shorter or smaller video.";
  if (status === 422 || status === 415) return " Check the file is a video and the template has one {}.";
  return "";
}

function showAnswer({ res, body }, started, shown) {
  clearTimeline(timelineEl);
  if (!res.ok) {
    setStatus(`Classification failed: ${errorMessage(res, body)}.${advice(res.status)}`, "error");
    resultsEl.replaceChildren();
    return;
  }
  render(body.labels || []);
  if (Array.isArray(body.timeline)) renderTimeline(timelineEl, body.timeline, shown);
  const top = body.labels && body.labels[0];
  const ms = Math.round(performance.now() - started);
  setStatus(top ? `Most likely: ${top.label} (${percent(top.probability)}%) · ${body.labels.length} labels in ${ms} ms` : "No labels.", "ok");
}

async function classify(init, kind, shown) {
  if (controller) controller.abort();
  const ctrl = new AbortController();
  controller = ctrl;
  setBusy(true);
  setStatus(kind === "upload" ? "Uploading and classifying…" : "Classifying…", "loading");
  const started = performance.now();
  try {
    const answer = await fetchJson("/classify", { ...init, signal: ctrl.signal });
    if (ctrl === controller) showAnswer(answer, started, shown);
  } catch (err) {
    if (isAbort(err)) return;
    setStatus("Classification failed: could not reach the server. Check that 'vidseek serve' is running.", "error");
  } finally {
    if (ctrl === controller) {
      controller = null;
      setBusy(false);
    }
  }
}

function submit(ev) {
  ev.preventDefault();
  const labels = labelList();
  if (!labels.length) {
    setStatus("Enter at least one label, e.g. “cooking, dancing”.", "error");
    labelsInput.focus();
    return;
  }
  const kind = source();
  const { init, problem, focus, videoId } = requestFor(kind, labels, promptTemplate(), timelineBox.checked);
  if (problem) {
    setStatus(problem, "error");
    if (focus) focus.focus();
    return;
  }
  classify(init, kind, { labels, videoId });
}

// Touching a control picks its option.
if (select) select.addEventListener("change", () => choose("video"));
fileInput.addEventListener("change", () => {
  if (fileInput.files && fileInput.files.length) choose("upload");
});
form.addEventListener("submit", submit);
markReady();
