//! The engine's events API, translated to the few events Tidewatch reacts to: a container
//! started or went away, an image was pulled or tagged (so a check may be due).

use std::collections::HashMap;

use bollard::models::{EventMessage, EventMessageTypeEnum};
use bollard::query_parameters::EventsOptionsBuilder;
use futures_util::{Stream, StreamExt};
use serde::Serialize;

use super::{Engine, EngineError};

/// Something that happened on an engine that may change what a check would say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EngineEvent {
    /// `image` is the reference the container was created with, as the engine reports it.
    ContainerStarted {
        id: String,
        name: String,
        image: String,
    },
    ContainerDestroyed {
        id: String,
    },
    /// `reference` as pulled, e.g. `registry.lan/app:1.25.3`.
    ImagePulled {
        reference: String,
    },
    /// `id` (the image ID) was given the name `reference`.
    ImageTagged {
        id: String,
        reference: String,
    },
}

/// An event with the engine's timestamp, so a watcher can resume after a reconnect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TimedEvent {
    /// Nanoseconds since the Unix epoch on the engine's clock (0 when the engine gave none).
    pub time_nano: i64,
    pub event: Option<EngineEvent>,
}

impl Engine {
    /// The engine's events from now on, as Tidewatch events. The stream ends when the engine
    /// closes it; [`super::watch`] reconnects when that happens.
    pub fn events(&self) -> impl Stream<Item = Result<EngineEvent, EngineError>> + Send + 'static {
        self.timed_events(None).filter_map(|item| async move {
            match item {
                Ok(timed) => timed.event.map(Ok),
                Err(e) => Some(Err(e)),
            }
        })
    }

    /// Events since `since_nano` (engine clock) when given, else from now on. Every event the
    /// filter lets through is yielded, translated or not, so the caller can track the time.
    pub(crate) fn timed_events(
        &self,
        since_nano: Option<i64>,
    ) -> impl Stream<Item = Result<TimedEvent, EngineError>> + Send + 'static {
        // Filtering in the engine keeps a busy engine's exec/health events off the wire.
        let filters: HashMap<&str, Vec<&str>> = HashMap::from([
            ("type", vec!["container", "image"]),
            ("event", vec!["start", "destroy", "pull", "tag"]),
        ]);
        let mut options = EventsOptionsBuilder::default().filters(&filters);
        let since = since_nano.map(format_since);
        if let Some(since) = &since {
            options = options.since(since);
        }
        let engine = self.clone();
        self.docker.events(Some(options.build())).map(move |item| match item {
            Ok(message) => Ok(TimedEvent {
                time_nano: message
                    .time_nano
                    .or(message.time.map(|s| s.saturating_mul(1_000_000_000)))
                    .unwrap_or(0),
                event: translate(&message),
            }),
            Err(e) => Err(engine.request_error("stream events", e)),
        })
    }
}

/// Docker's `since` takes `seconds.nanoseconds`.
fn format_since(nanos: i64) -> String {
    format!(
        "{}.{:09}",
        nanos.div_euclid(1_000_000_000),
        nanos.rem_euclid(1_000_000_000)
    )
}

/// The Tidewatch event for an engine event, when it is one Tidewatch cares about. Missing fields
/// make the event unusable, never a panic.
pub(crate) fn translate(message: &EventMessage) -> Option<EngineEvent> {
    let actor = message.actor.as_ref()?;
    let id = actor.id.clone().filter(|id| !id.is_empty())?;
    let attribute = |key: &str| {
        actor
            .attributes
            .as_ref()
            .and_then(|a| a.get(key))
            .cloned()
            .unwrap_or_default()
    };
    match (message.typ?, message.action.as_deref()?) {
        (EventMessageTypeEnum::CONTAINER, "start") => Some(EngineEvent::ContainerStarted {
            id,
            name: attribute("name"),
            image: attribute("image"),
        }),
        (EventMessageTypeEnum::CONTAINER, "destroy") => Some(EngineEvent::ContainerDestroyed { id }),
        // For a pull the actor is the reference pulled, not an image ID.
        (EventMessageTypeEnum::IMAGE, "pull") => Some(EngineEvent::ImagePulled { reference: id }),
        (EventMessageTypeEnum::IMAGE, "tag") => {
            let reference = attribute("name");
            (!reference.is_empty()).then_some(EngineEvent::ImageTagged { id, reference })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use bollard::models::EventActor;

    use super::*;

    fn message(typ: EventMessageTypeEnum, action: &str, id: &str, attributes: &[(&str, &str)]) -> EventMessage {
        EventMessage {
            typ: Some(typ),
            action: Some(action.to_string()),
            actor: Some(EventActor {
                id: Some(id.to_string()),
                attributes: Some(attributes.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn engine_events_become_tidewatch_events() {
        use EventMessageTypeEnum::{CONTAINER, IMAGE, NETWORK};
        let cases = [
            (
                message(CONTAINER, "start", "c1", &[("name", "web"), ("image", "nginx:1.25")]),
                Some(EngineEvent::ContainerStarted {
                    id: "c1".into(),
                    name: "web".into(),
                    image: "nginx:1.25".into(),
                }),
            ),
            (
                message(CONTAINER, "destroy", "c1", &[]),
                Some(EngineEvent::ContainerDestroyed { id: "c1".into() }),
            ),
            (
                message(
                    IMAGE,
                    "pull",
                    "registry.lan/app:1.25.3",
                    &[("name", "registry.lan/app")],
                ),
                Some(EngineEvent::ImagePulled {
                    reference: "registry.lan/app:1.25.3".into(),
                }),
            ),
            (
                message(IMAGE, "tag", "sha256:abc", &[("name", "app:dev")]),
                Some(EngineEvent::ImageTagged {
                    id: "sha256:abc".into(),
                    reference: "app:dev".into(),
                }),
            ),
            (message(IMAGE, "tag", "sha256:abc", &[]), None),
            (message(CONTAINER, "exec_start: sh", "c1", &[]), None),
            (message(NETWORK, "start", "n1", &[]), None),
            (message(CONTAINER, "start", "", &[]), None),
            (EventMessage::default(), None),
        ];
        for (message, expected) in cases {
            assert_eq!(translate(&message), expected, "{message:?}");
        }
    }

    #[test]
    fn since_is_seconds_dot_nanoseconds() {
        assert_eq!(format_since(1_700_000_000_000_000_001), "1700000000.000000001");
        assert_eq!(format_since(0), "0.000000000");
    }
}
