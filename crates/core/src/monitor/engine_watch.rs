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
                let (mut pending, mut news) = (false, false);
                loop {
                    let next = if pending {
                        match tokio::time::timeout(EVENT_SETTLE, engine.next()).await {
                            Ok(next) => next,
                            Err(_) => {
                                monitor.engine_changed(news);
                                (pending, news) = (false, false);
                                continue;
                            }
                        }
                    } else {
                        engine.next().await
                    };
                    match next {
                        Some(WatchEvent::Event(event)) if triggers_check(&event) => {
                            pending = true;
                            news |= is_news(&event, |image| monitor.judged_image(image));
                        }
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

/// Whether an event is news the user expects judged at once: a container started on an image the
/// last report did not judge. Everything else waits for the monitor's event gap, so a container
/// in a restart loop costs at most one check per gap (docs/reliability.md#the-app-and-the-store).
fn is_news(event: &EngineEvent, judged: impl Fn(&str) -> bool) -> bool {
    match event {
        EngineEvent::ContainerStarted { image, .. } => !judged(image),
        _ => false,
    }
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

    #[test]
    fn only_a_container_on_an_image_not_judged_yet_is_news() {
        let started = |image: &str| EngineEvent::ContainerStarted {
            id: "a".into(),
            name: "web".into(),
            image: image.into(),
        };
        let judged = |image: &str| image == "nginx:1.25.3";
        assert!(is_news(&started("redis:7"), judged), "a new image is checked at once");
        assert!(
            !is_news(&started("nginx:1.25.3"), judged),
            "a restart of a judged image waits for the gap"
        );
        assert!(!is_news(
            &EngineEvent::ImagePulled {
                reference: "redis:7".into()
            },
            judged
        ));
    }
}
