//! A small blocking client for applications written in Rust: connect from
//! the environment, say `ready`, poll for session events without blocking.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use super::{LineBuffer, SOCKET_ENV, SdkMessage};

#[derive(Debug)]
pub struct SdkClient {
    stream: UnixStream,
    lines: LineBuffer,
}

impl SdkClient {
    /// Connects to the socket named by `APPSTREAM_SDK_SOCKET`; `None` when
    /// the application was not started by a host.
    pub fn from_env() -> Option<std::io::Result<SdkClient>> {
        let path = std::env::var_os(SOCKET_ENV)?;
        Some(SdkClient::connect(std::path::Path::new(&path)))
    }

    pub fn connect(path: &std::path::Path) -> std::io::Result<SdkClient> {
        let stream = UnixStream::connect(path)?;
        stream.set_nonblocking(true)?;
        Ok(SdkClient {
            stream,
            lines: LineBuffer::default(),
        })
    }

    /// Tells the host the application is ready to be captured.
    pub fn ready(&mut self) -> std::io::Result<()> {
        self.send(&SdkMessage::Ready)
    }

    pub fn send(&mut self, message: &SdkMessage) -> std::io::Result<()> {
        self.stream.set_nonblocking(false)?;
        let written = self.stream.write_all(message.to_line().as_bytes());
        self.stream.set_nonblocking(true)?;
        written
    }

    /// The next message from the host, if one has arrived; unknown or
    /// malformed lines are skipped. `Err` when the host has gone.
    pub fn poll(&mut self) -> std::io::Result<Option<SdkMessage>> {
        let mut chunk = [0u8; 1024];
        loop {
            while let Some(line) = self.lines.next_line() {
                if let Ok(message) = line.and_then(|l| SdkMessage::parse(&l)) {
                    return Ok(Some(message));
                }
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the host closed the SDK socket",
                    ));
                }
                Ok(n) => self.lines.push(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }
}
