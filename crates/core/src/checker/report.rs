//! A finished check, and the one place its JSON document (docs/cli.md#the-json-document) is written.

use std::time::SystemTime;

use serde::ser::SerializeStruct as _;
use serde::{Serialize, Serializer};

use super::result::{ContainerResult, Status, Update};
use crate::error::ErrorInfo;

/// Whether an engine answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineStatus {
    Ok,
    /// It could not be reached (or its address is unusable).
    Unreachable,
    /// It answered, but listing its containers failed.
    Error,
    /// Its containers are listed, but its Swarm services could not be (a manager without a leader).
    Partial,
}

impl EngineStatus {
    /// Whether the engine's containers were listed.
    pub fn answered(self) -> bool {
        matches!(self, EngineStatus::Ok | EngineStatus::Partial)
    }
}

/// An `engines[]` entry of the document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EngineReport {
    pub name: String,
    pub endpoint: String,
    pub status: EngineStatus,
    pub error: Option<ErrorInfo>,
}

/// One check's totals (the document's `summary`, plus when it started, for the history).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckSummary {
    pub started_at: SystemTime,
    pub duration_ms: u64,
    pub containers: u64,
    pub images: u64,
    pub updates: u64,
    pub errors: u64,
    pub requests: u64,
}

/// A finished check. `serde_json` of it is the CLI's JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    pub checked_at: SystemTime,
    pub engines: Vec<EngineReport>,
    pub containers: Vec<ContainerResult>,
    /// Totals; `started_at` equals `checked_at`.
    pub summary: CheckSummary,
}

impl CheckReport {
    pub fn has_updates(&self) -> bool {
        self.summary.updates > 0
    }

    /// Whether no engine answered although some were asked (the CLI's fatal case).
    pub fn no_engine_reachable(&self) -> bool {
        !self.engines.is_empty() && self.engines.iter().all(|e| !e.status.answered())
    }

    /// Whether anything failed: a verdict that is `unknown`, or an engine that did not answer.
    pub fn has_errors(&self) -> bool {
        self.summary.errors > 0 || self.engines.iter().any(|e| e.status != EngineStatus::Ok)
    }

    /// Offline: nothing answered. Every engine unreachable, or every verdict that needed a
    /// registry failed without an answer (a refusal is an answer: the network is there).
    pub fn is_offline(&self) -> bool {
        if self.no_engine_reachable() {
            return true;
        }
        let mut asked = self
            .containers
            .iter()
            .filter(|r| !matches!(r.status, Status::Pinned | Status::LocalOnly))
            .peekable();
        asked.peek().is_some() && asked.all(ContainerResult::failed_without_answer)
    }
}

fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

/// A result with the document's fields, in the document's order.
pub(crate) struct ResultJson<'a>(pub &'a ContainerResult);

impl Serialize for ResultJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let platforms: Vec<String> = r.platforms.iter().map(ToString::to_string).collect();
        let mut state = serializer.serialize_struct("ContainerResult", 15)?;
        state.serialize_field("engine", &r.engine)?;
        state.serialize_field("kind", &r.kind)?;
        state.serialize_field("id", &r.id)?;
        state.serialize_field("name", &r.name)?;
        state.serialize_field("stack", &r.stack)?;
        state.serialize_field("image", &r.image)?;
        state.serialize_field("upstream", &r.upstream_text())?;
        state.serialize_field("via", &r.via.as_ref().map(ToString::to_string))?;
        state.serialize_field("platform", &r.platform.as_ref().map(ToString::to_string))?;
        state.serialize_field("platforms", &platforms)?;
        state.serialize_field("local_digest", &r.local_digest)?;
        state.serialize_field("status", &r.status)?;
        state.serialize_field::<Option<Update>>("update", &r.update)?;
        state.serialize_field("explanation", &r.explanation)?;
        state.serialize_field("error", &r.error)?;
        state.end()
    }
}

/// The document's `summary`: the totals without `started_at` (the document has one `checked_at`).
pub(crate) struct SummaryJson<'a>(pub &'a CheckSummary);

impl Serialize for SummaryJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let s = self.0;
        let mut state = serializer.serialize_struct("Summary", 6)?;
        state.serialize_field("containers", &s.containers)?;
        state.serialize_field("images", &s.images)?;
        state.serialize_field("updates", &s.updates)?;
        state.serialize_field("errors", &s.errors)?;
        state.serialize_field("requests", &s.requests)?;
        state.serialize_field("duration_ms", &s.duration_ms)?;
        state.end()
    }
}

impl Serialize for CheckReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let containers: Vec<ResultJson<'_>> = self.containers.iter().map(ResultJson).collect();
        let mut state = serializer.serialize_struct("CheckReport", 4)?;
        state.serialize_field("checked_at", &rfc3339(self.checked_at))?;
        state.serialize_field("engines", &self.engines)?;
        state.serialize_field("containers", &containers)?;
        state.serialize_field("summary", &SummaryJson(&self.summary))?;
        state.end()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::version::UpdateKind;

    fn result(status: Status) -> ContainerResult {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_795_000_000_123);
        ContainerResult {
            kind: super::super::result::Kind::Container,
            engine: Some("local".into()),
            id: Some("abc".into()),
            name: Some("web".into()),
            stack: None,
            platforms: vec!["linux/amd64".parse().unwrap()],
            replicas: None,
            rollout: None,
            image: "nginx:1.25.3".into(),
            upstream: Some("docker.io/library/nginx:1.25.3".parse().unwrap()),
            via: Some(super::super::result::Via {
                registry: "docker.io".into(),
                repository: "library/nginx".into(),
            }),
            platform: Some("linux/amd64".parse().unwrap()),
            local_digest: Some("sha256:aaa".into()),
            status,
            update: None,
            explanation: "checked docker.io/library/nginx; 1.25.4 is newer (patch)".into(),
            error: None,
            checked_at: at,
            display_name: Some("Web".into()),
            release_notes: Some("https://example.com".into()),
        }
    }

    pub(crate) fn report() -> CheckReport {
        let mut update = result(Status::UpdateAvailable);
        update.update = Some(Update {
            kind: UpdateKind::Patch,
            tag: Some("1.25.4".into()),
            digest: None,
        });
        let at = update.checked_at;
        CheckReport {
            checked_at: at,
            engines: vec![EngineReport {
                name: "local".into(),
                endpoint: "unix:///var/run/docker.sock".into(),
                status: EngineStatus::Ok,
                error: None,
            }],
            containers: vec![update],
            summary: CheckSummary {
                started_at: at,
                duration_ms: 12,
                containers: 1,
                images: 1,
                updates: 1,
                errors: 0,
                requests: 3,
            },
        }
    }

    #[test]
    fn report_serializes_as_exactly_the_cli_json_document() {
        let json = serde_json::to_value(report()).unwrap();
        let keys = |v: &serde_json::Value| {
            let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            keys.sort();
            keys
        };
        assert_eq!(keys(&json), ["checked_at", "containers", "engines", "summary"]);
        assert_eq!(keys(&json["engines"][0]), ["endpoint", "error", "name", "status"]);
        assert_eq!(
            keys(&json["containers"][0]),
            [
                "engine",
                "error",
                "explanation",
                "id",
                "image",
                "kind",
                "local_digest",
                "name",
                "platform",
                "platforms",
                "stack",
                "status",
                "update",
                "upstream",
                "via"
            ],
            "the window's extras (display name, release notes, replicas) are not part of the document"
        );
        assert_eq!(
            keys(&json["summary"]),
            ["containers", "duration_ms", "errors", "images", "requests", "updates"]
        );
        assert_eq!(json["containers"][0]["update"]["kind"], "patch");
        assert_eq!(json["containers"][0]["status"], "update_available");
        assert_eq!(json["containers"][0]["platform"], "linux/amd64");
        assert_eq!(json["containers"][0]["platforms"], serde_json::json!(["linux/amd64"]));
        assert_eq!(json["containers"][0]["kind"], "container");
        assert_eq!(json["containers"][0]["stack"], serde_json::Value::Null);
        assert_eq!(json["containers"][0]["via"], "docker.io/library/nginx");
        assert_eq!(json["engines"][0]["status"], "ok");
        assert!(json["checked_at"].as_str().unwrap().ends_with(".123Z"));
    }

    #[test]
    fn an_unresolved_upstream_is_written_as_the_image() {
        let mut unresolved = result(Status::Unknown);
        unresolved.image = "Not A Reference!".into();
        unresolved.upstream = None;
        let json = serde_json::to_value(ResultJson(&unresolved)).unwrap();
        assert_eq!(json["upstream"], "Not A Reference!");
    }

    #[test]
    fn no_engine_reachable_only_when_engines_were_asked_and_none_answered() {
        let mut report = report();
        assert!(!report.no_engine_reachable());
        report.engines[0].status = EngineStatus::Partial;
        assert!(!report.no_engine_reachable(), "its containers were listed");
        assert!(report.has_errors(), "but not all of it");
        report.engines[0].status = EngineStatus::Unreachable;
        assert!(report.no_engine_reachable());
        report.engines.clear();
        assert!(!report.no_engine_reachable(), "--image checks use no engine");
    }

    fn failed(kind: ErrorKind) -> ContainerResult {
        let mut failed = result(Status::Unknown);
        failed.error = Some(ErrorInfo {
            code: "whatever".into(),
            message: "no route".into(),
            kind,
        });
        failed
    }

    #[test]
    fn offline_means_nothing_answered_not_that_one_registry_failed() {
        let with = |engines_ok: bool, containers: Vec<ContainerResult>| {
            let mut report = report();
            report.engines[0].status = if engines_ok {
                EngineStatus::Ok
            } else {
                EngineStatus::Unreachable
            };
            report.containers = containers;
            report
        };
        assert!(with(false, vec![]).is_offline(), "no engine reachable");
        assert!(with(true, vec![failed(ErrorKind::NoAnswer), failed(ErrorKind::NoAnswer)]).is_offline());
        assert!(
            !with(true, vec![failed(ErrorKind::NoAnswer), result(Status::UpToDate)]).is_offline(),
            "one registry answered"
        );
        assert!(
            !with(true, vec![failed(ErrorKind::Answered)]).is_offline(),
            "a refusal is an answer"
        );
        assert!(
            !with(true, vec![result(Status::LocalOnly)]).is_offline(),
            "nothing needed the network"
        );
    }
}
