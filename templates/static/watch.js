// vidseek player view: the whole video from the moment the link named, its segments listed beside it.
// Clicking a segment seeks there; the segment being played is marked as it goes. Plain ES2020.
(() => {
  "use strict";

  const player = document.getElementById("player");
  const list = document.getElementById("segments");
  const errorEl = document.getElementById("player-error");
  const back = document.getElementById("back-link");
  if (!player) return;

  const start = Math.max(0, Number(player.dataset.start) || 0);
  const items = list ? Array.from(list.querySelectorAll(".segment")) : [];

  function play() {
    // Sound on when the browser allows it; otherwise play muted (autoplay policy) and let the controls unmute.
    const p = player.play();
    if (p && typeof p.catch === "function") {
      p.catch(() => {
        player.muted = true;
        player.play().catch(() => {});
      });
    }
  }

  function seek(t) {
    try {
      player.currentTime = t;
    } catch (_) {
      /* not seekable yet: the loadedmetadata handler seeks */
    }
    play();
  }

  function markCurrent() {
    const t = player.currentTime;
    for (const li of items) {
      const on = t >= Number(li.dataset.start) && t < Number(li.dataset.end);
      if (on) li.setAttribute("aria-current", "true");
      else li.removeAttribute("aria-current");
    }
  }

  player.addEventListener("loadedmetadata", () => {
    if (Math.abs(player.currentTime - start) > 0.25) player.currentTime = start;
    markCurrent();
  });
  player.addEventListener("timeupdate", markCurrent);
  player.addEventListener("seeked", markCurrent);
  player.addEventListener("error", () => {
    errorEl.hidden = false;
    errorEl.textContent =
      "This video cannot be played here: the browser may not support its format, or the file moved since it was indexed. " +
      "Use the download link or re-run 'vidseek index build'.";
  });
  if (player.readyState >= 1) seek(start);
  else play();

  for (const li of items) {
    const button = li.querySelector("button.seek");
    if (button) button.addEventListener("click", () => seek(Number(li.dataset.start) || 0));
  }

  // "Back to search" returns to the results the user came from (their URL state) when there are any.
  if (back && document.referrer) {
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
  document.documentElement.dataset.ready = "1";
})();
