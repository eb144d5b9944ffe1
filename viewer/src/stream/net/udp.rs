//! The viewer's UDP socket for media, connected to the host's media port
//! (or a relay in front of it).

use std::net::SocketAddr;

use anyhow::Context;
use common::stream_url::StreamUrl;
use tokio::net::UdpSocket;

/// Keyframes arrive as a burst of shards; a larger buffer absorbs it.
const UDP_RECEIVE_BUFFER_BYTES: usize = 8 << 20;

/// The host's media address: its control address with the welcome's port.
pub(super) async fn host_address(url: &StreamUrl, udp_port: u16) -> anyhow::Result<SocketAddr> {
    let ip = tokio::net::lookup_host((url.host.as_str(), url.port))
        .await?
        .next()
        .map(|a| a.ip())
        .with_context(|| format!("cannot resolve {}", url.host))?;
    Ok(SocketAddr::new(ip, udp_port))
}

pub(super) fn open(target: SocketAddr) -> anyhow::Result<UdpSocket> {
    let domain = socket2::Domain::for_address(target);
    let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, None)?;
    if let Err(e) = socket.set_recv_buffer_size(UDP_RECEIVE_BUFFER_BYTES) {
        tracing::debug!(error = %e, "could not enlarge the UDP receive buffer");
    }
    let any: SocketAddr = if target.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    }
    .parse()?;
    socket.bind(&any.into())?;
    socket.connect(&target.into())?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket.into()).context("UDP socket")
}
