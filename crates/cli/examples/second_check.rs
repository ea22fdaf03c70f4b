//! Two checks in one process, as the desktop app runs them: the second reuses the first's
//! registry clients (ping, tokens, open connections). Used by `cargo xtask bench`: each check's
//! totals go to standard output as one JSON line, and the second check starts when a line
//! arrives on standard input, so the benchmark can read its proxy's counters in between.
//!
//! usage: second_check [--config FILE] (--images-from FILE | --engine URL)

use std::io::BufRead as _;
use std::path::PathBuf;
use std::time::Instant;

use tidewatch_core::checker::{inventory, CheckReport, CheckRequest, Checker, ImageTarget};
use tidewatch_core::config::{config_path, Config};
use tidewatch_core::engine::engines_to_watch;
use tidewatch_core::platform::Platform;

struct Args {
    config: Option<PathBuf>,
    images_from: Option<PathBuf>,
    engine: Option<String>,
}

fn args() -> Result<Args, String> {
    let mut parsed = Args {
        config: None,
        images_from: None,
        engine: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--config" => parsed.config = Some(value()?.into()),
            "--images-from" => parsed.images_from = Some(value()?.into()),
            "--engine" => parsed.engine = Some(value()?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if parsed.images_from.is_none() == parsed.engine.is_none() {
        return Err("give exactly one of --images-from FILE and --engine URL".into());
    }
    Ok(parsed)
}

async fn request(config: &Config, args: &Args) -> Result<CheckRequest, String> {
    let mut request = CheckRequest::default();
    if let Some(file) = &args.images_from {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        request.images = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|reference| ImageTarget {
                reference: reference.to_string(),
                platform: Platform::host(),
            })
            .collect();
    }
    if let Some(engine) = &args.engine {
        request.engines = inventory(&engines_to_watch(config, std::slice::from_ref(engine))).await;
    }
    Ok(request)
}

fn totals(report: &CheckReport, wall_ms: u128) -> String {
    let s = &report.summary;
    format!(
        r#"{{"containers":{},"updates":{},"errors":{},"requests":{},"duration_ms":{},"wall_ms":{wall_ms}}}"#,
        s.containers, s.updates, s.errors, s.requests, s.duration_ms
    )
}

#[tokio::main]
async fn main() -> Result<(), String> {
    tidewatch_core::init_crypto();
    let args = args()?;
    let config =
        Config::load(&config_path(args.config.as_deref()).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    let checker = Checker::from_config(&config).map_err(|e| e.to_string())?;
    for round in 0..2 {
        if round == 1 {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| e.to_string())?;
        }
        let started = Instant::now();
        let request = request(&config, &args).await?;
        let report = checker.check(request, &|_| {}).await;
        println!("{}", totals(&report, started.elapsed().as_millis()));
    }
    Ok(())
}
