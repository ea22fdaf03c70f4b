//! `cargo xtask bundle`: the Debian package, with Tauri's bundler CLI (installed from crates.io
//! like tauri-driver). It holds the app and the `tidewatch` CLI, the desktop entry, icons at every
//! size the desktop asks for (generated here from icons/icon.png by `cargo tauri icon`), AppStream
//! metainfo, the manual page and shell completions.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{cargo, proc, setup};

/// The bundler CLI, pinned; its major matches the `tauri` crate's (2).
pub const TAURI_CLI_VERSION: &str = "2.12.4";

/// Sizes of the hicolor icon theme that desktops look up for an application (16 to 512 px).
const ICON_SIZES: &[u32] = &[16, 24, 32, 48, 64, 128, 256, 512];

/// Where the generated files go; tauri.conf.json's `bundle.linux.deb.files` names them.
const ASSETS: &str = "target/bundle-assets";

/// Which build the package holds. Users get `Release`; `cargo xtask test` packages the debug
/// build it has already compiled (what the package test checks is the packaging, and a release
/// build would add about ten minutes to every CI run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Release,
    Debug,
}

impl Profile {
    fn dir(self) -> &'static str {
        match self {
            Profile::Release => "release",
            Profile::Debug => "debug",
        }
    }
}

pub fn run(root: &Path, profile: Profile) -> Result<PathBuf> {
    setup::ensure_packages(setup::Purpose::Run)?;
    ensure_tauri_cli()?;
    let mut build_cli = cargo();
    build_cli
        .current_dir(root)
        .args(["build", "--package", "tidewatch-cli"]);
    if profile == Profile::Release {
        build_cli.arg("--release");
    }
    proc::run(&mut build_cli, &format!("build the CLI ({})", profile.dir()))?;
    let assets = root.join(ASSETS);
    if assets.exists() {
        std::fs::remove_dir_all(&assets).with_context(|| format!("clear {}", assets.display()))?;
    }
    std::fs::create_dir_all(&assets)?;
    // tauri.conf.json installs target/bundle-assets/tidewatch as /usr/bin/tidewatch, whichever
    // profile built it.
    let cli = root.join("target").join(profile.dir()).join("tidewatch");
    std::fs::copy(&cli, assets.join("tidewatch")).with_context(|| format!("copy {}", cli.display()))?;
    let icons = generate_icons(root, &assets)?;
    write_cli_documents(&assets)?;

    // Icons of every size for this build only: tauri.conf.json keeps the committed ones, which
    // the app embeds in every build.
    let overlay = assets.join("tauri.bundle.json");
    let icon_list: Vec<String> = icons.iter().map(|p| p.display().to_string()).collect();
    std::fs::write(
        &overlay,
        serde_json::to_string_pretty(&serde_json::json!({ "bundle": { "icon": icon_list } }))?,
    )?;
    let mut build_app = cargo();
    build_app
        .current_dir(root)
        .args(["tauri", "build", "--ci", "--bundles", "deb"]);
    if profile == Profile::Debug {
        build_app.arg("--debug");
    }
    proc::run(
        build_app.arg("--config").arg(&overlay),
        &format!("build and bundle the app ({})", profile.dir()),
    )?;
    let deb = built_package(root, profile)?;
    println!("xtask: built {}", deb.display());
    Ok(deb)
}

/// The newest `.deb` under target/<profile>/bundle/deb.
pub fn built_package(root: &Path, profile: Profile) -> Result<PathBuf> {
    let dir = root.join("target").join(profile.dir()).join("bundle/deb");
    let mut debs: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(&dir)
        .with_context(|| format!("read {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .filter_map(|p| Some((p.metadata().ok()?.modified().ok()?, p)))
        .collect();
    debs.sort();
    match debs.pop() {
        Some((_, deb)) => Ok(deb),
        None => bail!("no .deb in {}", dir.display()),
    }
}

/// `cargo tauri` at the pinned version, installed with `cargo install --locked` when missing.
pub fn ensure_tauri_cli() -> Result<()> {
    let installed = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["tauri", "--version"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains(TAURI_CLI_VERSION))
        .unwrap_or(false);
    if installed {
        return Ok(());
    }
    println!("xtask: installing tauri-cli {TAURI_CLI_VERSION} (cargo install tauri-cli --locked)");
    proc::run(
        cargo().args(["install", "tauri-cli", "--version", TAURI_CLI_VERSION, "--locked"]),
        "install tauri-cli",
    )
}

/// PNGs of every size in [`ICON_SIZES`], from icons/icon.png, by Tauri's own icon command.
fn generate_icons(root: &Path, assets: &Path) -> Result<Vec<PathBuf>> {
    let out = assets.join("icons");
    let sizes: Vec<String> = ICON_SIZES.iter().map(u32::to_string).collect();
    proc::run(
        cargo()
            .current_dir(root)
            .args(["tauri", "icon", "icons/icon.png", "--output"])
            .arg(&out)
            .args(["--png", &sizes.join(",")]),
        "generate the icons",
    )?;
    ICON_SIZES
        .iter()
        .map(|size| {
            let png = out.join(format!("{size}x{size}.png"));
            if png.is_file() {
                Ok(png)
            } else {
                bail!("`cargo tauri icon` did not write {}", png.display())
            }
        })
        .collect()
}

/// The manual page and the completion scripts, as the packaged CLI prints them.
fn write_cli_documents(assets: &Path) -> Result<()> {
    let cli = assets.join("tidewatch");
    let print = |args: &[&str]| -> Result<Vec<u8>> {
        let output = Command::new(&cli)
            .args(args)
            .output()
            .with_context(|| format!("run {}", cli.display()))?;
        if !output.status.success() {
            bail!(
                "tidewatch {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(output.stdout)
    };
    let mut man = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut man, &print(&["man"])?)?;
    std::fs::write(assets.join("tidewatch.1.gz"), man.finish()?)?;
    std::fs::write(assets.join("tidewatch.bash"), print(&["completion", "bash"])?)?;
    std::fs::write(assets.join("_tidewatch"), print(&["completion", "zsh"])?)?;
    std::fs::write(assets.join("tidewatch.fish"), print(&["completion", "fish"])?)?;
    Ok(())
}
