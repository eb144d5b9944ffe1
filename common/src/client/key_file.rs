//! Access key files (`admin.key`, `entitlement.key`): two lines,
//! `key_id=...` and `secret=...`, readable by the owner only.

use thiserror::Error;

#[derive(Clone, PartialEq, Eq)]
pub struct AccessKeyFile {
    pub key_id: String,
    pub secret: String,
}

impl std::fmt::Debug for AccessKeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKeyFile")
            .field("key_id", &self.key_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum KeyFileError {
    #[error("line {line}: expected `key_id=...` or `secret=...`")]
    BadLine { line: usize },
    #[error("missing `{0}=` line")]
    Missing(&'static str),
}

impl AccessKeyFile {
    pub fn parse(text: &str) -> Result<Self, KeyFileError> {
        let (mut key_id, mut secret) = (None, None);
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.split_once('=') {
                Some(("key_id", v)) => key_id = Some(v.trim().to_string()),
                Some(("secret", v)) => secret = Some(v.trim().to_string()),
                _ => return Err(KeyFileError::BadLine { line: index + 1 }),
            }
        }
        Ok(Self {
            key_id: key_id.ok_or(KeyFileError::Missing("key_id"))?,
            secret: secret.ok_or(KeyFileError::Missing("secret"))?,
        })
    }

    pub fn to_text(&self) -> String {
        format!("key_id={}\nsecret={}\n", self.key_id, self.secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors_name_the_line() {
        let key = AccessKeyFile {
            key_id: "AK1".into(),
            secret: "s".into(),
        };
        assert_eq!(AccessKeyFile::parse(&key.to_text()).unwrap(), key);
        assert_eq!(
            AccessKeyFile::parse("key_id=a\nnonsense\n"),
            Err(KeyFileError::BadLine { line: 2 })
        );
        assert_eq!(
            AccessKeyFile::parse("key_id=a\n"),
            Err(KeyFileError::Missing("secret"))
        );
        assert!(!format!("{key:?}").contains("s\""));
    }
}
