//! Tag versioning (docs/tags.md): which tags are version-like, which tags may replace the current one, how they order.
//!
//! Registries know nothing of versions; tags are free text. The rules here are deliberately
//! conservative, because a false "update available" costs users' trust: a candidate must share the
//! current tag's prefix (`v`), suffix family (`-alpine`) and number of numeric parts, and
//! pre-releases are offered only to someone already running one.

use std::cmp::Ordering;
use std::fmt;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// The kind of change an update brings: the most significant part of the tag that changed, or
/// `digest` when the tag stayed and the image behind it moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateKind {
    Major,
    Minor,
    Patch,
    /// Same version, newer build number (`-ls132` -> `-ls133`, Bitnami's `-r5` -> `-r6`).
    Build,
    /// The pre-release part changed (`rc1` -> `rc2`, or `rc1` -> the release).
    Prerelease,
    Digest,
}

impl UpdateKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateKind::Major => "major",
            UpdateKind::Minor => "minor",
            UpdateKind::Patch => "patch",
            UpdateKind::Build => "build",
            UpdateKind::Prerelease => "prerelease",
            UpdateKind::Digest => "digest",
        }
    }
}

impl fmt::Display for UpdateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Pre-release stages, in the order they come before a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PreStage {
    Dev,
    Alpha,
    Beta,
    Preview,
    Rc,
}

/// A pre-release marker: `rc1`, `-rc.1`, `b3`, `beta`, `.dev20240115`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PreRelease {
    pub stage: PreStage,
    /// `rc` alone counts as `rc0`.
    pub number: u64,
}

/// A version-like tag, split into the parts the comparison rules use. Displays as the tag it came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version {
    tag: String,
    prefix: String,
    numbers: Vec<u64>,
    pre: Option<PreRelease>,
    family: String,
    build: Option<u64>,
}

/// Prefixes a version may carry; candidates must carry the same one.
const PREFIXES: [&str; 3] = ["version-", "release-", "v"];

impl Version {
    /// Parses a tag; `None` when it is not version-like (`latest`, `lts-slim`, a commit hash).
    pub fn parse(tag: &str) -> Option<Version> {
        if is_never_candidate(tag) {
            return None;
        }
        let (prefix, rest) = PREFIXES
            .iter()
            .find_map(|p| tag.strip_prefix(p).map(|rest| (*p, rest)))
            .filter(|(_, rest)| rest.starts_with(|c: char| c.is_ascii_digit()))
            .unwrap_or(("", tag));

        // Numeric core: digits ('.' digits)*.
        let mut numbers = Vec::new();
        let mut rest = rest;
        loop {
            let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            if end == 0 {
                return None;
            }
            numbers.push(rest[..end].parse::<u64>().ok()?);
            rest = &rest[end..];
            match rest.strip_prefix('.') {
                Some(after) if after.starts_with(|c: char| c.is_ascii_digit()) => rest = after,
                _ => break,
            }
        }

        // A pre-release written against the core: `3.8.0rc1`, `2024.2.0b3`, `2024.2.0.dev20240115`.
        let (attached, rest) = rest.split_at(rest.find('-').unwrap_or(rest.len()));
        let mut pre = match attached {
            "" => None,
            text => Some(parse_pre(text.strip_prefix('.').unwrap_or(text), true)?),
        };

        let mut tokens: Vec<&str> = match rest.strip_prefix('-') {
            Some(suffix) => suffix.split('-').collect(),
            None => Vec::new(),
        };
        if tokens.iter().any(|t| t.is_empty()) {
            return None;
        }
        // `1.0.0-rc.1`, `7.4.0-rc1-alpine`: a pre-release as the first suffix token.
        if pre.is_none() {
            if let Some(found) = tokens.first().and_then(|t| parse_pre(t, false)) {
                pre = Some(found);
                tokens.remove(0);
            }
        }
        // Build numbers as the last token: linuxserver's `-ls132`, Bitnami's `-r5`. The marker stays
        // in the family so that `1.2.3-ls5` and `1.2.3` are never compared.
        let mut build = None;
        let mut family = String::new();
        if let Some(last) = tokens.last() {
            for marker in ["ls", "r"] {
                let number = last
                    .strip_prefix(marker)
                    .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
                if let Some(number) = number {
                    build = Some(number.parse::<u64>().ok()?);
                    tokens.pop();
                    tokens.push(marker);
                    break;
                }
            }
        }
        for token in &tokens {
            family.push('-');
            // A commit hash in the suffix (`1.40.1.8227-c0dd5a73e-ls221`) changes with every
            // release; it says nothing about the flavour, so it does not split the family.
            family.push_str(if looks_like_commit(token) { "<commit>" } else { token });
        }
        Some(Version {
            tag: tag.to_string(),
            prefix: prefix.to_string(),
            numbers,
            pre,
            family,
            build,
        })
    }

    /// The tag this version was parsed from.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// `""`, `"v"`, `"version-"` or `"release-"`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The numeric parts: `[1, 25, 3]` for `1.25.3-alpine`.
    pub fn numbers(&self) -> &[u64] {
        &self.numbers
    }

    pub fn pre_release(&self) -> Option<PreRelease> {
        self.pre
    }

    pub fn is_pre_release(&self) -> bool {
        self.pre.is_some()
    }

    /// The suffix family: `-alpine`, `-bookworm-slim`, `-ls` (with the build number taken out), or `""`.
    pub fn family(&self) -> &str {
        &self.family
    }

    pub fn build(&self) -> Option<u64> {
        self.build
    }

    /// Whether `other` may replace this version at all: same prefix, suffix family and part count,
    /// and a first part at most one digit longer. `16` -> `1234567` is an all-digit commit hash or
    /// another numbering scheme, never an update; `9` -> `10` is.
    pub fn is_comparable(&self, other: &Version) -> bool {
        let digits = |v: &Version| v.numbers.first().map_or(0, |n| n.checked_ilog10().unwrap_or(0) + 1);
        self.prefix == other.prefix
            && self.family == other.family
            && self.numbers.len() == other.numbers.len()
            && digits(other) <= digits(self) + 1
    }

    /// Version precedence alone: numbers, then release above pre-release, then build number.
    /// `2024.01.15` and `2024.1.15` are equal here, different under [`Ord`].
    pub fn cmp_precedence(&self, other: &Version) -> Ordering {
        self.numbers
            .cmp(&other.numbers)
            .then_with(|| match (&self.pre, &other.pre) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => a.cmp(b),
            })
            .then_with(|| self.build.cmp(&other.build))
    }

    /// The kind of update going from `self` to the newer `other`: the most significant part that changed.
    pub fn update_kind(&self, other: &Version) -> UpdateKind {
        match self.numbers.iter().zip(&other.numbers).position(|(a, b)| a != b) {
            Some(0) => UpdateKind::Major,
            Some(1) => UpdateKind::Minor,
            Some(_) => UpdateKind::Patch,
            None if self.numbers.len() != other.numbers.len() => UpdateKind::Patch,
            None if self.pre != other.pre => UpdateKind::Prerelease,
            None => UpdateKind::Build,
        }
    }
}

/// A total order: precedence first, then the remaining fields and finally the tag text, so that
/// only identical tags compare equal.
impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.cmp_precedence(other)
            .then_with(|| self.prefix.cmp(&other.prefix))
            .then_with(|| self.family.cmp(&other.family))
            .then_with(|| self.tag.cmp(&other.tag))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.tag)
    }
}

/// `rc1`, `rc.1`, `beta`, `alpha2`, `preview`; when attached to the core, also `dev20240115` and
/// Python's short `a1`/`b1`/`c1` (which after a `-` would too easily be a flavour name).
fn parse_pre(text: &str, attached: bool) -> Option<PreRelease> {
    let lower = text.to_ascii_lowercase();
    let split = lower.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(lower.len());
    let (word, number) = lower.split_at(split);
    let stage = match word {
        // After a `-`, `dev` is a flavour (`8.3-dev`: with build tools), not a pre-release.
        "dev" if attached => PreStage::Dev,
        "alpha" => PreStage::Alpha,
        "beta" => PreStage::Beta,
        "pre" | "preview" => PreStage::Preview,
        "rc" => PreStage::Rc,
        "a" if attached => PreStage::Alpha,
        "b" if attached => PreStage::Beta,
        "c" if attached => PreStage::Rc,
        _ => return None,
    };
    let number = number.strip_prefix('.').unwrap_or(number);
    let number = match number {
        "" => 0,
        digits if digits.bytes().all(|b| b.is_ascii_digit()) => digits.parse().ok()?,
        _ => return None,
    };
    Some(PreRelease { stage, number })
}

/// Seven or more hex digits with both a letter and a digit: an abbreviated or full commit hash.
fn looks_like_commit(text: &str) -> bool {
    (7..=64).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && text.bytes().any(|b| b.is_ascii_digit())
        && text.bytes().any(|b| b.is_ascii_alphabetic())
}

/// Tags that are never offered as an update: commit hashes (`abc1234`, `sha-abc1234`) and the
/// signature, attestation and SBOM tags cosign pushes next to images (`sha256-<hex>.sig`).
pub fn is_never_candidate(tag: &str) -> bool {
    if let Some(rest) = tag.strip_prefix("sha256-") {
        let hex = rest.split_once('.').map_or(rest, |(hex, _)| hex);
        if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return true;
        }
    }
    let bare = tag.strip_prefix("sha-").unwrap_or(tag);
    looks_like_commit(&bare.to_ascii_lowercase())
}

/// Whether a tag is version-like, so newer tags can be looked for; other tags are checked by digest only.
pub fn is_version_like(tag: &str) -> bool {
    Version::parse(tag).is_some()
}

/// Include/exclude regexes over candidate tags (config, `tidewatch.tag.*`, `wud.tag.*`, `diun.*_tags`).
/// Both match anywhere in the tag unless anchored, as in What's Up Docker.
#[derive(Debug, Clone, Default)]
pub struct TagFilter {
    pub include: Option<Regex>,
    pub exclude: Option<Regex>,
}

/// A tag filter regex that does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {which} tag regex {pattern:?}: {reason}")]
pub struct TagFilterError {
    /// `"include"` or `"exclude"`.
    pub which: &'static str,
    pub pattern: String,
    pub reason: String,
}

/// Compiles a tag regex with a size bound, since patterns come from labels anyone can set.
pub fn compile_tag_regex(pattern: &str) -> Result<Regex, String> {
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| e.to_string().lines().last().unwrap_or("").trim().to_string())
}

impl TagFilter {
    pub fn new(include: Option<&str>, exclude: Option<&str>) -> Result<Self, TagFilterError> {
        let compile = |which, pattern: Option<&str>| {
            pattern
                .map(|pattern| {
                    compile_tag_regex(pattern).map_err(|reason| TagFilterError {
                        which,
                        pattern: pattern.to_string(),
                        reason,
                    })
                })
                .transpose()
        };
        Ok(TagFilter {
            include: compile("include", include)?,
            exclude: compile("exclude", exclude)?,
        })
    }

    /// Whether the tag passes: matches `include` (when set) and does not match `exclude`.
    pub fn allows(&self, tag: &str) -> bool {
        self.include.as_ref().is_none_or(|re| re.is_match(tag))
            && !self.exclude.as_ref().is_some_and(|re| re.is_match(tag))
    }

    pub fn is_empty(&self) -> bool {
        self.include.is_none() && self.exclude.is_none()
    }
}

/// The newest tag that may replace the current one, and what kind of update it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    pub tag: String,
    pub kind: UpdateKind,
}

/// The newest candidate among `tags` for `current_tag`, or `None` when the current tag is not
/// version-like (it is checked by digest only) or nothing newer and compatible exists.
pub fn newest_candidate(current_tag: &str, tags: &[String], filter: &TagFilter) -> Option<Candidate> {
    let current = Version::parse(current_tag)?;
    tags.iter()
        .filter(|tag| filter.allows(tag))
        .filter_map(|tag| Version::parse(tag))
        .filter(|v| current.is_comparable(v))
        .filter(|v| !v.is_pre_release() || current.is_pre_release())
        .filter(|v| v.cmp_precedence(&current) == Ordering::Greater)
        .max()
        .map(|newest| Candidate {
            kind: current.update_kind(&newest),
            tag: newest.tag,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use UpdateKind::*;

    fn check(current: &str, candidate: &str) -> Option<UpdateKind> {
        newest_candidate(current, &[candidate.to_string()], &TagFilter::default()).map(|c| c.kind)
    }

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn spec_table_rows_hold() {
        #[rustfmt::skip]
        let rows: &[(&str, &str, Option<UpdateKind>)] = &[
            ("1.25.3", "1.25.4", Some(Patch)),
            ("1.9.0", "1.10.0", Some(Minor)),
            ("1.25-alpine", "1.26-alpine", Some(Minor)),
            ("1.25-alpine", "1.25.4-alpine", None), // part count
            ("1.25.3-alpine", "1.25.4", None),      // suffix
            ("v1.2.3", "1.2.4", None),              // prefix
            ("3.7.2", "3.8.0rc1", None),            // pre-release
            ("3.8.0rc1", "3.8.0", Some(Prerelease)),
            ("1.2.3-ls132", "1.2.3-ls99", None),    // not newer
            ("latest", "1.2.3", None),              // digest only
        ];
        for (current, candidate, expected) in rows {
            assert_eq!(check(current, candidate), *expected, "{current} -> {candidate}");
        }
    }

    #[test]
    fn real_tag_families_compare_as_expected() {
        let hash = format!("sha256-{}.sig", "ab".repeat(32));
        #[rustfmt::skip]
        let rows: &[(&str, &str, Option<UpdateKind>)] = &[
            // nginx
            ("1.25.3", "1.26.0", Some(Minor)),
            ("1.25", "1.26", Some(Minor)),
            ("1", "2", Some(Major)),
            ("1.25.3-alpine", "1.25.4-alpine", Some(Patch)),
            ("1.25.3-alpine-slim", "1.25.4-alpine-slim", Some(Patch)),
            ("1.25.3-alpine-slim", "1.25.4-alpine", None),
            ("1.25.3-bookworm-perl", "1.25.4-bookworm-perl", Some(Patch)),
            ("1.25.3-alpine3.18-perl", "1.25.4-alpine3.18-perl", Some(Patch)),
            ("1.25.3", "1.25.3-alpine", None),
            ("mainline", "1.25.4", None),
            ("stable-alpine", "1.26.0-alpine", None),
            // postgres
            ("16.1", "16.2", Some(Minor)),
            ("16", "17", Some(Major)),
            ("16", "17beta1", None),
            ("17beta1", "17beta2", Some(Prerelease)),
            ("17beta1", "17rc1", Some(Prerelease)),
            ("17rc1", "17", Some(Prerelease)),
            ("16.1-alpine3.19", "16.2-alpine3.19", Some(Minor)),
            ("16-bookworm", "17-bookworm", Some(Major)),
            ("16.1", "9.6.24", None),
            ("9.6.24", "16.1", None),
            // node
            ("20.11.0-alpine", "20.11.1-alpine", Some(Patch)),
            ("20-alpine", "21-alpine", Some(Major)),
            ("20.11.0-bookworm-slim", "21.6.1-bookworm-slim", Some(Major)),
            ("20.11.0-alpine3.19", "20.11.1-alpine3.18", None),
            ("lts-alpine", "20.11.0-alpine", None),
            ("20.9.0", "20.10.0", Some(Minor)),
            // python
            ("3.12.1-slim-bookworm", "3.12.2-slim-bookworm", Some(Patch)),
            ("3.12.1-slim", "3.13.0a3-slim", None),
            ("3.13.0a3-slim", "3.13.0b1-slim", Some(Prerelease)),
            ("3.13.0a3", "3.13.0", Some(Prerelease)),
            ("3.13.0rc1", "3.13.0rc2", Some(Prerelease)),
            ("3.12", "3.13.0", None),
            ("3.11.7", "3.12.1", Some(Minor)),
            // redis
            ("7.2.3", "7.2.4", Some(Patch)),
            ("7.2.4-alpine3.19", "7.2.5-alpine3.19", Some(Patch)),
            ("7.2-bookworm", "7.4-bookworm", Some(Minor)),
            ("6.2.14", "7.2.4", Some(Major)),
            ("7.2.4", "7.4.0-rc1", None),
            ("7.4.0-rc1", "7.4.0-rc2", Some(Prerelease)),
            ("7.4.0-rc1-alpine", "7.4.0-alpine", Some(Prerelease)),
            // traefik
            ("v3.0.0", "v3.0.1", Some(Patch)),
            ("v2.11", "v3.0", Some(Major)),
            ("v3.0.0", "3.0.1", None),
            ("3.0.0", "v3.0.1", None),
            ("v3.0.0-rc1", "v3.0.0", Some(Prerelease)),
            ("v2.11.0", "v3.0.0-beta5", None),
            ("v3.0.0-rc.1", "v3.0.0-rc.2", Some(Prerelease)),
            ("munster", "v3.0.0", None),
            // grafana
            ("10.2.3", "10.3.1", Some(Minor)),
            ("10.2.3-ubuntu", "10.2.4-ubuntu", Some(Patch)),
            ("10.2.3", "10.2.4-ubuntu", None),
            ("main", "10.2.3", None),
            ("10.4.2", "11.0.0-preview", None),
            // mariadb
            ("11.2.2", "11.2.3", Some(Patch)),
            ("11.2.2-jammy", "11.3.2-jammy", Some(Minor)),
            ("10.11", "11.2", Some(Major)),
            ("lts", "11.4.2", None),
            ("11.2", "11.2.3", None),
            // linuxserver
            ("4.1.1-ls186", "4.1.1-ls187", Some(Build)),
            ("4.1.1-ls186", "4.1.2-ls187", Some(Patch)),
            ("4.1.1-ls186", "4.1.2", None),
            ("1.2.3-ls9", "1.2.3-ls10", Some(Build)),
            ("version-4.1.1", "version-4.1.2", Some(Patch)),
            ("version-4.1.1", "4.1.2", None),
            ("1.40.1.8227-c0dd5a73e-ls221", "1.40.2.8395-c189d1bbf-ls222", Some(Patch)),
            ("1.40.1.8227-c0dd5a73e-ls221", "1.40.1.8227-c0dd5a73e-ls222", Some(Build)),
            // home-assistant
            ("2024.1.5", "2024.1.6", Some(Patch)),
            ("2024.1.5", "2024.2.0", Some(Minor)),
            ("2023.12.4", "2024.1.0", Some(Major)),
            ("2024.1.5", "2024.2.0b3", None),
            ("2024.2.0b3", "2024.2.0b4", Some(Prerelease)),
            ("2024.2.0b3", "2024.2.0", Some(Prerelease)),
            ("2024.1.5", "2024.2.0.dev20240115", None),
            ("stable", "2024.1.5", None),
            // bitnami
            ("1.25.3-debian-12-r5", "1.25.3-debian-12-r6", Some(Build)),
            ("1.25.3-debian-12-r5", "1.25.4-debian-12-r0", Some(Patch)),
            ("1.25.3-debian-12-r5", "1.25.4-debian-11-r0", None),
            ("16.1.0-debian-11-r20", "16.1.0-debian-11-r3", None),
            // dates, four parts, other prefixes
            ("2024.01.15", "2024.02.01", Some(Minor)),
            ("2024.01.15", "2024.1.15", None),
            ("1.2.3.4", "1.2.3.5", Some(Patch)),
            ("release-1.2", "release-1.3", Some(Minor)),
            // never candidates, never newer
            ("1.2.3", "abc1234", None),
            ("1.2.3", "1234a56", None),
            ("1.2.3", "sha-4f2e1d9", None),
            ("abc1234", "1.2.3", None),
            ("1.2.3", "1.2.3", None),
            ("1.2.3", "1.2.2", None),
            ("1.2.3", &hash, None),
            ("16", "1234567", None),         // an all-digit commit hash
            ("1.0", "2024.01", None),        // a switch of numbering scheme
            ("9", "10", Some(Major)),
            ("99.1", "100.0", Some(Major)),
            ("20240115", "20240116", Some(Major)),
            ("8.3-dev", "8.4", None),        // `-dev` is a flavour after a dash
            ("8.3-dev", "8.4-dev", Some(Minor)),
        ];
        assert!(rows.len() >= 60);
        for (current, candidate, expected) in rows {
            assert_eq!(check(current, candidate), *expected, "{current} -> {candidate}");
        }
    }

    #[test]
    fn newest_compatible_tag_is_picked_from_a_real_listing() {
        let listing = tags(&[
            "latest",
            "mainline",
            "stable",
            "alpine",
            "1",
            "1.25",
            "1.25.3",
            "1.25.4",
            "1.26.0",
            "1.26.1-alpine",
            "1.27.0-alpine",
            "1.9.15",
            "1.27.0rc1",
            "sha256-0123.sig",
            "abc1234",
        ]);
        let pick = |current: &str| newest_candidate(current, &listing, &TagFilter::default());
        assert_eq!(
            pick("1.25.3"),
            Some(Candidate {
                tag: "1.26.0".into(),
                kind: Minor
            })
        );
        assert_eq!(pick("1.26.1-alpine").map(|c| c.tag), Some("1.27.0-alpine".into()));
        assert_eq!(pick("1.26.0"), None);
        assert_eq!(pick("1.25"), None);
        assert_eq!(pick("stable"), None);
    }

    #[test]
    fn numeric_parts_order_as_numbers_not_text() {
        let listing = tags(&["1.9.0", "1.10.0", "1.2.0", "1.10.1"]);
        assert_eq!(
            newest_candidate("1.2.0", &listing, &TagFilter::default()).map(|c| c.tag),
            Some("1.10.1".into())
        );
    }

    #[test]
    fn pre_release_track_sees_releases_and_later_pre_releases() {
        let listing = tags(&["3.8.0rc1", "3.8.0rc2", "3.8.0", "3.8.1"]);
        let pick = newest_candidate("3.8.0rc1", &listing, &TagFilter::default());
        assert_eq!(
            pick,
            Some(Candidate {
                tag: "3.8.1".into(),
                kind: Patch
            })
        );
        let stable = newest_candidate("3.7.2", &tags(&["3.8.0rc1", "3.7.3"]), &TagFilter::default());
        assert_eq!(stable.map(|c| c.tag), Some("3.7.3".into()));
    }

    #[test]
    fn include_and_exclude_filters_restrict_candidates() {
        let listing = tags(&["1.25.4", "1.26.0", "2.0.0"]);
        let below_two = TagFilter::new(Some(r"^1\."), None).unwrap();
        assert_eq!(
            newest_candidate("1.25.3", &listing, &below_two).map(|c| c.tag),
            Some("1.26.0".into())
        );
        let no_minor = TagFilter::new(None, Some(r"^1\.26|^2\.")).unwrap();
        assert_eq!(
            newest_candidate("1.25.3", &listing, &no_minor).map(|c| c.tag),
            Some("1.25.4".into())
        );
        let nothing = TagFilter::new(Some("^9"), None).unwrap();
        assert_eq!(newest_candidate("1.25.3", &listing, &nothing), None);
    }

    #[test]
    fn bad_filter_regex_says_which_and_why() {
        let err = TagFilter::new(None, Some("(")).unwrap_err();
        assert_eq!(err.which, "exclude");
        assert!(err.to_string().contains("invalid exclude tag regex \"(\""), "{err}");
    }

    #[test]
    fn version_like_tags_are_recognized() {
        #[rustfmt::skip]
        let cases: &[(&str, bool)] = &[
            ("1", true), ("1.25", true), ("1.25.3", true), ("1.2.3.4", true), ("2024.01.15", true),
            ("v1.2.3", true), ("version-1.2", true), ("release-1.2", true), ("1.25-alpine", true),
            ("1.25.3-bookworm-slim", true), ("1.2.3-ls123", true), ("1.0.0-rc.1", true), ("3.8.0rc1", true),
            ("latest", false), ("stable", false), ("main", false), ("lts-slim", false), ("alpine", false),
            ("v", false), ("vx1", false), ("1.", false), ("1..2", false), ("1.2.3-", false), ("1.2--x", false),
            ("2.0.0post1", false), ("abc1234", false), ("deadbeef1", false), ("99999999999999999999", false),
        ];
        for (tag, expected) in cases {
            assert_eq!(is_version_like(tag), *expected, "{tag}");
        }
    }

    #[test]
    fn parts_are_split_as_the_rules_need() {
        let v = Version::parse("v1.25.3rc2-bookworm-slim").unwrap();
        assert_eq!(v.prefix(), "v");
        assert_eq!(v.numbers(), &[1, 25, 3]);
        assert_eq!(
            v.pre_release(),
            Some(PreRelease {
                stage: PreStage::Rc,
                number: 2
            })
        );
        assert_eq!(v.family(), "-bookworm-slim");
        let ls = Version::parse("1.2.3-ls132").unwrap();
        assert_eq!((ls.family(), ls.build()), ("-ls", Some(132)));
        let bitnami = Version::parse("1.25.3-debian-12-r5").unwrap();
        assert_eq!((bitnami.family(), bitnami.build()), ("-debian-12-r", Some(5)));
    }

    #[test]
    fn signature_and_commit_tags_are_never_candidates() {
        assert!(is_never_candidate(&format!("sha256-{}.sig", "a".repeat(64))));
        assert!(is_never_candidate(&format!("sha256-{}.att", "0".repeat(64))));
        assert!(is_never_candidate(&format!("sha256-{}.sbom", "f".repeat(64))));
        assert!(is_never_candidate("4f2e1d9"));
        assert!(is_never_candidate("sha-4f2e1d9c"));
        assert!(!is_never_candidate("20240115"));
        assert!(!is_never_candidate("1.2.3"));
    }

    #[test]
    fn update_kind_serializes_in_snake_case() {
        assert_eq!(serde_json::to_string(&Prerelease).unwrap(), "\"prerelease\"");
        assert_eq!(serde_json::from_str::<UpdateKind>("\"digest\"").unwrap(), Digest);
        assert_eq!(Major.to_string(), "major");
    }

    prop_compose! {
        /// Tags of one comparable family (same prefix, suffix and part count) with varied numbers,
        /// pre-releases and builds.
        fn family_tag(prefix: &'static str, parts: usize, family: &'static str)(
            numbers in prop::collection::vec(0u64..30, parts),
            pre in prop::option::of((prop::sample::select(vec!["a", "b", "rc", "-rc.", "-beta", ".dev"]), 0u64..5)),
        ) -> String {
            let core: Vec<String> = numbers.iter().map(|n| n.to_string()).collect();
            let pre = pre.map(|(p, n)| format!("{p}{n}")).unwrap_or_default();
            format!("{prefix}{}{pre}{family}", core.join("."))
        }
    }

    fn comparable_tag() -> impl Strategy<Value = String> {
        prop_oneof![
            family_tag("", 3, ""),
            family_tag("v", 2, "-alpine"),
            family_tag("", 3, "-ls7"),
            family_tag("version-", 4, "-debian-12-r3"),
        ]
    }

    proptest! {
        #[test]
        fn ordering_is_a_total_order(a in comparable_tag(), b in comparable_tag(), c in comparable_tag()) {
            let (Some(a), Some(b), Some(c)) = (Version::parse(&a), Version::parse(&b), Version::parse(&c)) else {
                return Err(TestCaseError::fail("generated tags must be version-like"));
            };
            prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
            prop_assert_eq!(a.cmp(&b) == Ordering::Equal, a.tag() == b.tag());
            if a <= b && b <= c {
                prop_assert!(a <= c);
            }
            if a.cmp_precedence(&b) == Ordering::Less && b.cmp_precedence(&c) == Ordering::Less {
                prop_assert_eq!(a.cmp_precedence(&c), Ordering::Less);
            }
        }

        #[test]
        fn newest_candidate_is_newer_and_comparable(current in comparable_tag(), listing in prop::collection::vec(comparable_tag(), 0..12)) {
            if let Some(found) = newest_candidate(&current, &listing, &TagFilter::default()) {
                let (Some(cur), Some(new)) = (Version::parse(&current), Version::parse(&found.tag)) else {
                    return Err(TestCaseError::fail("candidate must be version-like"));
                };
                prop_assert!(cur.is_comparable(&new));
                prop_assert_eq!(new.cmp_precedence(&cur), Ordering::Greater);
                prop_assert!(!new.is_pre_release() || cur.is_pre_release());
            }
        }

        #[test]
        fn parse_display_round_trips(tag in comparable_tag()) {
            let v = Version::parse(&tag).ok_or_else(|| TestCaseError::fail("not version-like"))?;
            prop_assert_eq!(v.to_string(), tag.clone());
            prop_assert_eq!(Version::parse(&v.to_string()), Some(v));
        }

        #[test]
        fn parsing_arbitrary_tags_never_panics(tag in "\\PC{0,40}", other in "[0-9a-z.v-]{0,20}") {
            let _ = Version::parse(&tag);
            let _ = newest_candidate(&tag, &[other.clone(), tag.clone()], &TagFilter::default());
            let _ = newest_candidate(&other, &[tag], &TagFilter::default());
        }
    }
}
