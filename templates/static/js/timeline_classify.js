// The classify page's timeline (POST /classify with timeline): one block per run of segments with the same most
// likely label, placed over the video's length, coloured per label with a legend. For an indexed video a block
// links to the watch page at its start. Everything from the server goes in as text; colours come from the palette.

import { clock, clockRange, fragNum, percent } from "./format.js";

// Distinct on the dark theme, all light enough for dark text.
const PALETTE = ["#5aa9ff", "#ffb454", "#7ee787", "#ff7b72", "#d2a8ff", "#56d4dd", "#f2cc60", "#ff9bce", "#b4c2d3", "#9ccc65"];

/** A label's colour: by its place among the labels asked for, so a label keeps its colour from run to run. */
export function colourOf(label, labels) {
  const i = labels.indexOf(label);
  return PALETTE[(i < 0 ? labels.length : i) % PALETTE.length];
}

function finite(x) {
  const n = Number(x);
  return Number.isFinite(n) ? n : 0;
}

/** One run's block, at `left`% and `width`% of the band; a link to /watch/ID?t=start for an indexed video. */
function block(run, left, width, colour, videoId) {
  const li = document.createElement("li");
  li.className = "action-item";
  li.style.left = `${left}%`;
  li.style.width = `${width}%`;
  const el = document.createElement(videoId == null ? "div" : "a");
  el.className = "action-block";
  if (videoId != null) el.href = `/watch/${videoId}?t=${fragNum(run.start)}`;
  const label = String(run.label);
  const times = clockRange(run.start, run.end);
  const p = percent(Math.max(0, Math.min(1, finite(run.probability))));
  const count = finite(run.segments);
  Object.assign(el.dataset, { label, start: String(finite(run.start)), end: String(finite(run.end)), segments: String(count) });
  el.style.backgroundColor = colour;
  el.title = `${label} · ${times} · ${p}% · ${count} segment${count === 1 ? "" : "s"}`;
  el.setAttribute("aria-label", el.title);
  const name = document.createElement("span");
  name.className = "action-label";
  name.textContent = label;
  const when = document.createElement("span");
  when.className = "action-time";
  when.textContent = `${times} · ${p}%`;
  el.append(name, when);
  li.appendChild(el);
  return li;
}

/** The legend: each label on the timeline (in the order asked for) with its swatch and the time it covers. */
function legendItems(runs, labels) {
  const covered = new Map();
  for (const run of runs) {
    const label = String(run.label);
    covered.set(label, (covered.get(label) || 0) + Math.max(0, finite(run.end) - finite(run.start)));
  }
  const order = [...covered.keys()].sort((a, b) => labels.indexOf(a) - labels.indexOf(b));
  return order.map((label) => {
    const li = document.createElement("li");
    li.className = "action-key";
    li.dataset.label = label;
    const swatch = document.createElement("span");
    swatch.className = "action-swatch";
    swatch.style.backgroundColor = colourOf(label, labels);
    const text = document.createElement("span");
    text.textContent = `${label} · ${clock(covered.get(label))}`;
    li.append(swatch, text);
    return li;
  });
}

/** Show `runs` (the response's timeline) in `section`; `labels` as asked for, `videoId` for links (or null). */
export function renderTimeline(section, runs, { labels, videoId = null }) {
  const band = section.querySelector(".action-band");
  const total = runs.length ? Math.max(finite(runs[runs.length - 1].end), 0) : 0;
  band.replaceChildren(
    ...runs.map((run, i) => {
      // A photo's one segment is 0..0: with no length to share, runs share the band equally.
      const left = total > 0 ? (finite(run.start) / total) * 100 : (i / runs.length) * 100;
      const width = total > 0 ? ((finite(run.end) - finite(run.start)) / total) * 100 : 100 / runs.length;
      return block(run, fragNum(left), fragNum(width), colourOf(String(run.label), labels), videoId);
    }),
  );
  section.querySelector("#action-start").textContent = clock(0);
  section.querySelector("#action-end").textContent = clock(total);
  section.querySelector(".action-legend").replaceChildren(...legendItems(runs, labels));
  section.hidden = runs.length === 0;
}

export function clearTimeline(section) {
  section.hidden = true;
  section.querySelector(".action-band").replaceChildren();
  section.querySelector(".action-legend").replaceChildren();
}
