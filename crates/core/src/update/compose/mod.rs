//! Compose services (docs/updates.md#compose): a container created by `docker compose` is updated
//! through the compose CLI, so the project stays the source of truth. A tag update first edits the
//! service's `image:` line in place (a backup beside the file), then the service is brought up on
//! its own (`up -d --no-deps SERVICE`); giving it back restores the file and brings it up again.
//!
//! The new image is pulled by Tidewatch itself (the engine's pull, with the credentials a check
//! uses and layer progress) rather than by `compose pull`, which would only see the Docker config's
//! credentials; `up` then finds it in place.

pub mod image_line;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::target::{split_tag, TargetImage};
use super::UpdateError;
use crate::config::{aside_path, write_atomic};
use crate::engine::{Engine, HostUrl};
use crate::version::UpdateKind;

pub const PROJECT_LABEL: &str = "com.docker.compose.project";
pub const SERVICE_LABEL: &str = "com.docker.compose.service";
pub const WORKING_DIR_LABEL: &str = "com.docker.compose.project.working_dir";
pub const CONFIG_FILES_LABEL: &str = "com.docker.compose.project.config_files";

/// How long one compose command may run (an `up` waits for the service's container to start).
const COMMAND_LIMIT: Duration = Duration::from_secs(600);
/// Output of a compose command kept for an error message.
const MAX_OUTPUT: usize = 2000;

/// A compose service as its container's labels name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComposeService {
    pub project: String,
    pub service: String,
    pub working_dir: PathBuf,
    pub config_files: Vec<PathBuf>,
}

/// A compose file whose image line an update changed, and the copy of it from before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditedFile {
    pub file: PathBuf,
    pub backup: PathBuf,
    pub old_value: String,
    pub new_value: String,
}

/// A compose update as the journal and the history keep it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComposeRecord {
    pub service: ComposeService,
    /// The service's container name (stable across compose's recreations).
    pub container: String,
    /// The reference the service ran before, and its image, to point the tag back at it.
    pub reference: String,
    pub old_image_id: String,
    /// Set once the image line is edited (tag updates).
    pub edited: Option<EditedFile>,
    pub step: ComposeStep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComposeStep {
    Planned,
    Editing,
    Up,
    WaitingHealthy,
    Healthy,
    Restoring,
}

/// What a compose update will do, decided before anything is touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComposePlan {
    pub service: ComposeService,
    /// For a tag update: the file whose `image:` line changes, from what to what.
    pub edit: Option<PlannedEdit>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedEdit {
    pub file: PathBuf,
    pub line: usize,
    pub old_value: String,
    pub new_value: String,
}

impl ComposeService {
    /// The service a container belongs to, from its compose labels.
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Option<ComposeService> {
        let project = labels.get(PROJECT_LABEL)?.clone();
        let service = labels.get(SERVICE_LABEL)?.clone();
        let working_dir = PathBuf::from(labels.get(WORKING_DIR_LABEL).cloned().unwrap_or_default());
        let config_files = labels
            .get(CONFIG_FILES_LABEL)
            .map(|files| {
                files
                    .split(',')
                    .map(str::trim)
                    .filter(|f| !f.is_empty())
                    .map(|f| working_dir.join(f))
                    .collect()
            })
            .unwrap_or_default();
        Some(ComposeService {
            project,
            service,
            working_dir,
            config_files,
        })
    }

    /// The arguments that select this project: name, directory, files.
    fn project_args(&self) -> Vec<String> {
        let mut args = vec!["-p".to_string(), self.project.clone()];
        args.push("--project-directory".into());
        args.push(self.working_dir.display().to_string());
        for file in &self.config_files {
            args.push("-f".into());
            args.push(file.display().to_string());
        }
        args
    }

    /// The command a person would run, for messages: `docker compose -p … up -d --no-deps web`.
    pub fn command_line(&self, program: &[String], args: &[&str]) -> String {
        let mut parts: Vec<String> = program.to_vec();
        parts.extend(self.project_args().iter().map(|a| shell_word(a)));
        parts.extend(args.iter().map(|a| a.to_string()));
        parts.join(" ")
    }
}

/// Decides how the service is updated here, or refuses with the exact commands to run where its
/// files are: the engine must be this machine's (a unix socket) and the files readable, and for a
/// tag update the image line must be one this can edit.
pub fn prepare(
    container: &str,
    service: ComposeService,
    engine: &Engine,
    image_as_created: &str,
    target: &TargetImage,
) -> Result<ComposePlan, UpdateError> {
    let manual = |reason: String| {
        let program = vec!["docker".to_string(), "compose".to_string()];
        let mut steps = Vec::new();
        if target.kind != UpdateKind::Digest {
            steps.push(format!(
                "change the image of {} to {} in its compose file, then",
                service.service, target.reference
            ));
        }
        steps.push(service.command_line(&program, &["pull", &service.service]));
        steps.push(format!(
            "&& {}",
            service.command_line(&program, &["up", "-d", "--no-deps", &service.service])
        ));
        UpdateError::ComposeUnreachable {
            container: container.to_string(),
            project: service.project.clone(),
            service: service.service.clone(),
            reason,
            command: steps.join(" "),
        }
    };
    let local = matches!(HostUrl::parse(engine.host(), false), Ok(HostUrl::Unix { .. }));
    if !local {
        return Err(manual(format!(
            "its engine {} is on another machine, where its compose files are",
            engine.spec().display_host()
        )));
    }
    if service.config_files.is_empty() {
        return Err(manual("its labels do not name its compose files".into()));
    }
    for file in &service.config_files {
        if let Err(error) = std::fs::metadata(file).and_then(|_| std::fs::read(file).map(|_| ())) {
            return Err(manual(format!(
                "its compose file {} cannot be read here ({error})",
                file.display()
            )));
        }
    }
    let edit = if target.kind == UpdateKind::Digest {
        None
    } else {
        Some(plan_edit(&service, image_as_created, &target.reference)?)
    };
    Ok(ComposePlan { service, edit })
}

/// Finds the file that sets the service's image (the last one that does: later files override).
fn plan_edit(service: &ComposeService, old_value: &str, new_value: &str) -> Result<PlannedEdit, UpdateError> {
    let mut found = None;
    for file in &service.config_files {
        let text = std::fs::read_to_string(file).map_err(|e| UpdateError::ComposeFile {
            file: file.display().to_string(),
            reason: e.to_string(),
        })?;
        let line = image_line::find_image_line(&text, &service.service).map_err(|reason| UpdateError::ComposeFile {
            file: file.display().to_string(),
            reason,
        })?;
        if let Some(line) = line {
            found = Some((file.clone(), line));
        }
    }
    let Some((file, line)) = found else {
        return Err(UpdateError::ComposeFile {
            file: service
                .config_files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            reason: format!("no file sets an image for the service {}", service.service),
        });
    };
    if line.value != old_value {
        return Err(UpdateError::ComposeFile {
            file: file.display().to_string(),
            reason: format!(
                "the service {} has image {:?} there, but its container runs {old_value:?}: the file changed \
                 since the service was last brought up",
                service.service, line.value
            ),
        });
    }
    Ok(PlannedEdit {
        file,
        line: line.line + 1,
        old_value: old_value.to_string(),
        new_value: new_value.to_string(),
    })
}

/// Where the edit keeps its copy of the file: journaled before the file is touched.
pub fn prepare_edit(edit: &PlannedEdit) -> EditedFile {
    EditedFile {
        file: edit.file.clone(),
        backup: aside_path(&edit.file, "tidewatch-backup"),
        old_value: edit.old_value.clone(),
        new_value: edit.new_value.clone(),
    }
}

/// Edits the image line, keeping a byte-for-byte copy of the file at `edited.backup` first.
pub fn edit_file(edited: &EditedFile, service: &str) -> Result<(), UpdateError> {
    let failed = |reason: String| UpdateError::ComposeFile {
        file: edited.file.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(&edited.file).map_err(|e| failed(e.to_string()))?;
    let changed = image_line::replace_image(&text, service, &edited.old_value, &edited.new_value).map_err(failed)?;
    write_atomic(&edited.backup, text.as_bytes())
        .map_err(|e| failed(format!("cannot write the backup {}: {e}", edited.backup.display())))?;
    write_atomic(&edited.file, changed.as_bytes()).map_err(|e| failed(e.to_string()))
}

/// Puts the file back as it was before the edit: the backup, byte for byte. No backup means the
/// edit never happened (it is written first), so there is nothing to put back.
pub fn restore_file(edited: &EditedFile) -> Result<(), UpdateError> {
    let failed = |reason: String| UpdateError::ComposeFile {
        file: edited.file.display().to_string(),
        reason,
    };
    let bytes = match std::fs::read(&edited.backup) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(failed(format!(
                "cannot read the backup {}: {e}",
                edited.backup.display()
            )))
        }
    };
    write_atomic(&edited.file, &bytes).map_err(|e| failed(e.to_string()))
}

/// Undoes the edit of an earlier update in the file as it is now (other edits made since are
/// kept): the image line goes from the new value back to the old one.
pub fn revert_edit(edited: &EditedFile, service: &str) -> Result<(), UpdateError> {
    let failed = |reason: String| UpdateError::ComposeFile {
        file: edited.file.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(&edited.file).map_err(|e| failed(e.to_string()))?;
    let reverted = image_line::replace_image(&text, service, &edited.new_value, &edited.old_value).map_err(failed)?;
    write_atomic(&edited.file, reverted.as_bytes()).map_err(|e| failed(e.to_string()))
}

/// Points the reference the service was created with back at its old image (digest updates: the
/// tag moved to the new image with the pull).
pub async fn retag_old(engine: &Engine, record: &ComposeRecord) -> Result<(), UpdateError> {
    let (name, tag) = split_tag(&record.reference);
    engine
        .tag_image(&record.old_image_id, name, tag.unwrap_or("latest"))
        .await
        .map_err(UpdateError::Engine)
}

/// The compose CLI here: `docker compose` (v2) when the plugin answers, else `docker-compose`.
pub async fn program() -> Result<Vec<String>, UpdateError> {
    for candidate in [vec!["docker", "compose"], vec!["docker-compose"]] {
        let mut command = tokio::process::Command::new(candidate[0]);
        command
            .args(&candidate[1..])
            .arg("version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let answered = tokio::time::timeout(Duration::from_secs(20), command.status()).await;
        if matches!(answered, Ok(Ok(status)) if status.success()) {
            return Ok(candidate.into_iter().map(str::to_string).collect());
        }
    }
    Err(UpdateError::ComposeCommand {
        command: "docker compose version".into(),
        reason: "neither `docker compose` nor `docker-compose` is installed here; install one (Debian: \
                 apt install docker-compose)"
            .into(),
    })
}

/// Runs the compose CLI for the service's project against the container's engine; returns its
/// output. A failure carries the end of its output.
pub async fn run(
    engine: &Engine,
    program: &[String],
    service: &ComposeService,
    args: &[&str],
) -> Result<String, UpdateError> {
    let line = service.command_line(program, args);
    let mut command = tokio::process::Command::new(&program[0]);
    command
        .args(&program[1..])
        .args(service.project_args())
        .args(args)
        .current_dir(&service.working_dir)
        .env("DOCKER_HOST", engine.host())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let failed = |reason: String| UpdateError::ComposeCommand {
        command: line.clone(),
        reason,
    };
    let output = tokio::time::timeout(COMMAND_LIMIT, command.output())
        .await
        .map_err(|_| failed(format!("no result within {} s", COMMAND_LIMIT.as_secs())))?
        .map_err(|e| failed(e.to_string()))?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    if !output.status.success() {
        let tail: String = text
            .trim()
            .chars()
            .rev()
            .take(MAX_OUTPUT)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Err(failed(format!("{}: {tail}", output.status)));
    }
    Ok(text)
}

/// Refuses a project whose files use variables that are not set here: bringing it up from here
/// would change more than the image (compose would put empty strings in their place).
pub async fn check_variables(engine: &Engine, program: &[String], service: &ComposeService) -> Result<(), UpdateError> {
    let output = run(engine, program, service, &["config", "-q"]).await?;
    let unset: Vec<&str> = output
        .lines()
        .filter(|line| line.contains("variable is not set"))
        .collect();
    if unset.is_empty() {
        return Ok(());
    }
    Err(UpdateError::ComposeFile {
        file: service
            .config_files
            .first()
            .map(|f| f.display().to_string())
            .unwrap_or_default(),
        reason: format!(
            "it uses variables that are not set for Tidewatch ({}); update the service from the shell that has them",
            unset.join("; ")
        ),
    })
}

fn shell_word(word: &str) -> String {
    if word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@".contains(c)) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}
