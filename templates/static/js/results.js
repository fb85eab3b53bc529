// The grid of result cards: one card per moment (or per video, with its moments as links), with its playing clip (scrubbed over its sprite sheet on hover)
// or its photo, title (a link to the player), time range, score and "More like this". Everything from the server
// goes in as text or checked URLs, never HTML.

import { clock, clockRange, formatScore, fragNum } from "./format.js";
import { playWhenVisible, reducedMotion, releaseVideos, safePlay, startsVisible, wireClipLoop } from "./player.js";
import { scrubCard } from "./scrub.js";
import { safeUrl } from "./urls.js";

/** The player page for result r, opened at `start` at segment `segmentId` (a photo's view has no time), with the
 * search's words `q` (its "where in this video" strip); "" when r names no video. */
function watchUrl(r, start, q, segmentId = r.segment_id) {
  if (r.video_id == null) return "";
  if (r.kind === "photo") return `/watch/${encodeURIComponent(String(r.video_id))}`;
  const sp = new URLSearchParams({ t: fragNum(start), segment: String(segmentId) });
  if (q) sp.set("q", q);
  return `/watch/${encodeURIComponent(String(r.video_id))}?${sp.toString()}`;
}

function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text != null) el.textContent = text;
  return el;
}

/** A muted clip of [start, end) of the result's video, with its poster. */
function clipVideo(c) {
  const video = document.createElement("video");
  video.muted = true;
  video.defaultMuted = true;
  video.setAttribute("muted", "");
  video.loop = true;
  video.playsInline = true;
  video.setAttribute("playsinline", "");
  if (!reducedMotion.matches) video.autoplay = true;
  video.preload = "metadata";
  video.disablePictureInPicture = true;
  video.tabIndex = -1;
  if (c.poster) video.poster = c.poster;
  video.dataset.visible = startsVisible ? "1" : "0";
  if (c.videoUrl) video.src = `${c.videoUrl}#t=${fragNum(c.start)},${fragNum(c.end)}`;
  wireClipLoop(video, c.start, c.end);
  return video;
}

/** A photo's card shows its poster, framed as the clips are. */
function photoImage(c) {
  const img = document.createElement("img");
  img.className = "photo";
  img.alt = "";
  img.decoding = "async";
  img.loading = "lazy";
  if (c.poster) img.src = c.poster;
  img.addEventListener("error", () => img.closest(".result")?.classList.add("has-error"));
  return img;
}

/** The picture is a second way into the player, for the mouse; the title is the keyboard's. */
function mediaOf(c, video) {
  const media = element(c.playerUrl ? "a" : "div", "media");
  if (c.playerUrl) {
    media.href = c.playerUrl;
    media.tabIndex = -1;
    media.setAttribute("aria-hidden", "true");
  }
  const badge = element("span", "badge", c.range);
  badge.setAttribute("aria-hidden", "true");
  media.append(video, badge);
  return media;
}

function metaOf(c, onLike) {
  const link = element("a", "title", c.title);
  link.title = c.isPhoto ? `${c.title}: open the photo` : `${c.title}: open the player at ${clock(c.start)}`;
  if (c.playerUrl) link.href = c.playerUrl;
  const scoreEl = element("span", "score", c.score);
  scoreEl.title = "similarity score (cosine, −1 to 1)";
  const like = element("button", "like-button", "More like this");
  like.type = "button";
  like.setAttribute("aria-label", `More like this: ${c.title}, ${c.range}`);
  like.addEventListener("click", () => onLike(c.segmentId));
  const meta = element("div", "meta");
  meta.append(link, element("span", "time", c.range), scoreEl, like);
  return meta;
}

/** With reduced motion there is no autoplay: a card plays on hover or focus instead. */
function playOnHover(card, video) {
  const on = () => safePlay(video);
  const off = () => video.pause();
  card.addEventListener("mouseenter", on);
  card.addEventListener("mouseleave", off);
  card.addEventListener("focusin", on);
  card.addEventListener("focusout", off);
}

const WORD_SOURCES = { subtitle: "subtitles", speech: "speech", name: "file name", title: "title" };

/** Where words matched and what they said (a search by words, the index holding them): the snippet with its
 * matched words in <mark>, built from text nodes only; null when the row matched by pixels alone. */
function snippetOf(r) {
  const s = r.snippet;
  if (!s || typeof s !== "object" || typeof s.text !== "string") return null;
  const text = s.text;
  const box = element("p", "snippet");
  const source = (Array.isArray(r.matched) ? r.matched : []).find((m) => m in WORD_SOURCES);
  if (source) box.append(element("span", "snippet-source", WORD_SOURCES[source]));
  let at = 0;
  const marks = (Array.isArray(s.marks) ? s.marks : [])
    .map((m) => [Number(m[0]), Number(m[1])])
    .filter(([a, b]) => Number.isInteger(a) && Number.isInteger(b) && a >= 0 && b > a && b <= text.length)
    .sort((x, y) => x[0] - y[0]);
  for (const [a, b] of marks) {
    if (a < at) continue; // overlapping marks: the first one wins
    box.append(document.createTextNode(text.slice(at, a)), element("mark", "", text.slice(a, b)));
    at = b;
  }
  box.append(document.createTextNode(text.slice(at)));
  return box;
}

/** A video's moments (group by video) as links into the player at each, best first. */
function momentsOf(r, q) {
  const list = element("ol", "moments");
  list.setAttribute("aria-label", "Moments in this video");
  for (const m of r.moments) {
    if (!m || typeof m !== "object") continue;
    const start = Math.max(0, Number(m.start) || 0);
    const end = Math.max(start, Number(m.end) || start);
    const href = safeUrl(watchUrl(r, start, q, m.segment_id));
    const link = element("a", "moment", clockRange(start, end));
    if (href) link.href = href;
    link.title = `open the player at ${clock(start)} (score ${formatScore(m.score)})`;
    const item = element("li");
    item.dataset.start = String(start);
    item.append(link, element("span", "moment-score", formatScore(m.score)));
    list.append(item);
  }
  return list;
}

/** What a card shows of result r, checked and formatted (`q`: the search's words, for the player's strip). */
function cardOf(r, q) {
  const start = Math.max(0, Number(r.start) || 0);
  const end = Math.max(start, Number(r.end) || start);
  const isPhoto = r.kind === "photo";
  return {
    segmentId: Number(r.segment_id),
    isPhoto,
    start,
    end,
    title: r.title == null ? `${isPhoto ? "photo" : "video"} ${r.video_id}` : String(r.title),
    range: isPhoto ? "photo" : clockRange(start, end),
    score: formatScore(r.score),
    videoUrl: safeUrl(r.video_url),
    spritesUrl: safeUrl(r.sprites_url),
    playerUrl: safeUrl(watchUrl(r, start, q)),
    poster: safeUrl(r.thumbnail_url),
  };
}

function buildCard(r, onLike, q) {
  const c = cardOf(r, q);
  const card = element("article", "result");
  card.dataset.segmentId = String(r.segment_id);
  if (r.video_id != null) card.dataset.videoId = String(r.video_id);
  card.dataset.start = String(c.start);
  card.dataset.end = String(c.end);
  card.dataset.score = String(Number(r.score));
  card.dataset.kind = c.isPhoto ? "photo" : "video";
  card.dataset.segments = String(Number(r.segments) || 1);
  card.setAttribute("aria-label", `${c.title}, ${c.range}, score ${c.score}`);
  const grouped = Array.isArray(r.moments);
  if (grouped) card.classList.add("is-video");
  if (c.isPhoto) {
    card.append(mediaOf(c, photoImage(c)), metaOf(c, onLike));
    const words = snippetOf(r);
    if (words) card.append(words);
    return { card, video: null };
  }
  const video = clipVideo(c);
  const media = mediaOf(c, video);
  if (c.spritesUrl) scrubCard(media, c.spritesUrl, c.start, c.end);
  card.append(media, metaOf(c, onLike));
  const words = snippetOf(r);
  if (words) card.append(words);
  if (grouped) card.append(momentsOf(r, q));
  if (reducedMotion.matches) playOnHover(card, video);
  return { card, video };
}

export class ResultGrid {
  /** container: the grid's element; onLike(segmentId): "More like this" was clicked on a card. */
  constructor(container, onLike) {
    this.container = container;
    this.onLike = onLike;
  }

  /** How many cards the grid holds (shown or hidden by the minimum score). */
  get size() {
    return this.container.querySelectorAll(".result").length;
  }

  /** Show `results` (after the cards already there when `append`); `q`: the search's words ("" for none), carried
   * to the player page. Returns the first new card, or null. */
  render(results, append, q = "") {
    if (!append) this.clear();
    const seen = new Set(Array.from(this.container.querySelectorAll(".result"), (c) => c.dataset.segmentId));
    const frag = document.createDocumentFragment();
    const videos = [];
    let firstNew = null;
    for (const r of results) {
      if (!r || typeof r !== "object" || seen.has(String(r.segment_id))) continue;
      seen.add(String(r.segment_id));
      const { card, video } = buildCard(r, this.onLike, q);
      firstNew = firstNew || card;
      frag.appendChild(card);
      if (video) videos.push(video);
    }
    this.container.appendChild(frag);
    videos.forEach(playWhenVisible);
    return firstNew;
  }

  /** Hide the cards scoring below `min` at once, before the server answers with the new total. */
  hideBelow(min) {
    for (const card of this.container.querySelectorAll(".result")) {
      card.hidden = min != null && Number(card.dataset.score) < min;
    }
  }

  clear() {
    releaseVideos(this.container);
    this.container.replaceChildren();
  }
}
