//! The registry client against the lab's real CNCF distribution registries (open, htpasswd,
//! token auth, pull-through mirror). Needs `cargo xtask lab up`; fails, never skips, without it.

use std::sync::Arc;
use std::time::Duration;

use tidewatch_core::credentials::{
    ChainProvider, Credential, CredentialOrigin, CredentialProvider, DockerConfigProvider, KeyringProvider, Secret,
};
use tidewatch_core::error::Coded as _;
use tidewatch_core::platform::Platform;
use tidewatch_core::registry::{RegistryClient, RegistryPool, RegistrySettings, RequestCounts};
use tidewatch_lab::{Lab, FIXTURE_MULTI_ARCH, FIXTURE_TAGS};

fn client(registry: &str) -> RegistryClient {
    RegistryClient::new(registry, RegistrySettings::default()).unwrap()
}

fn token_client(lab: &Lab) -> RegistryClient {
    client(lab.token_registry()).with_credential(Credential::password(
        lab.var("TIDEWATCH_LAB_TOKEN_USER"),
        lab.var("TIDEWATCH_LAB_TOKEN_PASSWORD"),
        CredentialOrigin::Explicit,
    ))
}

fn basic_client(lab: &Lab, password: &str) -> RegistryClient {
    client(lab.basic_registry()).with_credential(Credential::password(
        lab.var("TIDEWATCH_LAB_BASIC_USER"),
        password,
        CredentialOrigin::Explicit,
    ))
}

async fn tokens_issued(lab: &Lab) -> u64 {
    let stats: serde_json::Value = reqwest::get(lab.var("TIDEWATCH_LAB_TOKEN_STATS"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    stats["issued"].as_u64().unwrap()
}

fn counts(ping: u64, token: u64, head: u64) -> RequestCounts {
    RequestCounts {
        ping,
        token,
        head,
        get: 0,
        tags: 0,
    }
}

#[tokio::test]
async fn open_registry_heads_a_digest_anonymously() {
    let lab = Lab::require();
    let client = client(lab.open_registry());
    let digest = client.manifest_digest("fixtures/app", "1.25.3").await.unwrap();
    assert!(digest.digest.starts_with("sha256:"), "{digest:?}");
    assert!(!digest.is_index());
    // Each tag has its own content.
    let other = client.manifest_digest("fixtures/app", "1.25.4").await.unwrap();
    assert_ne!(digest.digest, other.digest);
    assert_eq!(client.request_counts(), counts(1, 0, 2));
    // A GET of the same manifest hashes to the digest HEAD reported.
    let manifest = client.get_manifest("fixtures/app", "1.25.3").await.unwrap();
    assert_eq!(manifest.digest, digest.digest);
}

#[tokio::test]
async fn open_registry_lists_fixture_tags() {
    let lab = Lab::require();
    let client = client(lab.open_registry());
    for (repository, expected) in FIXTURE_TAGS {
        let list = client.list_tags(repository).await.unwrap();
        for tag in *expected {
            assert!(
                list.tags.contains(&tag.to_string()),
                "{repository}: {tag} missing from {:?}",
                list.tags
            );
        }
        assert_eq!(list.cut, None);
    }
}

#[tokio::test]
async fn small_page_size_still_returns_every_tag() {
    let lab = Lab::require();
    let settings = RegistrySettings {
        tag_page_size: 1,
        ..RegistrySettings::default()
    };
    let client = RegistryClient::new(lab.open_registry(), settings).unwrap();
    let list = client.list_tags("fixtures/app").await.unwrap();
    let (_, expected) = FIXTURE_TAGS.iter().find(|(r, _)| *r == "fixtures/app").unwrap();
    let mut got = list.tags.clone();
    got.sort();
    let mut want: Vec<String> = expected.iter().map(|t| t.to_string()).collect();
    want.sort();
    // This distribution build may answer everything at once; pages, if any, must add up.
    assert_eq!(got, want);
}

#[tokio::test]
async fn missing_tag_is_not_found() {
    let lab = Lab::require();
    let error = client(lab.open_registry())
        .manifest_digest("fixtures/app", "0.0.0-nope")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found", "{error}");
}

#[tokio::test]
async fn htpasswd_registry_accepts_the_right_password() {
    let lab = Lab::require();
    let client = basic_client(&lab, lab.var("TIDEWATCH_LAB_BASIC_PASSWORD"));
    let digest = client.manifest_digest("fixtures/app", "1.25.3").await.unwrap();
    let open = self::client(lab.open_registry())
        .manifest_digest("fixtures/app", "1.25.3")
        .await
        .unwrap();
    assert_eq!(
        digest.digest, open.digest,
        "the same fixture bytes are pushed everywhere"
    );
    assert_eq!(client.request_counts(), counts(1, 0, 1));
}

#[tokio::test]
async fn htpasswd_registry_refuses_a_wrong_password_naming_user_and_origin_not_the_password() {
    let lab = Lab::require();
    let wrong = format!("wrong-{}", lab.var("TIDEWATCH_LAB_BASIC_PASSWORD"));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    std::fs::write(
        &config,
        serde_json::json!({"auths": {lab.basic_registry(): {
            "username": lab.var("TIDEWATCH_LAB_BASIC_USER"), "password": wrong}}})
        .to_string(),
    )
    .unwrap();
    let client = client(lab.basic_registry()).with_provider(Arc::new(DockerConfigProvider::new(&config)));
    let error = client.manifest_digest("fixtures/app", "1.25.3").await.unwrap_err();
    assert_eq!(error.code(), "auth_refused", "{error}");
    let host = lab.basic_registry();
    let user = lab.var("TIDEWATCH_LAB_BASIC_USER");
    assert_eq!(
        error.to_string(),
        format!("registry {host} refused the credentials for user {user} (from docker config.json); run `tidewatch login {host}`")
    );
    assert!(!format!("{error:?}").contains(&wrong));
}

#[tokio::test]
async fn htpasswd_registry_without_credentials_says_to_log_in() {
    let lab = Lab::require();
    let error = client(lab.basic_registry())
        .manifest_digest("fixtures/app", "1.25.3")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "auth_required", "{error}");
    assert!(error.to_string().contains("tidewatch login"), "{error}");
}

#[tokio::test]
async fn token_registry_first_check_costs_one_ping_one_token_one_head_then_one_head() {
    let lab = Lab::require();
    let client = token_client(&lab);
    client.manifest_digest("fixtures/app", "1.25.3").await.unwrap();
    assert_eq!(client.request_counts(), counts(1, 1, 1));
    client.manifest_digest("fixtures/app", "1.25.3").await.unwrap();
    assert_eq!(client.request_counts(), counts(1, 1, 2));
}

#[tokio::test]
async fn token_is_fetched_once_and_reused_across_many_requests() {
    let lab = Lab::require();
    let before = tokens_issued(&lab).await;
    let client = token_client(&lab);
    for _ in 0..10 {
        for tag in ["1.25.3", "1.25.4", "latest"] {
            client.manifest_digest("fixtures/app", tag).await.unwrap();
        }
    }
    assert_eq!(client.request_counts(), counts(1, 1, 30));
    // The token server saw it too (other tests may fetch tokens meanwhile, hence >=).
    assert!(tokens_issued(&lab).await > before);
}

#[tokio::test]
async fn a_token_shorter_than_a_minute_is_kept_a_minute_and_the_registry_still_accepts_it() {
    let lab = Lab::require();
    let ttl: u64 = lab.var("TIDEWATCH_LAB_TOKEN_TTL").parse().unwrap();
    let client = token_client(&lab);
    client.manifest_digest("fixtures/web", "1.9.0").await.unwrap();
    assert_eq!(client.request_counts().token, 1);
    tokio::time::sleep(Duration::from_secs(ttl) + Duration::from_millis(500)).await;
    client.manifest_digest("fixtures/web", "1.9.0").await.unwrap();
    // The lab's tokens say they live 20 s, under the 60 s Docker's token spec promises: the
    // client keeps them a minute (lifetimes are clamped to 60 s–24 h, docs/registry-auth.md),
    // and distribution accepts them (it allows a minute of clock skew). Renewal after a refusal
    // is in fake_registry.rs.
    assert_eq!(client.request_counts(), counts(1, 1, 2));
}

#[tokio::test]
async fn token_registry_refuses_a_wrong_password_at_the_token_server() {
    let lab = Lab::require();
    let wrong = "definitely-not-the-password";
    let client = client(lab.token_registry()).with_credential(Credential::password(
        lab.var("TIDEWATCH_LAB_TOKEN_USER"),
        wrong,
        CredentialOrigin::Keyring,
    ));
    let error = client.manifest_digest("fixtures/app", "1.25.3").await.unwrap_err();
    assert_eq!(error.code(), "auth_refused", "{error}");
    assert!(
        error.to_string().contains(&format!(
            "user {} (from the OS keyring)",
            lab.var("TIDEWATCH_LAB_TOKEN_USER")
        )),
        "{error}"
    );
    assert!(!error.to_string().contains(wrong));
}

#[tokio::test]
async fn token_registry_anonymously_gets_an_empty_token_and_asks_to_log_in() {
    let lab = Lab::require();
    let client = client(lab.token_registry());
    let error = client.manifest_digest("fixtures/app", "1.25.3").await.unwrap_err();
    assert_eq!(error.code(), "auth_required", "{error}");
    // One retry after insufficient_scope, then the answer: no loop.
    assert!(client.request_counts().head <= 2, "{:?}", client.request_counts());
}

#[tokio::test]
async fn identity_token_is_exchanged_with_an_oauth2_refresh_grant() {
    let lab = Lab::require();
    let client = client(lab.token_registry()).with_credential(Credential::identity_token(
        "<token>",
        lab.var("TIDEWATCH_LAB_TOKEN_IDENTITY"),
        CredentialOrigin::Explicit,
    ));
    client.manifest_digest("fixtures/app", "1.25.3").await.unwrap();
    assert_eq!(client.request_counts(), counts(1, 1, 1));
}

#[tokio::test]
async fn token_registry_lists_tags_with_the_same_token() {
    let lab = Lab::require();
    let client = token_client(&lab);
    client.manifest_digest("fixtures/web", "1.10.0").await.unwrap();
    let list = client.list_tags("fixtures/web").await.unwrap();
    assert!(list.tags.contains(&"1.10.0".to_string()), "{:?}", list.tags);
    assert_eq!(client.request_counts().token, 1);
}

#[tokio::test]
async fn mirror_serves_the_open_registrys_digests() {
    let lab = Lab::require();
    let open = client(lab.open_registry());
    let mirror = client(lab.mirror_registry());
    for (repository, tags) in FIXTURE_TAGS {
        for tag in *tags {
            let upstream = open.manifest_digest(repository, tag).await.unwrap();
            let cached = mirror.manifest_digest(repository, tag).await.unwrap();
            assert_eq!(upstream.digest, cached.digest, "{repository}:{tag}");
        }
    }
}

#[tokio::test]
async fn multi_arch_index_resolves_per_platform() {
    let lab = Lab::require();
    let (repository, tag) = FIXTURE_MULTI_ARCH;
    for registry in [lab.open_registry(), lab.mirror_registry()] {
        let client = client(registry);
        let head = client.manifest_digest(repository, tag).await.unwrap();
        assert!(head.is_index(), "{registry}: {head:?}");
        let amd64 = client
            .platform_manifest(repository, tag, &"linux/amd64".parse().unwrap())
            .await
            .unwrap();
        let arm64 = client
            .platform_manifest(repository, tag, &Platform::new("linux", "arm64", Some("v8")))
            .await
            .unwrap();
        assert_eq!(amd64.index_digest.as_deref(), Some(head.digest.as_str()), "{registry}");
        assert_eq!(arm64.index_digest.as_deref(), Some(head.digest.as_str()), "{registry}");
        assert_ne!(amd64.digest, arm64.digest, "{registry}");
        // The platform manifests exist under their own digests.
        let by_digest = client.manifest_digest(repository, &amd64.digest).await.unwrap();
        assert_eq!(by_digest.digest, amd64.digest);
        let error = client
            .platform_manifest(repository, tag, &"linux/s390x".parse().unwrap())
            .await
            .unwrap_err();
        assert_eq!(error.code(), "platform_not_found", "{error}");
    }
}

/// Points this process's Secret Service client at the lab's session bus (gnome-keyring lives
/// there); every test sets the same value, so concurrent calls agree.
fn use_lab_keyring(lab: &Lab) {
    std::env::set_var("DBUS_SESSION_BUS_ADDRESS", lab.var("TIDEWATCH_LAB_DBUS_ADDRESS"));
}

#[tokio::test]
async fn pool_reads_credentials_from_the_keyring_before_docker_config() {
    let lab = Lab::require();
    use_lab_keyring(&lab);
    let service = format!("tidewatch-test-pool-{}", std::process::id());
    let keyring = KeyringProvider::new(&service);
    let registry = lab.basic_registry();
    let user = lab.var("TIDEWATCH_LAB_BASIC_USER");
    keyring
        .store(registry, user, &Secret::new(lab.var("TIDEWATCH_LAB_BASIC_PASSWORD")))
        .unwrap();
    // Docker's config holds a wrong password: the keyring's entry must win.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    std::fs::write(
        &config,
        serde_json::json!({"auths": {registry: {"username": user, "password": "stale"}}}).to_string(),
    )
    .unwrap();
    let chain = ChainProvider::new(vec![
        Arc::new(keyring.clone()),
        Arc::new(DockerConfigProvider::new(&config)),
    ]);
    let pool = RegistryPool::new(RegistrySettings::default()).with_provider(Arc::new(chain));
    let result = pool
        .client(registry)
        .unwrap()
        .manifest_digest("fixtures/app", "latest")
        .await;
    keyring.delete(registry).unwrap();
    result.unwrap();
    // And without the keyring entry, the stale Docker config password is refused, by origin.
    let chain = ChainProvider::new(vec![Arc::new(keyring), Arc::new(DockerConfigProvider::new(&config))]);
    let pool = RegistryPool::new(RegistrySettings::default()).with_provider(Arc::new(chain));
    let error = pool
        .client(registry)
        .unwrap()
        .manifest_digest("fixtures/app", "latest")
        .await
        .unwrap_err();
    assert!(error.to_string().contains("(from docker config.json)"), "{error}");
    assert_eq!(pool.request_counts(), counts(1, 0, 1));
}

#[test]
fn keyring_stores_reads_and_deletes_in_the_lab_session() {
    let lab = Lab::require();
    use_lab_keyring(&lab);
    let service = format!("tidewatch-test-{}", std::process::id());
    let provider = KeyringProvider::new(&service);
    let registry = "keyring.test.example:5000";
    let sentinel = Secret::new("s3ntinel-keyring-PASSWORD");
    provider.store(registry, "carol", &sentinel).unwrap();
    let credential = provider.credential_for(registry).unwrap().unwrap();
    assert_eq!(credential.username, "carol");
    assert_eq!(credential.secret, sentinel);
    assert_eq!(credential.origin, CredentialOrigin::Keyring);
    assert!(!format!("{credential:?}").contains("s3ntinel"));
    assert!(provider.delete(registry).unwrap());
    assert!(provider.credential_for(registry).unwrap().is_none());
    assert!(!provider.delete(registry).unwrap());
}

#[tokio::test]
async fn login_check_accepts_right_and_refuses_wrong_credentials_on_basic_and_token_registries() {
    let lab = Lab::require();
    basic_client(&lab, lab.var("TIDEWATCH_LAB_BASIC_PASSWORD"))
        .check_credentials()
        .await
        .unwrap();
    let error = basic_client(&lab, "nope").check_credentials().await.unwrap_err();
    assert_eq!(error.code(), "auth_refused", "{error}");

    let token = token_client(&lab);
    token.check_credentials().await.unwrap();
    assert_eq!(token.request_counts(), counts(1, 1, 0));
    let wrong = client(lab.token_registry()).with_credential(Credential::password(
        lab.var("TIDEWATCH_LAB_TOKEN_USER"),
        "nope",
        CredentialOrigin::Explicit,
    ));
    assert_eq!(wrong.check_credentials().await.unwrap_err().code(), "auth_refused");
    client(lab.open_registry()).check_credentials().await.unwrap();
}

/// A TCP forwarder to a lab registry that counts the connections clients open through it.
struct ConnectionCounter {
    addr: String,
    connections: Arc<std::sync::atomic::AtomicUsize>,
}

impl ConnectionCounter {
    async fn start(target: &str) -> ConnectionCounter {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (counted, target) = (connections.clone(), target.to_string());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let target = target.clone();
                tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        ConnectionCounter { addr, connections }
    }

    fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Lists the tags of the first `count` bulk repositories, all at once or one after the other.
async fn list_bulk_tags(client: &RegistryClient, count: usize, at_once: bool) {
    let list = |i: usize| {
        let repository = tidewatch_lab::bulk_repository(i);
        async move { client.list_tags(&repository).await.unwrap() }
    };
    let lists = if at_once {
        futures_util::future::join_all((0..count).map(list)).await
    } else {
        let mut lists = Vec::new();
        for i in 0..count {
            lists.push(list(i).await);
        }
        lists
    };
    for list in lists {
        assert!(list.tags.contains(&"1.1.0".to_string()), "{list:?}");
    }
}

#[tokio::test]
async fn a_tls_registry_trusted_through_its_ca_gets_every_request_over_one_http2_connection() {
    let lab = Lab::require();
    let counter = ConnectionCounter::start(lab.tls_registry()).await;
    // A loopback registry with a CA to trust speaks TLS (docs/registry-auth.md#endpoints-and-transport).
    let settings = RegistrySettings {
        ca_cert: Some(lab.ca_cert()),
        ..RegistrySettings::default()
    };
    let client = RegistryClient::new(&counter.addr, settings).unwrap();
    assert_eq!(client.endpoint().scheme(), "https");
    list_bulk_tags(&client, 30, true).await;
    list_bulk_tags(&client, 30, false).await;
    assert_eq!(client.request_counts().total(), 61, "the ping and sixty tag lists");
    assert_eq!(
        counter.connections(),
        1,
        "HTTP/2 multiplexes them all on one connection"
    );
}

#[tokio::test]
async fn http1_connections_are_kept_for_the_next_requests() {
    let lab = Lab::require();
    let counter = ConnectionCounter::start(lab.open_registry()).await;
    let client = RegistryClient::new(&counter.addr, RegistrySettings::default()).unwrap();
    list_bulk_tags(&client, 30, true).await;
    let opened = counter.connections();
    assert!(opened > 1, "requests went out side by side: {opened} connection(s)");
    list_bulk_tags(&client, 30, false).await;
    assert_eq!(counter.connections(), opened, "later requests reuse those connections");
}
