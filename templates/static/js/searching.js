// Running searches: one request at a time (a new one aborts the last; only the newest answer is shown), paging
// with "Load more", and the status line that says what came back or what went wrong.

import { errorMessage, fetchJson, isAbort } from "./api.js";
import { formatCount, formatMs, formatScore } from "./format.js";
import { errorAdvice, isEmpty, searchRequest, titleOf, wordsOf } from "./query.js";

const UNREACHABLE = "Search failed: could not reach the server. Check that 'vidseek serve' is running, then try again.";
const UNEXPECTED = "Search failed: the server sent an unexpected response. Reload the page and try again.";

/** What the status line says when a search found nothing, by what it asked. */
function nothingFound(p) {
  if (p.minScore != null) return `No clips score ${formatScore(p.minScore)} or more. Lower the minimum score, or clear it.`;
  if (p.kind) {
    const what = p.kind === "photo" ? "photos" : "videos";
    return `No ${what} ${p.query.mode === "text" ? "matched" : "to compare with"}. Show all to search everything.`;
  }
  return p.query.mode === "text" ? "No clips matched. Try other words." : "No other clips in the index to compare with.";
}

/** What the status line counts: videos with "group by video", else results (moments). */
function rowsOf(p, n) {
  const what = p.group === "video" ? "video" : "result";
  return n === 1 ? what : `${what}s`;
}

export class Searcher {
  /**
   * searchUrl: "/search"; grid: the ResultGrid; results: its element; loadMore: the "Load more" button;
   * setStatus: the status line's setter; history: the SearchHistory; onLike(like): the server's record of a
   * "more like this" segment arrived; beforeRun(): a search is about to be sent (a typed one still waiting is
   * not wanted any more).
   */
  constructor({ searchUrl, grid, results, loadMore, setStatus, history, onLike, beforeRun }) {
    Object.assign(this, { searchUrl, grid, results, loadMore, setStatus, history, onLike, beforeRun });
    this.current = null; // what the grid shows (or loads): {query, k, minScore, kind, group, offset, total, shown, tookMs}
    this.seq = 0; // request counter: only the newest response is used
    this.controller = null; // AbortController of the in-flight request
  }

  setBusy(busy) {
    this.results.setAttribute("aria-busy", busy ? "true" : "false");
    document.body.classList.toggle("is-loading", busy);
  }

  /**
   * Run search params p from `offset` (appending to the grid when > 0); `history` says how to record it: "push",
   * "replace" or "none".
   */
  async run(p, { history = "push", offset = 0 } = {}) {
    if (!p.query || isEmpty(p.query)) return;
    this.beforeRun();
    const append = offset > 0;
    const mySeq = this.begin(p, history, append);
    const [url, init] = searchRequest(this.searchUrl, p, offset);
    let answer;
    try {
      answer = await fetchJson(url, { ...init, signal: this.controller.signal });
    } catch (err) {
      if (mySeq !== this.seq || isAbort(err)) return;
      this.finish(mySeq);
      this.setStatus(UNREACHABLE, "error");
      return;
    }
    if (mySeq !== this.seq) return; // a newer search superseded this one
    this.finish(mySeq);
    this.show(p, answer, offset);
  }

  /** Start a request: abort the last, record a new search, show that it is loading; returns its number. */
  begin(p, history, append) {
    if (this.controller) this.controller.abort();
    this.controller = new AbortController();
    const mySeq = ++this.seq;
    if (!append) {
      this.history.record(p, history);
      document.title = titleOf(p.query);
      this.current = { ...p, offset: 0, total: 0, shown: 0, tookMs: 0 };
      this.loadMore.hidden = true;
    }
    this.setBusy(true);
    this.loadMore.disabled = true;
    this.setStatus(append ? "Loading more…" : "Searching…", "loading");
    return mySeq;
  }

  finish(mySeq) {
    if (mySeq !== this.seq) return;
    this.controller = null;
    this.setBusy(false);
    this.loadMore.disabled = false;
  }

  /** Show the server's answer to search params p from `offset`. */
  show(p, { res, body }, offset) {
    const append = offset > 0;
    if (!res.ok) {
      this.setStatus(`Search failed: ${errorMessage(res, body)}${errorAdvice(res, p.query)}`, "error");
      if (!append) this.clear();
      return;
    }
    if (!body || !Array.isArray(body.results)) {
      this.setStatus(UNEXPECTED, "error");
      return;
    }
    if (p.query.mode === "like" && body.like) this.onLike(body.like);
    const firstNew = this.grid.render(body.results, append, wordsOf(p.query));
    this.count(body, offset);
    const c = this.current;
    if (c.shown === 0) this.setStatus(nothingFound(p), "empty");
    else this.setStatus(`${formatCount(c.shown)} ${rowsOf(p, c.shown)} of ${formatCount(c.total)} in ${formatMs(c.tookMs)} ms`, "ok");
    this.loadMore.hidden = !(body.results.length >= p.k && body.results.length > 0 && c.shown < c.total);
    if (append && firstNew) {
      const link = firstNew.querySelector("a.title");
      if (link) link.focus({ preventScroll: false });
    }
  }

  count(body, offset) {
    const c = this.current;
    c.offset = offset;
    c.tookMs = body.took_ms;
    c.shown = this.grid.size;
    const total = Number(body.total);
    c.total = Number.isFinite(total) ? total : c.shown;
  }

  /** The next page of what the grid shows. */
  more() {
    const c = this.current;
    if (!c || !c.query) return;
    const p = { query: c.query, k: c.k, minScore: c.minScore, kind: c.kind, group: c.group, rank: c.rank, filters: c.filters };
    this.run(p, { history: "none", offset: c.offset + c.k });
  }

  /** Drop the request in flight: any late answer is ignored. */
  abort() {
    if (this.controller) this.controller.abort();
    this.controller = null;
    this.seq += 1; // any late response is now stale
    this.setBusy(false);
    this.loadMore.disabled = false;
  }

  /** Empty the grid. */
  clear() {
    this.grid.clear();
    this.loadMore.hidden = true;
    this.current = null;
  }
}
