//! Tidewatch's domain: everything the desktop app, the CLI and the tests share. No Tauri here.

pub mod checker;
pub mod config;
pub mod credentials;
pub mod docker_hub;
pub mod engine;
pub mod error;
pub mod explain;
pub mod labels;
pub mod login;
pub mod mirror;
pub mod monitor;
pub mod platform;
mod private_files;
pub mod reference;
pub mod registries_conf;
pub mod registry;
pub mod rollout;
pub mod source;
pub mod store;
pub mod untrusted;
pub mod update;
pub mod version;

/// Installs the one rustls crypto provider the tree is built with (ring). Idempotent; call it once
/// before any TLS connection (reqwest or bollard) is made.
pub fn init_crypto() {
    // An error only means a provider is installed already, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
