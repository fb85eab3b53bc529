// Query by picture: the page takes one from its button (a file picker), a drop anywhere on the page, or a paste,
// and holds the last one (with an object URL for the banner) so its history entry can replay.

const NOT_A_PICTURE = "is not a picture: pick a PNG, JPEG, WebP or GIF.";

export class HeldPicture {
  constructor() {
    this.current = null; // {file, id, url}
    this.count = 0;
  }

  /** Hold `file` instead of the last picture; returns its query {mode: "image", file, id}. */
  hold(file) {
    if (this.current) URL.revokeObjectURL(this.current.url);
    this.count += 1;
    this.current = { file, id: this.count, url: URL.createObjectURL(file) };
    return { mode: "image", file, id: this.current.id };
  }
}

/** Why `file` cannot be searched by ("" when it can): it says it is not an image. */
export function refusalOf(file) {
  return file.type && !file.type.startsWith("image/") ? `“${file.name}” ${NOT_A_PICTURE}` : "";
}

function firstImage(files) {
  return Array.from(files || []).find((f) => f.type.startsWith("image/"));
}

/** The picture button opens the hidden file input; picking a file hands it to onPicture(file). */
export function takeFromPicker(button, input, onPicture) {
  button.addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    const file = input.files && input.files[0];
    input.value = ""; // picking the same file again still searches
    onPicture(file);
  });
}

/** A file dropped anywhere on the page (the overlay shows while one is dragged over it); onRefused(text) for a file
 * that is not a picture. */
export function takeFromDrop(overlay, onPicture, onRefused) {
  const carriesFiles = (ev) => !!ev.dataTransfer && Array.from(ev.dataTransfer.types || []).includes("Files");
  let dragDepth = 0;
  window.addEventListener("dragenter", (ev) => {
    if (!carriesFiles(ev)) return;
    ev.preventDefault();
    dragDepth += 1;
    overlay.hidden = false;
  });
  window.addEventListener("dragover", (ev) => {
    if (!carriesFiles(ev)) return;
    ev.preventDefault(); // allows the drop
    ev.dataTransfer.dropEffect = "copy";
  });
  window.addEventListener("dragleave", () => {
    dragDepth = Math.max(0, dragDepth - 1);
    if (dragDepth === 0) overlay.hidden = true;
  });
  window.addEventListener("drop", (ev) => {
    if (!carriesFiles(ev)) return;
    ev.preventDefault(); // never navigate to the dropped file
    dragDepth = 0;
    overlay.hidden = true;
    const files = Array.from(ev.dataTransfer.files || []);
    const image = firstImage(files);
    if (image) onPicture(image);
    else if (files.length) onRefused(`“${files[0].name}” is not a picture: drop a PNG, JPEG, WebP or GIF.`);
  });
}

/** A picture pasted into the page. */
export function takeFromPaste(onPicture) {
  document.addEventListener("paste", (ev) => {
    const image = firstImage(ev.clipboardData && ev.clipboardData.files);
    if (image) {
      ev.preventDefault();
      onPicture(image);
    }
  });
}
