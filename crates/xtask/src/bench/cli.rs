//! The CLI's scenarios: `--images-from` over HTTP/1.1, over HTTPS with HTTP/2 and against the
//! token-auth registry; containers on the lab engine; and second checks in one process (what
//! the app does every few hours), each behind the latency proxy. Requests are counted by the
//! registries themselves (their Prometheus counters, and the token server's tally), connections
//! by the proxy.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;
use tidewatch_lab::{bulk_repository, BULK_REPOSITORIES_ON_TOKEN, BULK_TAGS};

use super::proxy::{Counts, Proxy};
use super::Options;
use crate::lab;

/// GNU time (package `time`), for the CLI's peak RSS.
const GNU_TIME: &str = "/usr/bin/time";

/// One scenario's numbers.
pub struct Row {
    pub scenario: String,
    pub transport: &'static str,
    /// References or containers checked.
    pub references: u64,
    /// Wall time of each run, sorted.
    pub times: Vec<Duration>,
    /// What the time covers: the whole process, or the second check inside it.
    pub whole_process: bool,
    /// Requests the registries (and the token server) saw in one run.
    pub requests: u64,
    /// Requests the check counted itself (its `summary.requests`).
    pub checker_requests: u64,
    /// Connections the proxy accepted in one run.
    pub connections: u64,
    /// Largest peak resident set of the process over the runs, KiB.
    pub peak_rss_kib: u64,
    /// Round trips no client can avoid for this check (connections, TLS, then each dependent
    /// request); times the RTT, the network bound.
    pub round_trips: u32,
}

impl Row {
    pub fn median(&self) -> Duration {
        self.times[self.times.len() / 2]
    }
}

/// The counters one scenario reads before and after each run.
struct Counting<'a> {
    proxies: Vec<&'a Proxy>,
    metrics: Vec<String>,
    token_stats: Option<String>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    proxy: Counts,
    registry: u64,
    tokens: u64,
}

impl Counting<'_> {
    fn now(&self, http: &reqwest::blocking::Client) -> Result<Seen> {
        let mut seen = Seen::default();
        for proxy in &self.proxies {
            let counts = proxy.counts();
            seen.proxy.connections += counts.connections;
            seen.proxy.requests += counts.requests;
        }
        for url in &self.metrics {
            seen.registry += registry_requests(http, url)?;
        }
        if let Some(url) = &self.token_stats {
            let stats: Value = http.get(url).send()?.json()?;
            seen.tokens = stats["issued"].as_u64().unwrap_or(0);
        }
        Ok(seen)
    }
}

/// The sum of a registry's `registry_http_requests_total` counters.
fn registry_requests(http: &reqwest::blocking::Client, url: &str) -> Result<u64> {
    let text = http.get(url).send()?.text()?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with("registry_http_requests_total{"))
        .filter_map(|l| l.rsplit_once(' '))
        .filter_map(|(_, v)| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .sum())
}

/// Runs `command` (made by [`Env::command`]) to its end; returns its wall time, standard
/// output and peak RSS (KiB).
fn run_measured(command: &mut Command, rss_file: &Path) -> Result<(Duration, String, u64)> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command.spawn().with_context(|| format!("start {command:?}"))?;
    let mut stdout = child.stdout.take().context("stdout")?;
    let mut stderr = child.stderr.take().context("stderr")?;
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let status = child.wait()?;
    let elapsed = started.elapsed();
    let (out, err) = (out.join().unwrap_or_default(), err.join().unwrap_or_default());
    if !status.success() {
        bail!("{command:?} failed ({status}): {err}");
    }
    Ok((elapsed, out, peak_rss(rss_file)?))
}

/// The peak RSS (KiB) GNU time wrote for the process it ran. Not `wait4` here: a child's
/// `ru_maxrss` starts from its parent's high-water mark at the fork and keeps it across `exec`,
/// so it would report this benchmark's own size whenever that is the larger; `time` is small.
fn peak_rss(rss_file: &Path) -> Result<u64> {
    let text = std::fs::read_to_string(rss_file).with_context(|| format!("read {}", rss_file.display()))?;
    text.lines()
        .rev()
        .find_map(|line| line.trim().parse().ok())
        .with_context(|| format!("no peak RSS in {}: {text:?}", rss_file.display()))
}

/// What a scenario runs.
enum Run {
    /// `tidewatch check --json` with these arguments.
    Check(Vec<String>),
    /// The second of two checks in one process (`second_check` with these arguments).
    SecondCheck(Vec<String>),
}

struct Scenario<'a> {
    name: String,
    transport: &'static str,
    run: Run,
    config: PathBuf,
    counting: Counting<'a>,
    round_trips: u32,
}

struct Env<'a> {
    root: &'a Path,
    work: &'a Path,
    lab: &'a lab::LabHandle,
    options: &'a Options,
    http: reqwest::blocking::Client,
}

impl Env<'_> {
    /// `program` run under GNU time, which writes its peak RSS to `rss_file`.
    fn command(&self, program: &Path, config: &Path, rss_file: &Path) -> Command {
        let mut command = Command::new(GNU_TIME);
        command
            .arg("--format=%M")
            .arg("--output")
            .arg(rss_file)
            .arg(program)
            .env("TIDEWATCH_CONFIG", config)
            .env("TIDEWATCH_DATA_DIR", self.work.join("data"))
            .env("DOCKER_CONFIG", self.work.join("docker"))
            .env(
                "DBUS_SESSION_BUS_ADDRESS",
                &self.lab.vars()["TIDEWATCH_LAB_DBUS_ADDRESS"],
            )
            .env_remove("DOCKER_HOST")
            .env_remove("TIDEWATCH_LOG");
        command
    }

    fn measure(&self, scenario: Scenario<'_>) -> Result<Row> {
        let release = self.root.join("target/release");
        let mut times = Vec::new();
        let mut peak = 0;
        let mut last: Option<(Seen, u64, u64)> = None;
        for _ in 0..self.options.runs {
            let (elapsed, seen, checker_requests, references, rss) = match &scenario.run {
                Run::Check(args) => {
                    let before = scenario.counting.now(&self.http)?;
                    let rss_file = self.work.join("peak-rss");
                    let mut command = self.command(&release.join("tidewatch"), &scenario.config, &rss_file);
                    command.args(["check", "--json"]).args(args);
                    let (elapsed, out, rss) = run_measured(&mut command, &rss_file)?;
                    let seen = diff(scenario.counting.now(&self.http)?, before);
                    let report: Value =
                        serde_json::from_str(&out).with_context(|| format!("{}: the check's JSON", scenario.name))?;
                    let summary = &report["summary"];
                    if summary["errors"].as_u64() != Some(0) {
                        bail!("{}: the check had errors: {out}", scenario.name);
                    }
                    (
                        elapsed,
                        seen,
                        summary["requests"].as_u64().unwrap_or(0),
                        summary["containers"].as_u64().unwrap_or(0),
                        rss,
                    )
                }
                Run::SecondCheck(args) => self.second_check(&scenario, args)?,
            };
            times.push(elapsed);
            peak = peak.max(rss);
            if let Some((earlier, _, _)) = last {
                if earlier.registry + earlier.tokens != seen.registry + seen.tokens {
                    eprintln!(
                        "bench: {}: requests differ between runs ({} then {})",
                        scenario.name,
                        earlier.registry + earlier.tokens,
                        seen.registry + seen.tokens
                    );
                }
            }
            last = Some((seen, checker_requests, references));
        }
        times.sort();
        let (seen, checker_requests, references) = last.context("no run")?;
        let row = Row {
            scenario: scenario.name,
            transport: scenario.transport,
            references,
            times,
            whole_process: matches!(scenario.run, Run::Check(_)),
            requests: seen.registry + seen.tokens,
            checker_requests,
            connections: seen.proxy.connections,
            peak_rss_kib: peak,
            round_trips: scenario.round_trips,
        };
        if row.requests != row.checker_requests {
            eprintln!(
                "bench: {}: the registries saw {} requests, the check counted {}",
                row.scenario, row.requests, row.checker_requests
            );
        }
        println!(
            "{:<70} median {:>6.0} ms  requests {:>5}  connections {:>4}",
            row.scenario,
            row.median().as_secs_f64() * 1000.0,
            row.requests,
            row.connections
        );
        Ok(row)
    }

    /// One run of `second_check`: the counters are read around its second check only.
    fn second_check(&self, scenario: &Scenario<'_>, args: &[String]) -> Result<(Duration, Seen, u64, u64, u64)> {
        let example = self.root.join("target/release/examples/second_check");
        let rss_file = self.work.join("peak-rss");
        let mut command = self.command(&example, &scenario.config, &rss_file);
        command
            .args(["--config", &scenario.config.display().to_string()])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().with_context(|| format!("start {command:?}"))?;
        let mut input = child.stdin.take().context("stdin")?;
        let mut output = BufReader::new(child.stdout.take().context("stdout")?);
        let mut line = String::new();
        output.read_line(&mut line)?;
        let first: Value = serde_json::from_str(&line).with_context(|| format!("first check: {line:?}"))?;
        if first["errors"].as_u64() != Some(0) {
            bail!("{}: the first check had errors: {line}", scenario.name);
        }
        let before = scenario.counting.now(&self.http)?;
        writeln!(input)?;
        line.clear();
        output.read_line(&mut line)?;
        let seen = diff(scenario.counting.now(&self.http)?, before);
        drop(input);
        let status = child.wait()?;
        if !status.success() {
            bail!("{}: second_check failed ({status})", scenario.name);
        }
        let rss = peak_rss(&rss_file)?;
        let second: Value = serde_json::from_str(&line).with_context(|| format!("second check: {line:?}"))?;
        if second["errors"].as_u64() != Some(0) {
            bail!("{}: the second check had errors: {line}", scenario.name);
        }
        Ok((
            Duration::from_millis(second["wall_ms"].as_u64().unwrap_or(0)),
            seen,
            second["requests"].as_u64().unwrap_or(0),
            second["containers"].as_u64().unwrap_or(0),
            rss,
        ))
    }
}

fn diff(after: Seen, before: Seen) -> Seen {
    Seen {
        proxy: after.proxy - before.proxy,
        registry: after.registry - before.registry,
        tokens: after.tokens - before.tokens,
    }
}

/// `per_repository` version tags (the newest ones) of each of the first `repositories` bulk
/// repositories at `registry`, one per line.
fn reference_list(registry: &str, repositories: usize, per_repository: usize) -> String {
    let versions: Vec<&str> = BULK_TAGS.iter().copied().filter(|t| *t != "latest").collect();
    let tags = &versions[versions.len() - per_repository..];
    let mut text = String::new();
    for i in 0..repositories {
        for tag in tags {
            text.push_str(&format!("{registry}/{}:{tag}\n", bulk_repository(i)));
        }
    }
    text
}

fn write(path: &Path, text: &str) -> Result<PathBuf> {
    std::fs::write(path, text).with_context(|| format!("write {}", path.display()))?;
    Ok(path.to_path_buf())
}

/// Host and port of a URL (`http://127.0.0.1:4000/token` → `127.0.0.1:4000`).
fn authority(url: &str) -> Result<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    Ok(rest.split('/').next().context("no host in the URL")?.to_string())
}

pub fn measure(root: &Path, lab: &lab::LabHandle, options: &Options, work: &Path) -> Result<Vec<Row>> {
    if !Path::new(GNU_TIME).exists() {
        bail!("{GNU_TIME} is missing: the benchmark reads the CLI's peak memory through GNU time (package `time`)");
    }
    let vars = lab.vars();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let rtt = options.rtt;
    let open = runtime.block_on(Proxy::start(&vars["TIDEWATCH_LAB_OPEN"], rtt, true))?;
    let tls = runtime.block_on(Proxy::start(&vars["TIDEWATCH_LAB_TLS"], rtt, false))?;
    let realm = runtime.block_on(Proxy::start(&authority(&vars["TIDEWATCH_LAB_TOKEN_REALM"])?, rtt, true))?;
    let lab_dir = PathBuf::from(&vars["TIDEWATCH_LAB_DIR"]);
    let (mut view_process, view) = lab::spawn_token_view(&lab_dir, &format!("http://{}/token", realm.addr))?;
    let outcome = (|| {
        let token = runtime.block_on(Proxy::start(&view.addr, rtt, true))?;
        let env = Env {
            root,
            work,
            lab,
            options,
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
        };
        std::fs::create_dir_all(work.join("data"))?;
        std::fs::create_dir_all(work.join("docker"))?;
        let metrics = |name: &str| -> Result<String> {
            vars["TIDEWATCH_LAB_METRICS"]
                .split_whitespace()
                .filter_map(|pair| pair.split_once('='))
                .find(|(n, _)| *n == name)
                .map(|(_, url)| url.to_string())
                .with_context(|| format!("no metrics for the {name} registry"))
        };
        // Credentials for the token registry, as `docker login` would have left them.
        {
            use base64::Engine as _;
            let auth = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                vars["TIDEWATCH_LAB_TOKEN_USER"], vars["TIDEWATCH_LAB_TOKEN_PASSWORD"]
            ));
            let config = serde_json::json!({"auths": {token.addr.clone(): {"auth": auth}}});
            write(&work.join("docker/config.json"), &config.to_string())?;
        }
        // `--max-in-flight N`: every proxied registry gets that limit instead of the default.
        let limit = |host: &str| match options.max_in_flight {
            Some(n) => format!("[[registries]]\nhost = \"{host}\"\nmax_in_flight = {n}\n"),
            None => String::new(),
        };
        let plain_config = write(
            &work.join("plain.toml"),
            &format!("{}{}", limit(&open.addr), limit(&token.addr)),
        )?;
        let tls_config = write(
            &work.join("tls.toml"),
            &format!(
                "[[registries]]\nhost = \"{}\"\nca_cert = \"{}\"\n{}",
                tls.addr,
                vars["TIDEWATCH_LAB_CA"],
                options
                    .max_in_flight
                    .map_or(String::new(), |n| format!("max_in_flight = {n}\n"))
            ),
        )?;
        let open_counting = || -> Result<Counting<'_>> {
            Ok(Counting {
                proxies: vec![&open],
                metrics: vec![metrics("open")?],
                token_stats: None,
            })
        };
        let tls_counting = || -> Result<Counting<'_>> {
            Ok(Counting {
                proxies: vec![&tls],
                metrics: vec![metrics("tls")?],
                token_stats: None,
            })
        };
        let token_counting = || -> Counting<'_> {
            Counting {
                proxies: vec![&token, &realm],
                metrics: vec![view.metrics.clone()],
                token_stats: Some(vars["TIDEWATCH_LAB_TOKEN_STATS"].clone()),
            }
        };
        let list = |name: &str, registry: &str, repositories: usize, per: usize| -> Result<Vec<String>> {
            let path = write(&work.join(name), &reference_list(registry, repositories, per))?;
            Ok(vec!["--images-from".into(), path.display().to_string()])
        };
        let http1 = "HTTP/1.1";
        let http2 = "HTTP/2 over TLS";
        let mut rows = Vec::new();
        let scenarios = vec![
            Scenario {
                name: "60 references over 30 repositories (--images-from)".into(),
                transport: http1,
                run: Run::Check(list("open-60.txt", &open.addr, 30, 2)?),
                config: plain_config.clone(),
                counting: open_counting()?,
                round_trips: 3,
            },
            Scenario {
                name: "60 references over 30 repositories (--images-from)".into(),
                transport: http2,
                run: Run::Check(list("tls-60.txt", &tls.addr, 30, 2)?),
                config: tls_config.clone(),
                counting: tls_counting()?,
                round_trips: 4,
            },
            Scenario {
                name: "1,000 references over 200 repositories (--images-from)".into(),
                transport: http1,
                run: Run::Check(list("open-1000.txt", &open.addr, 200, 5)?),
                config: plain_config.clone(),
                counting: open_counting()?,
                round_trips: 3,
            },
            Scenario {
                name: "1,000 references over 200 repositories (--images-from)".into(),
                transport: http2,
                run: Run::Check(list("tls-1000.txt", &tls.addr, 200, 5)?),
                config: tls_config.clone(),
                counting: tls_counting()?,
                round_trips: 4,
            },
            Scenario {
                name: format!(
                    "60 references over {BULK_REPOSITORIES_ON_TOKEN} repositories, token-auth registry (--images-from)"
                ),
                transport: http1,
                run: Run::Check(list("token-60.txt", &token.addr, BULK_REPOSITORIES_ON_TOKEN, 2)?),
                config: plain_config.clone(),
                counting: token_counting(),
                round_trips: 5,
            },
            Scenario {
                name: format!(
                    "60 references over {BULK_REPOSITORIES_ON_TOKEN} repositories, token-auth registry, second check in the same process"
                ),
                transport: http1,
                run: Run::SecondCheck(list("token-60.txt", &token.addr, BULK_REPOSITORIES_ON_TOKEN, 2)?),
                config: plain_config.clone(),
                counting: token_counting(),
                round_trips: 1,
            },
        ];
        for scenario in scenarios {
            rows.push(env.measure(scenario)?);
        }
        rows.extend(containers(
            &env,
            &open,
            open_counting()?,
            open_counting()?,
            &plain_config,
        )?);
        Ok(rows)
    })();
    let _ = view_process.kill();
    let _ = view_process.wait();
    drop(runtime);
    outcome
}

/// Containers per engine scenario, and the images they run: ten repositories with an old
/// version, the newest one and `latest` each.
const CONTAINERS: usize = 100;

fn containers(
    env: &Env<'_>,
    open: &Proxy,
    first: Counting<'_>,
    second: Counting<'_>,
    config: &Path,
) -> Result<Vec<Row>> {
    let host = env.lab.vars()["TIDEWATCH_LAB_DOCKER_HOST"].clone();
    // Pulled through the proxy, so the containers name it and their checks go through it too.
    let images: Vec<String> = (0..10)
        .flat_map(|i| ["1.0.0", "1.1.0", "latest"].map(|tag| format!("{}/{}:{tag}", open.addr, bulk_repository(i))))
        .collect();
    for image in &images {
        crate::proc::run(
            Command::new("docker")
                .args(["-H", &host, "pull", "-q", image])
                .stdout(Stdio::null()),
            &format!("pull {image}"),
        )?;
    }
    let names: Vec<String> = (0..CONTAINERS).map(|n| format!("tidewatch-bench-{n:03}")).collect();
    let created = create_containers(&host, &names, |n| images[n % images.len()].clone());
    let outcome = created.and_then(|()| {
        let engine = vec!["--engine".to_string(), host.clone()];
        Ok(vec![
            env.measure(Scenario {
                name: format!("{CONTAINERS} containers on {} images, one engine", images.len()),
                transport: "HTTP/1.1",
                run: Run::Check(engine.clone()),
                config: config.to_path_buf(),
                counting: first,
                round_trips: 4,
            })?,
            env.measure(Scenario {
                name: format!(
                    "{CONTAINERS} containers on {} images, second check in the same process",
                    images.len()
                ),
                transport: "HTTP/1.1",
                run: Run::SecondCheck(engine),
                config: config.to_path_buf(),
                counting: second,
                round_trips: 2,
            })?,
        ])
    });
    remove_containers(&host, &names);
    outcome
}

/// Creates (never starts) labelled containers, several `docker create` at a time.
pub fn create_containers(host: &str, names: &[String], image_of: impl Fn(usize) -> String + Sync) -> Result<()> {
    const AT_ONCE: usize = 8;
    remove_containers(host, names);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..AT_ONCE)
            .map(|worker| {
                let image_of = &image_of;
                scope.spawn(move || -> Result<()> {
                    for n in (worker..names.len()).step_by(AT_ONCE) {
                        let out = Command::new("docker")
                            .args(["-H", host, "create", "--label", "tidewatch.lab=1", "--name", &names[n]])
                            .arg(image_of(n))
                            .args(["sleep", "3600"])
                            .output()
                            .context("docker create")?;
                        if !out.status.success() {
                            bail!("cannot create {}: {}", names[n], String::from_utf8_lossy(&out.stderr));
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().unwrap_or_else(|_| bail!("a docker create worker panicked")))
    })
}

/// Removes the named containers (those that exist), a hundred per `docker rm`.
pub fn remove_containers(host: &str, names: &[String]) {
    for batch in names.chunks(100) {
        let _ = Command::new("docker")
            .args(["-H", host, "rm", "-f"])
            .args(batch)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
