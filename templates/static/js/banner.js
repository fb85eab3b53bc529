// The banner above the results that says which clip or picture the page searches by ("like" and "image"
// queries; words need none: they are in the search box).

import { clockRange } from "./format.js";
import { safeUrl } from "./urls.js";

/**
 * Show `query` in the banner (hide it for null or words). like: the server's record of a "like" segment
 * ({title, start, end, thumbnail_url}) once known; picture: the picture the page holds ({id, url}) or null.
 */
export function showQuery({ banner, image, text }, query, like, picture) {
  if (!query) {
    banner.hidden = true;
    image.removeAttribute("src");
    return;
  }
  banner.hidden = false;
  banner.dataset.mode = query.mode;
  if (query.mode === "like") {
    image.src = safeUrl(like ? like.thumbnail_url : `/thumbnails/${query.like}.jpg`);
    text.textContent = like
      ? `More like ${like.title} · ${clockRange(like.start, like.end)}`
      : `More like segment ${query.like}`;
  } else {
    if (picture && picture.id === query.id) image.src = picture.url;
    const name = query.file && query.file.name ? ` “${query.file.name}”` : "";
    text.textContent = `Clips that look like your picture${name}`;
  }
}
