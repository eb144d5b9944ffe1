//! The stream URL a viewer is given: where the host is, the single-use token,
//! and the SHA-256 fingerprint of the host's certificate to pin.
//!
//! `appstream://HOST:PORT/stream?token=TOKEN&fp=HEX64`

use thiserror::Error;

pub const SCHEME: &str = "appstream";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamUrl {
    pub host: String,
    pub port: u16,
    pub token: String,
    pub fingerprint: [u8; 32],
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum StreamUrlError {
    #[error("not a URL: {0}")]
    Syntax(String),
    #[error("scheme must be {SCHEME}://, found {0}://")]
    Scheme(String),
    #[error("the URL has no host")]
    NoHost,
    #[error("the URL has no port")]
    NoPort,
    #[error("the URL has no token parameter")]
    NoToken,
    #[error("the fp parameter must be 64 hex digits (SHA-256 of the host certificate)")]
    Fingerprint,
}

impl StreamUrl {
    pub fn parse(text: &str) -> Result<Self, StreamUrlError> {
        let url =
            url::Url::parse(text.trim()).map_err(|e| StreamUrlError::Syntax(e.to_string()))?;
        if url.scheme() != SCHEME {
            return Err(StreamUrlError::Scheme(url.scheme().to_string()));
        }
        let host = url
            .host_str()
            .ok_or(StreamUrlError::NoHost)?
            .trim_matches(['[', ']'])
            .to_string();
        let port = url.port().ok_or(StreamUrlError::NoPort)?;
        let mut token = None;
        let mut fingerprint = None;
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "token" => token = Some(value.into_owned()),
                "fp" => {
                    fingerprint =
                        Some(parse_fingerprint(&value).map_err(|_| StreamUrlError::Fingerprint)?);
                }
                _ => {}
            }
        }
        Ok(StreamUrl {
            host,
            port,
            token: token
                .filter(|t| !t.is_empty())
                .ok_or(StreamUrlError::NoToken)?,
            fingerprint: fingerprint.ok_or(StreamUrlError::Fingerprint)?,
        })
    }

    pub fn fingerprint_hex(&self) -> String {
        hex::encode(self.fingerprint)
    }
}

impl std::fmt::Display for StreamUrl {
    /// The token is a bearer secret, but printing the URL is how it is handed
    /// over; callers that log must use [`StreamUrl::redacted`].
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        write!(
            f,
            "{SCHEME}://{host}:{}/stream?token={}&fp={}",
            self.port,
            self.token,
            self.fingerprint_hex()
        )
    }
}

/// A certificate fingerprint written as 64 hex digits (colons allowed).
pub fn parse_fingerprint(text: &str) -> Result<[u8; 32], String> {
    let digits: String = text.chars().filter(|c| *c != ':').collect();
    hex::decode(digits.trim())
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| format!("{text:?} is not a SHA-256 fingerprint (64 hex digits)"))
}

/// SHA-256 of a DER certificate: what `fp` carries and viewers pin.
pub fn certificate_fingerprint(der: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest.as_ref().try_into().expect("SHA-256 is 32 bytes")
}

impl StreamUrl {
    pub fn redacted(&self) -> String {
        format!(
            "{SCHEME}://{}:{}/stream?token=<redacted>",
            self.host, self.port
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip() {
        let url = StreamUrl {
            host: "127.0.0.1".into(),
            port: 47990,
            token: "t0k3n".into(),
            fingerprint: [0xab; 32],
        };
        assert_eq!(StreamUrl::parse(&url.to_string()).unwrap(), url);
    }

    #[test]
    fn clear_errors() {
        assert_eq!(
            StreamUrl::parse("https://h:1/stream?token=a&fp=00"),
            Err(StreamUrlError::Scheme("https".into()))
        );
        assert_eq!(
            StreamUrl::parse("appstream://h:1/stream?fp=00"),
            Err(StreamUrlError::Fingerprint)
        );
        let fp = "ab".repeat(32);
        assert_eq!(
            StreamUrl::parse(&format!("appstream://h:1/stream?fp={fp}")),
            Err(StreamUrlError::NoToken)
        );
    }

    proptest! {
        #[test]
        fn garbage_never_panics(text in ".{0,120}") {
            let _ = StreamUrl::parse(&text);
        }
    }
}
