// vidseek search page. Plain ES2020, no dependencies.
//
// Everything coming from the server or the URL is put into the page with
// textContent / properties only (never innerHTML), and URLs are checked to be
// http(s) before they are used as src/href.
(() => {
  "use strict";

  const DEBOUNCE_MS = 300;
  const LOOP_EPSILON = 0.05; // seconds before `end` at which a clip loops back

  // ---------------------------------------------------------------- elements
  const $ = (sel) => document.querySelector(sel);
  const form = $("#search-form");
  const qInput = $("#q");
  const kSelect = $("#k");
  const minInput = $("#min-score");
  const minClear = $("#min-score-clear");
  const statusEl = $("#status");
  const resultsEl = $("#results");
  const loadMoreBtn = $("#load-more");
  const examplesEl = $("#examples");

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
  let current = null; // {q, k, minScore, offset, total, shown}
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

  /** Trim float noise for media fragments: 10 -> "10", 10.5 -> "10.5". */
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

  // ------------------------------------------------------------ status line
  function setStatus(text, kind = "") {
    statusEl.textContent = text;
    statusEl.dataset.state = kind; // "", "loading", "ok", "empty", "error"
    statusEl.classList.toggle("is-error", kind === "error");
    statusEl.classList.toggle("is-empty", kind === "empty");
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
    return bad ? undefined : v;
  }

  function readK() {
    const k = Number(kSelect.value);
    return KS.includes(k) ? k : INITIAL_K;
  }

  function readParams() {
    return { q: qInput.value.trim(), k: readK(), minScore: validateMinScore() };
  }

  function sameParams(a, b) {
    return !!a && !!b && a.q === b.q && a.k === b.k && a.minScore === b.minScore;
  }

  // ------------------------------------------------------------ URL / history
  function pageUrl(p) {
    const sp = new URLSearchParams();
    if (p.q) sp.set("q", p.q);
    sp.set("k", String(p.k));
    if (p.minScore != null) sp.set("min_score", String(p.minScore));
    return `${PAGE_PATH}?${sp.toString()}`;
  }

  function paramsFromLocation() {
    const sp = new URLSearchParams(window.location.search);
    const k = Number(sp.get("k"));
    const ms = sp.get("min_score");
    const msNum = ms === null || ms.trim() === "" ? null : Number(ms);
    return {
      q: (sp.get("q") || "").trim(),
      k: KS.includes(k) ? k : DEFAULT_K,
      minScore: msNum !== null && Number.isFinite(msNum) && msNum >= -1 && msNum <= 1 ? msNum : null,
    };
  }

  function updateHistory(p, mode) {
    if (mode === "none") return;
    const url = pageUrl(p);
    const state = { q: p.q, k: p.k, minScore: p.minScore };
    const here = window.location.pathname + window.location.search;
    if (mode === "replace" || url === here) {
      window.history.replaceState(state, "", url);
    } else {
      window.history.pushState(state, "", url);
    }
  }

  function applyParamsToControls(p) {
    qInput.value = p.q;
    kSelect.value = String(p.k);
    minInput.value = p.minScore == null ? "" : String(p.minScore);
    validateMinScore();
  }

  function updateTitle(q) {
    document.title = q ? `${q} · vidseek` : "vidseek";
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
  function openPlayer(url) {
    if (!url) return;
    const w = window.open(url, "_blank", "noopener");
    if (w) w.opener = null;
  }

  function buildCard(r) {
    const start = Math.max(0, Number(r.start) || 0);
    const end = Math.max(start, Number(r.end) || start);
    const title = r.title == null ? `video ${r.video_id}` : String(r.title);
    const range = formatRange(start, end);
    const score = formatScore(r.score);
    const videoUrl = safeUrl(r.video_url);
    const playerUrl = videoUrl ? `${videoUrl}#t=${fragNum(start)}` : "";
    const poster = safeUrl(r.thumbnail_url);

    const card = document.createElement("article");
    card.className = "result";
    card.tabIndex = 0;
    card.dataset.segmentId = String(r.segment_id);
    if (r.video_id != null) card.dataset.videoId = String(r.video_id);
    card.dataset.start = String(start);
    card.dataset.end = String(end);
    card.setAttribute("aria-label", `${title}, ${range}, score ${score}. Press Enter to open.`);

    const media = document.createElement("div");
    media.className = "media";
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
    video.setAttribute("aria-hidden", "true"); // the card label describes it
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
    link.title = title;
    link.tabIndex = -1; // the card itself is the tab stop
    if (playerUrl) {
      link.href = playerUrl;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
    }
    const time = document.createElement("span");
    time.className = "time";
    time.textContent = range;
    const scoreEl = document.createElement("span");
    scoreEl.className = "score";
    scoreEl.title = "similarity score";
    scoreEl.textContent = score;
    meta.append(link, time, scoreEl);

    card.append(media, meta);

    card.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && ev.target === card) {
        ev.preventDefault();
        openPlayer(playerUrl);
      }
    });
    card.addEventListener("dblclick", (ev) => {
      if (ev.target !== link) openPlayer(playerUrl);
    });
    if (reducedMotion.matches) {
      // No autoplay: play on hover / focus instead.
      const on = () => safePlay(video);
      const off = () => video.pause();
      card.addEventListener("mouseenter", on);
      card.addEventListener("mouseleave", off);
      card.addEventListener("focus", on);
      card.addEventListener("blur", off);
    }
    return { card, video };
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

  /**
   * Run a search.
   * @param {{q: string, k: number, minScore: (number|null)}} p
   * @param {{history?: "push"|"replace"|"none", offset?: number}} opts
   */
  async function runSearch(p, { history = "push", offset = 0 } = {}) {
    const append = offset > 0;
    if (!p.q) return;
    cancelPending();
    if (controller) controller.abort();
    const ctrl = new AbortController();
    controller = ctrl;
    const mySeq = ++seq;

    if (!append) {
      updateHistory(p, history);
      updateTitle(p.q);
      current = { ...p, offset: 0, total: 0, shown: 0, tookMs: 0 };
      loadMoreBtn.hidden = true;
    }
    setBusy(true);
    loadMoreBtn.disabled = true;
    setStatus(append ? "Loading more…" : "Searching…", "loading");

    const sp = new URLSearchParams({ q: p.q, k: String(p.k), offset: String(offset) });
    if (p.minScore != null) sp.set("min_score", String(p.minScore));

    let res;
    let body = null;
    try {
      res = await fetch(`${SEARCH_URL}?${sp.toString()}`, {
        signal: ctrl.signal,
        headers: { Accept: "application/json" },
      });
      try {
        body = await res.json();
      } catch (_) {
        body = null;
      }
    } catch (err) {
      if (mySeq !== seq || (err && err.name === "AbortError")) return;
      finish(mySeq);
      setStatus("Search failed: could not reach the server.", "error");
      return;
    }
    if (mySeq !== seq) return; // a newer search superseded this one
    finish(mySeq);

    if (!res.ok) {
      setStatus(`Search failed: ${errorMessage(res, body)}`, "error");
      if (!append) clearResults();
      return;
    }
    if (!body || !Array.isArray(body.results)) {
      setStatus("Search failed: the server sent an unexpected response.", "error");
      return;
    }

    const firstNew = renderResults(body.results, append);
    current.offset = offset;
    current.tookMs = body.took_ms;
    current.shown = resultsEl.querySelectorAll(".result").length;
    const total = Number(body.total);
    current.total = Number.isFinite(total) ? total : current.shown;

    if (current.shown === 0) {
      setStatus("No clips matched. Try other words or lower the minimum score.", "empty");
    } else {
      setStatus(resultStatus(), "ok");
    }
    const more = body.results.length >= p.k && body.results.length > 0 && current.shown < current.total;
    loadMoreBtn.hidden = !more;
    if (append && firstNew) firstNew.focus({ preventScroll: false });
  }

  function finish(mySeq) {
    if (mySeq !== seq) return;
    controller = null;
    setBusy(false);
    loadMoreBtn.disabled = false;
  }

  /** Search triggered by an explicit action (submit, k change, example chip). */
  function searchNow() {
    cancelPending();
    const p = readParams();
    if (p.minScore === undefined) {
      setStatus("Minimum score must be a number between -1 and 1.", "error");
      minInput.focus();
      return;
    }
    if (!p.q) {
      abortInFlight();
      setStatus("Type something to search for.", "");
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
      if (!p.q || p.minScore === undefined) return;
      if (sameParams(p, current)) return; // nothing changed (e.g. trailing space)
      const now = Date.now();
      const mode = typingEntry && now - lastTypedAt < TYPING_BURST_MS ? "replace" : "push";
      typingEntry = true;
      lastTypedAt = now;
      runSearch(p, { history: mode });
    }, DEBOUNCE_MS);
  }

  // ------------------------------------------------------------ events
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    searchNow();
  });

  qInput.addEventListener("input", () => {
    if (qInput.value.trim() === "") {
      cancelPending();
      return;
    }
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
    if (qInput.value.trim()) searchNow();
  });

  minInput.addEventListener("input", () => {
    const v = validateMinScore();
    if (v === undefined) {
      cancelPending();
      return;
    }
    if (qInput.value.trim()) scheduleTypedSearch();
  });
  minInput.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") {
      ev.preventDefault();
      searchNow();
    }
  });

  minClear.addEventListener("click", () => {
    minInput.value = "";
    validateMinScore();
    minInput.focus();
    if (qInput.value.trim()) searchNow();
  });

  if (examplesEl) {
    examplesEl.addEventListener("click", (ev) => {
      const chip = ev.target instanceof Element ? ev.target.closest("button[data-query]") : null;
      if (!chip) return;
      qInput.value = chip.dataset.query || "";
      searchNow();
    });
  }

  loadMoreBtn.addEventListener("click", () => {
    if (!current || !current.q) return;
    runSearch(
      { q: current.q, k: current.k, minScore: current.minScore },
      { history: "none", offset: current.offset + current.k }
    );
  });

  window.addEventListener("popstate", (ev) => {
    const st = ev.state && typeof ev.state === "object" ? ev.state : null;
    const fromUrl = paramsFromLocation();
    const p = st
      ? {
          q: typeof st.q === "string" ? st.q : fromUrl.q,
          k: KS.includes(Number(st.k)) ? Number(st.k) : fromUrl.k,
          minScore: typeof st.minScore === "number" ? st.minScore : null,
        }
      : fromUrl;
    cancelPending();
    typingEntry = false;
    applyParamsToControls(p);
    if (p.q) {
      runSearch(p, { history: "none" });
    } else {
      abortInFlight();
      clearResults();
      updateTitle("");
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

  // Show the index build time in the user's locale.
  const builtAt = document.querySelector("#index-info time[datetime]");
  if (builtAt) {
    const d = new Date(builtAt.getAttribute("datetime") || "");
    if (!Number.isNaN(d.getTime())) {
      builtAt.textContent = d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
      builtAt.title = builtAt.getAttribute("datetime") || "";
    }
  }

  // ------------------------------------------------------------ start
  const start = {
    q: typeof initial.query === "string" ? initial.query.trim() : qInput.value.trim(),
    k: INITIAL_K,
    minScore:
      typeof initial.min_score === "number" && initial.min_score >= -1 && initial.min_score <= 1
        ? initial.min_score
        : null,
  };
  applyParamsToControls(start);
  // Give the landing entry a state object so "back" to it restores correctly.
  window.history.replaceState(
    { q: start.q, k: start.k, minScore: start.minScore },
    "",
    window.location.pathname + window.location.search + window.location.hash
  );
  if (start.q) runSearch(start, { history: "none" });
})();
