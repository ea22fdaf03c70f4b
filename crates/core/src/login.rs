//! Saving a registry login, the same way from the app's settings and `tidewatch login`: verify
//! it against the registry first (a typo is caught before it is stored), then keep the secret in
//! the OS keyring and only the user name in the store, so the UI can list saved logins without
//! ever reading a secret back.

use std::path::Path;

use crate::credentials::{self, Credential, CredentialError, CredentialOrigin, Secret};
use crate::error::{Coded, ErrorKind};
use crate::registry::{RegistryClient, RegistryError, RegistrySettings};
use crate::store::{SavedLogin, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("{0}")]
    Registry(#[from] RegistryError),
    #[error("{0}")]
    Keyring(#[from] CredentialError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("the user name is empty: enter the user you log in to {registry} with")]
    EmptyUser { registry: String },
    #[error("the password is empty: enter the password or access token for {registry}")]
    EmptyPassword { registry: String },
}

impl Coded for LoginError {
    fn code(&self) -> &'static str {
        match self {
            LoginError::Registry(e) => e.code(),
            LoginError::Keyring(e) => e.code(),
            LoginError::Store(e) => e.code(),
            LoginError::EmptyUser { .. } | LoginError::EmptyPassword { .. } => "login_incomplete",
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            LoginError::Registry(e) => e.kind(),
            _ => ErrorKind::Answered,
        }
    }
}

/// Verifies `username`/`password` against `registry`, then saves them (keyring + store).
pub async fn save_login(
    registry: &str,
    settings: RegistrySettings,
    username: &str,
    password: Secret,
    database: &Path,
) -> Result<(), LoginError> {
    let registry = registry.trim();
    if username.trim().is_empty() {
        return Err(LoginError::EmptyUser {
            registry: registry.to_string(),
        });
    }
    if password.expose().is_empty() {
        return Err(LoginError::EmptyPassword {
            registry: registry.to_string(),
        });
    }
    let credential = Credential::password(username.trim(), password.expose(), CredentialOrigin::Explicit);
    RegistryClient::new(registry, settings)?
        .with_credential(credential)
        .check_credentials()
        .await?;
    // The keyring and the store block (D-Bus, SQLite): off the async runtime.
    let (registry, username, database) = (
        registry.to_string(),
        username.trim().to_string(),
        database.to_path_buf(),
    );
    tokio::task::spawn_blocking(move || {
        credentials::login(&registry, &username, &password)?;
        Store::open(&database)?.record_login(&registry, &username)?;
        Ok(())
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// Removes a saved login from the keyring and the store. Returns whether the keyring had one.
pub fn remove_login(registry: &str, database: &Path) -> Result<bool, LoginError> {
    let existed = credentials::logout(registry.trim())?;
    Store::open(database)?.forget_login(registry.trim())?;
    Ok(existed)
}

/// The logins saved through Tidewatch (registry and user; never the secret).
pub fn saved_logins(database: &Path) -> Result<Vec<SavedLogin>, LoginError> {
    Ok(Store::open(database)?.saved_logins()?)
}
