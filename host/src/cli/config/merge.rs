//! The command line over `host.toml`: each file value becomes the flag it
//! names (checked by that flag's own parser, so the file and the flags
//! accept the same values), unless the flag itself was given.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, CommandFactory, FromArgMatches};

use super::file::{ConfigError, ConfigFile, Entry};
use crate::cli::args::Cli;

/// The default config file's name, in the data directory.
pub const CONFIG_FILE_NAME: &str = "host.toml";

/// Where an effective setting came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    CommandLine,
    /// `APPSTREAM_DATABASE`.
    Environment,
    File {
        line: usize,
    },
    Default,
    /// No value (an option without a default, not given).
    Unset,
}

/// One `serve`/`run` option as it will be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    /// The flag's name without `--`, which is also its key in the file.
    pub key: String,
    pub values: Vec<String>,
    pub flag: bool,
    pub repeated: bool,
    pub origin: Origin,
}

/// The parsed command line, the file it read and where each option came from.
#[derive(Debug)]
pub struct Settings {
    pub cli: Cli,
    pub file: Option<ConfigFile>,
    /// Every option of the subcommand that reads the file (empty for others).
    pub effective: Vec<Effective>,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The command line itself (and `--help`, `--version`): clap prints it.
    #[error(transparent)]
    Clap(#[from] clap::Error),
    #[error(transparent)]
    File(#[from] ConfigError),
}

/// The subcommands that take `serve`'s options, and so read the file.
const READS_FILE: [&[&str]; 3] = [&["serve"], &["run"], &["config", "show"]];
/// `host doctor` checks the file too, and takes its `listen` and
/// `media-port` (the ports it checks are the ones `serve` would use).
const DOCTOR: &[&str] = &["doctor"];

/// Parses `argv` (program name first) with `host.toml` under it.
pub fn parse(argv: Vec<OsString>) -> Result<Settings, SettingsError> {
    let first = Cli::command().try_get_matches_from(&argv)?;
    let Some((path, given)) = options_subcommand(&first) else {
        let cli = Cli::from_arg_matches(&first)?;
        return Ok(Settings {
            cli,
            file: None,
            effective: Vec::new(),
        });
    };
    let file = read_file(given)?;
    let mut extra = Vec::new();
    let mut trailing = Vec::new();
    let mut from_file = Vec::new();
    let doctor = path == DOCTOR;
    if let Some(file) = &file {
        for (key, entry) in &file.options {
            let arg = option_arg(key).ok_or_else(|| unknown_key(file, key, entry))?;
            let id = arg.get_id().as_str();
            // Checked in any case; taken where the subcommand has the flag.
            let flags = as_flags(file, key, entry, &arg)?;
            let taken = !doctor || ["listen", "media-port"].contains(&key.as_str());
            // (`doctor` lacks serve's other flags: not asked about them.)
            if !taken
                || matches!(
                    given.value_source(id),
                    Some(ValueSource::CommandLine | ValueSource::EnvVariable)
                )
            {
                continue;
            }
            extra.extend(flags);
            from_file.push((id.to_string(), entry.line));
        }
        if path == ["run"] {
            trailing = run_table_flags(file, given, &mut extra)?;
        }
    }
    let argv = with_flags(argv, extra, trailing);
    let merged = Cli::command().try_get_matches_from(&argv)?;
    let (_, options) = options_subcommand(&merged).expect("the same subcommand");
    let effective = if doctor {
        Vec::new()
    } else {
        effective(given, options, &from_file)
    };
    let cli = Cli::from_arg_matches(&merged)?;
    Ok(Settings {
        cli,
        file,
        effective,
    })
}

/// The subcommand path and its matches, when it takes `serve`'s options.
fn options_subcommand(matches: &ArgMatches) -> Option<(Vec<&str>, &ArgMatches)> {
    let (name, sub) = matches.subcommand()?;
    let (path, options) = match sub.subcommand() {
        Some((inner, inner_matches)) => (vec![name, inner], inner_matches),
        None => (vec![name], sub),
    };
    (READS_FILE.contains(&path.as_slice()) || path == DOCTOR).then_some((path, options))
}

/// `--config FILE` (which must exist), else DATA_DIR/host.toml if it does.
fn read_file(given: &ArgMatches) -> Result<Option<ConfigFile>, ConfigError> {
    if let Some(path) = given.get_one::<PathBuf>("config") {
        return ConfigFile::read(path).map(Some);
    }
    let data_dir = given
        .get_one::<PathBuf>("data_dir")
        .cloned()
        .unwrap_or_default();
    let path = data_dir.join(CONFIG_FILE_NAME);
    match path.try_exists() {
        Ok(true) => ConfigFile::read(&path).map(Some),
        _ => Ok(None),
    }
}

/// `serve`'s options, the keys the file may set (and the global
/// `--database`; not `--data-dir`/`--config`, which say where the file is).
pub fn option_args() -> Vec<clap::Arg> {
    let mut command = Cli::command();
    command.build();
    let serve = command
        .find_subcommand("serve")
        .expect("host has a serve subcommand");
    serve
        .get_arguments()
        .filter(|arg| arg.get_long().is_some())
        .filter(|arg| !matches!(arg.get_action(), ArgAction::Help | ArgAction::Version))
        .filter(|arg| !["data-dir", "config"].contains(&arg.get_long().unwrap_or_default()))
        .cloned()
        .collect()
}

fn option_arg(key: &str) -> Option<clap::Arg> {
    option_args()
        .into_iter()
        .find(|arg| arg.get_long() == Some(key))
}

fn unknown_key(file: &ConfigFile, key: &str, entry: &Entry) -> ConfigError {
    let close: Vec<String> = option_args()
        .iter()
        .filter_map(|arg| arg.get_long())
        .filter(|known| close_to(key, known))
        .map(|known| format!("`{known}`"))
        .collect();
    let hint = if close.is_empty() {
        " (the keys are `host serve`'s flags without --, e.g. `media-port`)".to_string()
    } else {
        format!(" (did you mean {}?)", close.join(" or "))
    };
    refused(file, entry.line, format!("unknown key `{key}`{hint}"))
}

/// A typo: the same letters but for `-`/`_`, or one name inside the other.
fn close_to(typed: &str, known: &str) -> bool {
    let plain = |s: &str| s.replace(['-', '_'], "").to_lowercase();
    let (typed, known) = (plain(typed), plain(known));
    typed == known || (typed.len() >= 4 && (known.contains(&typed) || typed.contains(&known)))
}

fn refused(file: &ConfigFile, line: usize, why: String) -> ConfigError {
    ConfigError::Refused {
        path: file.path.display().to_string(),
        line,
        why,
    }
}

/// The flags a file entry stands for, each value checked by the flag's parser.
fn as_flags(
    file: &ConfigFile,
    key: &str,
    entry: &Entry,
    arg: &clap::Arg,
) -> Result<Vec<OsString>, ConfigError> {
    let refuse = |why: String| refused(file, entry.line, format!("`{key}`: {why}"));
    if matches!(arg.get_action(), ArgAction::SetTrue) {
        return match entry.value {
            toml::Value::Boolean(true) => Ok(vec![format!("--{key}").into()]),
            toml::Value::Boolean(false) => Ok(Vec::new()),
            _ => Err(refuse("takes true or false".into())),
        };
    }
    let repeated = matches!(arg.get_action(), ArgAction::Append);
    let values: Vec<&toml::Value> = match &entry.value {
        toml::Value::Array(items) if repeated => items.iter().collect(),
        toml::Value::Array(_) => return Err(refuse("takes one value, not a list".into())),
        value => vec![value],
    };
    let mut flags = Vec::new();
    for value in values {
        let text = scalar(value).ok_or_else(|| {
            refuse(format!(
                "takes a string or a number, not {}",
                value.type_str()
            ))
        })?;
        let flag: OsString = format!("--{key}={text}").into();
        // The flag's own parser, alone: `host serve --KEY=VALUE`.
        Cli::command()
            .try_get_matches_from([OsStr::new("host"), OsStr::new("serve"), &flag])
            .map_err(|e| refuse(clap_reason(&e)))?;
        flags.push(flag);
    }
    Ok(flags)
}

fn scalar(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Datetime(d) => Some(d.to_string()),
        toml::Value::Boolean(_) | toml::Value::Array(_) | toml::Value::Table(_) => None,
    }
}

/// clap's message without its `error:` prefix and usage lines.
fn clap_reason(error: &clap::Error) -> String {
    let text = error.render().to_string();
    let reason: Vec<&str> = text
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect();
    reason.join(" ").trim_start_matches("error: ").to_string()
}

/// `[run]`: `name` and `icon` as flags; `command` after `--`, unless the
/// command line names its own.
fn run_table_flags(
    file: &ConfigFile,
    given: &ArgMatches,
    extra: &mut Vec<OsString>,
) -> Result<Vec<OsString>, ConfigError> {
    let mut trailing = Vec::new();
    for (key, entry) in &file.run {
        let given_here = given.value_source(key) == Some(ValueSource::CommandLine);
        if given_here {
            continue;
        }
        let refuse = |why: &str| refused(file, entry.line, format!("[run] `{key}`: {why}"));
        match (key.as_str(), &entry.value) {
            ("command", toml::Value::Array(items)) => {
                let words: Option<Vec<String>> = items
                    .iter()
                    .map(|item| item.as_str().map(String::from))
                    .collect();
                let words = words.filter(|w| !w.is_empty()).ok_or_else(|| {
                    refuse("a list of strings, e.g. [\"/usr/games/supertux2\", \"--fullscreen\"]")
                })?;
                trailing = words.into_iter().map(OsString::from).collect();
            }
            ("command", _) => {
                return Err(refuse(
                    "a list of strings, e.g. [\"/usr/games/supertux2\", \"--fullscreen\"]",
                ));
            }
            (_, toml::Value::String(text)) => extra.push(format!("--{key}={text}").into()),
            _ => return Err(refuse("a string")),
        }
    }
    Ok(trailing)
}

/// The file's flags go before any `--` (so `host run -- CMD` keeps its
/// command); the file's `[run] command` goes after a new one.
fn with_flags(argv: Vec<OsString>, extra: Vec<OsString>, trailing: Vec<OsString>) -> Vec<OsString> {
    let split = argv
        .iter()
        .skip(1)
        .position(|a| a == "--")
        .map_or(argv.len(), |i| i + 1);
    let (head, tail) = argv.split_at(split);
    let mut merged: Vec<OsString> = head.to_vec();
    merged.extend(extra);
    merged.extend(tail.iter().cloned());
    if !trailing.is_empty() {
        merged.push("--".into());
        merged.extend(trailing);
    }
    merged
}

fn effective(
    given: &ArgMatches,
    merged: &ArgMatches,
    from_file: &[(String, usize)],
) -> Vec<Effective> {
    option_args()
        .iter()
        .map(|arg| {
            let id = arg.get_id().as_str();
            let values: Vec<String> = merged
                .get_raw(id)
                .map(|raw| raw.map(|v| v.to_string_lossy().into_owned()).collect())
                .unwrap_or_default();
            let file_line = from_file.iter().find(|(i, _)| i == id).map(|(_, l)| *l);
            let origin = match (given.value_source(id), file_line) {
                (Some(ValueSource::CommandLine), _) => Origin::CommandLine,
                (Some(ValueSource::EnvVariable), _) => Origin::Environment,
                (_, Some(line)) => Origin::File { line },
                _ if values.is_empty() => Origin::Unset,
                _ => Origin::Default,
            };
            Effective {
                key: arg.get_long().unwrap_or_default().to_string(),
                values,
                flag: matches!(arg.get_action(), ArgAction::SetTrue),
                repeated: matches!(arg.get_action(), ArgAction::Append),
                origin,
            }
        })
        .collect()
}
