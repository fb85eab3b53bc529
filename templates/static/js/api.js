// Talking to vidseek's HTTP API: one fetch that asks for JSON, and one way to turn a FastAPI error body into a
// line a person can read. The pages send no API key: with one configured, uploads answer 401 and its message.

/**
 * fetch(url, init) asking for JSON. Resolves to {res, body} (body null when the answer is not JSON); rejects as
 * fetch does when the server cannot be reached or `init.signal` aborts (err.name === "AbortError").
 */
export async function fetchJson(url, init = {}) {
  const headers = { Accept: "application/json", ...(init.headers || {}) };
  const res = await fetch(url, { ...init, headers });
  let body = null;
  try {
    body = await res.json();
  } catch (_) {
    body = null;
  }
  return { res, body };
}

export function isAbort(err) {
  return !!err && err.name === "AbortError";
}

/** One entry of FastAPI's `detail`: a string, or a validation error {loc, msg} named by its field. */
function detailText(d) {
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
}

/** Turn a FastAPI error body into one readable line ("HTTP 500 Internal Server Error" when it has none). */
export function errorMessage(res, body) {
  const detail = body && typeof body === "object" ? body.detail : undefined;
  const text = Array.isArray(detail) ? detail.map(detailText).filter(Boolean).join("; ") : detailText(detail);
  return text || `HTTP ${res.status}${res.statusText ? " " + res.statusText : ""}`;
}
