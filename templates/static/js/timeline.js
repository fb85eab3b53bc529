// "Where in this video": the player page opened from a search (?q=) shows the words' score along the whole video,
// a strip under the player with one cell per segment (its width its share of the video), coloured by score on one
// scale from the video's lowest to its highest, the search's moments marked. Clicking a cell seeks to its start.
// The scores come from GET /search/timeline; they go into the page as text and styles, never HTML.

import { errorMessage, fetchJson } from "./api.js";
import { clock, clockRange, formatScore } from "./format.js";

// The colour scale, low to high (dark blue, teal, green, yellow: viridis's ends and middle, readable in grey).
const SCALE = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];

/** The colour of `x` in [0, 1] on SCALE, as CSS. */
export function colourOf(x) {
  const t = Math.min(1, Math.max(0, Number.isFinite(x) ? x : 0)) * (SCALE.length - 1);
  const i = Math.min(SCALE.length - 2, Math.floor(t));
  const f = t - i;
  const [r, g, b] = SCALE[i].map((c, j) => Math.round(c + (SCALE[i + 1][j] - c) * f));
  return `rgb(${r}, ${g}, ${b})`;
}

function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text != null) el.textContent = text;
  return el;
}

/** Whether the segment [start, end) lies inside one of `moments`. */
function inMoment(moments, start, end) {
  return moments.some((m) => start >= Number(m.start) - 1e-6 && end <= Number(m.end) + 1e-6);
}

/** One cell per segment, and the legend: the scale's two ends with their scores. */
function render(strip, legend, body, seek) {
  const segments = body.segments.filter((s) => s && Number.isFinite(Number(s.score)));
  const moments = Array.isArray(body.moments) ? body.moments : [];
  const scores = segments.map((s) => Number(s.score));
  const low = Math.min(...scores);
  const high = Math.max(...scores);
  const best = scores.indexOf(high);
  const cells = segments.map((s, i) => {
    const start = Math.max(0, Number(s.start) || 0);
    const end = Math.max(start, Number(s.end) || start);
    const score = Number(s.score);
    const cell = element("button", "timeline-cell");
    cell.type = "button";
    cell.style.flexGrow = String(Math.max(end - start, 0.001));
    cell.style.backgroundColor = colourOf(high > low ? (score - low) / (high - low) : 1);
    cell.dataset.start = String(start);
    cell.dataset.end = String(end);
    cell.dataset.score = String(score);
    cell.dataset.segmentId = String(s.segment_id);
    if (inMoment(moments, start, end)) cell.classList.add("is-moment");
    if (i === best) cell.classList.add("is-best");
    const label = `${clockRange(start, end)}: score ${formatScore(score)}${i === best ? ", the best" : ""}`;
    cell.title = label;
    cell.setAttribute("aria-label", `Play from ${clock(start)} (${label})`);
    cell.addEventListener("click", () => seek(start));
    return cell;
  });
  strip.replaceChildren(...cells);
  const ramp = element("span", "timeline-ramp");
  ramp.style.background = `linear-gradient(to right, ${SCALE.map((_, i) => colourOf(i / (SCALE.length - 1))).join(", ")})`;
  legend.replaceChildren(
    element("span", "timeline-low", formatScore(low)),
    ramp,
    element("span", "timeline-high", formatScore(high)),
    element("span", "timeline-key", `${moments.length} moment${moments.length === 1 ? "" : "s"} marked`)
  );
  return cells;
}

/** Mark the cell the player is in (aria-current). */
function follow(player, cells) {
  const mark = () => {
    const t = player.currentTime;
    for (const cell of cells) {
      const on = t >= Number(cell.dataset.start) && t < Number(cell.dataset.end);
      if (on) cell.setAttribute("aria-current", "true");
      else cell.removeAttribute("aria-current");
    }
  };
  player.addEventListener("timeupdate", mark);
  player.addEventListener("seeked", mark);
  mark();
}

/**
 * Fill the strip section `box` (data-q: the words, data-video-id, data-url: "/search/timeline") for `player`;
 * seek(t) plays from t. The section says what went wrong when the scores cannot be had.
 */
export async function timelineStrip(box, player, seek) {
  const strip = box.querySelector(".timeline-strip");
  const legend = box.querySelector(".timeline-legend");
  const status = box.querySelector(".timeline-status");
  const sp = new URLSearchParams({ q: box.dataset.q || "", video_id: box.dataset.videoId || "" });
  let answer;
  try {
    answer = await fetchJson(`${box.dataset.url || "/search/timeline"}?${sp.toString()}`);
  } catch (_) {
    status.textContent = "The scores along this video could not be loaded: could not reach the server.";
    return;
  }
  const { res, body } = answer;
  if (!res.ok || !body || !Array.isArray(body.segments)) {
    status.textContent = `The scores along this video could not be loaded: ${errorMessage(res, body)}`;
    return;
  }
  if (!body.segments.length) {
    status.textContent = "This video has no segments to score.";
    return;
  }
  const cells = render(strip, legend, body, seek);
  status.textContent = "";
  box.dataset.state = "ready";
  follow(player, cells);
}
