//! Registry authentication: which challenge to answer, with which credential, and checking a
//! credential before it is stored.

mod challenge;
mod token;

use reqwest::header::{HeaderMap, AUTHORIZATION};
use reqwest::{Method, StatusCode};

use crate::registry::{basic_header, RegistryClient, RegistryError, RequestKind};
pub use challenge::{choose, parse_challenges, Challenge};
pub use token::{Token, DEFAULT_TOKEN_LIFETIME};

/// The scope to ask for when reading a repository.
pub fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

impl RegistryClient {
    /// Whether the registry accepts this client's credential, as `docker login` checks it: a
    /// token without any scope (Bearer) or `GET /v2/` with it (Basic). For `tidewatch login`, so a
    /// typo is caught before it is stored. An open registry accepts anything.
    pub async fn check_credentials(&self) -> Result<(), RegistryError> {
        let challenges = self.ping().await?;
        let Some(challenge) = choose(&challenges) else {
            return Ok(());
        };
        if challenge.is_bearer() {
            return self.fetch_token(challenge, &[]).await.map(|_| ());
        }
        let Some(credential) = self.credential().await? else {
            return Err(RegistryError::AuthRequired {
                registry: self.registry.clone(),
                repository: "anything".into(),
            });
        };
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, basic_header(&credential));
        let url = self.url("/v2/")?;
        let response = self.send(RequestKind::Ping, Method::GET, url, headers, None).await?;
        match response.status() {
            status if status.is_success() => Ok(()),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(RegistryError::AuthRefused {
                registry: self.registry.clone(),
                user: credential.display_user().to_string(),
                origin: credential.origin.clone(),
            }),
            status => Err(RegistryError::UnexpectedStatus {
                registry: self.registry.clone(),
                status: status.as_u16(),
                what: "GET /v2/ with credentials".into(),
            }),
        }
    }
}
