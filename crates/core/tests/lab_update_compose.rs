//! Compose services are updated through the real compose CLI (`docker-compose`, installed by the
//! lab): a tag update edits the service's `image:` line in place (comments and layout kept, a
//! backup beside the file), a failing one gives the file back byte for byte, and a rollback
//! reverts the line.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use tidewatch_core::update::{Method, OutcomeStatus, UpdateProgress};
use tidewatch_lab::{Lab, FIXTURE_CRASHES, FIXTURE_PLAIN};

/// A compose project in its own directory, brought up on the lab engine.
struct Project {
    name: String,
    dir: PathBuf,
    file: PathBuf,
    docker_host: String,
}

impl Project {
    async fn up(lab: &Lab, root: &Path, text: &str) -> Project {
        let name = unique("twc").replace('-', "");
        let dir = root.join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("docker-compose.yml");
        std::fs::write(&file, text).unwrap();
        let project = Project {
            name,
            dir,
            file,
            docker_host: lab.docker_host().to_string(),
        };
        project.compose(&["up", "-d"]).await;
        project
    }

    async fn compose(&self, args: &[&str]) -> String {
        let output = tokio::process::Command::new("docker-compose")
            .args(["-p", &self.name, "-f"])
            .arg(&self.file)
            .args(args)
            .current_dir(&self.dir)
            .env("DOCKER_HOST", &self.docker_host)
            .output()
            .await
            .expect("this test needs docker-compose (package docker-compose; `cargo xtask lab up` installs it)");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "docker-compose {args:?}: {text}");
        text
    }

    fn container(&self, service: &str) -> String {
        format!("{}_{service}_1", self.name)
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.file).unwrap()
    }

    fn backups(&self) -> Vec<PathBuf> {
        std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains("docker-compose.yml.tidewatch-backup-"))
            .collect()
    }

    async fn down(&self) {
        let _ = tokio::process::Command::new("docker-compose")
            .args(["-p", &self.name, "-f"])
            .arg(&self.file)
            .args(["down", "-v", "--timeout", "1"])
            .env("DOCKER_HOST", &self.docker_host)
            .output()
            .await;
    }
}

fn compose_file(web_image: &str, other_image: &str) -> String {
    format!(
        "# Tidewatch's compose test project: these comments must survive an update.\n\
         services:\n  \
           web:   # the service under test\n    \
             image: \"{web_image}\"   # pinned by hand\n    \
             labels:\n      \
               - tidewatch.lab=1\n\n  \
           other:\n    \
             image: {other_image}   # must not change\n    \
             labels:\n      \
               - tidewatch.lab=1\n"
    )
}

#[tokio::test]
async fn a_compose_service_is_updated_by_tag_with_its_file_edited_in_place_and_rolled_back() {
    let lab = Lab::require();
    let engine = lab_engine(&lab).await;
    let open = lab.open_registry();
    let (old, new) = (
        format!("{open}/{FIXTURE_PLAIN}:1.0.0"),
        format!("{open}/{FIXTURE_PLAIN}:1.0.1"),
    );
    let scratch = Scratch::new();
    let original = compose_file(&old, &old);
    let project = Project::up(&lab, scratch.path(), &original).await;
    let web = project.container("web");
    let other_before = inspect(&engine, &project.container("other")).await;
    let updater = scratch.updater();

    let plan = plan(&updater, &engine, &web).await;
    let Method::Compose(compose) = &plan.method else {
        panic!("a compose service goes through compose: {plan:#?}");
    };
    assert_eq!(compose.service.service, "web");
    assert_eq!(compose.edit.as_ref().map(|e| e.line), Some(4), "the image line of web");
    let outcome = apply(&updater, &engine, &plan).await;

    assert_eq!(outcome.status, OutcomeStatus::Updated, "{outcome:#?}");
    assert_eq!(outcome.method, "compose");
    assert_eq!(
        project.text(),
        compose_file(&new, &old),
        "only web's image changed, comments kept"
    );
    let backups = project.backups();
    assert_eq!(backups.len(), 1, "a backup beside the file");
    assert_eq!(std::fs::read_to_string(&backups[0]).unwrap(), original);
    let after = inspect(&engine, &web).await;
    assert_eq!(after.config.as_ref().unwrap().image.as_deref(), Some(new.as_str()));
    assert!(is_running(&after));
    assert_eq!(
        inspect(&engine, &project.container("other")).await.id,
        other_before.id,
        "--no-deps: the other service was not touched"
    );

    // The user edits the file after the update; a rollback reverts only the image line.
    let edited = project.text().replace("# must not change", "# still must not change");
    std::fs::write(&project.file, &edited).unwrap();
    let rolled_back = updater.rollback(&engine, &web, &|_: UpdateProgress| {}).await;
    assert_eq!(rolled_back.status, OutcomeStatus::Updated, "{rolled_back:#?}");
    assert_eq!(project.text(), edited.replace(&new, &old));
    let again = inspect(&engine, &web).await;
    assert_eq!(again.config.as_ref().unwrap().image.as_deref(), Some(old.as_str()));
    assert!(is_running(&again));
    assert_eq!(scratch.open_journal_entries(), 0);

    project.down().await;
}

#[tokio::test]
async fn a_compose_service_whose_new_tag_fails_gets_its_file_back_and_runs_the_old_tag() {
    let lab = Lab::require();
    let engine = lab_engine(&lab).await;
    let open = lab.open_registry();
    let old = format!("{open}/{FIXTURE_CRASHES}:1.0.0");
    let other = format!("{open}/{FIXTURE_PLAIN}:1.0.1");
    let scratch = Scratch::new();
    let original = compose_file(&old, &other);
    let project = Project::up(&lab, scratch.path(), &original).await;
    let web = project.container("web");
    let updater = scratch.updater();

    let plan = plan(&updater, &engine, &web).await;
    let outcome = apply(&updater, &engine, &plan).await;

    assert_eq!(outcome.status, OutcomeStatus::RolledBack, "{outcome:#?}");
    assert_eq!(outcome.error.as_ref().unwrap().code, "update_new_container_exited");
    assert!(
        outcome.logs.iter().any(|l| l.contains("cannot start")),
        "{:?}",
        outcome.logs
    );
    assert_eq!(project.text(), original, "the file is back, byte for byte");
    let after = inspect(&engine, &web).await;
    assert_eq!(after.config.as_ref().unwrap().image.as_deref(), Some(old.as_str()));
    assert!(is_running(&after), "the service runs its old tag");
    assert_eq!(scratch.open_journal_entries(), 0);

    project.down().await;
}

/// A TCP port that forwards to the lab engine's socket: the engine as a remote machine's would be
/// reached, so its compose files are not "here".
async fn engine_over_tcp(lab: &Lab) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let socket = lab.docker_host().trim_start_matches("unix://").to_string();
    let task = tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let socket = socket.clone();
            tokio::spawn(async move {
                if let Ok(mut server) = tokio::net::UnixStream::connect(&socket).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    (format!("tcp://127.0.0.1:{port}"), task)
}

#[tokio::test]
async fn a_compose_service_of_a_remote_engine_is_refused_with_the_commands_to_run_there() {
    let lab = Lab::require();
    let engine = lab_engine(&lab).await;
    let old = format!("{}/{FIXTURE_PLAIN}:1.0.0", lab.open_registry());
    let scratch = Scratch::new();
    let project = Project::up(&lab, scratch.path(), &compose_file(&old, &old)).await;
    let web = project.container("web");
    let before = inspect(&engine, &web).await;
    let (url, proxy) = engine_over_tcp(&lab).await;
    let remote =
        tidewatch_core::engine::Engine::connect_with(&tidewatch_core::engine::EngineSpec::new("build box", &url))
            .await
            .expect("the engine over TCP");

    let error = scratch
        .updater()
        .plan(&remote, &web, None, &|_: UpdateProgress| {})
        .await
        .expect_err("refused");

    assert_eq!(tidewatch_core::error::Coded::code(&error), "update_compose_unreachable");
    let message = error.to_string();
    assert!(
        message.contains(&format!("its engine {url} is on another machine")),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "change the image of web to {}/{FIXTURE_PLAIN}:1.0.1",
            lab.open_registry()
        )),
        "{message}"
    );
    assert!(message.contains(&format!("-p {}", project.name)), "{message}");
    assert!(message.contains("up -d --no-deps web"), "{message}");
    assert_eq!(inspect(&engine, &web).await.id, before.id, "nothing touched");
    assert_eq!(project.text(), compose_file(&old, &old));
    proxy.abort();
    project.down().await;
}
