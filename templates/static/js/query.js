// What a search is. A query is one of three things: words ({mode: "text", q}), an indexed segment ("more like
// this", {mode: "like", like}) or a picture ({mode: "image", file, id}). A search's params are
// {query, k, minScore, kind, group, rank} (minScore null = no limit; kind "video" or "photo", null = all; group
// "video" = one row per video, null = one per moment; rank "visual" or "text", null = both fused; filters {folder, after, …, sort}: GET /search's, as typed).

export function isEmpty(query) {
  return query.mode === "text" && !query.q;
}

function queryKey(query) {
  if (query.mode === "like") return `like:${query.like}`;
  if (query.mode === "image") return `image:${query.id}`;
  return `text:${query.q}`;
}

/** Whether two searches ask the same thing (typing a trailing space does not search again). */
export function sameParams(a, b) {
  return (
    !!a &&
    !!b &&
    queryKey(a.query) === queryKey(b.query) &&
    a.k === b.k &&
    a.minScore === b.minScore &&
    (a.kind || null) === (b.kind || null) &&
    (a.group || null) === (b.group || null) &&
    (a.rank || null) === (b.rank || null) &&
    JSON.stringify(a.filters || {}) === JSON.stringify(b.filters || {})
  );
}

/** The [url, init] that fetches one page of results, from `offset`, at `searchUrl` ("/search"). */
export function searchRequest(searchUrl, p, offset) {
  const sp = new URLSearchParams({ k: String(p.k), offset: String(offset) });
  if (p.minScore != null) sp.set("min_score", String(p.minScore));
  if (p.kind) sp.set("kind", p.kind);
  sp.set("group", p.group || "moment"); // said always: the page shows moments whatever the API's default
  const q = p.query;
  if (q.mode !== "image") for (const [name, value] of Object.entries(p.filters || {})) sp.set(name, value);
  if (q.mode === "image") {
    const body = new FormData();
    body.append("file", q.file, q.file.name || "picture");
    return [`${searchUrl}/image?${sp.toString()}`, { method: "POST", body }];
  }
  if (q.mode === "like") sp.set("like", String(q.like));
  else {
    sp.set("q", q.q);
    if (p.rank) sp.set("mode", p.rank); // words only: pictures and segments are ranked by pixels
  }
  return [`${searchUrl}?${sp.toString()}`, { method: "GET" }];
}

/** The words a search asked, for the player page's "where in this video" strip ("" for a segment or picture). */
export function wordsOf(query) {
  return query && query.mode === "text" ? query.q : "";
}

/** The document title for a query: its words, or what kind of search it is. */
export function titleOf(query) {
  let what = "";
  if (query.mode === "text") what = query.q;
  else if (query.mode === "like") what = "More like this";
  else what = "Picture search";
  return what ? `${what} · vidseek` : "vidseek";
}

/** What to do about a failed search, by status (appended to the server's message). */
export function errorAdvice(res, query) {
  if (res.status === 503) return ""; // the server's message already says how to build an index
  if (res.status === 404 && query.mode === "like") return " It may have gone in a re-index: search with words again.";
  if (res.status === 413) return " Pick a smaller picture.";
  if (res.status === 415 || (res.status === 422 && query.mode === "image")) return " Pick a PNG, JPEG, WebP or GIF picture.";
  if (res.status >= 500) return " Try again; if it keeps failing, look at the server's log.";
  return "";
}
