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
