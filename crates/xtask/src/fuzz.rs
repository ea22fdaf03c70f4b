//! `cargo xtask fuzz [--seconds N] [TARGET…]`: every fuzz target in `fuzz/` for N seconds each
//! (default 60) with cargo-fuzz on the nightly toolchain; prints executions and crashes per
//! target, and turns each crash into a regression input (`fuzz/regressions/<target>/*.hex`)
//! that `crates/core/tests/fuzz_corpus.rs` replays on stable (docs/reliability.md#fuzzing).

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::setup;

/// The targets, as `fuzz/fuzz_targets/*.rs` names them (and `tidewatch_core::untrusted::TARGETS`).
fn targets(root: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = fs::read_dir(root.join("fuzz/fuzz_targets"))
        .context("read fuzz/fuzz_targets")?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".rs").map(str::to_string))
        .collect();
    names.sort();
    Ok(names)
}

struct Outcome {
    target: String,
    executions: u64,
    seconds: u64,
    crashes: usize,
}

pub fn run(root: &Path, args: &[&str]) -> Result<()> {
    let mut seconds: u64 = 60;
    let mut only = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match *arg {
            "--seconds" => {
                seconds = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .context("--seconds needs a number")?
            }
            name => only.push(name.to_string()),
        }
    }
    let nightly = Command::new("rustup")
        .args(["run", "nightly", "rustc", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !nightly {
        bail!("fuzzing needs the nightly toolchain (rustup toolchain install nightly); the product itself builds on stable");
    }
    setup::ensure_cargo_fuzz()?;
    let all = targets(root)?;
    let chosen: Vec<String> = if only.is_empty() {
        all
    } else {
        for name in &only {
            if !all.contains(name) {
                bail!("no fuzz target {name:?}; the targets are {}", all.join(", "));
            }
        }
        only
    };
    let fuzz_dir = root.join("fuzz");
    let target_dir = root.join("target/fuzz");
    let mut outcomes = Vec::new();
    for target in &chosen {
        // New inputs libFuzzer finds go to a scratch corpus; the committed seeds stay text.
        let scratch = target_dir.join("corpus").join(target);
        let artifacts = target_dir.join("artifacts").join(target);
        fs::create_dir_all(&scratch)?;
        fs::create_dir_all(&artifacts)?;
        println!("xtask: fuzzing {target} for {seconds}s");
        let output = Command::new("cargo")
            .current_dir(&fuzz_dir)
            .env("CARGO_TARGET_DIR", &target_dir)
            .args(["+nightly", "fuzz", "run", "-O", target])
            .arg(&scratch)
            .arg(fuzz_dir.join("corpus").join(target))
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            .arg("-rss_limit_mb=1024")
            .output()
            .with_context(|| format!("run cargo fuzz for {target}"))?;
        let log = String::from_utf8_lossy(&output.stderr);
        let executions = log
            .lines()
            .rev()
            .filter_map(|l| l.strip_prefix("Done "))
            .find_map(|l| l.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        let mut crashes = 0;
        for artifact in fs::read_dir(&artifacts)?.flatten() {
            let bytes = fs::read(artifact.path())?;
            let name = artifact.file_name().to_string_lossy().into_owned();
            let regression = fuzz_dir.join("regressions").join(target).join(format!("{name}.hex"));
            fs::create_dir_all(regression.parent().expect("has a parent"))?;
            fs::write(&regression, hex::encode(&bytes))?;
            fs::remove_file(artifact.path())?;
            eprintln!("xtask: {target} crashed; input saved as {}", regression.display());
            crashes += 1;
        }
        if executions == 0 && crashes == 0 {
            eprintln!("{log}");
            bail!("cargo fuzz run {target} did not run (see its output above)");
        }
        outcomes.push(Outcome {
            target: target.clone(),
            executions,
            seconds,
            crashes,
        });
    }
    println!("\n| target | seconds | executions | crashes |\n| --- | ---: | ---: | ---: |");
    for o in &outcomes {
        println!("| `{}` | {} | {} | {} |", o.target, o.seconds, o.executions, o.crashes);
    }
    let total: usize = outcomes.iter().map(|o| o.crashes).sum();
    if total > 0 {
        bail!("{total} crash(es); each input is in fuzz/regressions/ and replayed by crates/core/tests/fuzz_corpus.rs");
    }
    Ok(())
}
