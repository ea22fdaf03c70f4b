//! The keyring behind a session bus that accepts connections and never answers (a hung Secret
//! Service): every keyring call is a clear error within its timeout, never a hang, and nothing is
//! written anywhere else instead. Its own test binary: it points this process's session bus at
//! the silent socket.

use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use tidewatch_core::credentials::{CredentialProvider as _, KeyringProvider, Secret};
use tidewatch_core::error::Coded as _;

#[test]
fn a_keyring_that_never_answers_is_a_clear_error_within_seconds_for_read_write_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("bus");
    let listener = UnixListener::bind(&socket).unwrap();
    // Accept and hold every connection without a word.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    std::env::set_var("DBUS_SESSION_BUS_ADDRESS", format!("unix:path={}", socket.display()));
    let before: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();

    let keyring = KeyringProvider::new("tidewatch-test-hung").with_timeout(Duration::from_secs(2));
    let started = Instant::now();
    let read = keyring.credential_for("registry.example").unwrap_err();
    let write = keyring
        .store("registry.example", "alice", &Secret::new("s3ntinel-hung-keyring"))
        .unwrap_err();
    let delete = keyring.delete("registry.example").unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    for error in [read, write, delete] {
        assert_eq!(error.code(), "credentials_keyring");
        let message = error.to_string();
        assert!(message.contains("did not answer within 2s"), "{message}");
        assert!(!message.contains("s3ntinel"), "{message}");
    }
    let after: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(before, after, "no fallback file appeared");
}
