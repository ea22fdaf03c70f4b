//! Engines against the real lab: the events stream reports pulls and container starts, several
//! engines connect at once with one failure kept apart, the engine's registry mirrors come from
//! its info endpoint, and a watched engine that goes away (a socket proxy we stop) is reconnected
//! with backoff and its missed events replayed.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use tidewatch_core::checker::inventory;
use tidewatch_core::engine::{
    watch, Backoff, Engine, EngineError, EngineEvent, EngineSpec, EngineTarget, WatchEvent, WatchState,
};
use tidewatch_core::error::Coded as _;
use tidewatch_lab::{containers, Lab};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::{AbortHandle, JoinHandle};

const WAIT: Duration = Duration::from_secs(30);

async fn pull(engine: &Engine, image: &str) {
    containers::pull(engine.docker(), image, None).await;
}

async fn start_container(engine: &Engine, image: &str, name: &str) -> String {
    containers::start_container(engine.docker(), image, name, &[]).await
}

async fn remove_container(engine: &Engine, id_or_name: &str) {
    containers::remove_container(engine.docker(), id_or_name).await;
}

/// The next event the stream yields that `wanted` accepts, within `WAIT`.
async fn next_event<S>(stream: &mut S, wanted: impl Fn(&EngineEvent) -> bool) -> EngineEvent
where
    S: Stream<Item = Result<EngineEvent, EngineError>> + Unpin,
{
    tokio::time::timeout(WAIT, async {
        loop {
            match stream.next().await {
                Some(Ok(event)) if wanted(&event) => return event,
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("the events stream failed: {e}"),
                None => panic!("the events stream ended"),
            }
        }
    })
    .await
    .expect("the expected event did not arrive in time")
}

#[tokio::test]
async fn events_arrive_for_an_image_pull_and_a_container_start() {
    let lab = Lab::require();
    let engine = Engine::connect_with(&EngineSpec::new("lab", lab.docker_host()))
        .await
        .expect("connect to the lab engine");
    let image = format!("{}/fixtures/app:1.25.4", lab.open_registry());
    let mut events = Box::pin(engine.events());

    // The stream subscribes when first polled, so pull until a pull is seen: from then on the
    // stream is live and nothing else can be missed (a pull of a present image is still an event).
    let pulled = tokio::time::timeout(WAIT, async {
        loop {
            let puller = engine.clone();
            let to_pull = image.clone();
            let pulling = tokio::spawn(async move { pull(&puller, &to_pull).await });
            let seen = tokio::time::timeout(Duration::from_secs(3), async {
                loop {
                    match events.next().await {
                        // Other tests pull too; only this image's pull counts.
                        Some(Ok(EngineEvent::ImagePulled { reference })) if reference == image => return reference,
                        Some(Ok(_)) => {}
                        Some(Err(e)) => panic!("the events stream failed: {e}"),
                        None => panic!("the events stream ended"),
                    }
                }
            })
            .await;
            pulling.await.expect("the pull task");
            if let Ok(reference) = seen {
                return reference;
            }
        }
    })
    .await
    .expect("no pull event arrived");
    assert_eq!(pulled, image);

    let name = "tidewatch-lab-events-start";
    let id = start_container(&engine, &image, name).await;
    let started = next_event(
        &mut events,
        |e| matches!(e, EngineEvent::ContainerStarted { id: i, .. } if *i == id),
    )
    .await;
    assert_eq!(
        started,
        EngineEvent::ContainerStarted {
            id: id.clone(),
            name: name.to_string(),
            image: image.clone()
        }
    );

    remove_container(&engine, &id).await;
    // Other tests share the engine: wait for this container's event, not any.
    let destroyed = next_event(
        &mut events,
        |e| matches!(e, EngineEvent::ContainerDestroyed { id: i } if *i == id),
    )
    .await;
    assert_eq!(destroyed, EngineEvent::ContainerDestroyed { id });
}

/// A check lists every engine at once; one that does not answer is kept apart, never stops the others.
#[tokio::test]
async fn listing_several_engines_keeps_each_outcome() {
    let lab = Lab::require();
    let missing = tempfile::tempdir().expect("temp dir");
    let missing_socket = format!("unix://{}", missing.path().join("docker.sock").display());
    let targets = [
        EngineTarget::Spec(EngineSpec::new("lab", lab.docker_host())),
        EngineTarget::Spec(EngineSpec::new("gone", &missing_socket)),
        EngineTarget::Spec(EngineSpec::new("refused", "tcp://127.0.0.1:1")),
    ];
    let inventories = inventory(&targets).await;
    let names: Vec<&str> = inventories.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["lab", "gone", "refused"], "results in the order asked");

    inventories[0].containers.as_ref().expect("the good engine is listed");
    for listed in &inventories[1..] {
        let error = listed.containers.as_ref().expect_err("a bad engine fails");
        assert_eq!(error.code(), "engine_unreachable", "{error}");
        assert!(
            error.to_string().contains(&listed.name),
            "the error names the engine: {error}"
        );
    }
    let gone = inventories[1].containers.as_ref().unwrap_err().to_string();
    assert!(gone.contains(&missing_socket) && gone.contains("no socket"), "{gone}");
}

#[tokio::test]
async fn registry_mirrors_are_what_the_engine_reports() {
    let lab = Lab::require();
    let engine = Engine::connect_with(&EngineSpec::new("lab", lab.docker_host()))
        .await
        .expect("connect to the lab engine");
    let reported = engine
        .docker()
        .info()
        .await
        .expect("engine info")
        .registry_config
        .and_then(|c| c.mirrors)
        .unwrap_or_default();
    let mirrors: Vec<String> = engine.registry_mirrors().await.expect("registry mirrors");
    assert_eq!(mirrors, reported);
}

/// A unix socket that forwards to the lab engine's socket and can be stopped and started again:
/// the engine "goes away" for a watcher without touching the lab's dockerd.
struct SocketProxy {
    path: PathBuf,
    target: PathBuf,
    accept: Option<JoinHandle<()>>,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
}

impl SocketProxy {
    fn new(path: &Path, target: &Path) -> SocketProxy {
        SocketProxy {
            path: path.to_path_buf(),
            target: target.to_path_buf(),
            accept: None,
            connections: Arc::default(),
        }
    }

    fn start(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let listener = UnixListener::bind(&self.path).expect("bind the proxy socket");
        let target = self.target.clone();
        let connections = Arc::clone(&self.connections);
        self.accept = Some(tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let target = target.clone();
                let forward = tokio::spawn(async move {
                    if let Ok(mut engine) = UnixStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut engine).await;
                    }
                });
                connections
                    .lock()
                    .expect("proxy connections")
                    .push(forward.abort_handle());
            }
        }));
    }

    /// Drops every forwarded connection and the socket itself.
    fn stop(&mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
        }
        for connection in self.connections.lock().expect("proxy connections").drain(..) {
            connection.abort();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for SocketProxy {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn next_watch_event(
    watch: &mut tidewatch_core::engine::EngineWatch,
    wanted: impl Fn(&WatchEvent) -> bool,
) -> WatchEvent {
    next_watch_event_within(watch, WAIT, wanted).await
}

async fn next_watch_event_within(
    watch: &mut tidewatch_core::engine::EngineWatch,
    wait: Duration,
    wanted: impl Fn(&WatchEvent) -> bool,
) -> WatchEvent {
    tokio::time::timeout(wait, async {
        loop {
            match watch.next().await {
                Some(event) if wanted(&event) => return event,
                Some(_) => {}
                None => panic!("the watcher stopped"),
            }
        }
    })
    .await
    .expect("the expected watch event did not arrive in time")
}

#[tokio::test]
async fn a_watched_engine_that_goes_away_is_reconnected_and_missed_events_replayed() {
    let lab = Lab::require();
    let lab_socket = lab
        .docker_host()
        .strip_prefix("unix://")
        .expect("the lab engine is a unix socket");
    let dir = tempfile::tempdir().expect("temp dir");
    let proxy_socket = dir.path().join("engine.sock");
    let mut proxy = SocketProxy::new(&proxy_socket, Path::new(lab_socket));
    proxy.start();

    let direct = Engine::connect_with(&EngineSpec::new("lab", lab.docker_host()))
        .await
        .expect("connect to the lab engine");
    let image = format!("{}/fixtures/app:1.25.3", lab.open_registry());
    pull(&direct, &image).await;

    let spec = EngineSpec::new("proxied", format!("unix://{}", proxy_socket.display()));
    let backoff = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_millis(400),
        jitter: 0.2,
    };
    let mut watcher = watch(spec, backoff);
    let connected = next_watch_event(&mut watcher, |e| matches!(e, WatchEvent::Connected { .. })).await;
    assert!(
        matches!(connected, WatchEvent::Connected { resumed: false, .. }),
        "{connected:?}"
    );
    assert!(
        matches!(watcher.state(), WatchState::Connected { .. }),
        "{:?}",
        watcher.state()
    );

    // Live events flow through the proxy (retry the start until the subscription is up).
    let name = "tidewatch-lab-watch-live";
    let live_id = tokio::time::timeout(WAIT, async {
        loop {
            let id = start_container(&direct, &image, name).await;
            let seen = tokio::time::timeout(Duration::from_secs(3), async {
                loop {
                    if let Some(WatchEvent::Event(EngineEvent::ContainerStarted { id: started, .. })) =
                        watcher.next().await
                    {
                        if started == id {
                            return;
                        }
                    }
                }
            })
            .await;
            if seen.is_ok() {
                return id;
            }
        }
    })
    .await
    .expect("no start event through the proxy");

    // The engine goes away: the watcher reports it and retries with backoff.
    proxy.stop();
    // Usually noticed at once (the event stream ends); at worst by the watcher's ping of a quiet
    // engine every 30 s, so allow more than that (CI once took over 30 s under load).
    let disconnected =
        next_watch_event_within(&mut watcher, WAIT * 3, |e| matches!(e, WatchEvent::Disconnected { .. })).await;
    let WatchEvent::Disconnected { error, retry_in } = disconnected else {
        unreachable!()
    };
    assert!(retry_in <= Duration::from_millis(400), "{retry_in:?}");
    assert!(error.to_string().contains("proxied"), "{error}");
    let retrying = tokio::time::timeout(WAIT, async {
        let mut changes = watcher.state_changes();
        loop {
            if let WatchState::Retrying {
                attempt, last_error, ..
            } = changes.borrow_and_update().clone()
            {
                if attempt >= 2 {
                    return last_error;
                }
            }
            changes.changed().await.expect("the watcher is running");
        }
    })
    .await
    .expect("the watcher keeps retrying");
    assert!(retrying.to_string().contains("no socket"), "{retrying}");

    // Something happens while it is away…
    let missed_name = "tidewatch-lab-watch-missed";
    let missed_id = start_container(&direct, &image, missed_name).await;

    // …and is replayed once the engine is back.
    proxy.start();
    let reconnected = next_watch_event(&mut watcher, |e| matches!(e, WatchEvent::Connected { .. })).await;
    assert!(
        matches!(reconnected, WatchEvent::Connected { resumed: true, .. }),
        "{reconnected:?}"
    );
    let replayed = next_watch_event(
        &mut watcher,
        |e| matches!(e, WatchEvent::Event(EngineEvent::ContainerStarted { id, .. }) if *id == missed_id),
    )
    .await;
    assert_eq!(
        replayed,
        WatchEvent::Event(EngineEvent::ContainerStarted {
            id: missed_id.clone(),
            name: missed_name.to_string(),
            image
        })
    );
    assert!(
        matches!(watcher.state(), WatchState::Connected { .. }),
        "{:?}",
        watcher.state()
    );

    drop(watcher);
    remove_container(&direct, &live_id).await;
    remove_container(&direct, &missed_id).await;
}

#[tokio::test]
async fn local_discovery_takes_the_first_address_that_answers() {
    let lab = Lab::require();
    let missing = tempfile::tempdir().expect("temp dir");
    let candidates = vec![
        EngineSpec::new(
            "local",
            format!("unix://{}", missing.path().join("docker.sock").display()),
        ),
        EngineSpec::new("local", lab.docker_host()),
    ];
    let engine = Engine::connect_local_from(&candidates)
        .await
        .expect("the lab engine answers");
    assert_eq!((engine.name(), engine.host()), ("local", lab.docker_host()));
}

#[tokio::test]
async fn containers_keep_the_reference_as_created_even_as_an_image_id_or_a_moved_tag() {
    let lab = Lab::require();
    let engine = Engine::connect_with(&EngineSpec::new("lab", lab.docker_host()))
        .await
        .expect("connect to the lab engine");
    let old = format!("{}/fixtures/web:1.9.0", lab.open_registry());
    let new = format!("{}/fixtures/web:1.10.0", lab.open_registry());
    pull(&engine, &old).await;
    pull(&engine, &new).await;
    let old_id = engine
        .docker()
        .inspect_image(&old)
        .await
        .expect("inspect")
        .id
        .expect("image ID");

    // A local name of our own, so moving it cannot disturb other tests' fixture tags.
    let local = "tidewatch-lab/moved:current";
    let tag = |source: String| {
        let engine = engine.clone();
        async move {
            let options = bollard::query_parameters::TagImageOptionsBuilder::default()
                .repo("tidewatch-lab/moved")
                .tag("current")
                .build();
            engine
                .docker()
                .tag_image(&source, Some(options))
                .await
                .expect("tag the image");
        }
    };
    tag(old.clone()).await;
    let by_name = start_container(&engine, local, "tidewatch-lab-moved-tag").await;
    // The name now points at another image: the list shows the old image's ID for this container.
    tag(new.clone()).await;
    let by_id = start_container(&engine, &old_id, "tidewatch-lab-by-image-id").await;
    let short_id: String = old_id.trim_start_matches("sha256:").chars().take(12).collect();
    let by_short_id = start_container(&engine, &short_id, "tidewatch-lab-by-short-id").await;

    let containers = engine.containers().await.expect("list containers");
    let find = |id: &str| containers.iter().find(|c| c.id == id).expect("listed").clone();

    let moved = find(&by_name);
    assert_eq!(
        moved.image, local,
        "the reference as created, not the ID the list shows"
    );
    assert!(!moved.created_from_image_id());
    assert_eq!(moved.image_id, old_id);
    assert_eq!(moved.named_reference(), Some(local));

    for (id, as_created) in [(&by_id, old_id.as_str()), (&by_short_id, short_id.as_str())] {
        let container = find(id);
        assert_eq!(container.image, as_created);
        assert!(container.created_from_image_id(), "{as_created}");
        assert_eq!(container.image_id, old_id);
        assert!(container.repo_tags.contains(&old), "{:?}", container.repo_tags);
        // Other tests may have given the same image more names (the mirror's); then which one
        // the user meant is unknown.
        let expected = (container.repo_tags.len() == 1).then_some(old.as_str());
        assert_eq!(container.named_reference(), expected, "{:?}", container.repo_tags);
        assert!(!container.repo_digests.is_empty());
    }

    for id in [&by_name, &by_id, &by_short_id] {
        remove_container(&engine, id).await;
    }
    let _ = engine
        .docker()
        .remove_image(local, None::<bollard::query_parameters::RemoveImageOptions>, None)
        .await;
}
