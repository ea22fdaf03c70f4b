//! How many requests one registry gets at once: as many as the ceiling while it answers well
//! (a higher one once it answers over HTTP/2, where they share one connection), half as many after it asks to slow down (429/503, its quota running low), one
//! more per good answer after that, and none at all while a `Retry-After` runs
//! (docs/registry-auth.md#concurrency-and-backing-off).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::lock;

/// Halvings are at least this far apart: the answers to requests already in flight when the
/// registry first pushed back say the same thing again and must not collapse the limit to one.
const DECREASE_INTERVAL: Duration = Duration::from_secs(1);

/// The limit the registry's quota headers leave when `ratelimit-remaining` runs low.
const LOW_QUOTA_LIMIT: usize = 2;

/// What the registry said about the pace, read from one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pace {
    /// A good answer (anything but 429/503): the limit may grow back.
    Fine,
    /// 429 or 503: halve the limit, and with `Retry-After`, send nothing until it has passed.
    SlowDown { retry_after: Option<Duration> },
    /// A `Retry-After` too long to wait for: every request fails at once until it has passed,
    /// rather than asking a registry that said when to come back.
    GoAway { retry_after: Duration },
    /// Docker Hub's `ratelimit-remaining` is running low: go on, slowly.
    QuotaLow,
}

#[derive(Debug)]
struct State {
    /// The most requests in flight: where the limit starts and what it grows back to.
    ceiling: usize,
    /// Requests allowed in flight now; between 1 and the ceiling.
    limit: usize,
    in_flight: usize,
    /// Nothing is sent before this (a `Retry-After` the registry asked for).
    paused_until: Option<Instant>,
    /// Requests fail at once before this (a `Retry-After` longer than anyone waits).
    refused_until: Option<Instant>,
    last_decrease: Option<Instant>,
}

/// The per-registry limiter. Requests take a [`Permit`] before they are sent.
#[derive(Debug)]
pub(super) struct Limiter {
    state: Mutex<State>,
    /// Woken when a request finishes, the limit grows or a pause ends.
    changed: tokio::sync::Notify,
}

/// A request in flight; dropping it lets the next one go. Owned, so an answer can hold it until
/// its body has been read (docs/reliability.md).
#[derive(Debug)]
pub(crate) struct Permit {
    limiter: Arc<Limiter>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut state = lock(&self.limiter.state);
        state.in_flight = state.in_flight.saturating_sub(1);
        drop(state);
        self.limiter.changed.notify_one();
    }
}

impl Limiter {
    /// A limiter that starts at `ceiling` requests in flight (at least one).
    pub fn new(ceiling: usize) -> Limiter {
        let ceiling = ceiling.max(1);
        Limiter {
            state: Mutex::new(State {
                ceiling,
                limit: ceiling,
                in_flight: 0,
                paused_until: None,
                refused_until: None,
                last_decrease: None,
            }),
            changed: tokio::sync::Notify::new(),
        }
    }

    /// Waits until a request may be sent: a slot under the limit and no pause running. `Err`
    /// with the time left while the registry said to go away.
    pub async fn acquire(self: &Arc<Self>) -> Result<Permit, Duration> {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let pause = {
                let mut state = lock(&self.state);
                let now = Instant::now();
                if let Some(left) = state.refused_until.and_then(|until| until.checked_duration_since(now)) {
                    return Err(left);
                }
                match state.paused_until {
                    Some(until) if until > now => Some(until),
                    _ => {
                        state.paused_until = None;
                        if state.in_flight < state.limit {
                            state.in_flight += 1;
                            return Ok(Permit { limiter: self.clone() });
                        }
                        None
                    }
                }
            };
            match pause {
                Some(until) => {
                    tokio::time::sleep_until(until.into()).await;
                    // Everyone waiting may go now (up to the limit).
                    self.changed.notify_waiters();
                }
                None => changed.await,
            }
        }
    }

    /// Adjusts the limit to what an answer said about the pace.
    pub fn observe(&self, pace: Pace) {
        let now = Instant::now();
        let mut state = lock(&self.state);
        match pace {
            Pace::Fine => {
                if state.limit < state.ceiling {
                    state.limit += 1;
                    drop(state);
                    self.changed.notify_one();
                }
            }
            Pace::SlowDown { retry_after } => {
                let recently = state
                    .last_decrease
                    .is_some_and(|at| now.duration_since(at) < DECREASE_INTERVAL);
                if !recently {
                    state.limit = (state.limit / 2).max(1);
                    state.last_decrease = Some(now);
                }
                if let Some(wait) = retry_after {
                    let until = now + wait;
                    state.paused_until = Some(state.paused_until.map_or(until, |p| p.max(until)));
                }
            }
            Pace::GoAway { retry_after } => {
                state.limit = (state.limit / 2).max(1);
                state.last_decrease = Some(now);
                let until = now + retry_after;
                state.refused_until = Some(state.refused_until.map_or(until, |r| r.max(until)));
            }
            Pace::QuotaLow => {
                state.limit = state.limit.min(LOW_QUOTA_LIMIT);
                state.last_decrease = Some(now);
            }
        }
    }

    /// The registry answered over HTTP/2: its requests share one multiplexed connection, so
    /// more of them costs it no connection, and the ceiling rises to `ceiling` (the server's own
    /// stream limit still applies: the HTTP/2 client queues beyond it). A limit that was not
    /// backed off rises with it at once; one that was grows back towards it as before.
    pub fn multiplexed(&self, ceiling: usize) {
        let mut state = lock(&self.state);
        if ceiling <= state.ceiling {
            return;
        }
        if state.limit == state.ceiling {
            state.limit = ceiling;
        }
        state.ceiling = ceiling;
        drop(state);
        self.changed.notify_waiters();
    }

    /// The limit now.
    #[cfg(test)]
    pub fn limit(&self) -> usize {
        lock(&self.state).limit
    }

    /// How long the registry asked not to be sent anything, from now.
    #[cfg(test)]
    pub fn paused_for(&self) -> Option<Duration> {
        let until = lock(&self.state).paused_until?;
        until.checked_duration_since(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn never_more_in_flight_than_the_limit() {
        let limiter = Arc::new(Limiter::new(3));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (limiter, in_flight, most) = (limiter.clone(), in_flight.clone(), most.clone());
            tasks.push(tokio::spawn(async move {
                let _permit = limiter.acquire().await.unwrap();
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn slowing_down_halves_once_per_interval_and_good_answers_grow_it_back() {
        let limiter = Limiter::new(64);
        limiter.observe(Pace::SlowDown { retry_after: None });
        assert_eq!(limiter.limit(), 32);
        // The other answers already on their way say the same; they do not halve again.
        limiter.observe(Pace::SlowDown { retry_after: None });
        assert_eq!(limiter.limit(), 32);
        for _ in 0..10 {
            limiter.observe(Pace::Fine);
        }
        assert_eq!(limiter.limit(), 42);
        for _ in 0..100 {
            limiter.observe(Pace::Fine);
        }
        assert_eq!(limiter.limit(), 64, "never above the ceiling");
    }

    #[test]
    fn a_low_quota_leaves_two_in_flight() {
        let limiter = Limiter::new(64);
        limiter.observe(Pace::QuotaLow);
        assert_eq!(limiter.limit(), LOW_QUOTA_LIMIT);
    }

    #[tokio::test]
    async fn retry_after_holds_every_request_until_it_has_passed() {
        let limiter = Arc::new(Limiter::new(8));
        limiter.observe(Pace::SlowDown {
            retry_after: Some(Duration::from_millis(300)),
        });
        assert!(limiter.paused_for().is_some());
        let started = Instant::now();
        let _permit = limiter.acquire().await.unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(290),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(limiter.paused_for(), None);
    }

    #[tokio::test]
    async fn a_registry_that_said_go_away_is_not_asked_until_then() {
        let limiter = Arc::new(Limiter::new(8));
        limiter.observe(Pace::GoAway {
            retry_after: Duration::from_secs(3600),
        });
        let left = limiter.acquire().await.unwrap_err();
        assert!(left > Duration::from_secs(3500), "{left:?}");
    }

    #[test]
    fn an_http2_answer_raises_the_ceiling_and_a_full_limit_with_it() {
        let limiter = Limiter::new(64);
        limiter.multiplexed(256);
        assert_eq!(limiter.limit(), 256);
        limiter.multiplexed(128);
        assert_eq!(limiter.limit(), 256, "never lowered by another answer");
    }

    #[test]
    fn a_limit_backed_off_before_http2_grows_back_towards_the_new_ceiling() {
        let limiter = Limiter::new(64);
        limiter.observe(Pace::SlowDown { retry_after: None });
        assert_eq!(limiter.limit(), 32);
        limiter.multiplexed(256);
        assert_eq!(limiter.limit(), 32, "still backed off");
        for _ in 0..300 {
            limiter.observe(Pace::Fine);
        }
        assert_eq!(limiter.limit(), 256);
    }
}
