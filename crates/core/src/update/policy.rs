//! Automatic updates (docs/updates.md#automatic-updates): which updates a container allows to be
//! applied without asking, from its labels or the configuration's default (`off`).
//!
//! Tidewatch's label `tidewatch.update.auto` wins; then What's Up Docker's `wud.trigger.include`
//! naming a `docker.*` or `dockercompose.*` trigger (the triggers that update containers) with a
//! threshold that maps cleanly; then Watchtower's `com.centurylinklabs.watchtower.*` labels
//! (Watchtower only ever re-pulls the same tag, so its opt-in means digest updates). A label whose
//! meaning is unclear is never read as a yes.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::checker::{ContainerResult, Status};
use crate::version::UpdateKind;

pub const TIDEWATCH_UPDATE_AUTO: &str = "tidewatch.update.auto";
pub const WUD_TRIGGER_INCLUDE: &str = "wud.trigger.include";
pub const WATCHTOWER_ENABLE: &str = "com.centurylinklabs.watchtower.enable";
pub const WATCHTOWER_MONITOR_ONLY: &str = "com.centurylinklabs.watchtower.monitor-only";

/// How far automatic updates may go: each level allows the ones before it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoUpdate {
    /// Never without asking.
    #[default]
    Off,
    /// The same tag, moved to a new image.
    Digest,
    /// Also patch and build updates (`1.25.3` → `1.25.4`, `-r5` → `-r6`).
    Patch,
    /// Also minor updates (`1.25` → `1.26`).
    Minor,
    /// Also major updates and pre-releases.
    All,
}

impl AutoUpdate {
    pub fn as_str(self) -> &'static str {
        match self {
            AutoUpdate::Off => "off",
            AutoUpdate::Digest => "digest",
            AutoUpdate::Patch => "patch",
            AutoUpdate::Minor => "minor",
            AutoUpdate::All => "all",
        }
    }

    /// Whether an update of `kind` is allowed at this level.
    pub fn allows(self, kind: UpdateKind) -> bool {
        let needed = match kind {
            UpdateKind::Digest => AutoUpdate::Digest,
            UpdateKind::Patch | UpdateKind::Build => AutoUpdate::Patch,
            UpdateKind::Minor => AutoUpdate::Minor,
            UpdateKind::Major | UpdateKind::Prerelease => AutoUpdate::All,
        };
        self != AutoUpdate::Off && self >= needed
    }

    fn parse(text: &str) -> Option<AutoUpdate> {
        match text.trim().to_ascii_lowercase().as_str() {
            "off" | "none" | "false" | "no" => Some(AutoUpdate::Off),
            "digest" => Some(AutoUpdate::Digest),
            "patch" => Some(AutoUpdate::Patch),
            "minor" => Some(AutoUpdate::Minor),
            "all" | "major" => Some(AutoUpdate::All),
            _ => None,
        }
    }
}

impl fmt::Display for AutoUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a container's automatic-update level came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "source", content = "label")]
pub enum PolicySource {
    /// A label, as `key=value`.
    Label(String),
    /// No label said anything: the configuration's `[updates] auto`.
    Config,
}

/// The automatic-update decision for one available update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AutoDecision {
    pub allowed: bool,
    pub level: AutoUpdate,
    pub source: PolicySource,
    /// One line saying why, for logs and notifications.
    pub reason: String,
}

/// A container's automatic-update level from its labels, or `None` when no label says. A
/// `tidewatch.update.auto` value that is not a level counts as `off`.
pub fn label_level(labels: &BTreeMap<String, String>) -> Option<(AutoUpdate, PolicySource)> {
    let label = |key: &str| labels.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());
    if let Some(value) = label(TIDEWATCH_UPDATE_AUTO) {
        // An unusable value is a no: an automatic change needs a clear yes.
        let level = AutoUpdate::parse(value).unwrap_or(AutoUpdate::Off);
        return Some((level, PolicySource::Label(format!("{TIDEWATCH_UPDATE_AUTO}={value}"))));
    }
    if let Some(value) = label(WUD_TRIGGER_INCLUDE) {
        if let Some(level) = wud_level(value) {
            return Some((level, PolicySource::Label(format!("{WUD_TRIGGER_INCLUDE}={value}"))));
        }
    }
    if let Some(value) = label(WATCHTOWER_MONITOR_ONLY) {
        if matches!(value.to_ascii_lowercase().as_str(), "true" | "1" | "yes") {
            return Some((
                AutoUpdate::Off,
                PolicySource::Label(format!("{WATCHTOWER_MONITOR_ONLY}={value}")),
            ));
        }
    }
    if let Some(value) = label(WATCHTOWER_ENABLE) {
        let level = match value.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => AutoUpdate::Digest,
            _ => AutoUpdate::Off,
        };
        return Some((level, PolicySource::Label(format!("{WATCHTOWER_ENABLE}={value}"))));
    }
    None
}

/// What's Up Docker's `wud.trigger.include`: comma-separated `type.name[:threshold]`. Only the
/// triggers that update containers (`docker`, `dockercompose`) count, and only thresholds that mean
/// the same as one of ours (`all`, `major`, `minor`, `patch`, `digest`); `*-only` and `*-no-digest`
/// do not map and are ignored.
fn wud_level(value: &str) -> Option<AutoUpdate> {
    value
        .split(',')
        .filter_map(|entry| {
            let entry = entry.trim();
            let (trigger, threshold) = entry.split_once(':').unwrap_or((entry, "all"));
            let kind = trigger.split('.').next()?.to_ascii_lowercase();
            if kind != "docker" && kind != "dockercompose" {
                return None;
            }
            match threshold.trim().to_ascii_lowercase().as_str() {
                "all" | "major" => Some(AutoUpdate::All),
                "minor" => Some(AutoUpdate::Minor),
                "patch" => Some(AutoUpdate::Patch),
                "digest" => Some(AutoUpdate::Digest),
                _ => None,
            }
        })
        .max()
}

/// Whether the update a check found for this container may be applied automatically: its labels'
/// level, else `default` (the configuration's `[updates] auto`).
pub fn auto_update_decision(
    result: &ContainerResult,
    labels: &BTreeMap<String, String>,
    default: AutoUpdate,
) -> AutoDecision {
    let (level, source) = label_level(labels).unwrap_or((default, PolicySource::Config));
    let from = match &source {
        PolicySource::Label(label) => format!("label {label}"),
        PolicySource::Config => format!("[updates] auto = \"{default}\""),
    };
    let (allowed, reason) = match (&result.update, result.status) {
        (Some(update), Status::UpdateAvailable) if level.allows(update.kind) => {
            (true, format!("a {} update is allowed by {from}", update.kind))
        }
        (Some(update), Status::UpdateAvailable) => (
            false,
            format!("a {} update is not allowed by {from} (level {level})", update.kind),
        ),
        _ => (false, "no update is available".to_string()),
    };
    AutoDecision {
        allowed,
        level,
        source,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::Update;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn result(kind: UpdateKind) -> ContainerResult {
        ContainerResult {
            kind: crate::checker::Kind::Container,
            stack: None,
            platforms: Vec::new(),
            replicas: None,
            rollout: None,
            engine: Some("local".into()),
            id: Some("c".into()),
            name: Some("web".into()),
            image: "nginx:1.25.3".into(),
            upstream: "docker.io/library/nginx:1.25.3".parse().ok(),
            via: None,
            platform: None,
            local_digest: None,
            status: Status::UpdateAvailable,
            update: Some(Update {
                kind,
                tag: Some("1.25.4".into()),
                digest: None,
            }),
            explanation: String::new(),
            error: None,
            checked_at: std::time::SystemTime::UNIX_EPOCH,
            display_name: None,
            release_notes: None,
        }
    }

    #[test]
    fn each_level_allows_the_kinds_up_to_it() {
        use UpdateKind::*;
        let table: &[(AutoUpdate, &[UpdateKind])] = &[
            (AutoUpdate::Off, &[]),
            (AutoUpdate::Digest, &[Digest]),
            (AutoUpdate::Patch, &[Digest, Patch, Build]),
            (AutoUpdate::Minor, &[Digest, Patch, Build, Minor]),
            (AutoUpdate::All, &[Digest, Patch, Build, Minor, Major, Prerelease]),
        ];
        for (level, allowed) in table {
            for kind in [Major, Minor, Patch, Build, Prerelease, Digest] {
                assert_eq!(level.allows(kind), allowed.contains(&kind), "{level} {kind}");
            }
        }
    }

    #[test]
    fn labels_follow_precedence_and_unclear_values_mean_no() {
        type Labels<'a> = &'a [(&'a str, &'a str)];
        let cases: &[(Labels, Option<AutoUpdate>)] = &[
            (&[], None),
            (&[(TIDEWATCH_UPDATE_AUTO, "minor")], Some(AutoUpdate::Minor)),
            (&[(TIDEWATCH_UPDATE_AUTO, "sometimes")], Some(AutoUpdate::Off)),
            (
                &[(TIDEWATCH_UPDATE_AUTO, "patch"), (WATCHTOWER_ENABLE, "true")],
                Some(AutoUpdate::Patch),
            ),
            (&[(WUD_TRIGGER_INCLUDE, "docker.local:minor")], Some(AutoUpdate::Minor)),
            (&[(WUD_TRIGGER_INCLUDE, "dockercompose.stack")], Some(AutoUpdate::All)),
            (
                &[(WUD_TRIGGER_INCLUDE, "ntfy.one:major, docker.local:patch")],
                Some(AutoUpdate::Patch),
            ),
            // Notification triggers and thresholds that do not map say nothing about updating.
            (&[(WUD_TRIGGER_INCLUDE, "ntfy.one:major")], None),
            (&[(WUD_TRIGGER_INCLUDE, "docker.local:minor-no-digest")], None),
            (&[(WATCHTOWER_ENABLE, "true")], Some(AutoUpdate::Digest)),
            (&[(WATCHTOWER_ENABLE, "false")], Some(AutoUpdate::Off)),
            (
                &[(WATCHTOWER_ENABLE, "true"), (WATCHTOWER_MONITOR_ONLY, "true")],
                Some(AutoUpdate::Off),
            ),
            (&[(TIDEWATCH_UPDATE_AUTO, " ")], None),
        ];
        for (pairs, expected) in cases {
            assert_eq!(label_level(&labels(pairs)).map(|(l, _)| l), *expected, "{pairs:?}");
        }
    }

    #[test]
    fn the_decision_names_where_the_level_came_from() {
        let decision = auto_update_decision(&result(UpdateKind::Patch), &labels(&[]), AutoUpdate::Off);
        assert!(!decision.allowed);
        assert_eq!(decision.source, PolicySource::Config);
        assert!(
            decision.reason.contains("[updates] auto = \"off\""),
            "{}",
            decision.reason
        );

        let decision = auto_update_decision(
            &result(UpdateKind::Patch),
            &labels(&[(TIDEWATCH_UPDATE_AUTO, "minor")]),
            AutoUpdate::Off,
        );
        assert!(decision.allowed, "{}", decision.reason);
        assert!(
            decision.reason.contains("tidewatch.update.auto=minor"),
            "{}",
            decision.reason
        );

        let major = auto_update_decision(&result(UpdateKind::Major), &labels(&[]), AutoUpdate::Minor);
        assert!(!major.allowed, "{}", major.reason);
    }

    #[test]
    fn nothing_is_allowed_without_an_update() {
        let mut current = result(UpdateKind::Patch);
        current.status = Status::UpToDate;
        current.update = None;
        assert!(!auto_update_decision(&current, &labels(&[]), AutoUpdate::All).allowed);
    }
}
