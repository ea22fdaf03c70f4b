//! An engine whose container disappears between the list and the inspect (a fake plain-HTTP
//! engine, since no real engine removes a container at that exact moment on demand): the
//! vanished container is skipped, the engine and its other containers still checked.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use tidewatch_core::engine::{Engine, EngineSpec};

const VERSION: &str =
    r#"{"Version":"20.10.24","ApiVersion":"1.41","MinAPIVersion":"1.12","Os":"linux","Arch":"amd64"}"#;
const IMAGE_ID: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

fn containers() -> String {
    serde_json::json!([
        // Listed by image ID: its name as created needs an inspect, which finds it gone.
        {"Id": "gone0000", "Names": ["/vanished"], "Image": IMAGE_ID, "ImageID": IMAGE_ID,
         "State": "running", "Labels": {}},
        {"Id": "here0000", "Names": ["/web"], "Image": "nginx:1.25", "ImageID": IMAGE_ID,
         "State": "running", "Labels": {}},
    ])
    .to_string()
}

fn image() -> String {
    serde_json::json!({"Id": IMAGE_ID, "RepoTags": ["nginx:1.25"],
        "RepoDigests": [format!("nginx@sha256:{}", "2".repeat(64))],
        "Os": "linux", "Architecture": "amd64"})
    .to_string()
}

/// Answers each request on its own connection-at-a-time thread.
fn start_engine() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut out = stream;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or_default().to_string();
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
                            break;
                        }
                    }
                    let path = path.split('?').next().unwrap_or_default();
                    let (status, body) = if path.ends_with("/version") {
                        (200, VERSION.to_string())
                    } else if path.ends_with("/_ping") {
                        (200, "OK".to_string())
                    } else if path.ends_with("/containers/json") {
                        (200, containers())
                    } else if path.contains("/containers/gone0000/json") {
                        (404, r#"{"message":"No such container: gone0000"}"#.to_string())
                    } else if path.contains("/images/") {
                        (200, image())
                    } else if path.ends_with("/info") {
                        (200, r#"{"ID":"fake"}"#.to_string())
                    } else {
                        (404, r#"{"message":"not here"}"#.to_string())
                    };
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nApi-Version: 1.41\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if out.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("tcp://{address}")
}

#[tokio::test]
async fn a_container_removed_between_list_and_inspect_is_skipped_not_the_whole_engine() {
    tidewatch_core::init_crypto();
    let host = start_engine();
    let engine = Engine::connect_with(&EngineSpec::new("fake", &host))
        .await
        .expect("the fake engine answers");
    let containers = engine.containers().await.expect("the engine is still listed");
    let names: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["web"]);
}
