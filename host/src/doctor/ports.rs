//! Whether `host serve` could bind its ports: the TCP listen address and,
//! when fixed, the UDP media port. Binding and releasing is the only test
//! that answers for this user, this address and this moment.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, UdpSocket};

use super::report::Check;

pub fn checks(listen: SocketAddr, media_port: u16) -> Vec<Check> {
    let mut checks = vec![port_check(
        &format!("TCP {listen} (--listen)"),
        TcpListener::bind(listen).map(drop),
        "--listen",
    )];
    let media = SocketAddr::new(listen.ip(), media_port);
    checks.push(if media_port == 0 {
        Check::ok(
            "UDP media port",
            "0: each session gets a free port (a firewall must let UDP through to this host)",
        )
    } else {
        port_check(
            &format!("UDP {media} (--media-port)"),
            UdpSocket::bind(media).map(drop),
            "--media-port",
        )
    });
    checks
}

/// `flag` is the option that moves this port.
fn port_check(name: &str, bound: std::io::Result<()>, flag: &str) -> Check {
    let Err(e) = bound else {
        return Check::ok(name, "free");
    };
    let what_to_do = match e.kind() {
        ErrorKind::AddrInUse => format!(
            "something listens there already (another host running?): stop it, or choose another {flag}"
        ),
        ErrorKind::PermissionDenied => format!(
            "ports below 1024 need root or CAP_NET_BIND_SERVICE: choose a port of 1024 or more with {flag}"
        ),
        ErrorKind::AddrNotAvailable => {
            "this machine has no such address: choose one of its own (or 0.0.0.0) with --listen"
                .to_string()
        }
        _ => format!("choose another {flag}"),
    };
    Check::fail(name, format!("cannot be bound: {e}"), what_to_do)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::report::Status;

    #[test]
    fn a_port_in_use_fails_and_says_what_to_do() {
        let taken = TcpListener::bind("127.0.0.1:0").expect("bound");
        let address = taken.local_addr().expect("address");
        let checks = checks(address, 0);
        assert_eq!(checks[0].status, Status::Fail, "{checks:?}");
        assert!(
            checks[0]
                .what_to_do
                .as_deref()
                .is_some_and(|t| t.contains("another host running?"))
        );
        assert_eq!(checks[1].status, Status::Ok);
    }

    #[test]
    fn free_ports_are_ok() {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bound");
        let free_udp_port = udp.local_addr().expect("address").port();
        drop(udp);
        let checks = checks("127.0.0.1:0".parse().expect("address"), free_udp_port);
        assert!(checks.iter().all(|c| c.status == Status::Ok), "{checks:?}");
    }
}
