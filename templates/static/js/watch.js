// vidseek player page (templates/watch.html loads it as a module): the whole video from the moment the link
// named, its segments listed beside it. Clicking a segment seeks there; the segment being played is marked as it
// goes.

import { markReady } from "./page.js";

const UNPLAYABLE =
  "This video cannot be played here: the browser may not support its format, or the file moved since it was indexed. " +
  "Use the download link or re-run 'vidseek index build'.";

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
  const unplayable = () => {
    errorEl.hidden = false;
    errorEl.textContent = UNPLAYABLE;
  };
  player.addEventListener("error", unplayable);
  if (player.error) unplayable(); // it failed while this module and its imports were still loading
  if (player.readyState >= 1) seek(player, start);
  else play(player);
  for (const li of items) {
    const button = li.querySelector("button.seek");
    if (button) button.addEventListener("click", () => seek(player, Number(li.dataset.start) || 0));
  }
}

const player = document.getElementById("player");
if (player) {
  wirePlayer(player, document.getElementById("segments"), document.getElementById("player-error"));
  backToResults(document.getElementById("back-link"));
  markReady();
}
