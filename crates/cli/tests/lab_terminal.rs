//! `tidewatch login` on a terminal, against the lab's htpasswd registry and keyring: the user name
//! and the password are asked for, and the password is never echoed.

mod common;
mod terminal;

use std::time::Duration;

use common::{text, Sandbox};
use terminal::{under_pty, Pty};
use tidewatch_lab::Lab;

#[test]
fn login_asks_for_the_user_and_a_password_that_is_not_echoed() {
    let lab = Lab::require();
    let sandbox = Sandbox::new();
    let registry = lab.basic_registry();
    let user = lab.var("TIDEWATCH_LAB_BASIC_USER");
    let password = lab.var("TIDEWATCH_LAB_BASIC_PASSWORD");

    let mut command = under_pty(&["login", registry]);
    let plain = sandbox.tidewatch(&lab);
    for (name, value) in plain.get_envs() {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    let mut pty = Pty::spawn(command);
    pty.wait_for("Username: ", Duration::from_secs(20));
    pty.type_line(user);
    pty.wait_for("Password: ", Duration::from_secs(20));
    pty.type_line(password);
    let (status, shown) = pty.finish(Duration::from_secs(60));
    assert_eq!(status, Some(0), "{shown}");
    assert!(
        shown.contains(&format!("Login succeeded: {user} at {registry}")),
        "{shown}"
    );
    assert!(shown.contains(user), "the user name is echoed as typed: {shown}");
    assert!(!shown.contains(password), "the password was echoed: {shown}");

    // The login is usable by a check, then removed again.
    let out = sandbox
        .tidewatch(&lab)
        .args([
            "check",
            "--exit-code",
            "--image",
            &format!("{registry}/fixtures/app:1.25.4"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    let out = sandbox.tidewatch(&lab).args(["logout", registry]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}
