//! A TCP proxy that puts a round trip time between a client and a lab server, and counts what
//! passes: what a laptop sees of a public registry, on loopback (`tc netem` is not available
//! here). Every chunk waits half the RTT in each direction; the first bytes of a connection wait
//! one RTT more, the TCP handshake a real network would cost. TLS passes through untouched (the
//! client speaks to the real server), so HTTP/2 is whatever the two negotiate.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Longest request head the HTTP/1.1 counter reads before it gives up counting a connection.
const MAX_HEAD: usize = 64 * 1024;

#[derive(Default)]
struct Stats {
    connections: AtomicU64,
    /// HTTP/1.1 requests seen (plain HTTP only; TLS is opaque).
    requests: AtomicU64,
}

/// What a proxy has seen so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub connections: u64,
    pub requests: u64,
}

impl std::ops::Sub for Counts {
    type Output = Counts;
    fn sub(self, earlier: Counts) -> Counts {
        Counts {
            connections: self.connections - earlier.connections,
            requests: self.requests - earlier.requests,
        }
    }
}

/// A running proxy; it stops with the runtime it was started on.
pub struct Proxy {
    /// Where clients connect (`127.0.0.1:PORT`).
    pub addr: String,
    stats: Arc<Stats>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `target`, adding `rtt`. `plain_http` says
    /// the traffic is readable HTTP/1.1, whose requests are then counted too.
    pub async fn start(target: &str, rtt: Duration, plain_http: bool) -> Result<Proxy> {
        let target: SocketAddr = target.parse().with_context(|| format!("{target:?} is not host:port"))?;
        let listener = TcpListener::bind("127.0.0.1:0").await.context("bind the proxy")?;
        let addr = listener.local_addr()?.to_string();
        let stats = Arc::new(Stats::default());
        let accepting = stats.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                accepting.connections.fetch_add(1, Ordering::SeqCst);
                let stats = accepting.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(target).await {
                        relay(client, server, rtt, plain_http.then_some(stats)).await;
                    }
                });
            }
        });
        Ok(Proxy { addr, stats })
    }

    pub fn counts(&self) -> Counts {
        Counts {
            connections: self.stats.connections.load(Ordering::SeqCst),
            requests: self.stats.requests.load(Ordering::SeqCst),
        }
    }
}

async fn relay(client: TcpStream, server: TcpStream, rtt: Duration, stats: Option<Arc<Stats>>) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let counter = stats.map(|stats| RequestCounter {
        stats,
        head: Vec::new(),
        body_left: 0,
        lost: false,
    });
    let half = rtt / 2;
    let upstream = pump(client_read, server_write, half, rtt, counter);
    let downstream = pump(server_read, client_write, half, Duration::ZERO, None);
    tokio::join!(upstream, downstream);
}

/// Copies one direction, each chunk delivered `delay` after it was read (`first_extra` more for
/// the first one), in order.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    delay: Duration,
    first_extra: Duration,
    mut counter: Option<RequestCounter>,
) {
    let (sender, mut receiver) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((at, bytes)) = receiver.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut buffer = vec![0u8; 64 * 1024];
    let mut extra = first_extra;
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(counter) = counter.as_mut() {
            counter.feed(&buffer[..n]);
        }
        let at = Instant::now() + delay + std::mem::take(&mut extra);
        if sender.send((at, buffer[..n].to_vec())).is_err() {
            break;
        }
    }
    drop(sender);
    let _ = writer.await;
}

/// Counts HTTP/1.1 requests in a client's byte stream: a head ends at a blank line, and a
/// `Content-Length` body follows it.
struct RequestCounter {
    stats: Arc<Stats>,
    head: Vec<u8>,
    body_left: usize,
    /// The stream stopped looking like HTTP/1.1; nothing more is counted on it.
    lost: bool,
}

impl RequestCounter {
    fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() && !self.lost {
            if self.body_left > 0 {
                let skip = self.body_left.min(bytes.len());
                self.body_left -= skip;
                bytes = &bytes[skip..];
                continue;
            }
            self.head.push(bytes[0]);
            bytes = &bytes[1..];
            if self.head.ends_with(b"\r\n\r\n") {
                self.stats.requests.fetch_add(1, Ordering::SeqCst);
                self.body_left = content_length(&self.head);
                self.head.clear();
            } else if self.head.len() > MAX_HEAD {
                self.lost = true;
            }
        }
    }
}

fn content_length(head: &[u8]) -> usize {
    String::from_utf8_lossy(head)
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_across_chunks_and_bodies() {
        let stats = Arc::new(Stats::default());
        let mut counter = RequestCounter {
            stats: stats.clone(),
            head: Vec::new(),
            body_left: 0,
            lost: false,
        };
        counter.feed(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\nHEAD /v2/a/manifests/1 HT");
        counter.feed(b"TP/1.1\r\n\r\nPOST /token HTTP/1.1\r\nContent-Length: 5\r\n\r\nab");
        counter.feed(b"cdeGET /v2/a/tags/list HTTP/1.1\r\n\r\n");
        assert_eq!(stats.requests.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_round_trip_through_the_proxy_takes_the_rtt_and_a_new_connection_one_more() {
        let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = server.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut socket, _) = server.accept().await.unwrap();
            let mut byte = [0u8; 1];
            while socket.read_exact(&mut byte).await.is_ok() {
                socket.write_all(&byte).await.unwrap();
            }
        });
        let rtt = Duration::from_millis(100);
        let proxy = Proxy::start(&target, rtt, false).await.unwrap();
        let mut client = TcpStream::connect(&proxy.addr).await.unwrap();
        let mut byte = [0u8; 1];
        let started = Instant::now();
        client.write_all(b"a").await.unwrap();
        client.read_exact(&mut byte).await.unwrap();
        let first = started.elapsed();
        let started = Instant::now();
        client.write_all(b"b").await.unwrap();
        client.read_exact(&mut byte).await.unwrap();
        let second = started.elapsed();
        // Lower bounds only: how long it takes beyond them is the machine's business.
        assert!(
            first >= 2 * rtt,
            "the handshake's round trip and the exchange's: {first:?}"
        );
        assert!(second >= rtt, "one round trip: {second:?}");
        assert_eq!(proxy.counts().connections, 1);
    }
}
