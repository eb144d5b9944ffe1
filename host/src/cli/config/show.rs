//! `host config show`: the effective settings as a config file would say
//! them, each with where it came from.

use std::fmt::Write;

use super::file::ConfigFile;
use super::merge::{Effective, Origin};
use crate::control_plane::store::postgres::redacted;

/// The text `host config show` prints (valid TOML: it can be saved as
/// host.toml).
pub fn render(
    file: Option<&ConfigFile>,
    effective: &[Effective],
    data_dir: &std::path::Path,
) -> String {
    let file_name = file.map(|f| f.path.display().to_string());
    let mut out = String::new();
    let _ = writeln!(out, "# The settings `host serve` would use.");
    match &file_name {
        Some(name) => {
            let _ = writeln!(out, "# Config file: {name}");
        }
        None => {
            let default = data_dir.join(super::CONFIG_FILE_NAME);
            let _ = writeln!(
                out,
                "# Config file: none ({} does not exist)",
                default.display()
            );
        }
    }
    let lines: Vec<(String, String)> = effective
        .iter()
        .map(|e| (assignment(e), origin(e.origin, file_name.as_deref())))
        .collect();
    let width = lines.iter().map(|(a, _)| a.len()).max().unwrap_or(0);
    for (assignment, origin) in lines {
        let _ = writeln!(out, "{assignment:width$}  # {origin}");
    }
    if let Some(file) = file
        && !file.allowed_commands.is_empty()
    {
        let commands: Vec<toml::Value> = file
            .allowed_commands
            .iter()
            .map(|(c, _)| toml::Value::String(c.clone()))
            .collect();
        let first = file.allowed_commands[0].1;
        let _ = writeln!(
            out,
            "{} = {}  # {} line {first} (besides {})",
            super::ALLOWED_COMMANDS_KEY,
            toml::Value::Array(commands),
            file.path.display(),
            data_dir
                .join(crate::control_plane::allowed_commands::ALLOWED_COMMANDS_FILE)
                .display()
        );
    }
    out
}

fn assignment(e: &Effective) -> String {
    if e.flag {
        let on = e.values.first().is_some_and(|v| v == "true");
        return format!("{} = {on}", e.key);
    }
    if e.origin == Origin::Unset {
        return format!("# {} =", e.key);
    }
    let value = |v: &String| match v.parse::<i64>() {
        Ok(number) => toml::Value::Integer(number),
        Err(_) => toml::Value::String(v.clone()),
    };
    if e.key == "database" {
        // A password in the URL is not shown.
        let shown = e.values.first().map(|v| redacted(v)).unwrap_or_default();
        return format!("{} = {}", e.key, toml::Value::String(shown));
    }
    if e.repeated {
        let items = e.values.iter().map(value).collect();
        return format!("{} = {}", e.key, toml::Value::Array(items));
    }
    let shown = e
        .values
        .first()
        .map(value)
        .unwrap_or(toml::Value::String(String::new()));
    format!("{} = {shown}", e.key)
}

fn origin(origin: Origin, file: Option<&str>) -> String {
    match origin {
        Origin::CommandLine => "command line".into(),
        Origin::Environment => "environment".into(),
        Origin::File { line } => format!("{} line {line}", file.unwrap_or("config file")),
        Origin::Default => "default".into(),
        Origin::Unset => "unset".into(),
    }
}
