// Words and short forms for what the backend reports: statuses, kinds, times, digests.
// References are never parsed here: the backend sends what to show (`current_version`, `registry`).

export const STATUS_LABEL = {
  update_available: "Update",
  unknown: "Unknown",
  up_to_date: "Up to date",
  pinned: "Pinned",
  local_only: "Local only",
};

// A glyph next to the word so the badge reads without colour as well as with it.
export const STATUS_ICON = {
  update_available: "↑",
  unknown: "!",
  up_to_date: "✓",
  pinned: "•",
  local_only: "◦",
};

// Updates first, then the ones needing attention, then the rest.
export const STATUS_ORDER = ["update_available", "unknown", "up_to_date", "pinned", "local_only"];

export const KINDS = ["major", "minor", "patch", "build", "prerelease", "digest"];

export const KIND_LABEL = {
  major: "Major",
  minor: "Minor",
  patch: "Patch",
  build: "Build",
  prerelease: "Pre-release",
  digest: "Digest",
};

/** "checked 3 min ago" style; `now` is injectable for the ticking header. */
export function relativeTime(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "";
  const s = Math.round((now - t) / 1000);
  const future = s < 0;
  const a = Math.abs(s);
  let text;
  if (a < 45) return future ? "in a moment" : "just now";
  if (a < 90) text = "1 min";
  else if (a < 3600) text = `${Math.round(a / 60)} min`;
  else if (a < 5400) text = "1 hour";
  else if (a < 86400) text = `${Math.round(a / 3600)} hours`;
  else if (a < 172800) text = "1 day";
  else text = `${Math.round(a / 86400)} days`;
  return future ? `in ${text}` : `${text} ago`;
}

export function localTime(iso) {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? "" : new Date(t).toLocaleString();
}

/** sha256:0123456789ab… → sha256:0123456789ab (the full value goes in a title). */
export function shortDigest(digest) {
  if (!digest) return "";
  const [algo, hex] = digest.includes(":") ? digest.split(":", 2) : ["", digest];
  const short = hex.slice(0, 12);
  return algo ? `${algo}:${short}` : short;
}

export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

export function containerTitle(c) {
  return c.display_name || c.name || c.image;
}
