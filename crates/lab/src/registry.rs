//! A registry of a test's own (feature `containers`): a real `docker-registry` on a free loopback
//! port, which the test may stop (a registry gone in the middle of an update) without touching the
//! lab's shared registries.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running registry; stopped when dropped.
#[derive(Debug)]
pub struct OwnRegistry {
    child: Option<Child>,
    /// `127.0.0.1:PORT`, as image references name it.
    pub addr: String,
    pub dir: PathBuf,
}

impl OwnRegistry {
    /// Starts an open (anonymous, plain HTTP) registry storing under `dir`, and waits until it
    /// answers. Panics naming what is missing when it cannot.
    pub fn start(dir: &Path) -> OwnRegistry {
        std::fs::create_dir_all(dir).expect("create the registry's directory");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let config = dir.join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    \
                 enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.join("storage").display()
            ),
        )
        .expect("write the registry's config");
        let log = std::fs::File::create(dir.join("registry.log")).expect("create the registry's log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "this test needs docker-registry (package docker-registry; `cargo xtask lab up` installs it): {e}"
                )
            });
        let registry = OwnRegistry {
            child: Some(child),
            addr: format!("127.0.0.1:{port}"),
            dir: dir.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the test's registry did not start; see {}",
                dir.join("registry.log").display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }

    /// Stops the registry (it no longer answers when this returns).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}
