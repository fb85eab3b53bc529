// Playing result clips: each muted <video> plays only its segment [start, end), looping inside it, and only
// while it is on screen, the tab is visible and the person has not asked for reduced motion.

const LOOP_EPSILON = 0.05; // seconds before `end` at which a clip loops back

export const reducedMotion = window.matchMedia
  ? window.matchMedia("(prefers-reduced-motion: reduce)")
  : { matches: false };

export function safePlay(video) {
  if (document.hidden) return;
  const p = video.play();
  if (p && typeof p.catch === "function") p.catch(() => {});
}

function shouldPlay(video) {
  return video.dataset.visible === "1" && !reducedMotion.matches && !document.hidden;
}

const observer = "IntersectionObserver" in window
  ? new IntersectionObserver(
      (entries) => {
        for (const entry of entries) {
          const video = entry.target;
          video.dataset.visible = entry.isIntersecting ? "1" : "0";
          if (shouldPlay(video)) safePlay(video);
          else if (!video.paused) video.pause();
        }
      },
      { rootMargin: "50px 0px", threshold: 0.1 }
    )
  : null;

/** Whether a new video starts as visible (it does when no IntersectionObserver can say otherwise). */
export const startsVisible = !observer;

/** Play `video` whenever it scrolls into view (at once when that cannot be observed). */
export function playWhenVisible(video) {
  if (observer) observer.observe(video);
  else if (shouldPlay(video)) safePlay(video);
}

/** Pause the videos in `container` while the tab is hidden, and resume the visible ones when it shows again. */
export function pauseWhileHidden(container) {
  document.addEventListener("visibilitychange", () => {
    for (const video of container.querySelectorAll("video")) {
      if (document.hidden) video.pause();
      else if (shouldPlay(video)) safePlay(video);
    }
  });
}

function seekTo(video, t) {
  try {
    video.currentTime = t;
  } catch (_) {
    /* not seekable yet */
  }
}

/** Make a <video> play only [start, end) and loop inside that range; its card shows playing and failing. */
export function wireClipLoop(video, start, end) {
  const clipEnd = () => {
    const d = video.duration;
    return Number.isFinite(d) && d > 0 ? Math.min(end, d) : end;
  };
  const restart = () => {
    seekTo(video, start);
    if (shouldPlay(video)) safePlay(video);
  };
  video.addEventListener("loadedmetadata", () => seekTo(video, start));
  video.addEventListener("timeupdate", () => {
    const t = video.currentTime;
    const e = clipEnd();
    // Past the clip end, or `loop` wrapped the whole file back to 0.
    if (e - start > LOOP_EPSILON * 2 && (t >= e - LOOP_EPSILON || t < start - 0.5)) restart();
  });
  // The media fragment end (#t=s,e) pauses playback; `ended` fires at the file end.
  video.addEventListener("pause", () => {
    if (video.currentTime >= clipEnd() - 0.3 && shouldPlay(video)) restart();
  });
  video.addEventListener("ended", restart);
  video.addEventListener("playing", () => video.closest(".result")?.classList.add("is-playing"));
  video.addEventListener("error", () => video.closest(".result")?.classList.add("has-error"));
}

/** Stop the videos in `container` and free their decoders and connections (before they leave the page). */
export function releaseVideos(container) {
  for (const video of container.querySelectorAll("video")) {
    if (observer) observer.unobserve(video);
    video.pause();
    video.removeAttribute("src");
    try {
      video.load(); // frees the decoder / network connection
    } catch (_) {
      /* ignore */
    }
  }
}
