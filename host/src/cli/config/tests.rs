use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::ArgAction;

use super::*;
use crate::cli::args::Command;

fn write(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("host.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn argv(words: &[&str]) -> Vec<OsString> {
    words.iter().map(OsString::from).collect()
}

/// `host --config FILE WORDS...`.
fn parse_with(file: &Path, words: &[&str]) -> Result<Settings, SettingsError> {
    let config = file.display().to_string();
    let mut all = vec!["host", "--config", config.as_str()];
    all.extend(words);
    parse(argv(&all))
}

fn setting<'a>(settings: &'a Settings, key: &str) -> &'a Effective {
    settings
        .effective
        .iter()
        .find(|e| e.key == key)
        .unwrap_or_else(|| panic!("no setting {key}"))
}

fn refusal(result: Result<Settings, SettingsError>) -> (usize, String) {
    match result {
        Err(SettingsError::File(ConfigError::Refused { line, why, .. })) => (line, why),
        other => panic!("expected a refusal naming a line, got {other:?}"),
    }
}

/// A value the option's own parser accepts (its first possible value, its
/// default, or a common shape).
fn sample_value(arg: &clap::Arg) -> String {
    let mut candidates: Vec<String> = arg
        .get_possible_values()
        .iter()
        .map(|v| v.get_name().to_string())
        .collect();
    candidates.extend(
        arg.get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned()),
    );
    candidates.extend(["1280", "127.0.0.1:47000", "/tmp/x", "eth0"].map(String::from));
    let key = arg.get_long().unwrap();
    candidates
        .into_iter()
        .find(|value| {
            let flag = format!("--{key}={value}");
            parse(argv(&["host", "serve", &flag])).is_ok()
        })
        .unwrap_or_else(|| panic!("no sample value for --{key}: add a candidate"))
}

/// Every option of `serve` (clap's own list, so a new flag cannot be
/// forgotten) can be set from the file, and says it came from there.
#[test]
fn every_serve_option_is_a_key_of_the_file() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_path_buf();
    let args = option_args();
    assert!(args.len() >= 20, "serve's options: {}", args.len());
    for arg in args {
        let key = arg.get_long().unwrap();
        let (text, expected) = match arg.get_action() {
            ArgAction::SetTrue => (format!("{key} = true\n"), vec!["true".to_string()]),
            ArgAction::Append => {
                let value = sample_value(&arg);
                (format!("{key} = [{:?}]\n", value), vec![value])
            }
            _ => {
                let value = sample_value(&arg);
                (format!("{key} = {:?}\n", value), vec![value])
            }
        };
        let file = write(&dir, &format!("# line 1\n{text}"));
        for subcommand in [&["serve"][..], &["config", "show"], &["run", "--", "true"]] {
            let settings = parse_with(&file, subcommand)
                .unwrap_or_else(|e| panic!("{key} in {subcommand:?}: {e}"));
            let effective = setting(&settings, key);
            assert_eq!(effective.origin, Origin::File { line: 2 }, "{key}");
            assert_eq!(effective.values, expected, "{key}");
        }
    }
}

#[test]
fn a_flag_overrides_the_file() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_path_buf();
    let file = write(
        &dir,
        "width = 1920\nheight = 1080\napp-writable = [\"/srv\"]\n",
    );
    let settings = parse_with(&file, &["serve", "--width", "800", "--app-writable", "/a"]).unwrap();
    let width = setting(&settings, "width");
    assert_eq!(
        (width.values.clone(), width.origin),
        (vec!["800".into()], Origin::CommandLine)
    );
    let height = setting(&settings, "height");
    assert_eq!(height.origin, Origin::File { line: 2 });
    // A repeated flag given on the command line replaces the file's list.
    let writable = setting(&settings, "app-writable");
    assert_eq!(writable.values, vec!["/a".to_string()]);
    assert_eq!(setting(&settings, "fps").origin, Origin::Default);
    assert_eq!(setting(&settings, "bitrate-kbps").origin, Origin::Unset);
}

#[test]
fn each_refusal_names_its_line_and_key() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_path_buf();
    let cases: [(&str, usize, &str); 8] = [
        (
            "fps = 60\n\nmedia_port = 9\n",
            3,
            "unknown key `media_port` (did you mean `media-port`?)",
        ),
        (
            "fps = 60\nwidth = 1919\n",
            2,
            "`width`: invalid value '1919'",
        ),
        ("fps = 500\n", 1, "`fps`: invalid value '500'"),
        (
            "sandbox = \"bogus\"\n",
            1,
            "possible values: auto, landlock, uid, off",
        ),
        (
            "width = [1280]\n",
            1,
            "`width`: takes one value, not a list",
        ),
        (
            "allow-any-command = \"yes\"\n",
            1,
            "`allow-any-command`: takes true or false",
        ),
        (
            "width = true\n",
            1,
            "`width`: takes a string or a number, not boolean",
        ),
        (
            "fps = 60\n[run]\nnmae = \"x\"\n",
            3,
            "unknown key `nmae` in [run]",
        ),
    ];
    for (text, line, why) in cases {
        let file = write(&dir, text);
        let (got_line, got_why) = refusal(parse_with(&file, &["serve"]));
        assert_eq!(got_line, line, "{text:?}: {got_why}");
        assert!(got_why.contains(why), "{text:?}: {got_why}");
    }
}

#[test]
fn malformed_toml_and_wrong_types_name_the_line() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_path_buf();
    for (text, line) in [
        ("fps = 60\nwidth = \n", "line 2"),
        ("allowed-commands = [\"/bin/a\", 7]\n", "line 1"),
        ("[run]\ncommand = \"/bin/a\"\n", "line 2"),
    ] {
        let file = write(&dir, text);
        let error = match parse_with(&file, &["run"]) {
            Err(SettingsError::File(e)) => e.to_string(),
            other => panic!("{text:?}: {other:?}"),
        };
        assert!(error.contains(line), "{text:?}: {error}");
    }
}

#[test]
fn the_run_table_gives_host_run_its_command_unless_the_command_line_does() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_path_buf();
    let file = write(
        &dir,
        "[run]\nname = \"tux\"\ncommand = [\"/usr/games/supertux2\", \"--fullscreen\"]\n",
    );
    let run = |words: &[&str]| match parse_with(&file, words).unwrap().cli.command {
        Command::Run { name, command, .. } => (name, command),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        run(&["run"]),
        (
            Some("tux".into()),
            vec!["/usr/games/supertux2".into(), "--fullscreen".into()]
        )
    );
    assert_eq!(
        run(&["run", "--name", "x", "--", "/bin/true"]),
        (Some("x".into()), vec!["/bin/true".into()])
    );
}

#[test]
fn allowed_commands_are_read_with_their_lines() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_path_buf();
    let file = write(
        &dir,
        "fps = 60\nallowed-commands = [\n  \"/usr/games/a\",\n  \"/usr/bin/b\",\n]\n",
    );
    let settings = parse_with(&file, &["serve"]).unwrap();
    let listed = settings.file.unwrap().allowed_commands;
    assert_eq!(
        listed,
        vec![("/usr/games/a".into(), 3), ("/usr/bin/b".into(), 4)]
    );
}

/// What `config show` prints is a config file that gives the same settings.
#[test]
fn config_show_round_trips() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_path_buf();
    let file = write(
        &dir,
        "listen = \"0.0.0.0:47990\"\nwidth = 1920\nallow-any-command = true\n\
         app-writable = [\"/srv/a\", \"/srv/b\"]\nsandbox = \"off\"\nallowed-commands = [\"/bin/x\"]\n",
    );
    let first = parse_with(&file, &["config", "show", "--fps", "30"]).unwrap();
    let shown = render(first.file.as_ref(), &first.effective, &dir);
    let again_file = dir.join("shown.toml");
    std::fs::write(&again_file, &shown).unwrap();
    let again = parse_with(&again_file, &["config", "show"]).unwrap();
    let values = |s: &Settings| -> Vec<(String, Vec<String>)> {
        s.effective
            .iter()
            .map(|e| (e.key.clone(), e.values.clone()))
            .collect()
    };
    assert_eq!(values(&first), values(&again), "{shown}");
    assert_eq!(again.file.unwrap().allowed_commands[0].0, "/bin/x");
    assert!(
        shown.contains("fps = 30") && shown.contains("# command line"),
        "{shown}"
    );
    assert!(
        shown.contains("width = 1920") && shown.contains("line 2"),
        "{shown}"
    );
}

#[test]
fn the_default_file_is_optional_but_a_named_one_is_not() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_path_buf();
    let data = dir.display().to_string();
    let settings = parse(argv(&["host", "--data-dir", &data, "serve"])).unwrap();
    assert!(settings.file.is_none());
    write(&dir, "fps = 30\n");
    let settings = parse(argv(&["host", "--data-dir", &data, "serve"])).unwrap();
    assert_eq!(setting(&settings, "fps").origin, Origin::File { line: 1 });
    let missing = dir.join("nope.toml").display().to_string();
    let result = parse(argv(&["host", "--config", &missing, "serve"]));
    assert!(matches!(
        result,
        Err(SettingsError::File(ConfigError::Unreadable { .. }))
    ));
}

#[test]
fn other_commands_do_not_read_the_file() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_path_buf();
    write(&dir, "this is not toml\n");
    let data = dir.display().to_string();
    let settings = parse(argv(&["host", "--data-dir", &data, "audit"])).unwrap();
    assert!(settings.file.is_none() && settings.effective.is_empty());
    assert!(parse(argv(&["host", "--data-dir", &data, "serve"])).is_err());
}

/// `database` in the file is the fleet's database for `serve` and `run`
/// (the admin commands take `--database`); a flag or APPSTREAM_DATABASE
/// overrides it, and `config show` hides a password.
#[test]
fn the_file_names_the_database_and_config_show_hides_its_password() {
    let temp = tempfile::tempdir().unwrap();
    let file = write(
        temp.path(),
        "listen = \"127.0.0.1:47000\"\ndatabase = \"postgres://host:s3cret@db.lan/appstream\"\n",
    );
    let settings = parse_with(&file, &["serve"]).unwrap();
    assert_eq!(
        settings.cli.database.as_deref(),
        Some("postgres://host:s3cret@db.lan/appstream")
    );
    assert_eq!(
        setting(&settings, "database").origin,
        Origin::File { line: 2 }
    );
    let shown = render(settings.file.as_ref(), &settings.effective, temp.path());
    assert!(
        shown.contains("postgres://host:***@db.lan/appstream"),
        "{shown}"
    );
    assert!(!shown.contains("s3cret"), "{shown}");
    let flagged = parse_with(&file, &["serve", "--database", "sqlite:/tmp/x.db"]).unwrap();
    assert_eq!(flagged.cli.database.as_deref(), Some("sqlite:/tmp/x.db"));
}

/// `host doctor` checks the file and the ports `serve` would use.
#[test]
fn doctor_takes_the_files_ports_and_refuses_a_bad_file() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_path_buf();
    let file = write(
        &dir,
        "listen = \"127.0.0.1:40001\"\nmedia-port = 40002\nwidth = 1920\n",
    );
    let settings = parse_with(&file, &["doctor"]).unwrap();
    match settings.cli.command {
        Command::Doctor { args } => {
            assert_eq!(args.listen.port(), 40001);
            assert_eq!(args.media_port, 40002);
        }
        other => panic!("{other:?}"),
    }
    let settings = parse_with(&file, &["doctor", "--listen", "127.0.0.1:40003"]).unwrap();
    match settings.cli.command {
        Command::Doctor { args } => assert_eq!(args.listen.port(), 40003),
        other => panic!("{other:?}"),
    }
    let file = write(&dir, "fps = 60\nwidht = 1920\n");
    let (line, why) = refusal(parse_with(&file, &["doctor"]));
    assert_eq!(line, 2, "{why}");
}
