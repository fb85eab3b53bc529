// How the pages write numbers: clock times, scores, counts. The clock matches app/present.py `clock`, which the
// server-rendered pages use, so a time reads the same in a result card, the player and the CLI.

function pad2(n) {
  return String(n).padStart(2, "0");
}

/** 75 -> "01:15", 3725 -> "1:02:05"; null, undefined, NaN or infinity -> "–" (as app/present.py `clock`). */
export function clock(seconds) {
  if (seconds == null) return "–";
  const n = Number(seconds);
  if (!Number.isFinite(n)) return "–";
  const t = Math.max(0, Math.floor(n));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const s = t % 60;
  return h > 0 ? `${h}:${pad2(m)}:${pad2(s)}` : `${pad2(m)}:${pad2(s)}`;
}

/** "00:10–00:20" */
export function clockRange(start, end) {
  return `${clock(start)}–${clock(end)}`;
}

/** A cosine score to three decimals, "–" when it is not a number. */
export function formatScore(score) {
  const n = Number(score);
  return Number.isFinite(n) ? n.toFixed(3) : "–";
}

/** Milliseconds: whole from 10 up, one decimal below. */
export function formatMs(ms) {
  const n = Number(ms);
  if (!Number.isFinite(n)) return "?";
  return n >= 10 ? String(Math.round(n)) : String(Math.round(n * 10) / 10);
}

export function formatCount(n) {
  const v = Number(n);
  return Number.isFinite(v) ? v.toLocaleString() : "?";
}

/** Trim float noise for media fragments and URLs: 10 -> "10", 10.5 -> "10.5". */
export function fragNum(x) {
  return String(Math.round((Number(x) || 0) * 1000) / 1000);
}

/** A probability (0..1) as a percentage with `digits` decimals: 0.4567 -> "45.7". */
export function percent(p, digits = 1) {
  return (p * 100).toFixed(digits);
}
