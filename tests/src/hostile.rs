//! Helpers of the `hostile` suite (issue 14): raw TLS connections from a
//! chosen loopback source address (127.0.0.N), pinned to the host's
//! certificate, that speak just enough HTTP/1.1 to trickle a body or read one
//! answer; signed requests built with `common::signing`; and what /proc says
//! about a process (resident memory, threads, command line, children).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use common::client::AccessKeyFile;
use common::signing::{self, SignedParts};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Answers larger than this are cut (none of the host's are near it).
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// Opens TLS connections to one host from any loopback source address.
#[derive(Clone)]
pub struct RawTls {
    connector: TlsConnector,
    server: SocketAddr,
}

impl std::fmt::Debug for RawTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawTls")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl RawTls {
    /// `base_url` like `https://127.0.0.1:PORT`; only the certificate with
    /// `fingerprint` is accepted.
    pub fn new(base_url: &str, fingerprint: [u8; 32]) -> anyhow::Result<Self> {
        let address = base_url
            .strip_prefix("https://")
            .with_context(|| format!("{base_url} is not https://"))?;
        let server: SocketAddr = address
            .trim_end_matches('/')
            .parse()
            .with_context(|| format!("{address} is not IP:PORT"))?;
        let verifier = common::pinned_tls::PinnedCertificate::new(fingerprint);
        let config = verifier.client_config()?;
        Ok(Self {
            connector: TlsConnector::from(Arc::new(config)),
            server,
        })
    }

    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// A TCP connection whose source address is `source` (any 127.0.0.0/8
    /// address works on Linux without configuration), then the TLS handshake.
    pub async fn connect_from(&self, source: Ipv4Addr) -> anyhow::Result<TlsStream<TcpStream>> {
        let tcp = tcp_from(source, self.server).await?;
        let name = ServerName::IpAddress(self.server.ip().into());
        let tls = self
            .connector
            .connect(name, tcp)
            .await
            .with_context(|| format!("TLS handshake from {source}"))?;
        Ok(tls)
    }

    /// Sends one whole request (it should say `Connection: close`) from
    /// `source` and reads the answer.
    pub async fn request_from(
        &self,
        source: Ipv4Addr,
        request: &[u8],
    ) -> anyhow::Result<HttpAnswer> {
        let mut tls = self.connect_from(source).await?;
        // A host that refuses early (413) may close before the whole request
        // is written: its answer is read all the same.
        let written = match tls.write_all(request).await {
            Ok(()) => tls.flush().await,
            Err(e) => Err(e),
        };
        match (read_answer(&mut tls).await, written) {
            (Ok(answer), _) => Ok(answer),
            (Err(e), Ok(())) => Err(e),
            (Err(e), Err(write)) => Err(e.context(format!("after writing failed: {write}"))),
        }
    }
}

/// A plain TCP connection to `server` whose source address is `source`.
pub async fn tcp_from(source: Ipv4Addr, server: SocketAddr) -> anyhow::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket
        .bind(SocketAddr::new(IpAddr::V4(source), 0))
        .with_context(|| format!("binding to {source}"))?;
    let tcp = socket
        .connect(server)
        .await
        .with_context(|| format!("connecting from {source} to {server}"))?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

/// Reads one HTTP/1.1 answer: to the end of its `Content-Length`, or to EOF.
pub async fn read_answer(stream: &mut TlsStream<TcpStream>) -> anyhow::Result<HttpAnswer> {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(answer) = HttpAnswer::parse_complete(&bytes)? {
            return Ok(answer);
        }
        let n = match stream.read(&mut chunk).await {
            Ok(n) => n,
            // A peer that closes without close_notify after a whole answer.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            return HttpAnswer::parse_at_eof(&bytes);
        }
        bytes.extend_from_slice(&chunk[..n]);
        if bytes.len() > MAX_ANSWER_BYTES {
            bail!("the answer is larger than {MAX_ANSWER_BYTES} bytes");
        }
    }
}

/// Status, headers and where the body starts.
type Head = (u16, Vec<(String, String)>, usize);

/// A parsed HTTP answer.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    pub status: u16,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The JSON error body's `code`, if it has one.
    pub fn code(&self) -> Option<String> {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()?
            .get("code")?
            .as_str()
            .map(str::to_string)
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The head, when all of it has arrived: status, headers, body offset.
    fn parse_head(bytes: &[u8]) -> anyhow::Result<Option<Head>> {
        let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
            return Ok(None);
        };
        let head = std::str::from_utf8(&bytes[..end]).context("the head is not UTF-8")?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("bad status line {status_line:?}"))?;
        let headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Ok(Some((status, headers, end + 4)))
    }

    fn content_length(headers: &[(String, String)]) -> Option<usize> {
        headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
    }

    fn parse_complete(bytes: &[u8]) -> anyhow::Result<Option<Self>> {
        let Some((status, headers, at)) = Self::parse_head(bytes)? else {
            return Ok(None);
        };
        match Self::content_length(&headers) {
            Some(length) if bytes.len() >= at + length => Ok(Some(Self {
                status,
                headers,
                body: bytes[at..at + length].to_vec(),
            })),
            _ => Ok(None),
        }
    }

    fn parse_at_eof(bytes: &[u8]) -> anyhow::Result<Self> {
        let Some((status, headers, at)) = Self::parse_head(bytes)? else {
            bail!(
                "the connection closed before a whole answer ({} bytes)",
                bytes.len()
            );
        };
        let mut body = bytes[at..].to_vec();
        let chunked = headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
        if chunked {
            body = dechunk(&body)?;
        }
        Ok(Self {
            status,
            headers,
            body,
        })
    }
}

/// Decodes a whole chunked body.
fn dechunk(mut bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = bytes
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("chunk size line")?;
        let size_text = std::str::from_utf8(&bytes[..line_end])?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .context("chunk size")?;
        bytes = &bytes[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        anyhow::ensure!(bytes.len() >= size + 2, "a chunk was cut");
        body.extend_from_slice(&bytes[..size]);
        bytes = &bytes[size + 2..];
    }
}

/// An HTTP/1.1 request with `Connection: close` and a JSON body.
pub fn http_request(
    method: &str,
    path_and_query: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Vec<u8> {
    let mut head = format!(
        "{method} {path_and_query} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// `POST /entitlement/signin` for `user` with `password`.
pub fn signin_request(user: &str, password: &str) -> Vec<u8> {
    let body = serde_json::json!({"user": user, "password": password}).to_string();
    http_request("POST", "/entitlement/signin", &[], body.as_bytes())
}

/// A fresh nonce: 32 hex digits from the system's random source.
pub fn new_nonce() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    // The system random source does not fail on Linux; a zero nonce would
    // only make the request a replay, which the test would show.
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    hex::encode(bytes)
}

/// Seconds since the epoch, as the host's clock reads it.
pub fn now_unix_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The Authorization, X-Date and X-Nonce headers of a request signed with
/// `key` (the signature covers method, path, sorted query, date, nonce and
/// the body's hash).
pub fn signed_headers(
    key: &AccessKeyFile,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    nonce: &str,
) -> Vec<(&'static str, String)> {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let date = signing::format_date(now_unix_s());
    let signature = signing::sign(
        &key.secret,
        &SignedParts {
            method,
            path,
            query,
            date: &date,
            nonce,
            body,
        },
    );
    vec![
        (
            "authorization",
            signing::format_authorization(&key.key_id, &signature),
        ),
        (signing::DATE_HEADER, date),
        (signing::NONCE_HEADER, nonce.to_string()),
    ]
}

/// A whole signed request (`Connection: close`), ready for `request_from`.
pub fn signed_request(
    key: &AccessKeyFile,
    method: &str,
    path_and_query: &str,
    body: &[u8],
) -> Vec<u8> {
    let headers = signed_headers(key, method, path_and_query, body, &new_nonce());
    http_request(method, path_and_query, &headers, body)
}

/// A field of /proc/PID/status, in kB (`VmRSS`, `VmHWM`, ...).
fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// Resident memory of a process, in MiB.
pub fn rss_mib(pid: u32) -> anyhow::Result<f64> {
    Ok(status_kib(pid, "VmRSS")? as f64 / 1024.0)
}

/// The peak resident memory the kernel recorded for a process, in MiB.
pub fn peak_rss_mib(pid: u32) -> anyhow::Result<f64> {
    Ok(status_kib(pid, "VmHWM")? as f64 / 1024.0)
}

/// How many threads a process has (entries of /proc/PID/task).
pub fn thread_count(pid: u32) -> anyhow::Result<usize> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/task"))
        .with_context(|| format!("reading /proc/{pid}/task"))?
        .count())
}

/// The names of a process's threads (their `comm`), sorted.
pub fn thread_names(pid: u32) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
        .map(|name| name.trim().to_string())
        .collect();
    names.sort();
    names
}

/// A process's command line, its arguments joined by spaces.
pub fn cmdline(pid: u32) -> anyhow::Result<String> {
    let bytes = std::fs::read(format!("/proc/{pid}/cmdline"))
        .with_context(|| format!("reading /proc/{pid}/cmdline"))?;
    Ok(bytes
        .split(|b| *b == 0)
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect::<Vec<_>>()
        .join(" "))
}

/// How many file descriptors a process has open.
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// User plus system CPU time a process has used, in seconds.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .context("a /proc/PID/stat field")
    };
    // utime and stime are fields 14 and 15 (1-based), 11 and 12 here.
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

/// Whether a process is still alive (present and not a zombie).
pub fn is_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(
            stat.rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().next()),
            Some("Z" | "X")
        ),
        Err(_) => false,
    }
}

/// The ids of `parent`'s direct children whose command name is `name`.
pub fn children_named(parent: u32, name: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let comm = stat
                .split_once('(')
                .and_then(|(_, r)| r.rsplit_once(')'))
                .map(|(c, _)| c);
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            comm == Some(name) && ppid == Some(parent)
        })
        .collect()
}

/// Polls `condition` every 100 ms until it holds or `timeout` passes;
/// whether it held.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Unix permission bits of a path (without following a last symlink).
pub fn mode_of(path: &Path) -> anyhow::Result<u32> {
    use std::os::unix::fs::PermissionsExt;
    Ok(std::fs::symlink_metadata(path)
        .with_context(|| format!("stat {}", path.display()))?
        .permissions()
        .mode()
        & 0o7777)
}

/// Sets permission bits.
pub fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {mode:o} {}", path.display()))
}

/// The hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

/// A current-thread runtime for one async step of a test.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(future)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse_by_length_and_chunks() {
        let whole = b"HTTP/1.1 429 Too Many Requests\r\ncontent-length: 17\r\nRetry-After: 1\r\n\r\n{\"code\":\"busy\"}  ";
        let answer = HttpAnswer::parse_complete(whole)
            .expect("parses")
            .expect("complete");
        assert_eq!(answer.status, 429);
        assert_eq!(answer.header("retry-after"), Some("1"));
        assert_eq!(answer.code().as_deref(), Some("busy"));
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert!(HttpAnswer::parse_complete(chunked).expect("head").is_none());
        let answer = HttpAnswer::parse_at_eof(chunked).expect("parses");
        assert_eq!(answer.body, b"abcde");
    }
}
