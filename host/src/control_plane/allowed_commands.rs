//! Which commands applications may run is the host owner's decision, not the
//! API's: a command set through the API (or launched) must be listed in
//! `DATA_DIR/allowed-commands`, one per line, exactly as the application's
//! `command` field (`#` starts a comment), unless the host was started with
//! `--allow-any-command`. `host run -- CMD` allows its own CMD, and the
//! admin CLI's `apps add` (the owner at the data directory) lists the
//! command it adds. The file is read at each check, so an edit takes effect
//! without a restart.

use std::path::{Path, PathBuf};

use thiserror::Error;

pub const ALLOWED_COMMANDS_FILE: &str = "allowed-commands";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandPolicy {
    /// `--allow-any-command`.
    Any,
    Listed {
        file: PathBuf,
        /// Allowed by the owner on the command line (`host run`).
        also: Vec<String>,
    },
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CommandRefused {
    #[error(
        "the command {command:?} is not among the commands this host's owner allows (listed in {file}); \
         the owner adds it there, or starts the host with --allow-any-command"
    )]
    NotListed { command: String, file: String },
    #[error("{file} line {line}: {why}")]
    BadFile {
        file: String,
        line: usize,
        why: String,
    },
}

impl CommandPolicy {
    /// Commands listed in the data directory's file.
    pub fn listed_in(data_dir: &Path) -> Self {
        Self::Listed {
            file: data_dir.join(ALLOWED_COMMANDS_FILE),
            also: Vec::new(),
        }
    }

    /// The same, also allowing `command`.
    pub fn also_allowing(self, command: &str) -> Self {
        match self {
            Self::Any => Self::Any,
            Self::Listed { file, mut also } => {
                also.push(command.to_string());
                Self::Listed { file, also }
            }
        }
    }

    /// The commands the owner allows, for a form to offer; None when any
    /// command is allowed.
    pub fn choices(&self) -> Result<Option<Vec<String>>, CommandRefused> {
        let Self::Listed { file, also } = self else {
            return Ok(None);
        };
        let mut all = also.clone();
        for command in read_list(file)? {
            if !all.contains(&command) {
                all.push(command);
            }
        }
        Ok(Some(all))
    }

    /// An empty command (the synthetic test pattern) is always allowed.
    pub fn check(&self, command: &str) -> Result<(), CommandRefused> {
        let Self::Listed { file, also } = self else {
            return Ok(());
        };
        if command.trim().is_empty() || also.iter().any(|c| c == command) {
            return Ok(());
        }
        if read_list(file)?.iter().any(|c| c == command) {
            Ok(())
        } else {
            Err(CommandRefused::NotListed {
                command: command.chars().take(200).collect(),
                file: file.display().to_string(),
            })
        }
    }
}

/// The commands a file lists; a missing file lists none.
pub fn read_list(file: &Path) -> Result<Vec<String>, CommandRefused> {
    let bytes = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(CommandRefused::BadFile {
                file: file.display().to_string(),
                line: 0,
                why: e.to_string(),
            });
        }
    };
    parse_list(&bytes).map_err(|(line, why)| CommandRefused::BadFile {
        file: file.display().to_string(),
        line,
        why,
    })
}

/// One command per line; blank lines and `#` comments skipped.
fn parse_list(bytes: &[u8]) -> Result<Vec<String>, (usize, String)> {
    let mut commands = Vec::new();
    for (index, line) in bytes.split(|b| *b == b'\n').enumerate() {
        let line = std::str::from_utf8(line).map_err(|_| (index + 1, "not UTF-8".to_string()))?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        commands.push(line.to_string());
    }
    Ok(commands)
}

/// Adds `command` to the data directory's list (the admin CLI), once.
pub fn allow(data_dir: &Path, command: &str) -> anyhow::Result<bool> {
    let file = data_dir.join(ALLOWED_COMMANDS_FILE);
    let mut list = read_list(&file)?;
    if command.trim().is_empty() || list.iter().any(|c| c == command) {
        return Ok(false);
    }
    anyhow::ensure!(
        !command.contains('\n'),
        "a command cannot contain a line break"
    );
    let mut text = std::fs::read_to_string(&file).unwrap_or_else(|_| {
        "# Commands applications may run (one per line, as in the application's `command`).\n"
            .to_string()
    });
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(command);
    text.push('\n');
    list.push(command.to_string());
    crate::platform::write_private(&file, text.as_bytes())?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_commands_pass() {
        let dir = std::env::temp_dir().join(format!("allowed-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).expect("dir");
        let policy = CommandPolicy::listed_in(&dir).also_allowing("/usr/games/chess");
        assert!(policy.check("").is_ok(), "the synthetic pattern");
        assert!(policy.check("/usr/games/chess").is_ok());
        assert!(matches!(
            policy.check("/bin/sh"),
            Err(CommandRefused::NotListed { .. })
        ));
        assert!(allow(&dir, "/bin/sh").expect("listed"));
        assert!(!allow(&dir, "/bin/sh").expect("once"));
        assert!(policy.check("/bin/sh").is_ok());
        assert!(CommandPolicy::Any.check("/anything").is_ok());
    }

    #[test]
    fn comments_and_blank_lines_are_skipped_and_bad_bytes_name_the_line() {
        assert_eq!(
            parse_list(b"# games\n\n/usr/games/a\n  /usr/games/b  \n"),
            Ok(vec!["/usr/games/a".to_string(), "/usr/games/b".to_string()])
        );
        assert_eq!(parse_list(b"/a\n\xff\n").unwrap_err().0, 2);
    }
}
