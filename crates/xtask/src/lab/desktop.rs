//! The lab's desktop services: a private session D-Bus carrying an unlocked gnome-keyring (the
//! real Secret Service) and the dbusmock notification server (logs every Notify call), and Xvfb
//! for the app's window.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::Recorder;
use crate::proc;

/// The keyring's password; it guards only the lab's throwaway keyring.
const KEYRING_PASSWORD: &str = "tidewatch-lab";

pub fn start(dir: &Path, recorder: &mut Recorder) -> Result<BTreeMap<String, String>> {
    for program in ["dbus-daemon", "gnome-keyring-daemon", "Xvfb", "dbus-send"] {
        if crate::setup::which(program).is_none() {
            bail!("{program} is not installed (packages dbus, gnome-keyring, xvfb)");
        }
    }
    if !Path::new("/usr/bin/python3").exists() {
        bail!("/usr/bin/python3 is missing (package python3-dbusmock)");
    }
    let home = dir.join("home");
    let runtime = dir.join("run");
    std::fs::create_dir_all(&home)?;
    std::fs::create_dir_all(&runtime)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700))?;
    }

    let bus_socket = dir.join("bus");
    let bus = format!("unix:path={}", bus_socket.display());
    let log = dir.join("dbus.log");
    let child = proc::spawn_daemon(
        Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--nopidfile"])
            .arg(format!("--address={bus}")),
        &log,
    )?;
    recorder.record("dbus-daemon", child.id())?;
    proc::wait_until("the session D-Bus", Duration::from_secs(10), Some(&log), || {
        bus_socket.exists()
    })?;

    // Started by us (not D-Bus activation) so it runs unlocked with a known password, with its
    // keyrings under the lab's own HOME.
    let log = dir.join("gnome-keyring.log");
    let child = proc::spawn_daemon_with_input(
        Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--components=secrets", "--unlock"])
            .env("DBUS_SESSION_BUS_ADDRESS", &bus)
            .env("HOME", &home)
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_RUNTIME_DIR", &runtime),
        &log,
        Some(KEYRING_PASSWORD.as_bytes()),
    )?;
    recorder.record("gnome-keyring-daemon", child.id())?;
    wait_for_bus_name(&bus, "org.freedesktop.secrets", &log)?;

    let notify_log = dir.join("notifications.log");
    std::fs::write(&notify_log, "")?;
    let log = dir.join("dbusmock.log");
    let child = proc::spawn_daemon(
        Command::new("/usr/bin/python3")
            .args(["-m", "dbusmock", "--session", "-t", "notification_daemon", "-l"])
            .arg(&notify_log)
            .env("DBUS_SESSION_BUS_ADDRESS", &bus),
        &log,
    )?;
    recorder.record("dbusmock-notifications", child.id())?;
    wait_for_bus_name(&bus, "org.freedesktop.Notifications", &log)?;

    let display = free_display()?;
    let log = dir.join("xvfb.log");
    let child = proc::spawn_daemon(
        Command::new("Xvfb")
            .arg(format!(":{display}"))
            .args(["-screen", "0", "1280x800x24", "-nolisten", "tcp"]),
        &log,
    )?;
    recorder.record("Xvfb", child.id())?;
    let socket = format!("/tmp/.X11-unix/X{display}");
    proc::wait_until("Xvfb", Duration::from_secs(10), Some(&log), || {
        Path::new(&socket).exists()
    })?;

    Ok([
        ("TIDEWATCH_LAB_DBUS_ADDRESS", bus),
        ("TIDEWATCH_LAB_NOTIFY_LOG", notify_log.display().to_string()),
        ("TIDEWATCH_LAB_DISPLAY", format!(":{display}")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect())
}

fn wait_for_bus_name(bus: &str, name: &str, log: &Path) -> Result<()> {
    proc::wait_until(name, Duration::from_secs(15), Some(log), || {
        Command::new("dbus-send")
            .args([
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
            ])
            .arg(format!("string:{name}"))
            .env("DBUS_SESSION_BUS_ADDRESS", bus)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains("boolean true"))
            .unwrap_or(false)
    })
}

fn free_display() -> Result<u32> {
    (90..200)
        .find(|n| {
            !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() && !Path::new(&format!("/tmp/.X{n}-lock")).exists()
        })
        .context("no free X display number between :90 and :199")
}
