// vidseek search page. Plain ES2020, no dependencies (the page works offline).
//
// A query is one of three things: words ({mode: "text", q}), an indexed segment ("more like this",
// {mode: "like", like}) or a picture ({mode: "image", file}). Words and segments live in the URL
// (/?q=…&k=8, /?like=ID&k=8) so results can be shared and the back button works; a picture cannot,
// so its history entry only replays while this page still holds the picture.
//
// Everything coming from the server or the URL is put into the page with textContent / properties
// only (never innerHTML), and URLs are checked to be http(s) before they are used as src/href.
(() => {
  "use strict";

  const DEBOUNCE_MS = 300;
  const NOTHING_TYPED = "Type something to search for, or pick a picture.";
  const ONLY_SPACES = "Spaces alone are not a search: type some words, or pick a picture.";
  const LOOP_EPSILON = 0.05; // seconds before `end` at which a clip loops back

  // ---------------------------------------------------------------- elements
  const $ = (sel) => document.querySelector(sel);
  const form = $("#search-form");
  const qInput = $("#q");
  const kSelect = $("#k");
  const minInput = $("#min-score");
  const minRange = $("#min-score-range");
  const minClear = $("#min-score-clear");
  const statusEl = $("#status");
  const resultsEl = $("#results");
  const loadMoreBtn = $("#load-more");
  const examplesEl = $("#examples");
  const imageButton = $("#image-button");
  const imageInput = $("#image-input");
  const banner = $("#query-banner");
  const bannerImage = $("#query-banner-image");
  const bannerText = $("#query-banner-text");
  const bannerClear = $("#query-clear");
  const dropOverlay = $("#drop-overlay");

  // ------------------------------------------------------------ initial state
  let initial = {};
  try {
    const node = document.getElementById("vidseek-state");
    initial = JSON.parse((node && node.textContent) || "{}") || {};
  } catch (_) {
    initial = {};
  }
  const KS = Array.isArray(initial.ks) && initial.ks.length
    ? initial.ks.map(Number).filter(Number.isFinite)
    : Array.from(kSelect.options, (o) => Number(o.value));
  const DEFAULT_K = KS.includes(8) ? 8 : KS[0];
  const INITIAL_K = KS.includes(Number(initial.k)) ? Number(initial.k) : DEFAULT_K;

  const SEARCH_URL = new URL("search", document.baseURI).pathname; // "/search" at the root
  const PAGE_PATH = window.location.pathname || "/";

  // ------------------------------------------------------------ search state
  // `current` describes what the grid shows (or is loading).
  let current = null; // {query, k, minScore, offset, total, shown, tookMs}
  let pinned = null; // the like/image query in use; null = the words in the search box
  let picture = null; // {file, id, url}: the last picture searched by (object URL for the banner)
  let pictureCount = 0;
  let seq = 0; // request counter: only the newest response is used
  let controller = null; // AbortController of the in-flight request
  let debounceTimer = 0;
  let typingEntry = false; // true while the current history entry came from typing
  let lastTypedAt = 0; // when the last typed search was sent (ms)
  const TYPING_BURST_MS = 2000; // typed searches closer than this share one history entry

  // ------------------------------------------------------------ formatting
  function pad2(n) {
    return String(n).padStart(2, "0");
  }

  /** 75 -> "01:15", 3725 -> "1:02:05" */
  function formatTime(seconds) {
    const t = Math.max(0, Math.floor(Number(seconds) || 0));
    const h = Math.floor(t / 3600);
    const m = Math.floor((t % 3600) / 60);
    const s = t % 60;
    return h > 0 ? `${h}:${pad2(m)}:${pad2(s)}` : `${pad2(m)}:${pad2(s)}`;
  }

  function formatRange(start, end) {
    return `${formatTime(start)}–${formatTime(end)}`;
  }

  function formatScore(score) {
    const n = Number(score);
    return Number.isFinite(n) ? n.toFixed(3) : "–";
  }

  function formatMs(ms) {
    const n = Number(ms);
    if (!Number.isFinite(n)) return "?";
    return n >= 10 ? String(Math.round(n)) : String(Math.round(n * 10) / 10);
  }

  function formatCount(n) {
    const v = Number(n);
    return Number.isFinite(v) ? v.toLocaleString() : "?";
  }

  /** Trim float noise for media fragments and URLs: 10 -> "10", 10.5 -> "10.5". */
  function fragNum(x) {
    return String(Math.round((Number(x) || 0) * 1000) / 1000);
  }

  /** Only allow same-origin relative or http(s) URLs; returns "" otherwise. */
  function safeUrl(raw) {
    if (typeof raw !== "string" || raw === "") return "";
    try {
      const u = new URL(raw, window.location.href);
      return u.protocol === "http:" || u.protocol === "https:" ? u.href : "";
    } catch (_) {
      return "";
    }
  }

  function segmentIdOf(raw) {
    const s = String(raw == null ? "" : raw).trim();
    return /^\d{1,15}$/.test(s) ? Number(s) : null;
  }

  /** Turn a FastAPI error body into one readable line. */
  function errorMessage(res, body) {
    const detail = body && typeof body === "object" ? body.detail : undefined;
    const one = (d) => {
      if (d == null) return "";
      if (typeof d === "string") return d;
      if (typeof d === "object" && typeof d.msg === "string") {
        const loc = Array.isArray(d.loc) ? d.loc : [];
        const field = loc.length ? loc[loc.length - 1] : "";
        return typeof field === "string" && field && !["query", "body", "path"].includes(field)
          ? `${field}: ${d.msg}`
          : d.msg;
      }
      try {
        return JSON.stringify(d);
      } catch (_) {
        return String(d);
      }
    };
    let text = Array.isArray(detail) ? detail.map(one).filter(Boolean).join("; ") : one(detail);
    if (!text) text = `HTTP ${res.status}${res.statusText ? " " + res.statusText : ""}`;
    return text;
  }

  /** What to do about a failed search, by status. */
  function errorAdvice(res, query) {
    if (res.status === 503) return ""; // the server's message already says how to build an index
    if (res.status === 404 && query.mode === "like") return " It may have gone in a re-index: search with words again.";
    if (res.status === 413) return " Pick a smaller picture.";
    if (res.status === 415 || (res.status === 422 && query.mode === "image")) return " Pick a PNG, JPEG, WebP or GIF picture.";
    if (res.status >= 500) return " Try again; if it keeps failing, look at the server's log.";
    return "";
  }

  // ------------------------------------------------------------ status line
  function setStatus(text, kind = "") {
    statusEl.textContent = text;
    statusEl.dataset.state = kind; // "", "loading", "ok", "empty", "error", "hint"
    statusEl.classList.toggle("is-error", kind === "error");
    statusEl.classList.toggle("is-empty", kind === "empty" || kind === "hint");
  }

  /** Words that are only spaces are no query: say so instead of searching (true when they are). A hint left
   * from before goes once the box is emptied. */
  function hintIfOnlySpaces() {
    const onlySpaces = qInput.value !== "" && qInput.value.trim() === "";
    if (onlySpaces) setStatus(ONLY_SPACES, "hint");
    else if (statusEl.dataset.state === "hint") setStatus("", "");
    return onlySpaces;
  }

  function setBusy(busy) {
    resultsEl.setAttribute("aria-busy", busy ? "true" : "false");
    document.body.classList.toggle("is-loading", busy);
  }

  function resultStatus() {
    const n = current.shown;
    return `${formatCount(n)} result${n === 1 ? "" : "s"} of ${formatCount(current.total)} in ${formatMs(current.tookMs)} ms`;
  }

  // ------------------------------------------------------------ reading the controls
  function readMinScore() {
    const raw = minInput.value.trim();
    if (raw === "") {
      // An unparsable entry shows as "" with badInput set.
      return minInput.validity && minInput.validity.badInput ? NaN : null;
    }
    const v = Number(raw);
    return Number.isFinite(v) && v >= -1 && v <= 1 ? v : NaN;
  }

  function validateMinScore() {
    const v = readMinScore();
    const bad = Number.isNaN(v);
    minInput.setAttribute("aria-invalid", bad ? "true" : "false");
    minClear.hidden = minInput.value === "" && !(minInput.validity && minInput.validity.badInput);
    if (!bad) minRange.value = String(v == null ? -1 : v);
    return bad ? undefined : v;
  }

  function readK() {
    const k = Number(kSelect.value);
    return KS.includes(k) ? k : INITIAL_K;
  }

  function readQuery() {
    return pinned || { mode: "text", q: qInput.value.trim() };
  }

  function readParams() {
    return { query: readQuery(), k: readK(), minScore: validateMinScore() };
  }

  function isEmpty(query) {
    return query.mode === "text" && !query.q;
  }

  function queryKey(query) {
    if (query.mode === "like") return `like:${query.like}`;
    if (query.mode === "image") return `image:${query.id}`;
    return `text:${query.q}`;
  }

  function sameParams(a, b) {
    return !!a && !!b && queryKey(a.query) === queryKey(b.query) && a.k === b.k && a.minScore === b.minScore;
  }

  // ------------------------------------------------------------ URL / history
  function pageUrl(p) {
    const sp = new URLSearchParams();
    if (p.query.mode === "text" && p.query.q) sp.set("q", p.query.q);
    if (p.query.mode === "like") sp.set("like", String(p.query.like));
    sp.set("k", String(p.k));
    if (p.minScore != null) sp.set("min_score", String(p.minScore));
    return `${PAGE_PATH}?${sp.toString()}`;
  }

  function historyState(p) {
    const q = p.query;
    return {
      mode: q.mode,
      q: q.mode === "text" ? q.q : "",
      like: q.mode === "like" ? q.like : null,
      image: q.mode === "image" ? q.id : null,
      k: p.k,
      minScore: p.minScore,
    };
  }

  function paramsFromState(st) {
    const k = KS.includes(Number(st.k)) ? Number(st.k) : DEFAULT_K;
    const minScore = typeof st.minScore === "number" && st.minScore >= -1 && st.minScore <= 1 ? st.minScore : null;
    let query = { mode: "text", q: typeof st.q === "string" ? st.q : "" };
    if (st.mode === "like" && segmentIdOf(st.like) !== null) query = { mode: "like", like: segmentIdOf(st.like) };
    if (st.mode === "image") {
      query = picture && picture.id === st.image ? { mode: "image", file: picture.file, id: picture.id } : null;
    }
    return { query, k, minScore };
  }

  function paramsFromLocation() {
    const sp = new URLSearchParams(window.location.search);
    const ms = sp.get("min_score");
    const msNum = ms === null || ms.trim() === "" ? null : Number(ms);
    const like = segmentIdOf(sp.get("like"));
    return paramsFromState({
      mode: like !== null ? "like" : "text",
      q: (sp.get("q") || "").trim(),
      like,
      k: sp.get("k"),
      minScore: msNum !== null && Number.isFinite(msNum) ? msNum : null,
    });
  }

  function updateHistory(p, mode) {
    if (mode === "none") return;
    const url = pageUrl(p);
    const state = historyState(p);
    const here = window.location.pathname + window.location.search;
    const sameEntry = url === here && JSON.stringify(window.history.state) === JSON.stringify(state);
    if (mode === "replace" || sameEntry) {
      window.history.replaceState(state, "", url);
    } else {
      window.history.pushState(state, "", url);
    }
  }

  function applyParamsToControls(p) {
    setPinned(p.query && p.query.mode !== "text" ? p.query : null);
    qInput.value = p.query && p.query.mode === "text" ? p.query.q : "";
    kSelect.value = String(p.k);
    minInput.value = p.minScore == null ? "" : String(p.minScore);
    validateMinScore();
  }

  function updateTitle(query) {
    let what = "";
    if (query.mode === "text") what = query.q;
    else if (query.mode === "like") what = "More like this";
    else what = "Picture search";
    document.title = what ? `${what} · vidseek` : "vidseek";
  }

  // ------------------------------------------------------------ the query banner (like / picture)
  function setPinned(query, like) {
    pinned = query;
    if (!query) {
      banner.hidden = true;
      bannerImage.removeAttribute("src");
      return;
    }
    banner.hidden = false;
    banner.dataset.mode = query.mode;
    if (query.mode === "like") {
      bannerImage.src = safeUrl(like ? like.thumbnail_url : `/thumbnails/${query.like}.jpg`);
      bannerText.textContent = like
        ? `More like ${like.title} · ${formatRange(like.start, like.end)}`
        : `More like segment ${query.like}`;
    } else {
      if (picture && picture.id === query.id) bannerImage.src = picture.url;
      bannerText.textContent = `Clips that look like your picture${query.file && query.file.name ? ` “${query.file.name}”` : ""}`;
    }
  }

  // ------------------------------------------------------------ video playback
  const reducedMotion = window.matchMedia
    ? window.matchMedia("(prefers-reduced-motion: reduce)")
    : { matches: false };

  function safePlay(video) {
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

  document.addEventListener("visibilitychange", () => {
    for (const video of resultsEl.querySelectorAll("video")) {
      if (document.hidden) video.pause();
      else if (shouldPlay(video)) safePlay(video);
    }
  });

  /** Make a <video> play only [start, end) and loop inside that range. */
  function wireClipLoop(video, start, end) {
    const clipEnd = () => {
      const d = video.duration;
      return Number.isFinite(d) && d > 0 ? Math.min(end, d) : end;
    };
    const restart = () => {
      try {
        video.currentTime = start;
      } catch (_) {
        /* not seekable yet */
      }
      if (shouldPlay(video)) safePlay(video);
    };
    video.addEventListener("loadedmetadata", () => {
      try {
        video.currentTime = start;
      } catch (_) {
        /* ignore */
      }
    });
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

  function releaseVideos(container) {
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

  // ------------------------------------------------------------ result cards
  function watchUrl(r, start) {
    if (r.video_id == null) return "";
    const sp = new URLSearchParams({ t: fragNum(start), segment: String(r.segment_id) });
    return `/watch/${encodeURIComponent(String(r.video_id))}?${sp.toString()}`;
  }

  function buildCard(r) {
    const start = Math.max(0, Number(r.start) || 0);
    const end = Math.max(start, Number(r.end) || start);
    const title = r.title == null ? `video ${r.video_id}` : String(r.title);
    const range = formatRange(start, end);
    const score = formatScore(r.score);
    const videoUrl = safeUrl(r.video_url);
    const playerUrl = safeUrl(watchUrl(r, start));
    const poster = safeUrl(r.thumbnail_url);

    const card = document.createElement("article");
    card.className = "result";
    card.dataset.segmentId = String(r.segment_id);
    if (r.video_id != null) card.dataset.videoId = String(r.video_id);
    card.dataset.start = String(start);
    card.dataset.end = String(end);
    card.dataset.score = String(Number(r.score));
    card.setAttribute("aria-label", `${title}, ${range}, score ${score}`);

    // The picture is a second way into the player, for the mouse; the title is the keyboard's.
    const media = document.createElement(playerUrl ? "a" : "div");
    media.className = "media";
    if (playerUrl) {
      media.href = playerUrl;
      media.tabIndex = -1;
      media.setAttribute("aria-hidden", "true");
    }
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
    if (poster) video.poster = poster;
    video.dataset.visible = observer ? "0" : "1";
    if (videoUrl) video.src = `${videoUrl}#t=${fragNum(start)},${fragNum(end)}`;
    wireClipLoop(video, start, end);
    media.appendChild(video);

    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = range;
    badge.setAttribute("aria-hidden", "true");
    media.appendChild(badge);

    const meta = document.createElement("div");
    meta.className = "meta";
    const link = document.createElement("a");
    link.className = "title";
    link.textContent = title;
    link.title = `${title}: open the player at ${formatTime(start)}`;
    if (playerUrl) link.href = playerUrl;
    const time = document.createElement("span");
    time.className = "time";
    time.textContent = range;
    const scoreEl = document.createElement("span");
    scoreEl.className = "score";
    scoreEl.title = "similarity score (cosine, −1 to 1)";
    scoreEl.textContent = score;
    const like = document.createElement("button");
    like.type = "button";
    like.className = "like-button";
    like.textContent = "More like this";
    like.setAttribute("aria-label", `More like this: ${title}, ${range}`);
    like.addEventListener("click", () => searchLike(Number(r.segment_id)));
    meta.append(link, time, scoreEl, like);

    card.append(media, meta);
    if (reducedMotion.matches) {
      // No autoplay: play on hover / focus instead.
      const on = () => safePlay(video);
      const off = () => video.pause();
      card.addEventListener("mouseenter", on);
      card.addEventListener("mouseleave", off);
      card.addEventListener("focusin", on);
      card.addEventListener("focusout", off);
    }
    return { card, video };
  }

  /** Hide the cards scoring below the slider at once, before the server answers with the new total. */
  function applyMinScoreFilter(min) {
    let shown = 0;
    for (const card of resultsEl.querySelectorAll(".result")) {
      const below = min != null && Number(card.dataset.score) < min;
      card.hidden = below;
      if (!below) shown += 1;
    }
    return shown;
  }

  function renderResults(results, append) {
    if (!append) {
      releaseVideos(resultsEl);
      resultsEl.replaceChildren();
    }
    const seen = new Set(Array.from(resultsEl.querySelectorAll(".result"), (c) => c.dataset.segmentId));
    const frag = document.createDocumentFragment();
    const videos = [];
    let firstNew = null;
    for (const r of results) {
      if (!r || typeof r !== "object") continue;
      const id = String(r.segment_id);
      if (seen.has(id)) continue;
      seen.add(id);
      const { card, video } = buildCard(r);
      if (!firstNew) firstNew = card;
      frag.appendChild(card);
      videos.push(video);
    }
    resultsEl.appendChild(frag);
    for (const v of videos) {
      if (observer) observer.observe(v);
      else if (shouldPlay(v)) safePlay(v);
    }
    return firstNew;
  }

  function clearResults() {
    releaseVideos(resultsEl);
    resultsEl.replaceChildren();
    loadMoreBtn.hidden = true;
    current = null;
  }

  // ------------------------------------------------------------ searching
  function cancelPending() {
    window.clearTimeout(debounceTimer);
    debounceTimer = 0;
  }

  function abortInFlight() {
    if (controller) controller.abort();
    controller = null;
    seq += 1; // any late response is now stale
    setBusy(false);
    loadMoreBtn.disabled = false;
  }

  function request(p, offset) {
    const sp = new URLSearchParams({ k: String(p.k), offset: String(offset) });
    if (p.minScore != null) sp.set("min_score", String(p.minScore));
    const q = p.query;
    if (q.mode === "image") {
      const body = new FormData();
      body.append("file", q.file, q.file.name || "picture");
      return [`${SEARCH_URL}/image?${sp.toString()}`, { method: "POST", body }];
    }
    if (q.mode === "like") sp.set("like", String(q.like));
    else sp.set("q", q.q);
    return [`${SEARCH_URL}?${sp.toString()}`, { method: "GET" }];
  }

  /**
   * Run a search.
   * @param {{query: object, k: number, minScore: (number|null)}} p
   * @param {{history?: "push"|"replace"|"none", offset?: number}} opts
   */
  async function runSearch(p, { history = "push", offset = 0 } = {}) {
    const append = offset > 0;
    if (!p.query || isEmpty(p.query)) return;
    cancelPending();
    if (controller) controller.abort();
    const ctrl = new AbortController();
    controller = ctrl;
    const mySeq = ++seq;

    if (!append) {
      updateHistory(p, history);
      updateTitle(p.query);
      current = { ...p, offset: 0, total: 0, shown: 0, tookMs: 0 };
      loadMoreBtn.hidden = true;
    }
    setBusy(true);
    loadMoreBtn.disabled = true;
    setStatus(append ? "Loading more…" : "Searching…", "loading");

    const [url, init] = request(p, offset);
    let res;
    let body = null;
    try {
      res = await fetch(url, { ...init, signal: ctrl.signal, headers: { Accept: "application/json" } });
      try {
        body = await res.json();
      } catch (_) {
        body = null;
      }
    } catch (err) {
      if (mySeq !== seq || (err && err.name === "AbortError")) return;
      finish(mySeq);
      setStatus("Search failed: could not reach the server. Check that 'vidseek serve' is running, then try again.", "error");
      return;
    }
    if (mySeq !== seq) return; // a newer search superseded this one
    finish(mySeq);

    if (!res.ok) {
      setStatus(`Search failed: ${errorMessage(res, body)}${errorAdvice(res, p.query)}`, "error");
      if (!append) clearResults();
      return;
    }
    if (!body || !Array.isArray(body.results)) {
      setStatus("Search failed: the server sent an unexpected response. Reload the page and try again.", "error");
      return;
    }
    if (p.query.mode === "like" && body.like && pinned && pinned.mode === "like") setPinned(pinned, body.like);

    const firstNew = renderResults(body.results, append);
    current.offset = offset;
    current.tookMs = body.took_ms;
    current.shown = resultsEl.querySelectorAll(".result").length;
    const total = Number(body.total);
    current.total = Number.isFinite(total) ? total : current.shown;

    if (current.shown === 0) {
      const advice = p.minScore != null
        ? `No clips score ${formatScore(p.minScore)} or more. Lower the minimum score, or clear it.`
        : p.query.mode === "text"
          ? "No clips matched. Try other words."
          : "No other clips in the index to compare with.";
      setStatus(advice, "empty");
    } else {
      setStatus(resultStatus(), "ok");
    }
    const more = body.results.length >= p.k && body.results.length > 0 && current.shown < current.total;
    loadMoreBtn.hidden = !more;
    if (append && firstNew) {
      const link = firstNew.querySelector("a.title");
      if (link) link.focus({ preventScroll: false });
    }
  }

  function finish(mySeq) {
    if (mySeq !== seq) return;
    controller = null;
    setBusy(false);
    loadMoreBtn.disabled = false;
  }

  /** Search triggered by an explicit action (submit, k change, example chip, like, picture). */
  function searchNow() {
    cancelPending();
    const p = readParams();
    if (p.minScore === undefined) {
      setStatus("Minimum score must be a number between -1 and 1.", "error");
      minInput.focus();
      return;
    }
    if (isEmpty(p.query)) {
      abortInFlight();
      if (!hintIfOnlySpaces()) setStatus(NOTHING_TYPED, "hint");
      qInput.focus();
      return;
    }
    typingEntry = false;
    runSearch(p, { history: "push" });
  }

  /** Debounced search-as-you-type. One history entry per typing burst. */
  function scheduleTypedSearch() {
    cancelPending();
    debounceTimer = window.setTimeout(() => {
      debounceTimer = 0;
      const p = readParams();
      if (isEmpty(p.query) || p.minScore === undefined) return;
      if (sameParams(p, current)) return; // nothing changed (e.g. trailing space)
      const now = Date.now();
      const mode = typingEntry && now - lastTypedAt < TYPING_BURST_MS ? "replace" : "push";
      typingEntry = true;
      lastTypedAt = now;
      runSearch(p, { history: mode });
    }, DEBOUNCE_MS);
  }

  function searchLike(segmentId) {
    if (segmentIdOf(segmentId) === null) return;
    qInput.value = "";
    setPinned({ mode: "like", like: segmentId });
    searchNow();
    window.scrollTo({ top: 0, behavior: reducedMotion.matches ? "auto" : "smooth" });
  }

  function searchPicture(file) {
    if (!file) return;
    if (file.type && !file.type.startsWith("image/")) {
      setStatus(`“${file.name}” is not a picture: pick a PNG, JPEG, WebP or GIF.`, "error");
      return;
    }
    if (picture) URL.revokeObjectURL(picture.url);
    pictureCount += 1;
    picture = { file, id: pictureCount, url: URL.createObjectURL(file) };
    qInput.value = "";
    setPinned({ mode: "image", file, id: picture.id });
    searchNow();
  }

  function unpin() {
    setPinned(null);
    abortInFlight();
    clearResults();
    setStatus("", "");
    updateHistory({ query: { mode: "text", q: "" }, k: readK(), minScore: validateMinScore() ?? null }, "push");
    updateTitle({ mode: "text", q: "" });
    qInput.focus();
  }

  // ------------------------------------------------------------ events
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (qInput.value.trim()) setPinned(null); // words typed over a like/picture query replace it
    searchNow();
  });

  qInput.addEventListener("input", () => {
    if (qInput.value.trim() === "") {
      cancelPending();
      hintIfOnlySpaces();
      return;
    }
    if (pinned) setPinned(null);
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

  kSelect.addEventListener("change", () => {
    if (!isEmpty(readQuery())) searchNow();
  });

  minInput.addEventListener("input", () => {
    const v = validateMinScore();
    if (v === undefined) {
      cancelPending();
      return;
    }
    applyMinScoreFilter(v);
    if (!isEmpty(readQuery())) scheduleTypedSearch();
  });
  minInput.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") {
      ev.preventDefault();
      searchNow();
    }
  });

  minRange.addEventListener("input", () => {
    const v = Number(minRange.value);
    minInput.value = v <= -1 ? "" : v.toFixed(2);
    validateMinScore();
    applyMinScoreFilter(v <= -1 ? null : v);
    if (!isEmpty(readQuery())) scheduleTypedSearch();
  });

  minClear.addEventListener("click", () => {
    minInput.value = "";
    validateMinScore();
    applyMinScoreFilter(null);
    minInput.focus();
    if (!isEmpty(readQuery())) searchNow();
  });

  if (examplesEl) {
    examplesEl.addEventListener("click", (ev) => {
      const chip = ev.target instanceof Element ? ev.target.closest("button[data-query]") : null;
      if (!chip) return;
      qInput.value = chip.dataset.query || "";
      setPinned(null);
      searchNow();
    });
  }

  loadMoreBtn.addEventListener("click", () => {
    if (!current || !current.query) return;
    runSearch(
      { query: current.query, k: current.k, minScore: current.minScore },
      { history: "none", offset: current.offset + current.k }
    );
  });

  bannerClear.addEventListener("click", unpin);

  // Query by picture: the button, a drop anywhere on the page, or a paste.
  imageButton.addEventListener("click", () => imageInput.click());
  imageInput.addEventListener("change", () => {
    const file = imageInput.files && imageInput.files[0];
    imageInput.value = ""; // picking the same file again still searches
    searchPicture(file);
  });

  const carriesFiles = (ev) => !!ev.dataTransfer && Array.from(ev.dataTransfer.types || []).includes("Files");
  let dragDepth = 0;
  window.addEventListener("dragenter", (ev) => {
    if (!carriesFiles(ev)) return;
    ev.preventDefault();
    dragDepth += 1;
    dropOverlay.hidden = false;
  });
  window.addEventListener("dragover", (ev) => {
    if (!carriesFiles(ev)) return;
    ev.preventDefault(); // allows the drop
    ev.dataTransfer.dropEffect = "copy";
  });
  window.addEventListener("dragleave", () => {
    dragDepth = Math.max(0, dragDepth - 1);
    if (dragDepth === 0) dropOverlay.hidden = true;
  });
  window.addEventListener("drop", (ev) => {
    if (!carriesFiles(ev)) return;
    ev.preventDefault(); // never navigate to the dropped file
    dragDepth = 0;
    dropOverlay.hidden = true;
    const files = Array.from(ev.dataTransfer.files || []);
    const image = files.find((f) => f.type.startsWith("image/"));
    if (image) searchPicture(image);
    else if (files.length) setStatus(`“${files[0].name}” is not a picture: drop a PNG, JPEG, WebP or GIF.`, "error");
  });
  document.addEventListener("paste", (ev) => {
    const files = Array.from((ev.clipboardData && ev.clipboardData.files) || []);
    const image = files.find((f) => f.type.startsWith("image/"));
    if (image) {
      ev.preventDefault();
      searchPicture(image);
    }
  });

  window.addEventListener("popstate", (ev) => {
    const st = ev.state && typeof ev.state === "object" ? ev.state : null;
    const p = st ? paramsFromState(st) : paramsFromLocation();
    cancelPending();
    typingEntry = false;
    if (!p.query) {
      // A picture search from before a reload: the picture is gone.
      applyParamsToControls({ query: { mode: "text", q: "" }, k: p.k, minScore: p.minScore });
      abortInFlight();
      clearResults();
      setStatus("That was a search by picture: pick the picture again to repeat it.", "");
      return;
    }
    applyParamsToControls(p);
    if (!isEmpty(p.query)) {
      runSearch(p, { history: "none" });
    } else {
      abortInFlight();
      clearResults();
      updateTitle(p.query);
      setStatus("", "");
    }
  });

  // "/" focuses the search box (unless already typing somewhere).
  document.addEventListener("keydown", (ev) => {
    if (ev.key !== "/" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const t = ev.target;
    if (t instanceof HTMLElement && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    ev.preventDefault();
    qInput.focus();
    qInput.select();
  });

  // ------------------------------------------------------------ start
  const initialLike = segmentIdOf(initial.like);
  const start = {
    query: initialLike !== null
      ? { mode: "like", like: initialLike }
      : { mode: "text", q: typeof initial.query === "string" ? initial.query.trim() : qInput.value.trim() },
    k: INITIAL_K,
    minScore:
      typeof initial.min_score === "number" && initial.min_score >= -1 && initial.min_score <= 1
        ? initial.min_score
        : null,
  };
  applyParamsToControls(start);
  if (initialLike === null && typeof initial.query === "string" && initial.query && !initial.query.trim()) {
    qInput.value = initial.query; // a link or the no-script form sent only spaces: show them, and say why nothing runs
    hintIfOnlySpaces();
  }
  // Give the landing entry a state object so "back" to it restores correctly.
  window.history.replaceState(historyState(start), "", window.location.pathname + window.location.search + window.location.hash);
  if (!isEmpty(start.query)) runSearch(start, { history: "none" });
  document.documentElement.dataset.ready = "1"; // for tests: the page's handlers are wired
})();
