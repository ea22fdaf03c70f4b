//! The Debian package as a user meets it: installed with dpkg (as root), the installed CLI checks
//! an image of the lab, the installed app opens its window under the lab's display (and stays in
//! the tray, never flashing, when started at login), and the package is removed without leaving
//! a file behind. Needs `cargo xtask bundle` (which `cargo xtask test` runs) and the lab.

mod webdriver;

use std::collections::{BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tidewatch_lab::Lab;

const PACKAGE: &str = "tidewatch";

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"))
}

/// The package `cargo xtask bundle` built last: release (`bundle`) or debug (`bundle --debug`, what
/// `cargo xtask test` builds).
fn built_package() -> PathBuf {
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    let newest = ["release", "debug"]
        .iter()
        .filter_map(|profile| std::fs::read_dir(target.join(profile).join("bundle/deb")).ok())
        .flat_map(|dir| dir.flatten().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok());
    newest.unwrap_or_else(|| {
        panic!(
            "no .deb under {}/{{release,debug}}/bundle/deb: run `cargo xtask bundle` first",
            target.display()
        )
    })
}

/// Installs the package for the test's duration and purges it afterwards, pass or fail.
struct Installed;

impl Installed {
    fn new(deb: &Path) -> Installed {
        assert!(
            run("id", &["-u"]).stdout.starts_with(b"0"),
            "installing a package needs root (CI and `cargo xtask test` run as root)"
        );
        let out = run("dpkg", &["-i", deb.to_str().unwrap()]);
        assert!(out.status.success(), "dpkg -i failed:\n{}", text(&out));
        Installed
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = run("dpkg", &["--purge", PACKAGE]);
    }
}

/// The files (not directories) the package holds, as installed paths.
fn package_files(deb: &Path) -> Vec<PathBuf> {
    let out = run("dpkg-deb", &["-c", deb.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|line| !line.starts_with('d'))
        .filter_map(|line| line.split_whitespace().nth(5))
        // Archive members may be written `./usr/…` or `usr/…` (the bundler's tar decides): both
        // are installed at `/usr/…`.
        .map(|path| Path::new("/").join(path.trim_start_matches('.').trim_start_matches('/')))
        .collect()
}

fn control_field(deb: &Path, field: &str) -> String {
    let out = run("dpkg-deb", &["-f", deb.to_str().unwrap(), field]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Package names in a Depends field (alternatives included, versions dropped).
fn names_in(depends: &str) -> Vec<String> {
    depends
        .split([',', '|'])
        .map(|d| {
            d.split_whitespace()
                .next()
                .unwrap_or_default()
                .split(':')
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .filter(|d| !d.is_empty())
        .collect()
}

/// Every installed package that `roots` depend on, transitively (Depends and Pre-Depends).
fn dependency_closure(roots: &[String]) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut queue: VecDeque<String> = roots.iter().cloned().collect();
    while let Some(package) = queue.pop_front() {
        if !seen.insert(package.clone()) {
            continue;
        }
        let out = run("dpkg-query", &["-W", "-f=${Depends}, ${Pre-Depends}", &package]);
        for next in names_in(&String::from_utf8_lossy(&out.stdout)) {
            if !seen.contains(&next) {
                queue.push_back(next);
            }
        }
    }
    seen
}

/// The package owning each shared library `binary` loads directly.
fn library_packages(binary: &str) -> Vec<(String, String)> {
    let out = run("ldd", &[binary]);
    assert!(out.status.success(), "ldd {binary}: {}", text(&out));
    let mut owners = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some((_, path)) = line.split_once("=>") else {
            continue;
        };
        let Some(path) = path.split_whitespace().next().filter(|p| p.starts_with('/')) else {
            continue;
        };
        let real = std::fs::canonicalize(path).unwrap_or_else(|_| PathBuf::from(path));
        let owner = [real.as_path(), Path::new(path)]
            .iter()
            .find_map(|candidate| {
                let out = run("dpkg", &["-S", candidate.to_str().unwrap()]);
                out.status.success().then(|| {
                    String::from_utf8_lossy(&out.stdout)
                        .split(':')
                        .next()
                        .unwrap_or_default()
                        .trim()
                        .to_string()
                })
            })
            .unwrap_or_else(|| panic!("no package owns {path}, which {binary} loads"));
        owners.push((path.to_string(), owner));
    }
    owners
}

/// The app with a private home under the lab's display and session bus.
fn start_app(lab: &Lab, home: &Path, args: &[&str]) -> Child {
    Command::new("/usr/bin/tidewatch-app")
        .args(args)
        .env("DISPLAY", lab.var("TIDEWATCH_LAB_DISPLAY"))
        .env("DBUS_SESSION_BUS_ADDRESS", lab.var("TIDEWATCH_LAB_DBUS_ADDRESS"))
        .env("DOCKER_HOST", lab.docker_host())
        .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env_remove("TIDEWATCH_CONFIG")
        .env_remove("TIDEWATCH_DATA_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the installed app")
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Windows titled "Tidewatch" that are mapped and viewable on the lab's display.
fn visible_windows(lab: &Lab) -> Vec<String> {
    let out = Command::new("xdotool")
        .args(["search", "--onlyvisible", "--name", "^Tidewatch$"])
        .env("DISPLAY", lab.var("TIDEWATCH_LAB_DISPLAY"))
        .output()
        .expect("run xdotool (package xdotool)");
    let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    ids.into_iter()
        .filter(|id| {
            let info = Command::new("xwininfo")
                .args(["-id", id])
                .env("DISPLAY", lab.var("TIDEWATCH_LAB_DISPLAY"))
                .output()
                .expect("run xwininfo (package x11-utils)");
            String::from_utf8_lossy(&info.stdout).contains("Map State: IsViewable")
        })
        .collect()
}

#[tokio::test]
async fn the_package_installs_the_app_and_cli_which_work_and_removes_cleanly() {
    tidewatch_core::init_crypto();
    let lab = Lab::require();
    let deb = built_package();
    let files = package_files(&deb);
    for expected in [
        "/usr/bin/tidewatch-app",
        "/usr/bin/tidewatch",
        "/usr/share/applications/Tidewatch.desktop",
        "/usr/share/metainfo/dev.tidewatch.desktop.metainfo.xml",
        "/usr/share/man/man1/tidewatch.1.gz",
        "/usr/share/bash-completion/completions/tidewatch",
        "/usr/share/zsh/vendor-completions/_tidewatch",
        "/usr/share/fish/vendor_completions.d/tidewatch.fish",
    ] {
        assert!(
            files.iter().any(|f| f == Path::new(expected)),
            "{expected} is in the package: {files:?}"
        );
    }
    for size in [16, 24, 32, 48, 64, 128, 256, 512] {
        let icon = format!("/usr/share/icons/hicolor/{size}x{size}/apps/tidewatch-app.png");
        assert!(files.iter().any(|f| f == Path::new(&icon)), "{icon} is in the package");
    }

    let installed = Installed::new(&deb);

    // Depends covers every library the two programs load (directly or through a dependency).
    let depends = names_in(&control_field(&deb, "Depends"));
    let covered = dependency_closure(&depends);
    for binary in ["/usr/bin/tidewatch-app", "/usr/bin/tidewatch"] {
        for (library, owner) in library_packages(binary) {
            let essential = run("dpkg-query", &["-W", "-f=${Essential}", &owner]);
            let essential = String::from_utf8_lossy(&essential.stdout).trim() == "yes";
            assert!(
                essential || covered.contains(&owner),
                "{binary} loads {library} from {owner}, which Depends ({depends:?}) does not bring"
            );
        }
    }

    // The desktop files are valid as the desktop and software centres read them.
    let out = run("desktop-file-validate", &["/usr/share/applications/Tidewatch.desktop"]);
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "desktop entry: {}",
        text(&out)
    );
    let entry = std::fs::read_to_string("/usr/share/applications/Tidewatch.desktop").unwrap();
    assert!(entry.contains("Exec=tidewatch-app"), "{entry}");
    assert!(entry.contains("Icon=tidewatch-app"), "{entry}");
    let out = run(
        "appstreamcli",
        &[
            "validate",
            "--no-net",
            "/usr/share/metainfo/dev.tidewatch.desktop.metainfo.xml",
        ],
    );
    assert!(out.status.success(), "AppStream metainfo: {}", text(&out));

    // The installed CLI.
    let out = run("/usr/bin/tidewatch", &["--version"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("tidewatch {}", env!("CARGO_PKG_VERSION"))
    );
    let sandbox = tempfile::tempdir().unwrap();
    let out = Command::new("/usr/bin/tidewatch")
        .args(["check", "--json", "--image"])
        .arg(format!("{}/fixtures/app:1.25.3", lab.open_registry()))
        .env("TIDEWATCH_CONFIG", sandbox.path().join("config.toml"))
        .env("TIDEWATCH_DATA_DIR", sandbox.path().join("data"))
        .env("CONTAINERS_REGISTRIES_CONF", sandbox.path().join("registries.conf"))
        .env("REGISTRY_AUTH_FILE", sandbox.path().join("auth.json"))
        .env("DBUS_SESSION_BUS_ADDRESS", lab.var("TIDEWATCH_LAB_DBUS_ADDRESS"))
        .output()
        .unwrap();
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    assert_eq!(report["containers"][0]["status"], "update_available", "{report}");
    assert_eq!(report["containers"][0]["update"]["tag"], "1.25.4", "{report}");

    // Started at login (--hidden): in the tray, and the window never shows, not even briefly.
    let home = tempfile::tempdir().unwrap();
    let hidden = Running(start_app(&lab, home.path(), &["--hidden"]));
    let watched_until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < watched_until {
        let shown = visible_windows(&lab);
        assert!(shown.is_empty(), "the window showed at a start at login: {shown:?}");
        std::thread::sleep(Duration::from_millis(40));
    }
    drop(hidden);

    // Started from the menu: the window shows.
    let shown = Running(start_app(&lab, home.path(), &[]));
    let deadline = Instant::now() + Duration::from_secs(60);
    while visible_windows(&lab).is_empty() {
        assert!(Instant::now() < deadline, "the installed app showed no window");
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(shown);

    // Start at login writes an autostart entry that runs the installed binary, hidden.
    let driver = webdriver::start_driver(&lab, home.path(), false);
    let session = webdriver::Session::start_app(&driver, Path::new("/usr/bin/tidewatch-app")).await;
    let script = "const done = arguments[arguments.length - 1];\
                  window.__TAURI__.core.invoke('set_autostart', {enabled: true}).then(v => done({ok: v}), e => done({err: e}));";
    let answer = session
        .command(
            reqwest::Method::POST,
            "execute/async",
            Some(serde_json::json!({"script": script, "args": []})),
        )
        .await;
    assert_eq!(answer["ok"]["autostart"], true, "{answer}");
    let autostart: String = std::fs::read_dir(home.path().join(".config/autostart"))
        .expect("an autostart entry is written under ~/.config/autostart")
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(
        autostart.lines().any(|l| l == "Exec=/usr/bin/tidewatch-app --hidden"),
        "the autostart entry starts the installed binary, hidden: {autostart}"
    );
    session.end().await;
    drop(driver);

    // Removed cleanly: the package is gone and so is every file it installed.
    drop(installed);
    let status = run("dpkg-query", &["-W", "-f=${Status}", PACKAGE]);
    assert!(
        !String::from_utf8_lossy(&status.stdout).contains("installed"),
        "the package is still known: {}",
        text(&status)
    );
    let left: Vec<&PathBuf> = files.iter().filter(|f| f.exists()).collect();
    assert!(left.is_empty(), "files left after dpkg --purge: {left:?}");
}
