// Scrubbing over a video's sprite sheet: its WebVTT thumbnails track (cues "12.jpg#xywh=0,0,160,90", the sheet
// named relative to the track) is fetched and parsed once per URL, and the tile for a time is painted in an
// overlay as a scaled window on the sheet. Result cards (a segment across the card's width) and the player's scrub
// bar (the whole video across the bar) share it. Values from the server are checked and set as text or style.

import { clock } from "./format.js";
import { safeUrl } from "./urls.js";

const tracks = new Map(); // track URL -> Promise<Track | null>
const TIP_WIDTH = 160; // px: the scrub bar's tooltip frame

/** "01:02.500" or "1:01:02.500" -> seconds; NaN when it is not a WebVTT timestamp. */
export function parseTimestamp(text) {
  const m = /^(?:(\d+):)?(\d{2}):(\d{2})\.(\d{3})$/.exec(String(text).trim());
  if (!m) return NaN;
  return Number(m[1] || 0) * 3600 + Number(m[2]) * 60 + Number(m[3]) + Number(m[4]) / 1000;
}

/** A cue's text "sheet.jpg#xywh=x,y,w,h" -> {url, x, y, w, h}, the sheet resolved against the track's URL and
 *  kept only on the track's own origin; null when it is not one. */
function tileOf(text, trackUrl) {
  const m = /^([^#\s]+)#xywh=(?:pixel:)?(\d+),(\d+),(\d+),(\d+)$/.exec(text.trim());
  if (!m) return null;
  let url;
  try {
    url = new URL(m[1], trackUrl);
  } catch (_) {
    return null;
  }
  if (url.origin !== new URL(trackUrl).origin || !safeUrl(url.href)) return null;
  const [x, y, w, h] = m.slice(2).map(Number);
  return w > 0 && h > 0 ? { url: url.href, x, y, w, h } : null;
}

/** The cues of a WebVTT thumbnails track, in time order: [{start, end, url, x, y, w, h}]; with each sheet's
 *  size as far as its tiles reach (`sheets`: url -> {width, height}). Cues that are not tiles are left out. */
export function parseThumbnailTrack(text, trackUrl) {
  const cues = [];
  const lines = String(text).replace(/\r\n?/g, "\n").split("\n");
  if (!/^\uFEFF?WEBVTT(?:[ \t]|$)/.test(lines[0] || "")) return { cues, sheets: new Map() };
  for (let i = 1; i < lines.length; i += 1) {
    const timing = /^\s*(\S+)\s+-->\s+(\S+)/.exec(lines[i]);
    if (!timing) continue;
    const start = parseTimestamp(timing[1]);
    const end = parseTimestamp(timing[2]);
    const tile = tileOf(lines[i + 1] || "", trackUrl);
    if (Number.isFinite(start) && end > start && tile) cues.push({ start, end, ...tile });
  }
  cues.sort((a, b) => a.start - b.start);
  const sheets = new Map();
  for (const c of cues) {
    const s = sheets.get(c.url) || { width: 0, height: 0 };
    sheets.set(c.url, { width: Math.max(s.width, c.x + c.w), height: Math.max(s.height, c.y + c.h) });
  }
  return { cues, sheets };
}

/** The sheets' real sizes once they load (a sheet may be wider than its tiles reach). */
function measureSheets(track) {
  for (const [url, size] of track.sheets) {
    const img = new Image();
    img.addEventListener("load", () => {
      if (img.naturalWidth > 0) Object.assign(size, { width: img.naturalWidth, height: img.naturalHeight });
    });
    img.src = url;
  }
}

/** The parsed track at `url` (fetched once, shared by every card of the video); null when it cannot be had. */
export function loadTrack(url) {
  const checked = safeUrl(url);
  if (!checked) return Promise.resolve(null);
  if (!tracks.has(checked)) {
    const loading = fetch(checked, { headers: { Accept: "text/vtt" } })
      .then((r) => (r.ok ? r.text() : ""))
      .then((text) => {
        const track = parseThumbnailTrack(text, checked);
        if (!track.cues.length) return null;
        measureSheets(track);
        return track;
      })
      .catch(() => null);
    tracks.set(checked, loading);
  }
  return tracks.get(checked);
}

/** The cue showing time t: the one holding it, else the nearest end. */
export function cueAt(track, t) {
  const { cues } = track;
  let lo = 0;
  let hi = cues.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (cues[mid].start <= t) lo = mid;
    else hi = mid - 1;
  }
  return cues[lo];
}

/** An overlay: a frame (the tile) and a time label; hidden until painted. */
export function scrubOverlay(className) {
  const root = document.createElement("div");
  root.className = `scrub ${className || ""}`.trim();
  root.hidden = true;
  root.setAttribute("aria-hidden", "true");
  const frame = document.createElement("div");
  frame.className = "scrub-frame";
  const label = document.createElement("span");
  label.className = "scrub-time";
  root.append(frame, label);
  return { root, frame, label };
}

function cssUrl(href) {
  return `url("${href.replace(/["\\\n\r]/g, encodeURIComponent)}")`;
}

/** Show time t of `track` in `overlay`: the tile scaled to fit a box of boxW x boxH pixels. */
export function paint(overlay, track, t, boxW, boxH) {
  const cue = cueAt(track, t);
  const sheet = track.sheets.get(cue.url);
  const scale = Math.min(boxW / cue.w, boxH / cue.h);
  if (!(scale > 0)) return;
  const px = (n) => `${Math.round(n * scale * 100) / 100}px`;
  const style = overlay.frame.style;
  style.width = px(cue.w);
  style.height = px(cue.h);
  style.backgroundImage = cssUrl(cue.url);
  style.backgroundSize = `${px(sheet.width)} ${px(sheet.height)}`;
  style.backgroundPosition = `${px(-cue.x)} ${px(-cue.y)}`;
  overlay.label.textContent = clock(t);
  overlay.root.dataset.scrubTime = String(Math.round(t * 1000) / 1000);
  overlay.root.dataset.scrubTile = `${cue.x},${cue.y},${cue.w},${cue.h}`;
  overlay.root.hidden = false;
}

/** Where the pointer is across `el`, 0 to 1. */
function across(el, ev) {
  const r = el.getBoundingClientRect();
  return r.width > 0 ? Math.min(1, Math.max(0, (ev.clientX - r.left) / r.width)) : 0;
}

/** A result card's media: moving the pointer across it shows the tile of start + (x / width) * (end - start). */
export function scrubCard(media, spritesUrl, start, end) {
  if (!safeUrl(spritesUrl) || !(end > start)) return;
  const overlay = scrubOverlay("scrub-card");
  media.append(overlay.root);
  let track = null;
  let last = null; // the last pointer event over the media, painted once the track arrives
  const show = () => {
    if (!track || !last) return;
    paint(overlay, track, start + across(media, last) * (end - start), media.clientWidth, media.clientHeight);
  };
  media.addEventListener("pointerenter", (ev) => {
    if (ev.pointerType === "touch") return;
    last = ev;
    loadTrack(spritesUrl).then((t) => {
      track = t;
      show();
    });
  });
  media.addEventListener("pointermove", (ev) => {
    if (ev.pointerType === "touch") return;
    last = ev;
    show();
  });
  media.addEventListener("pointerleave", () => {
    last = null;
    overlay.root.hidden = true;
  });
}

/** The player's scrub bar: the pointer across it shows the tile and clock time there over the whole video;
 *  a click (or the arrow keys, as a slider) seeks the player there. `seek(t)` plays from t. */
export function scrubBar(bar, player, spritesUrl, seek) {
  const overlay = scrubOverlay("scrub-tip");
  bar.append(overlay.root);
  const fill = bar.querySelector(".scrub-fill");
  const duration = () => (Number.isFinite(player.duration) && player.duration > 0 ? player.duration : Number(bar.dataset.duration) || 0);
  let track = null;
  loadTrack(spritesUrl).then((t) => {
    track = t;
    if (!t) bar.classList.add("has-no-tiles");
  });
  bar.addEventListener("pointermove", (ev) => {
    const t = across(bar, ev) * duration();
    if (!track) return;
    const cue = cueAt(track, t);
    paint(overlay, track, t, TIP_WIDTH, (TIP_WIDTH * cue.h) / cue.w);
    const half = overlay.root.offsetWidth / 2;
    const x = ev.clientX - bar.getBoundingClientRect().left;
    overlay.root.style.left = `${Math.min(Math.max(x - half, 0), Math.max(0, bar.clientWidth - 2 * half))}px`;
  });
  bar.addEventListener("pointerleave", () => {
    overlay.root.hidden = true;
  });
  bar.addEventListener("click", (ev) => seek(across(bar, ev) * duration()));
  bar.addEventListener("keydown", (ev) => {
    const step = { ArrowLeft: -5, ArrowRight: 5, PageDown: -30, PageUp: 30 }[ev.key];
    let t = step != null ? player.currentTime + step : null;
    if (ev.key === "Home") t = 0;
    if (ev.key === "End") t = Math.max(0, duration() - 0.5);
    if (t == null) return;
    ev.preventDefault();
    seek(Math.min(Math.max(0, t), duration()));
  });
  const progress = () => {
    const d = duration();
    const t = player.currentTime || 0;
    if (fill) fill.style.width = `${d > 0 ? Math.min(100, (100 * t) / d) : 0}%`;
    bar.setAttribute("aria-valuenow", String(Math.round(t)));
    bar.setAttribute("aria-valuetext", clock(t));
    bar.setAttribute("aria-valuemax", String(Math.round(d)));
  };
  player.addEventListener("timeupdate", progress);
  player.addEventListener("loadedmetadata", progress);
}
