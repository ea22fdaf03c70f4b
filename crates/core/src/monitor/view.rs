//! What the window and the tray show: the monitor's state as one typed view, serialized here and
//! nowhere else, and the tray's status and words derived from it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use serde::ser::SerializeStruct as _;
use serde::{Serialize, Serializer};

use crate::checker::report::{ResultJson, SummaryJson};
use crate::checker::{CheckReport, ContainerResult, Kind, Progress, Status};
use crate::error::{ErrorInfo, Remedy};
use crate::source::{Replicas, RolloutState};
use crate::update::{Action, Recovery, UpdateOutcome, UpdateProgress};

/// A container as the monitor's update bookkeeping knows it: (engine, container name). Names, not
/// IDs: an update gives the container a new ID under the same name.
pub type ContainerKey = (String, String);

/// What a container's row shows about applying updates: one running (or waiting its turn), how
/// the last one ended, whether the automatic-update policy started it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpdateActivity {
    /// `update` or `rollback` while one runs or waits for the engine; `None` once it ended.
    pub running: Option<Action>,
    /// The current step (`queued` while another update of the same engine runs).
    pub progress: Option<UpdateProgress>,
    /// How the last update or rollback started from the app ended.
    pub outcome: Option<UpdateOutcome>,
    /// Started by the automatic-update policy rather than by the user.
    pub automatic: bool,
}

/// What the service is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Idle,
    Checking,
    Paused,
    /// The last check could reach no registry or engine; retrying with backoff.
    Offline,
}

/// The tray icon's state: one glance says it all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrayStatus {
    UpToDate,
    Updates,
    Errors,
    Checking,
    Paused,
}

/// Everything the window and the tray show, serialized as the window's `AppState`.
#[derive(Debug, Clone)]
pub struct MonitorState {
    pub phase: Phase,
    pub tray: TrayStatus,
    pub progress: Option<Progress>,
    pub last_check_at: Option<SystemTime>,
    pub next_check_at: Option<SystemTime>,
    /// The latest check (shared: the state is cloned on every progress tick).
    pub report: Option<Arc<CheckReport>>,
    pub updates: u64,
    pub error: Option<ErrorInfo>,
    /// Updates and rollbacks running, queued or finished since the app started.
    pub activity: HashMap<ContainerKey, UpdateActivity>,
    /// The containers whose last update can be rolled back → the container ID that update made.
    pub rollbacks: Arc<HashMap<ContainerKey, String>>,
    /// What crash recovery did at start (updates an earlier run left unfinished), to be said.
    pub recovered: Vec<Recovery>,
}

impl Default for MonitorState {
    fn default() -> Self {
        MonitorState {
            phase: Phase::Idle,
            tray: TrayStatus::UpToDate,
            progress: None,
            last_check_at: None,
            next_check_at: None,
            report: None,
            updates: 0,
            error: None,
            activity: HashMap::new(),
            rollbacks: Arc::default(),
            recovered: Vec::new(),
        }
    }
}

/// A link the window asked to open that Tidewatch will not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkRefused {
    #[error("{0:?} is not a URL")]
    NotAUrl(String),
    #[error("only https:// release-notes links are opened, not {0}")]
    NotHttps(String),
    #[error("{0} is not the release-notes link of any container in the current check")]
    NotInReport(String),
}

impl crate::error::Coded for LinkRefused {
    fn code(&self) -> &'static str {
        match self {
            LinkRefused::NotAUrl(_) | LinkRefused::NotHttps(_) => "invalid_url",
            LinkRefused::NotInReport(_) => "link_not_in_report",
        }
    }
}

impl MonitorState {
    /// The release-notes link the window asked to open, when it may be: an https URL that a
    /// container of the current report carries (from its labels). The window cannot make the
    /// app open anything else, whatever a compromised page sends.
    pub fn release_notes_link(&self, url: &str) -> Result<url::Url, LinkRefused> {
        let parsed = url::Url::parse(url).map_err(|_| LinkRefused::NotAUrl(url.chars().take(200).collect()))?;
        if parsed.scheme() != "https" {
            return Err(LinkRefused::NotHttps(parsed.scheme().to_string()));
        }
        let listed = self.report.as_ref().is_some_and(|report| {
            report
                .containers
                .iter()
                .filter_map(|c| c.release_notes.as_deref())
                .filter_map(|link| url::Url::parse(link).ok())
                .any(|link| link == parsed)
        });
        if !listed {
            return Err(LinkRefused::NotInReport(parsed.to_string()));
        }
        Ok(parsed)
    }

    /// The tray's status: checking first, then updates, paused, errors, else up to date.
    pub fn tray_status(&self, paused: bool) -> TrayStatus {
        if self.phase == Phase::Checking {
            TrayStatus::Checking
        } else if self.updates > 0 {
            TrayStatus::Updates
        } else if paused {
            TrayStatus::Paused
        } else if self.phase == Phase::Offline
            || self.error.is_some()
            || self.report.as_ref().is_some_and(|r| r.has_errors())
        {
            TrayStatus::Errors
        } else {
            TrayStatus::UpToDate
        }
    }

    /// The tray icon's tooltip.
    pub fn tooltip(&self) -> String {
        match self.tray {
            TrayStatus::Checking => match self.progress {
                Some(p) if p.total > 0 => format!("Tidewatch — checking {} of {}", p.checked, p.total),
                _ => "Tidewatch — checking…".to_string(),
            },
            TrayStatus::Updates if self.updates == 1 => "Tidewatch — 1 update available".to_string(),
            TrayStatus::Updates => format!("Tidewatch — {} updates available", self.updates),
            TrayStatus::Errors => "Tidewatch — some checks failed".to_string(),
            TrayStatus::Paused => "Tidewatch — checks paused".to_string(),
            TrayStatus::UpToDate => "Tidewatch — everything is up to date".to_string(),
        }
    }

    /// The tray menu's first item.
    pub fn updates_label(&self) -> String {
        match self.updates {
            0 => "No updates available".to_string(),
            1 => "1 update available".to_string(),
            n => format!("{n} updates available"),
        }
    }

    /// The tray menu's "Last check: …" item, once a check ran (UTC, to the second).
    pub fn last_check_label(&self) -> Option<String> {
        let at = self.last_check_at?;
        let text = humantime::format_rfc3339_seconds(at).to_string();
        Some(format!("Last check: {}", text.replace('T', " ").trim_end_matches('Z')))
    }

    /// Whether the tray's "Pause checks" is ticked.
    pub fn is_paused(&self) -> bool {
        self.tray == TrayStatus::Paused || self.phase == Phase::Paused
    }
}

fn rfc3339_seconds(time: &Option<SystemTime>) -> Option<String> {
    time.map(|t| humantime::format_rfc3339_seconds(t).to_string())
}

impl Serialize for MonitorState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut state = serializer.serialize_struct("AppState", 10)?;
        state.serialize_field("phase", &self.phase)?;
        state.serialize_field("tray", &self.tray)?;
        state.serialize_field("progress", &self.progress)?;
        state.serialize_field("last_check_at", &rfc3339_seconds(&self.last_check_at))?;
        state.serialize_field("next_check_at", &rfc3339_seconds(&self.next_check_at))?;
        state.serialize_field("report", &self.report.as_deref().map(|r| ReportView(r, self)))?;
        state.serialize_field("updates", &self.updates)?;
        state.serialize_field("error", &self.error)?;
        let mut activity: Vec<ActivityView<'_>> = self
            .activity
            .iter()
            .map(|((engine, container), activity)| ActivityView {
                engine,
                container,
                activity,
            })
            .collect();
        activity.sort_by_key(|a| (a.engine, a.container));
        state.serialize_field("activity", &activity)?;
        state.serialize_field("recovered", &self.recovered)?;
        state.end()
    }
}

/// One container's update activity in the state's own list (a container an update lost, or one
/// not in the last check, still shows how its update ended).
#[derive(Serialize)]
struct ActivityView<'a> {
    engine: &'a str,
    container: &'a str,
    #[serde(flatten)]
    activity: &'a UpdateActivity,
}

/// The report as the window shows it: the CLI's document, each container with what the window
/// needs on top, so the window never parses a reference itself, and the groups the list shows
/// them in.
struct ReportView<'a>(&'a CheckReport, &'a MonitorState);

impl Serialize for ReportView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let report = self.0;
        let containers: Vec<ContainerView<'_>> =
            report.containers.iter().map(|c| ContainerView::of(c, self.1)).collect();
        let mut state = serializer.serialize_struct("Report", 5)?;
        state.serialize_field(
            "checked_at",
            &humantime::format_rfc3339_millis(report.checked_at).to_string(),
        )?;
        state.serialize_field("engines", &report.engines)?;
        state.serialize_field("groups", &groups(report))?;
        state.serialize_field("containers", &containers)?;
        state.serialize_field("summary", &SummaryJson(&report.summary))?;
        state.end()
    }
}

/// What a group of the list holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
enum GroupKind {
    /// An engine's plain containers.
    Containers,
    /// The services of one Swarm stack.
    Stack,
    /// Services deployed outside any stack.
    Services,
    /// `--image` checks (no engine).
    Images,
}

impl GroupKind {
    fn as_str(self) -> &'static str {
        match self {
            GroupKind::Containers => "containers",
            GroupKind::Stack => "stack",
            GroupKind::Services => "services",
            GroupKind::Images => "images",
        }
    }
}

/// One group of the window's list: an engine's containers, one stack's services, an engine's
/// services outside stacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct GroupView {
    /// What entries name in their `group`.
    id: String,
    kind: GroupKind,
    engine: Option<String>,
    stack: Option<String>,
    /// The group's heading.
    title: String,
}

/// The group a result is listed in.
fn group_of(result: &ContainerResult) -> GroupView {
    let engine = result.engine.clone();
    let on = |what: &str| match &engine {
        Some(engine) => format!("{engine} · {what}"),
        None => what.to_string(),
    };
    let (kind, stack, title) = match (result.kind, &result.stack) {
        (Kind::Image, _) => (GroupKind::Images, None, "Images".to_string()),
        (Kind::Container, _) => (GroupKind::Containers, None, engine.clone().unwrap_or_default()),
        (Kind::Service, Some(stack)) => (GroupKind::Stack, Some(stack.clone()), on(&format!("stack {stack}"))),
        (Kind::Service, None) => (GroupKind::Services, None, on("services")),
    };
    GroupView {
        id: format!(
            "{}/{}/{}",
            engine.as_deref().unwrap_or_default(),
            kind.as_str(),
            stack.as_deref().unwrap_or_default()
        ),
        kind,
        engine,
        stack,
        title,
    }
}

/// The groups in the order the list shows them: engines in the report's order; within one, its
/// containers, then its stacks by name, then services outside stacks; loose images last.
fn groups(report: &CheckReport) -> Vec<GroupView> {
    let engine_rank = |engine: &Option<String>| {
        report
            .engines
            .iter()
            .position(|e| Some(&e.name) == engine.as_ref())
            .unwrap_or(report.engines.len())
    };
    let mut groups: Vec<GroupView> = Vec::new();
    for result in &report.containers {
        let group = group_of(result);
        if !groups.iter().any(|g| g.id == group.id) {
            groups.push(group);
        }
    }
    groups.sort_by(|a, b| {
        (a.kind == GroupKind::Images, engine_rank(&a.engine), a.kind, &a.stack).cmp(&(
            b.kind == GroupKind::Images,
            engine_rank(&b.engine),
            b.kind,
            &b.stack,
        ))
    });
    groups
}

#[derive(Serialize)]
struct ContainerView<'a> {
    #[serde(flatten)]
    result: ResultJson<'a>,
    /// The id of the group the list shows it in.
    group: String,
    /// A service's replicas (running of desired).
    replicas: Option<Replicas>,
    /// A service's latest rollout (Swarm's update status).
    rollout: Option<&'a RolloutState>,
    /// The digest the registry serves for what runs (up to date) or for the update.
    remote_digest: Option<&'a str>,
    display_name: Option<&'a str>,
    release_notes: Option<&'a str>,
    /// The version running, as people read it (tag, short digest, `latest`).
    current_version: Option<String>,
    /// The registry a login would be for (the credentials form's prefill).
    registry: Option<&'a str>,
    /// A failed check as the window words it, with the action it offers.
    problem: Option<Problem>,
    /// The explanation, without what `problem` already says; `None` when nothing is left.
    detail: Option<String>,
    /// An update or rollback running, queued or finished for this container.
    activity: Option<&'a UpdateActivity>,
    /// Whether the Update action applies: an update is available and nothing runs for it.
    can_update: bool,
    /// Whether Roll back applies: Tidewatch's last update made the container that runs now, and
    /// nothing runs for it.
    can_roll_back: bool,
}

/// A failed check in the window's words: the window can log in itself, so it never tells the
/// user to run a command (docs/cli.md#error-codes).
#[derive(Debug, Serialize)]
struct Problem {
    code: String,
    message: String,
    /// What the window offers to do about it ("Log in…" for a registry).
    action: Option<Remedy>,
}

impl Problem {
    fn of(error: &ErrorInfo, registry: Option<&str>) -> Problem {
        let action = Remedy::for_code(&error.code, registry);
        let message = match &action {
            Some(remedy) => remedy.window_message(&error.code, &error.message),
            None => error.message.clone(),
        };
        Problem {
            code: error.code.clone(),
            message,
            action,
        }
    }
}

/// The explanation minus the error it ends with, so the detail panel does not say it twice.
fn detail(result: &ContainerResult) -> Option<String> {
    let Some(error) = &result.error else {
        return (!result.explanation.is_empty()).then(|| result.explanation.clone());
    };
    let rest = result.explanation.replace(&error.message, "");
    let rest = rest
        .trim()
        .trim_end_matches([';', ':', ' '])
        .trim_end_matches("cannot compare")
        .trim_end_matches("could not check")
        .trim_end_matches([';', ':', ' ']);
    (!rest.is_empty()).then(|| rest.to_string())
}

impl<'a> ContainerView<'a> {
    fn of(result: &'a ContainerResult, state: &'a MonitorState) -> ContainerView<'a> {
        let key = result.engine.clone().zip(result.name.clone());
        let activity = key.as_ref().and_then(|k| state.activity.get(k));
        let idle = activity.is_none_or(|a| a.running.is_none());
        let can_roll_back = idle
            && key
                .as_ref()
                .and_then(|k| state.rollbacks.get(k))
                .is_some_and(|id| result.id.as_deref() == Some(id.as_str()));
        let remote_digest = match (result.status, &result.update) {
            (Status::UpdateAvailable, Some(update)) => update.digest.as_deref(),
            (Status::UpToDate, _) => result.local_digest.as_deref(),
            _ => None,
        };
        ContainerView {
            result: ResultJson(result),
            group: group_of(result).id,
            replicas: result.replicas,
            rollout: result.rollout.as_ref(),
            remote_digest,
            display_name: result.display_name.as_deref(),
            release_notes: result.release_notes.as_deref(),
            current_version: result.current_version(),
            registry: result.registry(),
            problem: result.error.as_ref().map(|error| Problem::of(error, result.registry())),
            detail: detail(result),
            activity,
            can_update: idle
                && result.status == Status::UpdateAvailable
                && key
                    .as_ref()
                    .is_some_and(|(_, name)| !crate::update::is_kept_aside(name)),
            can_roll_back,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::report::{CheckSummary, EngineReport, EngineStatus};
    use serde_json::Value;

    fn state() -> MonitorState {
        MonitorState::default()
    }

    #[test]
    fn the_tray_shows_updates_before_errors_and_checking_before_all() {
        let mut state = state();
        assert_eq!(state.tray_status(false), TrayStatus::UpToDate);
        state.phase = Phase::Offline;
        assert_eq!(state.tray_status(false), TrayStatus::Errors);
        state.updates = 2;
        assert_eq!(state.tray_status(false), TrayStatus::Updates);
        state.phase = Phase::Checking;
        assert_eq!(state.tray_status(false), TrayStatus::Checking);
        state.phase = Phase::Idle;
        state.updates = 0;
        assert_eq!(state.tray_status(true), TrayStatus::Paused);
    }

    #[test]
    fn an_engine_that_did_not_answer_turns_the_tray_red() {
        let mut state = state();
        state.report = Some(Arc::new(CheckReport {
            checked_at: SystemTime::UNIX_EPOCH,
            engines: vec![EngineReport {
                name: "remote".into(),
                endpoint: "tcp://remote:2375".into(),
                status: EngineStatus::Unreachable,
                error: None,
            }],
            containers: Vec::new(),
            summary: CheckSummary {
                started_at: SystemTime::UNIX_EPOCH,
                duration_ms: 0,
                containers: 0,
                images: 0,
                updates: 0,
                errors: 0,
                requests: 0,
            },
        }));
        assert_eq!(state.tray_status(false), TrayStatus::Errors);
    }

    #[test]
    fn a_credential_error_is_worded_for_the_window_once_with_a_login_action() {
        let mut report = crate::checker::report::tests::report();
        let result = &mut report.containers[0];
        let message = "registry docker.io requires credentials to read library/nginx (or the repository does not exist); run `tidewatch login docker.io`";
        result.status = Status::Unknown;
        result.update = None;
        result.error = Some(ErrorInfo::new("auth_required", message));
        result.explanation = format!("checked docker.io/library/nginx; {message}");
        let json = serde_json::to_value(ContainerView::of(result, &MonitorState::default())).unwrap();
        assert_eq!(json["error"]["message"], message, "the document's fields are unchanged");
        let problem = &json["problem"];
        assert_eq!(problem["action"]["kind"], "login");
        assert_eq!(problem["action"]["registry"], "docker.io");
        let shown = problem["message"].as_str().unwrap();
        assert!(!shown.contains("tidewatch login"), "{shown}");
        assert!(shown.ends_with("; log in to docker.io"), "{shown}");
        assert_eq!(json["detail"], "checked docker.io/library/nginx");

        result.explanation = format!("could not check: {message}");
        assert_eq!(
            serde_json::to_value(ContainerView::of(result, &MonitorState::default())).unwrap()["detail"],
            Value::Null
        );
    }

    #[test]
    fn the_window_gets_the_document_fields_and_its_extras_typed() {
        let mut state = state();
        state.last_check_at = Some(SystemTime::UNIX_EPOCH);
        let mut report = crate::checker::report::tests::report();
        report.containers[0].update.as_mut().unwrap().digest = Some("sha256:bbb".into());
        state.report = Some(Arc::new(report));
        let json = serde_json::to_value(&state).unwrap();
        assert_eq!(json["last_check_at"], "1970-01-01T00:00:00Z");
        let c = &json["report"]["containers"][0];
        assert_eq!(c["upstream"], "docker.io/library/nginx:1.25.3");
        assert_eq!(c["platform"], "linux/amd64");
        assert_eq!(c["current_version"], "1.25.3");
        assert_eq!(c["registry"], "docker.io");
        assert_eq!(c["remote_digest"], "sha256:bbb");
        assert_eq!(c["display_name"], "Web");
        assert_eq!(c["release_notes"], "https://example.com");
        assert_eq!(
            state.last_check_label().as_deref(),
            Some("Last check: 1970-01-01 00:00:00")
        );
    }

    #[test]
    fn only_https_release_notes_links_of_the_current_report_may_be_opened() {
        let mut state = state();
        let refused =
            |state: &MonitorState, url: &str| crate::error::Coded::code(&state.release_notes_link(url).unwrap_err());
        assert_eq!(
            refused(&state, "https://example.com"),
            "link_not_in_report",
            "no report yet"
        );
        state.report = Some(Arc::new(crate::checker::report::tests::report()));
        assert_eq!(
            state.release_notes_link("https://example.com").unwrap().as_str(),
            "https://example.com/"
        );
        assert_eq!(refused(&state, "https://example.com/other"), "link_not_in_report");
        assert_eq!(refused(&state, "https://evil.example"), "link_not_in_report");
        for url in [
            "http://example.com",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "ssh://x",
        ] {
            assert_eq!(refused(&state, url), "invalid_url", "{url}");
        }
        assert_eq!(refused(&state, "not a url"), "invalid_url");
    }

    #[test]
    fn a_row_offers_update_until_one_runs_and_roll_back_only_for_the_container_the_update_made() {
        let mut state = state();
        let report = crate::checker::report::tests::report();
        let result = &report.containers[0];
        let key: ContainerKey = (result.engine.clone().unwrap(), result.name.clone().unwrap());
        let id = result.id.clone().unwrap();
        state.report = Some(Arc::new(report));
        let row = |state: &MonitorState| serde_json::to_value(state).unwrap()["report"]["containers"][0].clone();
        assert_eq!(row(&state)["can_update"], true);
        assert_eq!(row(&state)["can_roll_back"], false);
        assert_eq!(row(&state)["activity"], serde_json::Value::Null);

        state.rollbacks = Arc::new(HashMap::from([(key.clone(), "another-container".to_string())]));
        assert_eq!(row(&state)["can_roll_back"], false, "someone recreated it since");
        state.rollbacks = Arc::new(HashMap::from([(key.clone(), id)]));
        assert_eq!(row(&state)["can_roll_back"], true);

        state.activity.insert(
            key.clone(),
            UpdateActivity {
                running: Some(Action::Update),
                progress: Some(UpdateProgress {
                    engine: key.0.clone(),
                    container: key.1.clone(),
                    phase: crate::update::Phase::Queued,
                }),
                outcome: None,
                automatic: false,
            },
        );
        let json = serde_json::to_value(&state).unwrap();
        let row = &json["report"]["containers"][0];
        assert_eq!(row["can_update"], false, "nothing starts twice");
        assert_eq!(row["can_roll_back"], false);
        assert_eq!(row["activity"]["running"], "update");
        assert_eq!(row["activity"]["progress"]["phase"], "queued");
        assert_eq!(json["activity"][0]["container"], key.1.as_str());
        assert_eq!(json["activity"][0]["running"], "update");
    }

    #[test]
    fn services_are_listed_by_stack_after_their_engines_containers() {
        let mut report = crate::checker::report::tests::report();
        let template = report.containers[0].clone();
        let entry = |kind: Kind, engine: Option<&str>, stack: Option<&str>, name: &str| ContainerResult {
            kind,
            engine: engine.map(str::to_string),
            stack: stack.map(str::to_string),
            name: Some(name.to_string()),
            ..template.clone()
        };
        report.engines.push(EngineReport {
            name: "b".into(),
            endpoint: "tcp://b:2375".into(),
            status: EngineStatus::Ok,
            error: None,
        });
        report.containers = vec![
            entry(Kind::Image, None, None, "loose"),
            entry(Kind::Service, Some("local"), None, "lone"),
            entry(Kind::Container, Some("b"), None, "other"),
            entry(Kind::Service, Some("local"), Some("shop"), "shop_web"),
            entry(Kind::Service, Some("local"), Some("blog"), "blog_web"),
            entry(Kind::Container, Some("local"), None, "web"),
            entry(Kind::Service, Some("local"), Some("shop"), "shop_db"),
        ];
        let mut state = state();
        state.report = Some(Arc::new(report));
        let json = serde_json::to_value(&state).unwrap();
        let titles: Vec<&str> = json["report"]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["title"].as_str().unwrap())
            .collect();
        assert_eq!(
            titles,
            [
                "local",
                "local · stack blog",
                "local · stack shop",
                "local · services",
                "b",
                "Images"
            ]
        );
        let groups = json["report"]["groups"].as_array().unwrap();
        let shop = groups.iter().find(|g| g["stack"] == "shop").unwrap();
        assert_eq!(shop["kind"], "stack");
        let in_shop: Vec<&str> = json["report"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["group"] == shop["id"])
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(in_shop, ["shop_web", "shop_db"]);
    }
}
