//! A counting UDP relay put in front of each system's receiver, so the wire
//! rate of ours and of the reference is measured the same way: UDP payload
//! bytes, whatever the protocol above (our sealed shards, RTP).
//!
//! Clients send to `listen`; it forwards to `to` and sends replies back to
//! the latest client. A hop through user space costs tens of microseconds,
//! the same for both systems.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub struct Relay {
    pub listen: SocketAddr,
    /// Payload bytes from the client side to `to`.
    pub upstream_bytes: Arc<AtomicU64>,
    /// Payload bytes from `to` back to the client.
    pub downstream_bytes: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Relay {
    pub fn start(to: SocketAddr) -> anyhow::Result<Relay> {
        let client_side = Arc::new(UdpSocket::bind("127.0.0.1:0")?);
        let server_side = Arc::new(UdpSocket::bind("127.0.0.1:0")?);
        server_side.connect(to)?;
        for socket in [&client_side, &server_side] {
            // Wake up now and then to notice the stop flag.
            socket.set_read_timeout(Some(Duration::from_millis(100)))?;
        }
        let listen = client_side.local_addr()?;
        let client: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (upstream_bytes, downstream_bytes) = (Arc::default(), Arc::default());
        let up = {
            let (from, to, client) = (client_side.clone(), server_side.clone(), client.clone());
            let (bytes, stop) = (Arc::clone(&upstream_bytes), stop.clone());
            std::thread::spawn(move || {
                forward(&stop, &bytes, |buf| {
                    let (len, sender) = from.recv_from(buf)?;
                    *client.lock().unwrap_or_else(|e| e.into_inner()) = Some(sender);
                    let _ = to.send(&buf[..len]); // the receiver may not be up yet
                    Ok(len)
                })
            })
        };
        let down = {
            let (from, to) = (server_side, client_side);
            let (bytes, stop) = (Arc::clone(&downstream_bytes), stop.clone());
            std::thread::spawn(move || {
                forward(&stop, &bytes, |buf| {
                    let len = from.recv(buf)?;
                    if let Some(client) = *client.lock().unwrap_or_else(|e| e.into_inner()) {
                        let _ = to.send_to(&buf[..len], client);
                    }
                    Ok(len)
                })
            })
        };
        Ok(Relay {
            listen,
            upstream_bytes,
            downstream_bytes,
            stop,
            threads: vec![up, down],
        })
    }

    pub fn upstream(&self) -> u64 {
        self.upstream_bytes.load(Ordering::Relaxed)
    }

    pub fn downstream(&self) -> u64 {
        self.downstream_bytes.load(Ordering::Relaxed)
    }
}

/// Moves datagrams with `step` (receive one, forward it, its length) and
/// counts them until stopped.
fn forward(
    stop: &AtomicBool,
    bytes: &AtomicU64,
    mut step: impl FnMut(&mut [u8]) -> std::io::Result<usize>,
) {
    let mut buf = vec![0u8; 65_536];
    while !stop.load(Ordering::Relaxed) {
        match step(&mut buf) {
            Ok(len) => {
                bytes.fetch_add(len as u64, Ordering::Relaxed);
            }
            // Timeouts (to check the flag) and refused sends (ICMP from a
            // receiver not yet up) alike: go on.
            Err(_) => continue,
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// A UDP port free right now on 127.0.0.1 (for a receiver that needs a
/// fixed port; a race with another process is possible but unlikely).
pub fn free_udp_port() -> anyhow::Result<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}
