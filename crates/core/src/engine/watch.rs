//! Keeping an engine's events flowing: a supervisor that connects, follows the events stream,
//! and when the engine goes away reconnects with bounded exponential backoff and resumes where
//! the stream stopped. Its state (connected, retrying in N s, last error) is observable.

use std::hash::{BuildHasher as _, Hasher as _};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use tokio::sync::{mpsc, watch as state_channel};
use tokio::task::JoinHandle;

use super::events::EngineEvent;
use super::host::EngineSpec;
use super::{Engine, EngineError};

/// How often a quiet connection is pinged: a remote engine behind a dead network link never
/// closes the events stream, so silence alone proves nothing.
const PING_INTERVAL: Duration = Duration::from_secs(30);
/// A connection that lasted this long counts as stable: the next failure starts over at 1 s.
const STABLE_AFTER: Duration = Duration::from_secs(30);
/// Events buffered for a slow consumer before the supervisor waits for it.
const CHANNEL_CAPACITY: usize = 256;

/// Bounded exponential backoff: `initial`, doubled per failed attempt up to `max`, each delay
/// shortened by a random part of up to `jitter` (0..=1) so many clients do not retry in step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    pub jitter: f64,
}

impl Default for Backoff {
    /// 1 s, 2 s, 4 s … 60 s, up to 20 % earlier.
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            jitter: 0.2,
        }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (0 = the first retry), without jitter.
    pub fn base_delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.min(31));
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// The delay before retry number `attempt`, with jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.jittered(self.base_delay(attempt), random_unit())
    }

    /// `base` shortened by `unit` (0..1) of the jitter share: never longer than `base`, so `max`
    /// holds.
    fn jittered(&self, base: Duration, unit: f64) -> Duration {
        let share = self.jitter.clamp(0.0, 1.0) * unit.clamp(0.0, 1.0);
        base.mul_f64(1.0 - share)
    }
}

/// A number in 0..1 from the std hasher's per-process random keys: jitter needs no crate.
fn random_unit() -> f64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Where a watched engine stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchState {
    /// Connecting for the first time (or again, right after a retry delay).
    Connecting,
    Connected {
        api_version: String,
    },
    /// The engine is away; the next attempt is at `retry_at` (`retry_in` after it went away).
    Retrying {
        attempt: u32,
        retry_in: Duration,
        retry_at: SystemTime,
        last_error: EngineError,
    },
}

/// A status line: "connected (API 1.41)", "retrying in 4 s (attempt 3): cannot reach …".
impl std::fmt::Display for WatchState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WatchState::Connecting => write!(f, "connecting"),
            WatchState::Connected { api_version } => write!(f, "connected (API {api_version})"),
            WatchState::Retrying {
                attempt,
                retry_at,
                last_error,
                ..
            } => {
                // Seconds left now, not when the engine went away: the line may be shown later.
                let left = retry_at.duration_since(SystemTime::now()).unwrap_or_default();
                write!(
                    f,
                    "retrying in {} s (attempt {attempt}): {last_error}",
                    left.as_secs_f64().ceil() as u64
                )
            }
        }
    }
}

/// What a watcher reports, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// Connected. With `resumed`, events missed while away are replayed when the engine still has
    /// them, but a caller that keeps state should list the containers again anyway.
    Connected {
        api_version: String,
        resumed: bool,
    },
    Event(EngineEvent),
    /// The engine went away or could not be reached; the next attempt is in `retry_in`.
    Disconnected {
        error: EngineError,
        retry_in: Duration,
    },
}

/// A running supervisor for one engine. Dropping it stops the supervisor.
#[derive(Debug)]
pub struct EngineWatch {
    spec: EngineSpec,
    events: mpsc::Receiver<WatchEvent>,
    state: state_channel::Receiver<WatchState>,
    task: JoinHandle<()>,
}

impl EngineWatch {
    pub fn spec(&self) -> &EngineSpec {
        &self.spec
    }

    /// The next event; `None` only after the supervisor stopped.
    pub async fn next(&mut self) -> Option<WatchEvent> {
        self.events.recv().await
    }

    /// The state now.
    pub fn state(&self) -> WatchState {
        self.state.borrow().clone()
    }

    /// A receiver that wakes on every state change (for a status line in the UI).
    pub fn state_changes(&self) -> state_channel::Receiver<WatchState> {
        self.state.clone()
    }
}

impl Drop for EngineWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts watching `spec` on the current Tokio runtime: connect, follow events, and on any
/// failure retry after `backoff`'s delay, forever, until the returned watch is dropped.
pub fn watch(spec: EngineSpec, backoff: Backoff) -> EngineWatch {
    let (events_tx, events) = mpsc::channel(CHANNEL_CAPACITY);
    let (state_tx, state) = state_channel::channel(WatchState::Connecting);
    let task = tokio::spawn(supervise(spec.clone(), backoff, events_tx, state_tx));
    EngineWatch {
        spec,
        events,
        state,
        task,
    }
}

async fn supervise(
    spec: EngineSpec,
    backoff: Backoff,
    events: mpsc::Sender<WatchEvent>,
    state: state_channel::Sender<WatchState>,
) {
    let mut attempt: u32 = 0;
    let mut connected_before = false;
    // Where to resume: the last event's time (engine clock), else when the last session began.
    let mut resume_from: Option<Resume> = None;
    loop {
        state.send_replace(WatchState::Connecting);
        let error = match Engine::connect_with(&spec).await {
            Ok(engine) => {
                let started = Instant::now();
                let session_start = now_nanos();
                let api_version = engine.api_version();
                state.send_replace(WatchState::Connected {
                    api_version: api_version.clone(),
                });
                let resumed = connected_before;
                connected_before = true;
                if events
                    .send(WatchEvent::Connected { api_version, resumed })
                    .await
                    .is_err()
                {
                    return;
                }
                let since = if resumed { resume_from } else { None };
                let (error, last_seen) = follow(&engine, since, &events).await;
                let Some(error) = error else { return };
                resume_from = last_seen
                    .map(|since| Resume { since, seen: true })
                    .or(resume_from)
                    .or(Some(Resume {
                        since: session_start,
                        seen: false,
                    }));
                if started.elapsed() >= STABLE_AFTER {
                    attempt = 0;
                }
                error
            }
            Err(error) => error,
        };
        let retry_in = backoff.delay(attempt);
        tracing::warn!(engine = %spec.name, host = %spec.display_host(), "engine away, retrying in {retry_in:?}: {error}");
        state.send_replace(WatchState::Retrying {
            attempt: attempt + 1,
            retry_in,
            retry_at: SystemTime::now() + retry_in,
            last_error: error.clone(),
        });
        attempt = attempt.saturating_add(1);
        if events.send(WatchEvent::Disconnected { error, retry_in }).await.is_err() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(retry_in) => {}
            _ = events.closed() => return,
        }
    }
}

/// Where a resumed session starts.
#[derive(Debug, Clone, Copy)]
struct Resume {
    /// Nanoseconds since the epoch.
    since: i64,
    /// Whether `since` is an event's time on the engine's clock (then events at or before it were
    /// delivered already), or our clock when the last session began (a remote engine's clock may
    /// differ, so nothing is skipped by comparison).
    seen: bool,
}

/// Follows one session's events until the engine goes away. Returns why it ended (`None` when
/// the consumer is gone) and the time of the last event seen (engine clock).
async fn follow(
    engine: &Engine,
    resume: Option<Resume>,
    events: &mpsc::Sender<WatchEvent>,
) -> (Option<EngineError>, Option<i64>) {
    let mut stream = Box::pin(engine.timed_events(resume.map(|r| r.since)));
    let mut last_seen = resume.filter(|r| r.seen).map(|r| r.since);
    let mut ping = tokio::time::interval(PING_INTERVAL);
    ping.tick().await;
    loop {
        tokio::select! {
            item = stream.next() => match item {
                Some(Ok(timed)) => {
                    // A resumed stream repeats the event at `since` itself; skip what was seen.
                    if last_seen.is_some_and(|seen| timed.time_nano != 0 && timed.time_nano <= seen) {
                        continue;
                    }
                    if timed.time_nano != 0 {
                        last_seen = Some(timed.time_nano);
                    }
                    if let Some(event) = timed.event {
                        if events.send(WatchEvent::Event(event)).await.is_err() {
                            return (None, last_seen);
                        }
                    }
                }
                Some(Err(error)) => return (Some(error), last_seen),
                None => return (Some(engine.gone_error("the engine closed its events stream")), last_seen),
            },
            _ = ping.tick() => {
                if let Err(error) = engine.ping().await {
                    return (Some(error), last_seen);
                }
            }
            _ = events.closed() => return (None, last_seen),
        }
    }
}

fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_to_a_minute() {
        let backoff = Backoff::default();
        let schedule: Vec<u64> = (0..9).map(|a| backoff.base_delay(a).as_secs()).collect();
        assert_eq!(schedule, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff.base_delay(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn jitter_only_shortens_a_delay_and_by_at_most_its_share() {
        let backoff = Backoff::default();
        let base = Duration::from_secs(60);
        assert_eq!(backoff.jittered(base, 0.0), base);
        assert_eq!(backoff.jittered(base, 1.0), Duration::from_secs(48));
        assert_eq!(
            backoff.jittered(base, 7.0),
            Duration::from_secs(48),
            "out-of-range randomness is clamped"
        );
        for attempt in 0..12 {
            let delay = backoff.delay(attempt);
            let base = backoff.base_delay(attempt);
            assert!(delay <= base && delay >= base.mul_f64(0.8), "{delay:?} for {base:?}");
        }
    }

    #[test]
    fn the_state_reads_as_a_status_line() {
        assert_eq!(
            WatchState::Connected {
                api_version: "1.41".into()
            }
            .to_string(),
            "connected (API 1.41)"
        );
        let retrying = WatchState::Retrying {
            attempt: 3,
            retry_in: Duration::from_secs(4),
            retry_at: SystemTime::now() + Duration::from_millis(3500),
            last_error: EngineError::Unreachable {
                name: "prod".into(),
                host: "tcp://prod.lan:2375".into(),
                reason: "connection refused".into(),
            },
        };
        let line = retrying.to_string();
        assert!(
            line.starts_with("retrying in 4 s (attempt 3): cannot reach the Docker engine prod"),
            "{line}"
        );
    }

    #[test]
    fn random_units_stay_in_range_and_vary() {
        let units: Vec<f64> = (0..64).map(|_| random_unit()).collect();
        assert!(units.iter().all(|u| (0.0..1.0).contains(u)));
        assert!(units.windows(2).any(|w| w[0] != w[1]));
    }
}
