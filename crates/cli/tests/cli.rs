//! The `tidewatch` binary as a user meets it.

use std::process::Command;

fn tidewatch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tidewatch"))
}

#[test]
fn help_describes_the_tool_and_its_commands() {
    let out = tidewatch().arg("--help").output().expect("run tidewatch --help");
    assert!(
        out.status.success(),
        "tidewatch --help failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("newer versions"), "{text}");
    assert!(text.contains("engines"), "{text}");
}

/// The CLI must run on servers without a desktop: no GTK or WebKit library may be linked.
#[test]
fn cli_links_no_gui_library() {
    let out = Command::new("ldd")
        .arg(env!("CARGO_BIN_EXE_tidewatch"))
        .output()
        .expect("run ldd (package libc-bin)");
    assert!(
        out.status.success(),
        "ldd failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let libraries = String::from_utf8_lossy(&out.stdout);
    assert!(libraries.contains("libc.so"), "ldd output looks wrong: {libraries}");
    for gui in ["libgtk", "libwebkit", "libgdk", "libjavascriptcore", "libayatana"] {
        assert!(!libraries.contains(gui), "the CLI links {gui}:\n{libraries}");
    }
}

#[test]
fn engines_reports_an_unreachable_engine_and_exits_2() {
    let out = tidewatch()
        .args(["engines", "--engine", "unix:///nonexistent/docker.sock"])
        .output()
        .expect("run tidewatch engines");
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stdout));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("unreachable") && text.to_lowercase().contains("is the engine running"),
        "{text}"
    );
}

mod terminal;

use std::time::Duration;
use terminal::{under_pty, Pty};

/// Runs `tidewatch explain nginx` under a terminal (or piped) with `env`; whether it was coloured.
fn explain_coloured(pty: bool, extra: &[&str], env: &[(&str, &str)]) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["explain", "nginx"];
    args.extend_from_slice(extra);
    let mut command = if pty {
        under_pty(&args)
    } else {
        let mut command = tidewatch();
        command.args(&args).env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE");
        command
    };
    command
        .env("TIDEWATCH_CONFIG", dir.path().join("absent.toml"))
        .env("CONTAINERS_REGISTRIES_CONF", dir.path().join("absent.conf"));
    for (name, value) in env {
        command.env(name, value);
    }
    let (status, shown) = Pty::spawn(command).finish(Duration::from_secs(20));
    assert_eq!(status, Some(0), "{shown}");
    assert!(shown.contains("docker.io/library/nginx"), "{shown}");
    shown.contains("\x1b[1m")
}

#[test]
fn colours_follow_the_terminal_no_color_clicolor_force_term_dumb_and_the_flag() {
    assert!(explain_coloured(true, &[], &[]), "a terminal gets colours");
    assert!(!explain_coloured(false, &[], &[]), "a pipe gets none");
    assert!(!explain_coloured(true, &[], &[("NO_COLOR", "1")]), "NO_COLOR");
    assert!(!explain_coloured(true, &[], &[("TERM", "dumb")]), "TERM=dumb");
    assert!(
        explain_coloured(false, &[], &[("CLICOLOR_FORCE", "1")]),
        "CLICOLOR_FORCE on a pipe"
    );
    assert!(
        !explain_coloured(false, &[], &[("CLICOLOR_FORCE", "0")]),
        "CLICOLOR_FORCE=0"
    );
    assert!(
        explain_coloured(false, &["--color", "always"], &[]),
        "--color always on a pipe"
    );
    assert!(
        explain_coloured(true, &["--color=always"], &[("NO_COLOR", "1")]),
        "the flag beats NO_COLOR"
    );
    assert!(
        !explain_coloured(true, &["--color", "never"], &[]),
        "--color never on a terminal"
    );
}

#[test]
fn help_shows_examples_and_every_exit_status() {
    let out = tidewatch().arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Examples:") && text.contains("tidewatch check --exit-code"),
        "{text}"
    );
    for status in ["  0  ", "  1  ", "  2  ", "  3  "] {
        assert!(text.contains(status), "exit status {status:?} is documented: {text}");
    }
    for command in ["check", "login", "logout", "engines", "explain", "completion"] {
        let out = tidewatch().args([command, "--help"]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{command} --help");
        assert!(
            text.contains("Examples:\n  tidewatch "),
            "{command} --help shows examples:\n{text}"
        );
    }
}

#[test]
fn completion_scripts_are_printed_for_each_shell_and_bash_loads_its_own() {
    let markers = [
        ("bash", "_tidewatch()"),
        ("zsh", "#compdef tidewatch"),
        ("fish", "complete -c tidewatch"),
        ("powershell", "Register-ArgumentCompleter"),
    ];
    for (shell, marker) in markers {
        let out = tidewatch().args(["completion", shell]).output().unwrap();
        assert!(out.status.success(), "completion {shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains(marker), "completion {shell} has {marker:?}");
        assert!(script.contains("explain"), "completion {shell} knows the subcommands");
    }
    let out = std::process::Command::new("bash")
        .args([
            "-c",
            &format!(
                "source <({} completion bash) && complete -p tidewatch",
                env!("CARGO_BIN_EXE_tidewatch")
            ),
        ])
        .output()
        .expect("run bash");
    let registered = String::from_utf8_lossy(&out.stdout);
    assert!(
        registered.contains("_tidewatch") && registered.contains("tidewatch"),
        "{registered}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_manual_page_is_roff_with_every_subcommand() {
    let out = tidewatch().arg("man").output().unwrap();
    assert!(out.status.success());
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.contains(".TH tidewatch 1"), "{page}");
    for command in ["check", "login", "logout", "engines", "explain", "completion"] {
        assert!(page.contains(command), "the man page names {command}");
    }
}

#[test]
fn explain_json_follows_the_check_documents_conventions() {
    let dir = tempfile::tempdir().unwrap();
    let out = tidewatch()
        .args(["explain", "--json", "docker.m.daocloud.io/library/redis"])
        .env("TIDEWATCH_CONFIG", dir.path().join("absent.toml"))
        .env("CONTAINERS_REGISTRIES_CONF", dir.path().join("absent.conf"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc["image"], "docker.m.daocloud.io/library/redis");
    assert_eq!(
        doc["upstream"], "docker.io/library/redis:latest",
        "with its tag, as in check"
    );
    assert!(
        doc["platform"].as_str().is_some_and(|p| p.starts_with("linux/")),
        "{doc}"
    );
    let endpoints = doc["endpoints"].as_array().unwrap();
    assert_eq!(endpoints[0]["registry"], "docker.io");
    assert_eq!(endpoints[0]["repository"], "library/redis");
    assert_eq!(endpoints[0]["role"], "upstream");
    assert_eq!(endpoints[1]["role"], "mirror");
    assert!(
        endpoints[1]["rule"].as_str().unwrap().starts_with("built-in: DaoCloud"),
        "{doc}"
    );
    assert!(doc["normalization"].as_array().is_some_and(|s| !s.is_empty()));
    assert!(doc["resolution"].as_array().is_some_and(|s| !s.is_empty()));

    let out = tidewatch()
        .args(["explain", "--json", "Not A Reference"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing on stdout on failure");
}

#[test]
fn login_without_a_terminal_or_password_stdin_says_how_and_exits_2() {
    let out = tidewatch()
        .args(["login", "registry.example", "-u", "me"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let message = String::from_utf8_lossy(&out.stderr);
    assert!(
        message.contains("--password-stdin") && message.contains("not a terminal"),
        "{message}"
    );
}
