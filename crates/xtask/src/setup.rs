//! Installs what `run` and `test` need: Debian/Ubuntu packages through apt (as root, or through
//! sudo), `tauri-driver` through cargo. On other systems it says what to install and stops.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Result};

use crate::proc;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Run,
    Test,
}

/// What building and running the desktop app needs (Tauri 2 on Linux, the keyring's D-Bus).
const RUN_PACKAGES: &[&str] = &[
    "build-essential",
    "pkg-config",
    "libssl-dev",
    "libwebkit2gtk-4.1-dev",
    "libayatana-appindicator3-dev",
    "librsvg2-dev",
    "libxdo-dev",
    "libdbus-1-dev",
];

/// What the test lab adds: engine, registries, virtual display, WebDriver, Secret Service,
/// notification server, fixture rootfs, screenshots, test certificates, the compose CLI that
/// updates of compose services run (Debian packages compose v1 as `docker-compose`; v2 is not
/// packaged), and what the package test uses to find the installed app's window and to validate
/// its desktop files, and GNU time for the benchmark's peak memory of the CLI.
const TEST_PACKAGES: &[&str] = &[
    "docker.io",
    "docker-compose",
    "docker-registry",
    "xvfb",
    "webkit2gtk-driver",
    "dbus",
    "dbus-x11",
    "gnome-keyring",
    "libsecret-tools",
    "python3-dbusmock",
    // gdbus: the GUI test invokes a notification's action through dbusmock's EmitSignal.
    "libglib2.0-bin",
    "busybox-static",
    "imagemagick",
    "openssl",
    "xdotool",
    "x11-utils",
    "desktop-file-utils",
    "appstream",
    "time",
];

pub fn ensure_packages(purpose: Purpose) -> Result<()> {
    let mut wanted: Vec<&str> = RUN_PACKAGES.to_vec();
    if purpose == Purpose::Test {
        wanted.extend_from_slice(TEST_PACKAGES);
    }
    if !Path::new("/usr/bin/dpkg-query").exists() || !Path::new("/usr/bin/apt-get").exists() {
        eprintln!(
            "xtask: this is not a Debian/Ubuntu system, so nothing is installed automatically.\n\
             Install the equivalents of: {}\n(see https://v2.tauri.app/start/prerequisites/ for your distribution)",
            wanted.join(" ")
        );
        bail!("cannot install system packages on this system; install the packages above and try again");
    }
    let missing: Vec<&str> = wanted.into_iter().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    println!("xtask: installing {}", missing.join(" "));
    let root = is_root();
    if !root && which("sudo").is_none() {
        bail!(
            "these packages are missing and this user is not root and has no sudo: {}",
            missing.join(" ")
        );
    }
    let apt = |args: &[&str]| {
        let mut command = if root {
            Command::new("apt-get")
        } else {
            Command::new("sudo")
        };
        if !root {
            command.arg("apt-get");
        }
        command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        command
    };
    proc::run(&mut apt(&["update", "-q"]), "update the package lists (apt-get update)")?;
    let mut install = apt(&["install", "-y", "-q", "--no-install-recommends"]);
    install.args(&missing);
    proc::run(&mut install, &format!("install {}", missing.join(" ")))
}

/// `tauri-driver` bridges WebDriver to WebKitWebDriver for the end-to-end tests.
pub fn ensure_tauri_driver() -> Result<()> {
    if which("tauri-driver").is_some() {
        return Ok(());
    }
    println!("xtask: installing tauri-driver (cargo install tauri-driver --locked)");
    proc::run(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())).args([
            "install",
            "tauri-driver",
            "--locked",
        ]),
        "install tauri-driver",
    )
}

/// `cargo-fuzz` runs the fuzz targets (`cargo xtask fuzz`), on the nightly toolchain.
pub fn ensure_cargo_fuzz() -> Result<()> {
    if which("cargo-fuzz").is_some() {
        return Ok(());
    }
    println!("xtask: installing cargo-fuzz (cargo install cargo-fuzz --locked)");
    proc::run(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())).args([
            "install",
            "cargo-fuzz",
            "--locked",
        ]),
        "install cargo-fuzz",
    )
}

fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The path of a program on PATH (also looks in ~/.cargo/bin, where cargo install puts it).
pub fn which(program: &str) -> Option<std::path::PathBuf> {
    let mut dirs: Vec<std::path::PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".cargo/bin"));
    }
    dirs.into_iter().map(|d| d.join(program)).find(|p| p.is_file())
}
