//! `host.toml`: every `serve`/`run` option (keys are the flags' names
//! without `--`), `allowed-commands = [...]`, and a `[run]` table for
//! `host run`'s name, icon and command. Read from `--config FILE`, else
//! DATA_DIR/host.toml when it exists; a flag given on the command line
//! overrides the file. `host config show` prints the result.

mod file;
mod merge;
mod show;
#[cfg(test)]
mod tests;

pub use file::{ALLOWED_COMMANDS_KEY, ConfigError, ConfigFile, Entry, RUN_KEYS, RUN_TABLE};
pub use merge::{CONFIG_FILE_NAME, Effective, Origin, Settings, SettingsError, option_args, parse};
pub use show::render;
