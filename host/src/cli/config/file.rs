//! Reading `host.toml`: every value with the line it is on, so a refusal
//! can name it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

/// The key listing commands applications may run (beside DATA_DIR/allowed-commands).
pub const ALLOWED_COMMANDS_KEY: &str = "allowed-commands";
/// The table of `host run`'s own options.
pub const RUN_TABLE: &str = "run";

/// A value as written, and its line (1-based).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub value: toml::Value,
    pub line: usize,
}

/// `host.toml`, read but not yet checked against the command line's options.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigFile {
    pub path: PathBuf,
    /// Top-level keys: `serve`/`run` options by their flag's name.
    pub options: BTreeMap<String, Entry>,
    /// `allowed-commands = [...]`, with the line each is on.
    pub allowed_commands: Vec<(String, usize)>,
    /// `[run]`: `name`, `icon`, `command`.
    pub run: BTreeMap<String, Entry>,
}

/// A refusal of the file, naming where.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("cannot read {path}: {why}")]
    Unreadable { path: String, why: String },
    #[error("{path}: {why}")]
    Syntax { path: String, why: String },
    #[error("{path} line {line}: {why}")]
    Refused {
        path: String,
        line: usize,
        why: String,
    },
}

impl ConfigFile {
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable {
            path: path.display().to_string(),
            why: e.to_string(),
        })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        /// The keys that are not options, read typed (spans kept).
        #[derive(Deserialize)]
        struct Special {
            #[serde(rename = "allowed-commands", default)]
            allowed_commands: Vec<Spanned<String>>,
            #[serde(default)]
            run: BTreeMap<String, Spanned<toml::Value>>,
        }
        let shown = path.display().to_string();
        let syntax = |e: toml::de::Error| ConfigError::Syntax {
            path: shown.clone(),
            why: e.to_string().trim_end().to_string(),
        };
        let top: BTreeMap<String, Spanned<toml::Value>> = toml::from_str(text).map_err(syntax)?;
        let special: Special = toml::from_str(text).map_err(syntax)?;
        let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        let mut file = ConfigFile {
            path: path.to_path_buf(),
            ..ConfigFile::default()
        };
        for (key, value) in top {
            if key != ALLOWED_COMMANDS_KEY && key != RUN_TABLE {
                let line = line_of(value.span().start);
                let value = value.into_inner();
                file.options.insert(key, Entry { value, line });
            }
        }
        file.allowed_commands = special
            .allowed_commands
            .into_iter()
            .map(|command| (line_of(command.span().start), command.into_inner()))
            .map(|(line, command)| (command, line))
            .collect();
        for (key, value) in special.run {
            let line = line_of(value.span().start);
            if !RUN_KEYS.contains(&key.as_str()) {
                return Err(refused(
                    &shown,
                    line,
                    format!("unknown key `{key}` in [run] (it takes name, icon and command)"),
                ));
            }
            let value = value.into_inner();
            file.run.insert(key, Entry { value, line });
        }
        Ok(file)
    }
}

/// `[run]`'s keys: `host run`'s own options.
pub const RUN_KEYS: [&str; 3] = ["name", "icon", "command"];

fn refused(path: &str, line: usize, why: impl Into<String>) -> ConfigError {
    ConfigError::Refused {
        path: path.to_string(),
        line,
        why: why.into(),
    }
}
