// What the pages accept from the server or the URL before using it as a link, a source or an id.

/** Only allow same-origin relative or http(s) URLs; returns "" otherwise. */
export function safeUrl(raw) {
  if (typeof raw !== "string" || raw === "") return "";
  try {
    const u = new URL(raw, window.location.href);
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : "";
  } catch (_) {
    return "";
  }
}

/** A segment id from the URL or the page ("42" -> 42); null when it is not one. */
export function segmentIdOf(raw) {
  const s = String(raw == null ? "" : raw).trim();
  return /^\d{1,15}$/.test(s) ? Number(s) : null;
}
