// Searches in the address bar and the back button. Words and segments live in the URL (/?q=…&k=8,
// /?like=ID&k=8, with &min_score=, &kind=photo, &group=video and &mode=text where set) so results can be shared and "back"
// works; a picture
// cannot, so its history entry only replays while the page still holds that picture (the `picture` arguments:
// {file, id} or null).

import { FILTERS, validFilters, validGroup, validKind, validRank } from "./controls.js";
import { segmentIdOf } from "./urls.js";

/** What a history entry stores for search params p: plain values only. */
export function historyState(p) {
  const q = p.query;
  return {
    mode: q.mode,
    q: q.mode === "text" ? q.q : "",
    like: q.mode === "like" ? q.like : null,
    image: q.mode === "image" ? q.id : null,
    k: p.k,
    minScore: p.minScore,
    kind: p.kind || null,
    group: p.group || null,
    rank: p.rank || null,
    filters: validFilters(p.filters),
  };
}

function validMinScore(v) {
  return typeof v === "number" && v >= -1 && v <= 1 ? v : null;
}

export class SearchHistory {
  /** ks: the "max display" choices; defaultK: the one used when an entry names none of them. */
  constructor({ ks, defaultK, pagePath }) {
    this.ks = ks;
    this.defaultK = defaultK;
    this.pagePath = pagePath;
  }

  /** The shareable URL of search params p. */
  url(p) {
    const sp = new URLSearchParams();
    if (p.query.mode === "text" && p.query.q) sp.set("q", p.query.q);
    if (p.query.mode === "like") sp.set("like", String(p.query.like));
    sp.set("k", String(p.k));
    if (p.minScore != null) sp.set("min_score", String(p.minScore));
    if (p.kind) sp.set("kind", p.kind);
    if (p.group) sp.set("group", p.group);
    if (p.rank) sp.set("mode", p.rank);
    for (const [name, value] of Object.entries(validFilters(p.filters))) sp.set(name, value);
    return `${this.pagePath}?${sp.toString()}`;
  }

  /** Search params from a history state; query null for a picture the page no longer holds. */
  params(st, picture) {
    const k = this.ks.includes(Number(st.k)) ? Number(st.k) : this.defaultK;
    let query = { mode: "text", q: typeof st.q === "string" ? st.q : "" };
    if (st.mode === "like" && segmentIdOf(st.like) !== null) query = { mode: "like", like: segmentIdOf(st.like) };
    if (st.mode === "image") {
      query = picture && picture.id === st.image ? { mode: "image", file: picture.file, id: picture.id } : null;
    }
    return { query, k, minScore: validMinScore(st.minScore), kind: validKind(st.kind), group: validGroup(st.group), rank: validRank(st.rank), filters: validFilters(st.filters) };
  }

  /** Search params from the address bar (an entry without a state, e.g. one typed in). */
  paramsFromLocation(picture) {
    const sp = new URLSearchParams(window.location.search);
    const ms = sp.get("min_score");
    const msNum = ms === null || ms.trim() === "" ? null : Number(ms);
    const like = segmentIdOf(sp.get("like"));
    return this.params(
      {
        mode: like !== null ? "like" : "text",
        q: (sp.get("q") || "").trim(),
        like,
        k: sp.get("k"),
        minScore: msNum !== null && Number.isFinite(msNum) ? msNum : null,
        kind: sp.get("kind"),
        group: sp.get("group"),
        rank: sp.get("mode"),
        filters: Object.fromEntries(FILTERS.map((name) => [name, sp.get(name)])),
      },
      picture
    );
  }

  /** Record search params p: mode "push" a new entry, "replace" the current one, or "none". */
  record(p, mode) {
    if (mode === "none") return;
    const url = this.url(p);
    const state = historyState(p);
    const here = window.location.pathname + window.location.search;
    const sameEntry = url === here && JSON.stringify(window.history.state) === JSON.stringify(state);
    if (mode === "replace" || sameEntry) window.history.replaceState(state, "", url);
    else window.history.pushState(state, "", url);
  }

  /** Give the landing entry a state object, so "back" to it restores params p; its URL stays as it came. */
  markLanding(p) {
    const { pathname, search, hash } = window.location;
    window.history.replaceState(historyState(p), "", pathname + search + hash);
  }
}

/** The search the page opens with, from the server's state (#vidseek-state) and the box's value. */
export function landingParams(initial, typed, k) {
  const like = segmentIdOf(initial.like);
  const words = typeof initial.query === "string" ? initial.query.trim() : typed.trim();
  return {
    query: like !== null ? { mode: "like", like } : { mode: "text", q: words },
    k,
    minScore: validMinScore(initial.min_score),
    kind: validKind(initial.kind),
    group: validGroup(initial.group),
    rank: validRank(initial.mode),
    filters: validFilters(initial.filters),
  };
}
