//! One client per registry, shared by every check, so each registry is pinged once, its tokens
//! are reused and its requests are counted (and bounded) in one place.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{RegistryClient, RegistryError, RegistrySettings, RequestCounts};
use crate::credentials::{registry_key, CredentialProvider};

/// Registry clients by registry name (Docker Hub's aliases fold into `docker.io`).
#[derive(Default)]
pub struct RegistryPool {
    defaults: RegistrySettings,
    per_registry: HashMap<String, RegistrySettings>,
    provider: Option<Arc<dyn CredentialProvider>>,
    clients: Mutex<HashMap<String, Arc<RegistryClient>>>,
}

impl std::fmt::Debug for RegistryPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryPool")
            .field("defaults", &self.defaults)
            .field("per_registry", &self.per_registry)
            .finish_non_exhaustive()
    }
}

impl RegistryPool {
    /// A pool whose clients use `defaults` unless a registry has its own settings.
    pub fn new(defaults: RegistrySettings) -> Self {
        RegistryPool {
            defaults,
            ..RegistryPool::default()
        }
    }

    /// Where every client asks for credentials (e.g. [`crate::credentials::ChainProvider::standard`]).
    pub fn with_provider(mut self, provider: Arc<dyn CredentialProvider>) -> Self {
        self.provider = Some(provider);
        self
    }

    /// Settings for one registry (`[[registries]]` in the config: insecure, CA certificate).
    pub fn with_registry(mut self, registry: &str, settings: RegistrySettings) -> Self {
        self.per_registry.insert(registry_key(registry), settings);
        self
    }

    /// The client for `registry`, created on first use. Clients are keyed by scheme and host:
    /// an `http://` endpoint and an `https://` one of the same host never share a client (nor
    /// its tokens or ping).
    pub fn client(&self, registry: &str) -> Result<Arc<RegistryClient>, RegistryError> {
        let host = registry_key(registry);
        let settings = self.per_registry.get(&host).unwrap_or(&self.defaults).clone();
        let endpoint = super::endpoint_for(registry, &settings).map_err(|reason| RegistryError::Config {
            registry: registry.to_string(),
            reason,
        })?;
        let key = format!("{}://{host}", endpoint.scheme());
        let mut clients = super::lock(&self.clients);
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let mut client = RegistryClient::new(registry, settings)?;
        if let Some(provider) = &self.provider {
            client = client.with_provider(provider.clone());
        }
        let client = Arc::new(client);
        clients.insert(key, client.clone());
        Ok(client)
    }

    /// Requests made through every client of the pool.
    pub fn request_counts(&self) -> RequestCounts {
        super::lock(&self.clients)
            .values()
            .map(|c| c.request_counts())
            .fold(RequestCounts::default(), |a, b| a + b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_aliases_share_one_client() {
        let pool = RegistryPool::new(RegistrySettings::default());
        let a = pool.client("docker.io").unwrap();
        let b = pool.client("index.docker.io").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &pool.client("ghcr.io").unwrap()));
    }

    #[test]
    fn http_and_https_endpoints_of_one_host_never_share_a_client() {
        let pool = RegistryPool::new(RegistrySettings::default());
        let https = pool.client("mirror.corp:5000").unwrap();
        let http = pool.client("http://mirror.corp:5000").unwrap();
        assert!(!Arc::ptr_eq(&https, &http));
        assert_eq!(https.endpoint().scheme(), "https");
        assert_eq!(http.endpoint().scheme(), "http");
        assert!(Arc::ptr_eq(&http, &pool.client("http://mirror.corp:5000/").unwrap()));
    }

    #[test]
    fn per_registry_settings_apply() {
        let insecure = RegistrySettings {
            insecure: true,
            ..RegistrySettings::default()
        };
        let pool = RegistryPool::new(RegistrySettings::default()).with_registry("registry.corp:5000", insecure);
        assert_eq!(pool.client("registry.corp:5000").unwrap().endpoint().scheme(), "http");
        assert_eq!(pool.client("other.corp:5000").unwrap().endpoint().scheme(), "https");
        assert_eq!(pool.request_counts().total(), 0);
    }
}
