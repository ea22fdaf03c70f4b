//! The secrets audit (docs/reliability.md#secrets): the lab's passwords and identity token go in
//! through every path the CLI has (login into the keyring, a wrong login, Docker's config.json
//! with a password and with an identity token, a credential helper) and a token server's tokens
//! come back; afterwards the data and config directories, the debug-level logs, and the text and
//! JSON output hold no trace of any of them. (The app's settings and IPC: tests/lab_ipc.rs.)

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::{Output, Stdio};

use common::*;
use tidewatch_lab::Lab;

/// Every file under `dir`, read as bytes, that contains `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if let Ok(bytes) = std::fs::read(&path) {
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

fn run_logged(sandbox: &Sandbox, lab: &Lab, args: &[&str], stdin: Option<&str>) -> Output {
    let mut command = sandbox.tidewatch(lab);
    command
        .args(args)
        .env("TIDEWATCH_LOG", "debug")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("run tidewatch");
    if let Some(input) = stdin {
        writeln!(child.stdin.take().unwrap(), "{input}").unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

#[test]
fn no_password_identity_token_or_registry_token_is_left_in_files_logs_or_output() {
    let lab = Lab::require();
    let basic = lab.basic_registry().to_string();
    let token = lab.token_registry().to_string();
    let fault = lab.fault_registry().to_string();
    let basic_password = lab.var("TIDEWATCH_LAB_BASIC_PASSWORD").to_string();
    let token_password = lab.var("TIDEWATCH_LAB_TOKEN_PASSWORD").to_string();
    let identity = lab.var("TIDEWATCH_LAB_TOKEN_IDENTITY").to_string();
    let wrong = "s3ntinel-wrong-password-4c1e".to_string();
    // The fault registry's token server always issues this token.
    let issued_token = "fault-token".to_string();
    let sentinels = [&basic_password, &token_password, &identity, &wrong, &issued_token];

    let sandbox = Sandbox::new();
    let mut outputs: Vec<(String, Output)> = Vec::new();
    let helper_dir = tempfile::tempdir().unwrap();
    let check_args = |images: &[String], json: bool| -> Vec<String> {
        let mut args = vec!["check".to_string()];
        for image in images {
            args.extend(["--image".to_string(), image.clone()]);
        }
        if json {
            args.push("--json".into());
        }
        args
    };
    let mut run = |name: &str, sandbox: &Sandbox, args: Vec<String>, stdin: Option<&str>, path: Option<&Path>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = match path {
            Some(dir) => {
                let mut command = sandbox.tidewatch(&lab);
                let system_path = std::env::var("PATH").unwrap_or_default();
                command
                    .args(&refs)
                    .env("TIDEWATCH_LOG", "debug")
                    .env("PATH", format!("{}:{system_path}", dir.display()));
                command.output().unwrap()
            }
            None => run_logged(sandbox, &lab, &refs, stdin),
        };
        outputs.push((name.to_string(), output));
    };
    let _ = run_logged(&sandbox, &lab, &["logout", &basic], None);

    // Docker's config.json: a password for the token registry, an identity token through a
    // second file, and a credential helper for the htpasswd registry.
    let auth = base64_of(&format!("{}:{token_password}", lab.var("TIDEWATCH_LAB_TOKEN_USER")));
    let helper = helper_dir.path().join("docker-credential-audit");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nread registry\necho '{{\"Username\":\"{}\",\"Secret\":\"{basic_password}\"}}'\n",
            lab.var("TIDEWATCH_LAB_BASIC_USER")
        ),
    )
    .unwrap();
    make_executable(&helper);
    let config = serde_json::json!({
        "auths": { token.clone(): { "auth": auth } },
        "credHelpers": { basic.clone(): "audit" },
    });
    std::fs::write(sandbox.docker_config_dir().join("config.json"), config.to_string()).unwrap();
    let images = [
        format!("{token}/fixtures/app:1.25.3"),
        format!("{basic}/fixtures/app:1.25.3"),
        format!("{fault}/ok/app:1.25.3"),
    ];
    run(
        "check (docker config, helper) as JSON",
        &sandbox,
        check_args(&images, true),
        None,
        Some(helper_dir.path()),
    );
    run(
        "check (docker config, helper) as text",
        &sandbox,
        check_args(&images, false),
        None,
        Some(helper_dir.path()),
    );

    let identity_config = serde_json::json!({ "auths": { token.clone(): { "identitytoken": identity } } });
    std::fs::write(
        sandbox.docker_config_dir().join("config.json"),
        identity_config.to_string(),
    )
    .unwrap();
    run(
        "check (identity token)",
        &sandbox,
        check_args(&images[..1], true),
        None,
        None,
    );

    // The keyring: a refused login, a good one, a check that uses it, then logout.
    std::fs::remove_file(sandbox.docker_config_dir().join("config.json")).unwrap();
    let user = lab.var("TIDEWATCH_LAB_BASIC_USER").to_string();
    let login = |password: &str| {
        vec![
            "login".to_string(),
            basic.clone(),
            "--username".into(),
            user.clone(),
            "--password-stdin".into(),
        ]
        .into_iter()
        .chain(std::iter::once(password.to_string()))
        .collect::<Vec<_>>()
    };
    for (name, password) in [("login (wrong)", wrong.as_str()), ("login", basic_password.as_str())] {
        let mut args = login(password);
        let secret = args.pop().unwrap();
        run(name, &sandbox, args, Some(&secret), None);
    }
    run("check (keyring)", &sandbox, check_args(&images[1..2], true), None, None);
    run(
        "check (keyring) as text",
        &sandbox,
        check_args(&images[1..2], false),
        None,
        None,
    );
    run("logout", &sandbox, vec!["logout".into(), basic.clone()], None, None);

    // Each path worked: the checks reached a verdict with the credentials.
    let json: serde_json::Value = serde_json::from_slice(&outputs[0].1.stdout).expect("JSON");
    for result in json["containers"].as_array().unwrap() {
        assert_eq!(result["status"], "update_available", "{result}");
    }
    let identity_json: serde_json::Value = serde_json::from_slice(&outputs[2].1.stdout).expect("JSON");
    assert_eq!(
        identity_json["containers"][0]["status"], "update_available",
        "{identity_json}"
    );
    assert!(outputs[3].1.status.code() == Some(1), "the wrong login is refused");
    assert!(outputs[4].1.status.success(), "{}", text(&outputs[4].1.stderr));
    let keyring_json: serde_json::Value = serde_json::from_slice(&outputs[5].1.stdout).expect("JSON");
    assert_eq!(
        keyring_json["containers"][0]["status"], "update_available",
        "{keyring_json}"
    );
    assert!(
        outputs.iter().any(|(_, o)| text(&o.stderr).contains("DEBUG")),
        "debug logs were on"
    );

    let mut leaks = Vec::new();
    for secret in sentinels {
        for (name, output) in &outputs {
            if text(&output.stdout).contains(secret.as_str()) || text(&output.stderr).contains(secret.as_str()) {
                leaks.push(format!("{name}: output or log holds {secret}"));
            }
        }
        for file in files_containing(&sandbox.data_dir(), secret) {
            leaks.push(format!("data dir: {file} holds {secret}"));
        }
        if sandbox.config_path().exists() {
            for file in files_containing(sandbox.config_path().parent().unwrap(), secret)
                .into_iter()
                .filter(|f| !f.contains("/docker/"))
            {
                leaks.push(format!("config dir: {file} holds {secret}"));
            }
        }
    }
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}
