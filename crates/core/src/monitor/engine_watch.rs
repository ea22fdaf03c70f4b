//! Following the watched engines' events: a container that starts or an image that is pulled may
//! change a verdict, so a check is asked for once the events settle.

use std::time::Duration;

use super::Monitor;
use crate::config::Config;
use crate::engine::{engines_to_watch, watch, Backoff, EngineEvent, WatchEvent};

/// Quiet time after an engine event before the check it triggers, so a `docker compose up` of
/// ten services costs one check, not ten.
const EVENT_SETTLE: Duration = Duration::from_secs(5);

/// Follows each engine the checks use (reconnecting with backoff when it goes away); returns the
/// tasks, to abort when the configuration changes.
pub(super) fn watch_engines(monitor: &Monitor, config: &Config) -> Vec<tokio::task::JoinHandle<()>> {
    engines_to_watch(config, &[])
        .iter()
        .filter_map(|target| target.watch_spec())
        .map(|spec| {
            let monitor = monitor.clone();
            tokio::spawn(async move {
                let mut engine = watch(spec, Backoff::default());
                let mut pending = false;
                loop {
                    let next = if pending {
                        match tokio::time::timeout(EVENT_SETTLE, engine.next()).await {
                            Ok(next) => next,
                            Err(_) => {
                                pending = false;
                                monitor.engine_changed();
                                continue;
                            }
                        }
                    } else {
                        engine.next().await
                    };
                    match next {
                        Some(WatchEvent::Event(event)) if triggers_check(&event) => pending = true,
                        Some(_) => {}
                        None => break,
                    }
                }
            })
        })
        .collect()
}

/// Whether an engine event can change what a check says.
fn triggers_check(event: &EngineEvent) -> bool {
    matches!(
        event,
        EngineEvent::ContainerStarted { .. } | EngineEvent::ImagePulled { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starting_a_container_or_pulling_an_image_triggers_a_check() {
        let started = EngineEvent::ContainerStarted {
            id: "a".into(),
            name: "web".into(),
            image: "nginx".into(),
        };
        assert!(triggers_check(&started));
        assert!(triggers_check(&EngineEvent::ImagePulled {
            reference: "nginx:1".into()
        }));
        assert!(!triggers_check(&EngineEvent::ContainerDestroyed { id: "a".into() }));
    }
}
