//! Container labels (docs/config.md#container-labels) read into a per-container watch policy: Tidewatch's own, What's Up Docker's and Diun's.
//!
//! Honouring the labels of What's Up Docker (`wud.*`) and Diun (`diun.*`) lets users switch
//! without relabelling. Where several tools' labels say the same thing, Tidewatch's own win, then
//! What's Up Docker's, then Diun's. An empty label value counts as absent: Compose writes a bare
//! `- tidewatch.enable` as an empty value, and guessing its meaning would be worse than ignoring it.

use std::collections::BTreeMap;

use crate::version::{compile_tag_regex, TagFilter};

pub const TIDEWATCH_ENABLE: &str = "tidewatch.enable";
pub const TIDEWATCH_TAG_INCLUDE: &str = "tidewatch.tag.include";
pub const TIDEWATCH_TAG_EXCLUDE: &str = "tidewatch.tag.exclude";
pub const WUD_WATCH: &str = "wud.watch";
pub const WUD_TAG_INCLUDE: &str = "wud.tag.include";
pub const WUD_TAG_EXCLUDE: &str = "wud.tag.exclude";
pub const WUD_WATCH_DIGEST: &str = "wud.watch.digest";
pub const WUD_DISPLAY_NAME: &str = "wud.display.name";
pub const WUD_LINK_TEMPLATE: &str = "wud.link.template";
pub const DIUN_ENABLE: &str = "diun.enable";
pub const DIUN_INCLUDE_TAGS: &str = "diun.include_tags";
pub const DIUN_EXCLUDE_TAGS: &str = "diun.exclude_tags";
/// Where the image's source lives (OCI annotations, set by most image builds): the release notes
/// link when no `wud.link.template` is given.
pub const OCI_SOURCE: &str = "org.opencontainers.image.source";
pub const OCI_URL: &str = "org.opencontainers.image.url";

/// What a container's labels ask of Tidewatch. `None` means no label said anything, so the
/// configuration's default applies.
#[derive(Debug, Clone, Default)]
pub struct LabelPolicy {
    /// Whether to watch the container at all.
    pub enabled: Option<bool>,
    /// Restricts the tags offered as updates.
    pub tag_filter: TagFilter,
    /// What's Up Docker's `wud.watch.digest`: also watch the digest of a version-like tag.
    pub watch_digest: Option<bool>,
    /// A name to show instead of the container's (`wud.display.name`).
    pub display_name: Option<String>,
    /// A link template for release notes (`wud.link.template`, with `${major}`-style placeholders).
    pub link_template: Option<String>,
    /// The image's source or home page (`org.opencontainers.image.source`, else `.url`).
    pub source_url: Option<String>,
    /// The labels that took effect, as `key=value`, for explanations.
    pub applied: Vec<String>,
}

/// A label whose value Tidewatch cannot use; the message names the label so the user can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("container label {label}={value:?} is not a boolean; use true or false")]
    NotBoolean { label: String, value: String },
    #[error("container label {label}: {pattern:?} is not a valid regular expression: {reason}")]
    BadRegex {
        label: String,
        pattern: String,
        reason: String,
    },
}

impl LabelPolicy {
    /// Reads the labels Tidewatch understands; other labels are ignored.
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Result<Self, LabelError> {
        let mut policy = LabelPolicy::default();
        let mut first = |keys: &[&'static str]| -> Option<(&'static str, String)> {
            let (key, value) = keys.iter().find_map(|key| {
                let value = labels.get(*key)?.trim();
                (!value.is_empty()).then(|| (*key, value.to_string()))
            })?;
            policy.applied.push(format!("{key}={value}"));
            Some((key, value))
        };

        let enabled = first(&[TIDEWATCH_ENABLE, WUD_WATCH, DIUN_ENABLE]);
        let include = first(&[TIDEWATCH_TAG_INCLUDE, WUD_TAG_INCLUDE, DIUN_INCLUDE_TAGS]);
        let exclude = first(&[TIDEWATCH_TAG_EXCLUDE, WUD_TAG_EXCLUDE, DIUN_EXCLUDE_TAGS]);
        let watch_digest = first(&[WUD_WATCH_DIGEST]);
        let display_name = first(&[WUD_DISPLAY_NAME]);
        let link_template = first(&[WUD_LINK_TEMPLATE]);

        policy.enabled = enabled.map(|(key, value)| parse_bool(key, &value)).transpose()?;
        policy.watch_digest = watch_digest.map(|(key, value)| parse_bool(key, &value)).transpose()?;
        policy.tag_filter = TagFilter {
            include: include.map(|(key, value)| parse_regex(key, &value)).transpose()?,
            exclude: exclude.map(|(key, value)| parse_regex(key, &value)).transpose()?,
        };
        policy.display_name = display_name.map(|(_, value)| value);
        policy.link_template = link_template.map(|(_, value)| value);
        policy.source_url = labels.get(OCI_SOURCE).or_else(|| labels.get(OCI_URL)).cloned();
        Ok(policy)
    }

    /// Where to read about version `tag`: the `wud.link.template` (with `${raw}`, `${original}`,
    /// `${major}`, `${minor}`, `${patch}`), else the OCI source or URL label. Only http(s) links
    /// are offered: a label is anyone's text, and the app opens the link in a browser.
    pub fn release_notes(&self, tag: &str) -> Option<String> {
        let link = if let Some(template) = &self.link_template {
            let numbers: Vec<&str> = tag
                .trim_start_matches('v')
                .split(|c: char| !c.is_ascii_digit())
                .filter(|p| !p.is_empty())
                .collect();
            let part = |i: usize| numbers.get(i).copied().unwrap_or("");
            template
                .replace("${raw}", tag)
                .replace("${original}", tag)
                .replace("${major}", part(0))
                .replace("${minor}", part(1))
                .replace("${patch}", part(2))
        } else {
            let source = self.source_url.as_deref()?;
            source.trim_end_matches('/').trim_end_matches(".git").to_string()
        };
        (link.starts_with("https://") || link.starts_with("http://")).then_some(link)
    }

    /// Whether to watch the container, `default` being the configuration's choice when no label says.
    pub fn is_enabled(&self, default: bool) -> bool {
        self.enabled.unwrap_or(default)
    }
}

fn parse_bool(label: &str, value: &str) -> Result<bool, LabelError> {
    match value.to_ascii_lowercase().as_str() {
        // Diun reads its labels with Go's ParseBool, which also takes `t` and `f`.
        "true" | "t" | "yes" | "on" | "1" => Ok(true),
        "false" | "f" | "no" | "off" | "0" => Ok(false),
        _ => Err(LabelError::NotBoolean {
            label: label.to_string(),
            value: value.to_string(),
        }),
    }
}

/// One regex, or for Diun's `*_tags` labels a `;`-separated list of them (any may match).
fn parse_regex(label: &str, value: &str) -> Result<regex::Regex, LabelError> {
    let bad = |pattern: &str, reason: String| LabelError::BadRegex {
        label: label.to_string(),
        pattern: pattern.to_string(),
        reason,
    };
    if label.starts_with("diun.") {
        let parts: Vec<&str> = value.split(';').map(str::trim).filter(|p| !p.is_empty()).collect();
        // Each part alone first, so the error points at the broken one rather than the alternation.
        for part in &parts {
            compile_tag_regex(part).map_err(|reason| bad(part, reason))?;
        }
        let joined: Vec<String> = parts.iter().map(|p| format!("(?:{p})")).collect();
        compile_tag_regex(&joined.join("|")).map_err(|reason| bad(value, reason))
    } else {
        compile_tag_regex(value).map_err(|reason| bad(value, reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Pairs<'a> = &'a [(&'a str, &'a str)];

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn policy(pairs: &[(&str, &str)]) -> LabelPolicy {
        LabelPolicy::from_labels(&labels(pairs)).unwrap_or_else(|e| panic!("{pairs:?}: {e}"))
    }

    #[test]
    fn enable_labels_follow_precedence() {
        #[rustfmt::skip]
        let cases: &[(Pairs, Option<bool>)] = &[
            (&[], None),
            (&[("tidewatch.enable", "true")], Some(true)),
            (&[("tidewatch.enable", "false")], Some(false)),
            (&[("wud.watch", "false")], Some(false)),
            (&[("diun.enable", "true")], Some(true)),
            (&[("tidewatch.enable", "true"), ("wud.watch", "false")], Some(true)),
            (&[("wud.watch", "false"), ("diun.enable", "true")], Some(false)),
            (&[("tidewatch.enable", "false"), ("diun.enable", "true")], Some(false)),
            (&[("tidewatch.enable", ""), ("wud.watch", "false")], Some(false)),
            (&[("tidewatch.enable", " TRUE ")], Some(true)),
            (&[("tidewatch.enable", "no")], Some(false)),
            (&[("tidewatch.enable", "1")], Some(true)),
            (&[("diun.enable", "F")], Some(false)),
            (&[("com.example.other", "x")], None),
        ];
        for (pairs, expected) in cases {
            assert_eq!(policy(pairs).enabled, *expected, "{pairs:?}");
        }
    }

    #[test]
    fn tag_filters_follow_precedence() {
        #[rustfmt::skip]
        let cases: &[(Pairs, &str, bool)] = &[
            // labels, tag, allowed
            (&[], "2.0.0", true),
            (&[("tidewatch.tag.include", r"^1\.")], "2.0.0", false),
            (&[("tidewatch.tag.include", r"^1\.")], "1.2.0", true),
            (&[("wud.tag.include", r"^\d+\.\d+\.\d+$")], "1.2.0-alpine", false),
            (&[("wud.tag.exclude", "alpine")], "1.2.0-alpine", false),
            (&[("diun.include_tags", r"^1\.;^2\.")], "2.0.0", true),
            (&[("diun.include_tags", r"^1\.;^2\.")], "3.0.0", false),
            (&[("diun.exclude_tags", "rc;beta")], "1.0.0-beta", false),
            (&[("tidewatch.tag.include", "^2"), ("wud.tag.include", "^1")], "2.1", true),
            (&[("tidewatch.tag.include", "^2"), ("wud.tag.include", "^1")], "1.1", false),
            (&[("wud.tag.exclude", "^3"), ("diun.exclude_tags", "^2")], "2.0", true),
            (&[("tidewatch.tag.include", "^1"), ("tidewatch.tag.exclude", "^1\\.9")], "1.9.1", false),
        ];
        for (pairs, tag, allowed) in cases {
            assert_eq!(policy(pairs).tag_filter.allows(tag), *allowed, "{pairs:?} {tag}");
        }
    }

    #[test]
    fn what_s_up_docker_extras_are_read() {
        let p = policy(&[
            ("wud.watch.digest", "true"),
            ("wud.display.name", "Web server"),
            ("wud.link.template", "https://nginx.org/en/CHANGES-${major}.${minor}"),
        ]);
        assert_eq!(p.watch_digest, Some(true));
        assert_eq!(p.display_name.as_deref(), Some("Web server"));
        assert_eq!(
            p.link_template.as_deref(),
            Some("https://nginx.org/en/CHANGES-${major}.${minor}")
        );
        assert_eq!(p.applied.len(), 3);
    }

    #[test]
    fn release_notes_come_from_the_wud_template_or_the_oci_source_label() {
        let sourced = policy(&[(OCI_SOURCE, "https://github.com/o/app.git")]);
        assert_eq!(
            sourced.release_notes("1.2.3").as_deref(),
            Some("https://github.com/o/app")
        );
        let templated = policy(&[
            (OCI_SOURCE, "https://github.com/o/app.git"),
            (
                WUD_LINK_TEMPLATE,
                "https://github.com/o/app/releases/tag/v${major}.${minor}.${patch}",
            ),
        ]);
        assert_eq!(
            templated.release_notes("1.25.4").as_deref(),
            Some("https://github.com/o/app/releases/tag/v1.25.4")
        );
        let script = policy(&[(WUD_LINK_TEMPLATE, "javascript:alert(1)")]);
        assert_eq!(script.release_notes("1"), None, "only http(s) links");
        assert_eq!(policy(&[]).release_notes("1"), None);
    }

    #[test]
    fn bad_regex_is_an_error_naming_the_label() {
        for key in ["tidewatch.tag.include", "wud.tag.exclude", "diun.include_tags"] {
            let err = LabelPolicy::from_labels(&labels(&[(key, "^1.(")])).unwrap_err();
            assert!(err.to_string().contains(key), "{err}");
        }
        let err = LabelPolicy::from_labels(&labels(&[("diun.exclude_tags", "ok;[bad")])).unwrap_err();
        assert!(
            matches!(&err, LabelError::BadRegex { label, pattern, .. } if label == "diun.exclude_tags" && pattern == "[bad"),
            "{err}"
        );
    }

    #[test]
    fn shadowed_labels_are_not_validated() {
        // The user overrode a broken What's Up Docker label with Tidewatch's own; that must work.
        let p = policy(&[("tidewatch.tag.include", "^1"), ("wud.tag.include", "(")]);
        assert!(p.tag_filter.allows("1.0"));
    }

    #[test]
    fn bad_boolean_is_an_error_naming_the_label() {
        let err = LabelPolicy::from_labels(&labels(&[("wud.watch", "maybe")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "container label wud.watch=\"maybe\" is not a boolean; use true or false"
        );
    }

    #[test]
    fn is_enabled_falls_back_to_the_default() {
        assert!(policy(&[]).is_enabled(true));
        assert!(!policy(&[]).is_enabled(false));
        assert!(!policy(&[("diun.enable", "false")]).is_enabled(true));
    }

    proptest! {
        #[test]
        fn arbitrary_label_values_never_panic(
            values in prop::collection::vec("\\PC{0,20}", 12),
        ) {
            let keys = [
                TIDEWATCH_ENABLE, TIDEWATCH_TAG_INCLUDE, TIDEWATCH_TAG_EXCLUDE, WUD_WATCH, WUD_TAG_INCLUDE,
                WUD_TAG_EXCLUDE, WUD_WATCH_DIGEST, WUD_DISPLAY_NAME, WUD_LINK_TEMPLATE, DIUN_ENABLE,
                DIUN_INCLUDE_TAGS, DIUN_EXCLUDE_TAGS,
            ];
            let map: BTreeMap<String, String> =
                keys.iter().zip(values).map(|(k, v)| (k.to_string(), v)).collect();
            let _ = LabelPolicy::from_labels(&map);
        }
    }
}
