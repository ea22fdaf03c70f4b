// Words and short forms for what the backend reports: statuses, kinds, times, digests, tags.

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

// Updates first, then the ones needing attention, then the rest (issue 6).
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

/**
 * The tag part of a reference as the container names it: "reg:5000/a/b:1.2" → "1.2",
 * "a/b@sha256:…" → the short digest, "nginx" → "latest" (what the engine assumes).
 */
export function tagOf(reference) {
  if (!reference) return "";
  const at = reference.indexOf("@");
  if (at >= 0) return shortDigest(reference.slice(at + 1));
  const slash = reference.lastIndexOf("/");
  const colon = reference.lastIndexOf(":");
  return colon > slash ? reference.slice(colon + 1) : "latest";
}

/** The registry host of a normalized reference ("docker.io/library/nginx:1" → "docker.io"). */
export function registryOf(reference) {
  if (!reference) return "";
  const first = reference.split("/")[0];
  return reference.includes("/") && /[.:]|^localhost$/.test(first) ? first : "docker.io";
}

/**
 * The registry a container's check talked to: the endpoint used (`via`, which may be a mirror)
 * when known, else the upstream's registry. Used to prefill the credentials form.
 */
export function registryFor(c) {
  if (c.via) return c.via.replace(/^[a-z]+:\/\//i, "").split("/")[0];
  return registryOf(c.upstream ?? c.image);
}

export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

export function containerTitle(c) {
  return c.display_name || c.name || c.image;
}
