//! docs/benchmarks.md: the machine and date, the tables and the goals, written between the
//! file's markers; what is outside them (how it is measured, the analysis) is written by hand
//! and left alone.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use super::app::{AppNumbers, Memory};
use super::cli::Row;
use super::{Measured, Options};

const BEGIN: &str = "<!-- bench:begin -->";
const END: &str = "<!-- bench:end -->";

/// The machine the numbers come from, and when.
pub struct Machine {
    pub date: String,
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: u64,
    pub kernel: String,
    pub load: String,
}

impl Machine {
    pub fn describe() -> Machine {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let cpu = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")
                    .and_then(|r| r.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let memory_gib = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(0, |kib| (kib + 512 * 1024) / (1024 * 1024));
        let output = |program: &str, args: &[&str]| {
            Command::new(program)
                .args(args)
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .unwrap_or_default()
        };
        Machine {
            date: output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            cpu,
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            memory_gib,
            kernel: output("uname", &["-r"]),
            load: read("/proc/loadavg")
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

fn ms(duration: Duration) -> String {
    format!("{:.0} ms", duration.as_secs_f64() * 1000.0)
}

fn mb(kib: u64) -> String {
    format!("{:.0} MB", kib as f64 / 1024.0)
}

fn median(times: &[Duration]) -> Duration {
    times.get(times.len() / 2).copied().unwrap_or_default()
}

fn spread(times: &[Duration]) -> String {
    match (times.first(), times.last()) {
        (Some(low), Some(high)) => format!("{}–{}", ms(*low).trim_end_matches(" ms"), ms(*high)),
        _ => "–".into(),
    }
}

fn memory_line(memory: &Memory) -> String {
    let parts: Vec<String> = memory
        .processes
        .iter()
        .map(|(name, kib)| format!("{name} {}", mb(*kib)))
        .collect();
    format!("**{}** ({})", mb(memory.total_kib()), parts.join(", "))
}

fn cli_table(rows: &[Row], rtt: Duration) -> String {
    let mut text = String::from(
        "| scenario | transport | median | spread | network bound | requests | per reference | connections | peak RSS |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for row in rows {
        let bound = rtt * row.round_trips;
        let timed = if row.whole_process { "" } else { " ¹" };
        text.push_str(&format!(
            "| {}{timed} | {} | {} | {} | {} ({} RTT) | {}{} | {:.2} | {} | {} |\n",
            row.scenario,
            row.transport,
            ms(row.median()),
            spread(&row.times),
            ms(bound),
            row.round_trips,
            row.requests,
            if row.requests == row.checker_requests {
                String::new()
            } else {
                format!(" (check counted {})", row.checker_requests)
            },
            row.requests as f64 / row.references.max(1) as f64,
            row.connections,
            mb(row.peak_rss_kib),
        ));
    }
    text.push_str(
        "\n¹ The second check's own time, measured inside the process (the first check warmed the \
         registry clients: ping, tokens, open connections).\n",
    );
    text
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "**missed**"
    }
}

fn goals(measured: &Measured) -> String {
    let mut text = String::from("| goal | measured | |\n| --- | --- | --- |\n");
    let find = |prefix: &str, transport: &str| {
        measured
            .cli
            .iter()
            .find(|r| r.scenario.starts_with(prefix) && r.transport == transport)
    };
    for (prefix, limit, requests) in [
        ("1,000 references", Duration::from_millis(450), 201),
        ("60 references over 30 repositories (", Duration::from_millis(200), 31),
    ] {
        for transport in ["HTTP/1.1", "HTTP/2 over TLS"] {
            if let Some(row) = find(prefix, transport) {
                let met = row.median() <= limit && row.requests <= requests;
                text.push_str(&format!(
                    "| {}: ≤ {} with ≤ {requests} requests | {}: {} with {} requests | {} |\n",
                    prefix.trim_end_matches(" ("),
                    ms(limit),
                    transport,
                    ms(row.median()),
                    row.requests,
                    verdict(met)
                ));
            }
        }
    }
    if let Some(row) = measured
        .cli
        .iter()
        .find(|r| r.scenario.contains("containers") && !r.whole_process)
    {
        text.push_str(&format!(
            "| 100 containers on 30 images, second check: one request per distinct tag (30) | {} requests | {} |\n",
            row.requests,
            verdict(row.requests <= 30)
        ));
    }
    if let Some(app) = &measured.app {
        let hidden = app.hidden_after_check.total_kib();
        let closed = app.closed_to_tray.total_kib();
        text.push_str(&format!(
            "| hidden in the tray: ≤ 60 MB PSS, all processes | {} after a scheduled check, {} after closing the window | {} |\n",
            mb(hidden),
            mb(closed),
            verdict(hidden.max(closed) <= 60 * 1024)
        ));
        text.push_str(&format!(
            "| CPU 0 between checks | {} ms over {} s | {} |\n",
            app.idle_cpu.as_millis(),
            30,
            verdict(app.idle_cpu.is_zero())
        ));
        text.push_str(&format!(
            "| start to tray icon < 1 s | {} (median) | {} |\n",
            ms(median(&app.start_to_tray)),
            verdict(median(&app.start_to_tray) < Duration::from_secs(1))
        ));
        text.push_str(&format!(
            "| first list rendered < 1.5 s | {} (median, {} containers) | {} |\n",
            ms(median(&app.start_to_list)),
            app.containers,
            verdict(median(&app.start_to_list) < Duration::from_millis(1500))
        ));
    }
    text
}

fn app_tables(app: &AppNumbers) -> String {
    let launches = app.start_to_window.len();
    format!(
        "| moment | median | spread |\n| --- | --- | --- |\n\
         | start to tray icon ({} launches) | {} | {} |\n\
         | start to the window's first rendering ({launches} launches; the list, or \"checking\" before the first check) | {} | {} |\n\
         | start to the list of {} containers rendered ({launches} launches; after the first check) | {} | {} |\n\
         | open from the tray (hidden app, second launch) to the list rendered | {} | |\n\
         | the app's check of {} containers (its log, {} checks) | {} | {}–{} ms |\n\n\
         | state | PSS of all the app's processes |\n| --- | --- |\n\
         | hidden, after the scheduled check at start (started with `--hidden`) | {} |\n\
         | window shown with {} containers | {} |\n\
         | window closed to the tray again | {} |\n\n\
         CPU time of all its processes over 30 s hidden, waiting for the next check: {} ms.\n",
        app.start_to_tray.len(),
        ms(median(&app.start_to_tray)),
        spread(&app.start_to_tray),
        ms(median(&app.start_to_window)),
        spread(&app.start_to_window),
        app.containers,
        ms(median(&app.start_to_list)),
        spread(&app.start_to_list),
        ms(app.open_to_list),
        app.containers,
        app.check_ms.len(),
        app.check_ms.get(app.check_ms.len() / 2).map_or("–".into(), |m| format!("{m} ms")),
        app.check_ms.first().copied().unwrap_or(0),
        app.check_ms.last().copied().unwrap_or(0),
        memory_line(&app.hidden_after_check),
        app.containers,
        memory_line(&app.shown),
        memory_line(&app.closed_to_tray),
        app.idle_cpu.as_millis(),
    )
}

fn generated(options: &Options, measured: &Measured) -> String {
    let m = &measured.machine;
    let mut text = format!(
        "{BEGIN}\n\nRun on {}: {}, {} cores, {} GiB, Linux {}; load average {} when it started (the machine \
         is shared). The proxy added {} of round trip; {} runs per scenario{}.\n\n\
         ### Checks (release CLI, `tidewatch check --json`)\n\n{}\n### Goals\n\n{}\n",
        m.date,
        m.cpu,
        m.cores,
        m.memory_gib,
        m.kernel,
        m.load,
        ms(options.rtt),
        options.runs,
        options.max_in_flight.map_or(String::new(), |n| format!(
            "; every registry's `max_in_flight` set to {n}"
        )),
        cli_table(&measured.cli, options.rtt),
        goals(measured),
    );
    match &measured.app {
        Some(app) => text.push_str(&format!("### The desktop app (release build)\n\n{}\n", app_tables(app))),
        None => text.push_str("The desktop app was not measured in this run (`--no-app`).\n\n"),
    }
    text.push_str(END);
    text
}

pub fn write(root: &Path, options: &Options, measured: &Measured) -> Result<()> {
    let path = root.join("docs/benchmarks.md");
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let new = generated(options, measured);
    let text = match (old.find(BEGIN), old.find(END)) {
        (Some(begin), Some(end)) if begin < end => format!("{}{new}{}", &old[..begin], &old[end + END.len()..]),
        _ => format!("# Benchmarks\n\n{new}\n"),
    };
    std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
    println!("written to {}", path.display());
    Ok(())
}
