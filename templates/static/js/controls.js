// The search form's "show", "group by video", "max display" and "min score" controls: what they read, and what a change in them asks
// for.

/** The kinds of file a search may be limited to (GET /search's kind=); null is all of them. */
export const KINDS = ["video", "photo"];

/** A kind from the URL, a history entry or the server: one of KINDS, else null (all). */
export function validKind(v) {
  return KINDS.includes(v) ? v : null;
}

/** "Show: All · Videos · Photos": a select that the page has only where the index holds photos (select null:
 * there is none, and every search is over all kinds). */
export class MediaKind {
  constructor(select) {
    this.select = select;
  }

  read() {
    return this.select ? validKind(this.select.value) : null;
  }

  show(kind) {
    if (this.select) this.select.value = validKind(kind) || "";
  }

  /** onChange(kind): the choice changed (null = all). */
  wire(onChange) {
    if (this.select) this.select.addEventListener("change", () => onChange(this.read()));
  }
}

/** How words are ranked (GET /search's mode=): by pixels or by the words files carry; null: both, fused. */
export const RANKS = ["visual", "text"];

/** A ranking from the URL, a history entry or the server: one of RANKS, else null (hybrid). */
export function validRank(v) {
  return RANKS.includes(v) ? v : null;
}

/** "Match: Pixels and words · Pixels · Words": a select the page has only where the index holds words (select
 * null: there is none, and every search is by pixels). */
export class RankBy {
  constructor(select) {
    this.select = select;
  }

  read() {
    return this.select ? validRank(this.select.value) : null;
  }

  show(rank) {
    if (this.select) this.select.value = validRank(rank) || "";
  }

  /** onChange(rank): the choice changed (null = both). */
  wire(onChange) {
    if (this.select) this.select.addEventListener("change", () => onChange(this.read()));
  }
}

/** GET /search's facet filters and sort, by their query-string names; the page passes them on as typed and lets
 * the server judge them (a bad one comes back as the status line's error). */
export const FILTERS = ["folder", "after", "before", "min_duration", "max_duration", "min_height", "has_subtitles", "codec", "sort"];

/** Filters from the URL, a history entry or the server: the known names with non-empty text values only. */
export function validFilters(v) {
  const out = {};
  if (!v || typeof v !== "object") return out;
  for (const name of FILTERS) {
    const value = v[name];
    if (typeof value === "string" && value.trim() !== "" && value.length <= 4096) out[name] = value.trim();
  }
  return out;
}

/** The filter controls: inputs and selects named by `data-filter` inside `root` (null: the page has none). */
export class FilterControls {
  constructor(root) {
    this.inputs = root ? [...root.querySelectorAll("[data-filter]")] : [];
  }

  read() {
    return validFilters(Object.fromEntries(this.inputs.map((el) => [el.dataset.filter, el.value])));
  }

  show(filters) {
    const f = validFilters(filters);
    for (const el of this.inputs) el.value = f[el.dataset.filter] || "";
  }

  /** onChange(filters): a filter was changed (a text field: once it is left or Enter is pressed). */
  wire(onChange) {
    for (const el of this.inputs) el.addEventListener("change", () => onChange(this.read()));
  }
}

/** A grouping from the URL, a history entry or the server: "video" (one card per video), else null (moments). */
export function validGroup(v) {
  return v === "video" ? "video" : null;
}

/** "Group by video": a checkbox; checked, the results are one card per video with its moments. */
export class GroupByVideo {
  constructor(checkbox) {
    this.checkbox = checkbox;
  }

  read() {
    return this.checkbox && this.checkbox.checked ? "video" : null;
  }

  show(group) {
    if (this.checkbox) this.checkbox.checked = validGroup(group) === "video";
  }

  /** onChange(group): the box was ticked or cleared. */
  wire(onChange) {
    if (this.checkbox) this.checkbox.addEventListener("change", () => onChange(this.read()));
  }
}

/** "Max display": one of the choices `ks`; `fallback` when the select shows another value. */
export class MaxDisplay {
  constructor(select, ks, fallback) {
    this.select = select;
    this.ks = ks;
    this.fallback = fallback;
  }

  read() {
    const k = Number(this.select.value);
    return this.ks.includes(k) ? k : this.fallback;
  }

  show(k) {
    this.select.value = String(k);
  }
}

/** "Min score": a number box, a slider (-1 = no limit) and a clear button, kept in step. */
export class MinScore {
  constructor({ input, range, clear }) {
    this.input = input;
    this.range = range;
    this.clearButton = clear;
  }

  /** The typed value: a number in [-1, 1], null for none, NaN for anything else. */
  read() {
    const raw = this.input.value.trim();
    if (raw === "") {
      // An unparsable entry shows as "" with badInput set.
      return this.input.validity && this.input.validity.badInput ? NaN : null;
    }
    const v = Number(raw);
    return Number.isFinite(v) && v >= -1 && v <= 1 ? v : NaN;
  }

  /** Mark the box valid or not and move the slider to it; returns the value, undefined when invalid. */
  validate() {
    const v = this.read();
    const bad = Number.isNaN(v);
    const badInput = this.input.validity && this.input.validity.badInput;
    this.input.setAttribute("aria-invalid", bad ? "true" : "false");
    this.clearButton.hidden = this.input.value === "" && !badInput;
    if (!bad) this.range.value = String(v == null ? -1 : v);
    return bad ? undefined : v;
  }

  show(v) {
    this.input.value = v == null ? "" : String(v);
    this.validate();
  }

  focus() {
    this.input.focus();
  }

  /**
   * onChange(v): a valid value was typed or slid (null = no limit); onInvalid(): the box holds no valid value;
   * onSubmit(): Enter in the box; onClear(): the clear button emptied it.
   */
  wire({ onChange, onInvalid, onSubmit, onClear }) {
    this.input.addEventListener("input", () => {
      const v = this.validate();
      if (v === undefined) onInvalid();
      else onChange(v);
    });
    this.input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") {
        ev.preventDefault();
        onSubmit();
      }
    });
    this.range.addEventListener("input", () => {
      const v = Number(this.range.value);
      this.input.value = v <= -1 ? "" : v.toFixed(2);
      this.validate();
      onChange(v <= -1 ? null : v);
    });
    this.clearButton.addEventListener("click", () => {
      this.show(null);
      this.focus();
      onClear();
    });
  }
}
