// vidseek search page (the entry point; templates/index.html loads it as a module). Plain ES2020, no
// dependencies: the page works offline. Search as you type, "show", "max display", "min score", "more like this",
// query by picture, history and the "/" key are wired here; the modules beside it do the work.
//
// Everything coming from the server or the URL is put into the page with textContent / properties only (never
// innerHTML), and URLs are checked to be http(s) before they are used as src/href.

import { showQuery } from "./banner.js";
import { FilterControls, GroupByVideo, MaxDisplay, MediaKind, MinScore, RankBy } from "./controls.js";
import { landingParams, SearchHistory } from "./history.js";
import { markReady, statusLine } from "./page.js";
import { HeldPicture, refusalOf, takeFromDrop, takeFromPaste, takeFromPicker } from "./picture.js";
import { pauseWhileHidden, reducedMotion } from "./player.js";
import { isEmpty, sameParams, titleOf } from "./query.js";
import { ResultGrid } from "./results.js";
import { Searcher } from "./searching.js";
import { segmentIdOf } from "./urls.js";

const DEBOUNCE_MS = 300;
const TYPING_BURST_MS = 2000; // typed searches closer than this share one history entry
const NOTHING_TYPED = "Type something to search for, or pick a picture.";
const ONLY_SPACES = "Spaces alone are not a search: type some words, or pick a picture.";

const $ = (sel) => document.querySelector(sel);
const form = $("#search-form");
const qInput = $("#q");
const kSelect = $("#k");
const statusEl = $("#status");
const resultsEl = $("#results");
const loadMoreBtn = $("#load-more");
const bannerEls = { banner: $("#query-banner"), image: $("#query-banner-image"), text: $("#query-banner-text") };
const setStatus = statusLine(statusEl);

/** The server's initial state (#vidseek-state): {query, like, k, ks, min_score, kind, group, mode, filters, has_index}. */
function readInitial() {
  try {
    const node = document.getElementById("vidseek-state");
    return JSON.parse((node && node.textContent) || "{}") || {};
  } catch (_) {
    return {};
  }
}

const initial = readInitial();
const KS = Array.isArray(initial.ks) && initial.ks.length
  ? initial.ks.map(Number).filter(Number.isFinite)
  : Array.from(kSelect.options, (o) => Number(o.value));
const DEFAULT_K = KS.includes(8) ? 8 : KS[0];
const INITIAL_K = KS.includes(Number(initial.k)) ? Number(initial.k) : DEFAULT_K;

let pinned = null; // the like/image query in use; null = the words in the search box
let debounceTimer = 0;
let typingEntry = false; // true while the current history entry came from typing
let lastTypedAt = 0; // when the last typed search was sent (ms)

const maxDisplay = new MaxDisplay(kSelect, KS, INITIAL_K);
const minScore = new MinScore({ input: $("#min-score"), range: $("#min-score-range"), clear: $("#min-score-clear") });
const mediaKind = new MediaKind($("#kind")); // absent unless the index holds photos
const groupBy = new GroupByVideo($("#group"));
const rankBy = new RankBy($("#mode")); // absent unless the index holds words
const filters = new FilterControls($("#filters"));
const picture = new HeldPicture();
const searchHistory = new SearchHistory({ ks: KS, defaultK: DEFAULT_K, pagePath: window.location.pathname || "/" });
const grid = new ResultGrid(resultsEl, searchLike);
const searcher = new Searcher({
  searchUrl: new URL("search", document.baseURI).pathname, // "/search" at the root
  grid,
  results: resultsEl,
  loadMore: loadMoreBtn,
  setStatus,
  history: searchHistory,
  onLike: (like) => {
    if (pinned && pinned.mode === "like") pin(pinned, like);
  },
  beforeRun: cancelPending,
});

// ------------------------------------------------------------ the query
function pin(query, like) {
  pinned = query;
  showQuery(bannerEls, query, like, picture.current);
}

function readParams() {
  return {
    query: pinned || { mode: "text", q: qInput.value.trim() },
    k: maxDisplay.read(),
    minScore: minScore.validate(),
    kind: mediaKind.read(),
    group: groupBy.read(),
    rank: rankBy.read(),
    filters: filters.read(),
  };
}

function hasQuery() {
  return !isEmpty(pinned || { mode: "text", q: qInput.value.trim() });
}

/** Words that are only spaces are no query: say so instead of searching (true when they are). A hint left from
 * before goes once the box is emptied. */
function hintIfOnlySpaces() {
  const onlySpaces = qInput.value !== "" && qInput.value.trim() === "";
  if (onlySpaces) setStatus(ONLY_SPACES, "hint");
  else if (statusEl.dataset.state === "hint") setStatus("", "");
  return onlySpaces;
}

function showParams(p) {
  pin(p.query && p.query.mode !== "text" ? p.query : null);
  qInput.value = p.query && p.query.mode === "text" ? p.query.q : "";
  maxDisplay.show(p.k);
  minScore.show(p.minScore);
  mediaKind.show(p.kind);
  groupBy.show(p.group);
  rankBy.show(p.rank);
  filters.show(p.filters);
}

// ------------------------------------------------------------ searching
function cancelPending() {
  window.clearTimeout(debounceTimer);
  debounceTimer = 0;
}

/** Search triggered by an explicit action (submit, k change, example chip, like, picture). */
function searchNow() {
  cancelPending();
  const p = readParams();
  if (p.minScore === undefined) {
    setStatus("Minimum score must be a number between -1 and 1.", "error");
    minScore.focus();
    return;
  }
  if (isEmpty(p.query)) {
    searcher.abort();
    if (!hintIfOnlySpaces()) setStatus(NOTHING_TYPED, "hint");
    qInput.focus();
    return;
  }
  typingEntry = false;
  searcher.run(p, { history: "push" });
}

/** Debounced search-as-you-type. One history entry per typing burst. */
function scheduleTypedSearch() {
  cancelPending();
  debounceTimer = window.setTimeout(() => {
    debounceTimer = 0;
    const p = readParams();
    if (isEmpty(p.query) || p.minScore === undefined) return;
    if (sameParams(p, searcher.current)) return; // nothing changed (e.g. trailing space)
    const now = Date.now();
    const mode = typingEntry && now - lastTypedAt < TYPING_BURST_MS ? "replace" : "push";
    typingEntry = true;
    lastTypedAt = now;
    searcher.run(p, { history: mode });
  }, DEBOUNCE_MS);
}

function searchLike(segmentId) {
  if (segmentIdOf(segmentId) === null) return;
  qInput.value = "";
  pin({ mode: "like", like: segmentId });
  searchNow();
  window.scrollTo({ top: 0, behavior: reducedMotion.matches ? "auto" : "smooth" });
}

function searchPicture(file) {
  if (!file) return;
  const refusal = refusalOf(file);
  if (refusal) {
    setStatus(refusal, "error");
    return;
  }
  const query = picture.hold(file);
  qInput.value = "";
  pin(query);
  searchNow();
}

/** Back to an empty search box: the banner's "Clear". */
function unpin() {
  pin(null);
  searcher.abort();
  searcher.clear();
  setStatus("", "");
  const cleared = { query: { mode: "text", q: "" }, k: maxDisplay.read(), minScore: minScore.validate() ?? null };
  searchHistory.record({ ...cleared, kind: mediaKind.read(), group: groupBy.read(), rank: rankBy.read(), filters: filters.read() }, "push");
  document.title = titleOf({ mode: "text", q: "" });
  qInput.focus();
}

// ------------------------------------------------------------ events
function wireSearchBox() {
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (qInput.value.trim()) pin(null); // words typed over a like/picture query replace it
    searchNow();
  });
  qInput.addEventListener("input", () => {
    if (qInput.value.trim() === "") {
      cancelPending();
      hintIfOnlySpaces();
      return;
    }
    if (pinned) pin(null);
    scheduleTypedSearch();
  });
  qInput.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && qInput.value !== "") {
      // Native type=search clears on Escape in some browsers; make it consistent.
      ev.preventDefault();
      qInput.value = "";
      cancelPending();
    }
  });
}

function wireControls() {
  kSelect.addEventListener("change", () => {
    if (hasQuery()) searchNow();
  });
  mediaKind.wire(() => {
    if (hasQuery()) searchNow();
  });
  groupBy.wire(() => {
    if (hasQuery()) searchNow();
  });
  rankBy.wire(() => {
    if (hasQuery()) searchNow();
  });
  filters.wire(() => {
    if (hasQuery()) searchNow();
  });
  minScore.wire({
    onChange: (v) => {
      grid.hideBelow(v);
      if (hasQuery()) scheduleTypedSearch();
    },
    onInvalid: cancelPending,
    onSubmit: searchNow,
    onClear: () => {
      grid.hideBelow(null);
      if (hasQuery()) searchNow();
    },
  });
  const examples = $("#examples");
  if (examples) {
    examples.addEventListener("click", (ev) => {
      const chip = ev.target instanceof Element ? ev.target.closest("button[data-query]") : null;
      if (!chip) return;
      qInput.value = chip.dataset.query || "";
      pin(null);
      searchNow();
    });
  }
  loadMoreBtn.addEventListener("click", () => searcher.more());
  $("#query-clear").addEventListener("click", unpin);
}

function wirePicture() {
  takeFromPicker($("#image-button"), $("#image-input"), searchPicture);
  takeFromDrop($("#drop-overlay"), searchPicture, (text) => setStatus(text, "error"));
  takeFromPaste(searchPicture);
}

/** Back and forward: show the entry's search again (a picture only while the page still holds it). */
function replay(ev) {
  const st = ev.state && typeof ev.state === "object" ? ev.state : null;
  const p = st ? searchHistory.params(st, picture.current) : searchHistory.paramsFromLocation(picture.current);
  cancelPending();
  typingEntry = false;
  if (!p.query) {
    // A picture search from before a reload: the picture is gone.
    showParams({ query: { mode: "text", q: "" }, k: p.k, minScore: p.minScore, kind: p.kind, group: p.group, rank: p.rank, filters: p.filters });
    searcher.abort();
    searcher.clear();
    setStatus("That was a search by picture: pick the picture again to repeat it.", "");
    return;
  }
  showParams(p);
  if (!isEmpty(p.query)) {
    searcher.run(p, { history: "none" });
  } else {
    searcher.abort();
    searcher.clear();
    document.title = titleOf(p.query);
    setStatus("", "");
  }
}

/** "/" focuses the search box (unless already typing somewhere). */
function focusOnSlash(ev) {
  if (ev.key !== "/" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const t = ev.target;
  if (t instanceof HTMLElement && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
  ev.preventDefault();
  qInput.focus();
  qInput.select();
}

// ------------------------------------------------------------ start
function start() {
  wireSearchBox();
  wireControls();
  wirePicture();
  pauseWhileHidden(resultsEl);
  window.addEventListener("popstate", replay);
  document.addEventListener("keydown", focusOnSlash);
  const landing = landingParams(initial, qInput.value, INITIAL_K);
  showParams(landing);
  if (segmentIdOf(initial.like) === null && typeof initial.query === "string" && initial.query && !initial.query.trim()) {
    qInput.value = initial.query; // a link or the no-script form sent only spaces: show them, and say why nothing runs
    hintIfOnlySpaces();
  }
  searchHistory.markLanding(landing);
  searcher.run(landing, { history: "none" });
  markReady();
}

start();
