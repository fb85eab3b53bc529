// What every page's script shares: its status line, and the mark that its handlers are wired.

/** A setter for the status line `el`: its text and state ("", "loading", "ok", "empty", "error", "hint"). */
export function statusLine(el) {
  return (text, kind = "") => {
    el.textContent = text;
    el.dataset.state = kind;
    el.classList.toggle("is-error", kind === "error");
    el.classList.toggle("is-empty", kind === "empty" || kind === "hint");
  };
}

/** For tests and people: the page's handlers are wired. */
export function markReady() {
  document.documentElement.dataset.ready = "1";
}
