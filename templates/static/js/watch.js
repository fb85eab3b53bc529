// vidseek player page (templates/watch.html loads it as a module): the whole video (its preview when the index
// made one) from the moment the link named, its segments listed beside it and a scrub bar over its sprite sheet.
// Clicking a segment or the bar seeks there; the segment being played is marked as it goes. Opened from a search,
// the strip of its words' score along the video (timeline.js) seeks too. A photo's view only says when the photo
// cannot be shown.

import { markReady } from "./page.js";
import { scrubBar } from "./scrub.js";
import { timelineStrip } from "./timeline.js";
import { safeUrl } from "./urls.js";

const UNPLAYABLE =
  "This video cannot be played here: this browser cannot play its format (or the file moved since it was indexed). " +
  "'vidseek index build --previews auto' (the default) makes it a preview that plays in every browser; meanwhile, " +
  "download the original.";
const PREVIEW_FAILED =
  "This video cannot be played here: neither its preview nor the original loaded (the index may have been rebuilt, " +
  "or the file moved, since the page opened). Reload the page, or download the original.";
const NO_PHOTO =
  "This photo cannot be shown here: the server could not read it, or it moved since it was indexed. " +
  "Download the original.";

/** Sound on when the browser allows it; otherwise play muted (autoplay policy) and let the controls unmute. */
function play(player) {
  const p = player.play();
  if (p && typeof p.catch === "function") {
    p.catch(() => {
      player.muted = true;
      player.play().catch(() => {});
    });
  }
}

function seek(player, t) {
  try {
    player.currentTime = t;
  } catch (_) {
    /* not seekable yet: the loadedmetadata handler seeks */
  }
  play(player);
}

/** Mark the segment the player is in (aria-current). */
function markCurrent(player, items) {
  const t = player.currentTime;
  for (const li of items) {
    const on = t >= Number(li.dataset.start) && t < Number(li.dataset.end);
    if (on) li.setAttribute("aria-current", "true");
    else li.removeAttribute("aria-current");
  }
}

/** "Back to search" returns to the results the user came from (their URL state) when there are any. */
function backToResults(back) {
  if (!back || !document.referrer) return;
  try {
    const from = new URL(document.referrer);
    if (from.origin === window.location.origin && from.pathname === "/" && window.history.length > 1) {
      back.href = from.pathname + from.search;
      back.addEventListener("click", (ev) => {
        ev.preventDefault();
        window.history.back();
      });
    }
  } catch (_) {
    /* keep the plain link */
  }
}

/** Say why nothing shows, with the download link (text and a checked URL, never HTML). */
function sayUnplayable(errorEl, message, original) {
  errorEl.hidden = false;
  errorEl.textContent = `${message} `;
  if (original) {
    const link = document.createElement("a");
    link.href = original;
    link.textContent = "Download the original";
    link.setAttribute("download", "");
    errorEl.append(link);
  }
}

/** A preview that fails falls back to the original once (at the same time); then the page says why. */
function onFailure(player, errorEl) {
  const original = safeUrl(player.dataset.original);
  let fellBack = player.dataset.preview !== "1" || !original;
  return () => {
    if (!fellBack) {
      fellBack = true;
      const t = player.currentTime || Number(player.dataset.start) || 0;
      player.src = `${original}#t=${t}`;
      play(player);
      return;
    }
    sayUnplayable(errorEl, player.dataset.preview === "1" ? PREVIEW_FAILED : UNPLAYABLE, original);
  };
}

function wirePlayer(player, list, errorEl) {
  const start = Math.max(0, Number(player.dataset.start) || 0);
  const items = list ? Array.from(list.querySelectorAll(".segment")) : [];
  const mark = () => markCurrent(player, items);
  player.addEventListener("loadedmetadata", () => {
    if (Math.abs(player.currentTime - start) > 0.25) player.currentTime = start;
    mark();
  });
  player.addEventListener("timeupdate", mark);
  player.addEventListener("seeked", mark);
  const unplayable = onFailure(player, errorEl);
  player.addEventListener("error", unplayable);
  if (player.error) unplayable(); // it failed while this module and its imports were still loading
  if (player.readyState >= 1) seek(player, start);
  else play(player);
  for (const li of items) {
    const button = li.querySelector("button.seek");
    if (button) button.addEventListener("click", () => seek(player, Number(li.dataset.start) || 0));
  }
}

function wirePhoto(photo, errorEl) {
  const failed = () => sayUnplayable(errorEl, NO_PHOTO, safeUrl(photo.dataset.original));
  photo.addEventListener("error", failed);
  if (photo.complete && photo.naturalWidth === 0 && photo.getAttribute("src")) failed(); // failed before this ran
}

const player = document.getElementById("player");
const photo = document.getElementById("photo");
const errorEl = document.getElementById("player-error");
if (player) {
  wirePlayer(player, document.getElementById("segments"), errorEl);
  const bar = document.getElementById("scrub-bar");
  if (bar) scrubBar(bar, player, bar.dataset.sprites, (t) => seek(player, t));
  const strip = document.getElementById("timeline");
  if (strip) timelineStrip(strip, player, (t) => seek(player, t));
}
if (photo) wirePhoto(photo, errorEl);
backToResults(document.getElementById("back-link"));
markReady();
