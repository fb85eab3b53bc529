// vidseek classify view: pick an indexed video (or a linked segment) or upload one, enter labels,
// POST /classify, and show the ranked probabilities as bars. Plain ES2020; results go in with
// textContent only.
(() => {
  "use strict";

  const form = document.getElementById("classify-form");
  const select = document.getElementById("video-select");
  const fileInput = document.getElementById("video-file");
  const labelsInput = document.getElementById("labels");
  const templateInput = document.getElementById("template");
  const button = document.getElementById("classify-button");
  const statusEl = document.getElementById("classify-status");
  const resultsEl = document.getElementById("classify-results");
  let controller = null;

  function setStatus(text, kind = "") {
    statusEl.textContent = text;
    statusEl.dataset.state = kind;
    statusEl.classList.toggle("is-error", kind === "error");
  }

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

  // Touching a control picks its option.
  if (select) select.addEventListener("change", () => choose("video"));
  fileInput.addEventListener("change", () => {
    if (fileInput.files && fileInput.files.length) choose("upload");
  });

  function labelList() {
    return labelsInput.value.split(",").map((s) => s.trim()).filter(Boolean);
  }

  function errorText(res, body) {
    const detail = body && body.detail;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) return detail.map((d) => (d && d.msg) || JSON.stringify(d)).join("; ");
    return `HTTP ${res.status}`;
  }

  function render(labels) {
    resultsEl.replaceChildren();
    for (const item of labels) {
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
      track.setAttribute("aria-valuenow", (p * 100).toFixed(1));
      track.setAttribute("aria-label", `${item.label}: ${(p * 100).toFixed(1)} percent`);
      const fill = document.createElement("span");
      fill.className = "bar-fill";
      fill.style.width = `${(p * 100).toFixed(2)}%`;
      track.appendChild(fill);
      const value = document.createElement("span");
      value.className = "bar-value";
      value.textContent = `${(p * 100).toFixed(1)}%`;
      value.title = `cosine ${Number(item.score).toFixed(3)}`;
      li.append(name, track, value);
      resultsEl.appendChild(li);
    }
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const labels = labelList();
    if (!labels.length) {
      setStatus("Enter at least one label, e.g. “cooking, dancing”.", "error");
      labelsInput.focus();
      return;
    }
    const template = templateInput.value.trim() || "a photo of a {}.";
    let init;
    const kind = source();
    if (kind === "upload") {
      const file = fileInput.files && fileInput.files[0];
      if (!file) {
        setStatus("Choose a video file to upload, or pick an indexed video.", "error");
        fileInput.focus();
        return;
      }
      const body = new FormData();
      body.append("file", file, file.name);
      body.append("labels", labels.join(","));
      body.append("template", template);
      init = { method: "POST", body };
    } else {
      const payload = { labels, template };
      if (kind === "segment") {
        payload.segment_id = Number(form.querySelector('input[value="segment"]').dataset.segmentId);
      } else if (kind === "video" && select && select.value) {
        payload.video_id = Number(select.value);
      } else {
        setStatus("Pick an indexed video or upload one.", "error");
        return;
      }
      init = { method: "POST", body: JSON.stringify(payload), headers: { "Content-Type": "application/json" } };
    }

    if (controller) controller.abort();
    const ctrl = new AbortController();
    controller = ctrl;
    setBusy(true);
    setStatus(kind === "upload" ? "Uploading and classifying…" : "Classifying…", "loading");
    const started = performance.now();
    try {
      const res = await fetch("/classify", { ...init, signal: ctrl.signal, headers: { Accept: "application/json", ...(init.headers || {}) } });
      let body = null;
      try {
        body = await res.json();
      } catch (_) {
        body = null;
      }
      if (ctrl !== controller) return;
      if (!res.ok) {
        const hint = res.status === 413 ? " Upload a shorter or smaller video." : res.status === 422 || res.status === 415 ? " Check the file is a video and the template has one {}." : "";
        setStatus(`Classification failed: ${errorText(res, body)}.${hint}`, "error");
        resultsEl.replaceChildren();
        return;
      }
      render(body.labels || []);
      const top = body.labels && body.labels[0];
      const ms = Math.round(performance.now() - started);
      setStatus(top ? `Most likely: ${top.label} (${(top.probability * 100).toFixed(1)}%) · ${body.labels.length} labels in ${ms} ms` : "No labels.", "ok");
    } catch (err) {
      if (err && err.name === "AbortError") return;
      setStatus("Classification failed: could not reach the server. Check that 'vidseek serve' is running.", "error");
    } finally {
      if (ctrl === controller) {
        controller = null;
        setBusy(false);
      }
    }
  });
  document.documentElement.dataset.ready = "1";
})();
