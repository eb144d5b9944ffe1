//! `host apps|users|roles|keys|policies|audit`: administration straight on
//! the data directory's database (safe while the host runs: SQLite locks).
//! Passwords are read from stdin, never from the command line (where `ps`
//! would show them).

use std::io::BufRead;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use common::api::{ApplicationState, NewApplication, StreamDefaults, validate_name};
use common::policy::{Decision, Policy};

use crate::clock::{Clock, SystemClock};
use crate::control_plane::bootstrap::create_access_key;
use crate::control_plane::entitlement::passwords;
use crate::control_plane::store::{Database, PrincipalKind, Store};
use crate::control_plane::{CallContext, authorize};
use crate::platform::write_private;

#[derive(Subcommand, Debug)]
pub enum AppsCommand {
    List,
    /// Adds an application (its command is launched for each session).
    Add {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long, default_value = "")]
        command: String,
        #[arg(long = "arg")]
        args: Vec<String>,
        /// A PNG file (copied into DATA_DIR/icons/) or an https URL.
        #[arg(long)]
        icon: Option<String>,
        #[arg(long, default_value_t = 4)]
        max_sessions: u32,
        #[arg(long, default_value_t = 1280)]
        width: u32,
        #[arg(long, default_value_t = 720)]
        height: u32,
        #[arg(long, default_value_t = 60)]
        fps: u32,
        #[arg(long)]
        bitrate_kbps: Option<u32>,
    },
    Enable {
        name: String,
    },
    Disable {
        name: String,
    },
    Remove {
        name: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    List,
    /// Adds a user; the password is read from stdin, or generated and printed once.
    Add {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    SetPassword {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Turns on a TOTP second factor and prints its secret and otpauth:// URL.
    EnableTotp {
        name: String,
    },
    DisableTotp {
        name: String,
    },
    /// Lets the user start the application.
    Entitle {
        name: String,
        application: String,
    },
    Revoke {
        name: String,
        application: String,
    },
    Delete {
        name: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum RolesCommand {
    List,
    Add { name: String },
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Lists keys (never their secrets).
    List {
        principal: Option<String>,
    },
    /// Creates a key; prints it, or writes it (mode 0600) with --out.
    Create {
        principal: String,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// A new key for the same principal; the old one stays active until deactivated.
    Rotate {
        key_id: String,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    Deactivate {
        key_id: String,
    },
    Activate {
        key_id: String,
    },
    Delete {
        key_id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum PoliciesCommand {
    List,
    Show {
        name: String,
    },
    /// Stores a policy from a JSON file; a malformed one is refused whole.
    Put {
        name: String,
        file: PathBuf,
    },
    Attach {
        name: String,
        principal: String,
    },
    Detach {
        name: String,
        principal: String,
    },
    /// Would PRINCIPAL be allowed ACTION on RESOURCE?
    Simulate {
        #[arg(long)]
        principal: String,
        #[arg(long, required_unless_present = "request")]
        action: Option<String>,
        #[arg(long, default_value = "*")]
        resource: String,
        /// An API request instead of --action/--resource, as the API
        /// would evaluate it: "METHOD PATH" (e.g. "GET /api/applications/%64emo";
        /// CreateApplication's resource comes from a body, so name it with
        /// --action/--resource instead).
        #[arg(long, conflicts_with_all = ["action"])]
        request: Option<String>,
        #[arg(long)]
        source_ip: Option<IpAddr>,
        /// aws:MultiFactorAuthPresent: left out, the key is absent (as for an
        /// access key); `--mfa` or `--mfa true`: present and true;
        /// `--mfa false`: present and false.
        #[arg(long, num_args = 0..=1, default_missing_value = "true")]
        mfa: Option<bool>,
    },
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    #[command(subcommand)]
    Apps(AppsCommand),
    #[command(subcommand)]
    Users(UsersCommand),
    #[command(subcommand)]
    Roles(RolesCommand),
    #[command(subcommand)]
    Keys(KeysCommand),
    #[command(subcommand)]
    Policies(PoliciesCommand),
    /// The newest entries of the audit log.
    Audit {
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

pub fn run(data_dir: &Path, database: &Database, command: AdminCommand) -> anyhow::Result<()> {
    crate::platform::private_dir::prepare(data_dir)?;
    let store = database.open()?;
    let store = store.as_ref();
    let now = SystemClock.now_unix_s();
    match command {
        AdminCommand::Apps(c) => apps(store, data_dir, c, now),
        AdminCommand::Users(c) => users(store, c, now),
        AdminCommand::Roles(c) => roles(store, c, now),
        AdminCommand::Keys(c) => keys(store, c, now),
        AdminCommand::Policies(c) => policies(store, c, now),
        AdminCommand::Audit { limit } => {
            for e in store.audit_log(limit)? {
                println!(
                    "{} {} {} {} {} {} -> {} {}{}",
                    common::signing::format_date(e.at),
                    e.principal.as_deref().unwrap_or("-"),
                    e.source_ip.as_deref().unwrap_or("-"),
                    e.method,
                    e.path,
                    e.action.as_deref().unwrap_or("-"),
                    e.status,
                    e.decision,
                    e.reason.map(|r| format!(" ({r})")).unwrap_or_default()
                );
            }
            Ok(())
        }
    }
}

fn apps(store: &dyn Store, data_dir: &Path, command: AppsCommand, now: i64) -> anyhow::Result<()> {
    match command {
        AppsCommand::List => {
            for app in store.applications()? {
                println!(
                    "{}\t{:?}\t{}x{}@{}\tmax {}\t{}",
                    app.name,
                    app.state,
                    app.stream.width,
                    app.stream.height,
                    app.stream.fps,
                    app.max_sessions,
                    if app.command.is_empty() {
                        "(synthetic)"
                    } else {
                        &app.command
                    }
                );
            }
        }
        AppsCommand::Add {
            name,
            description,
            command,
            args,
            icon,
            max_sessions,
            width,
            height,
            fps,
            bitrate_kbps,
        } => {
            validate_name("application", &name).map_err(anyhow::Error::msg)?;
            let icon = match icon {
                Some(value) => Some(
                    crate::control_plane::icons::import(data_dir, &name, &value)
                        .map_err(|e| anyhow::anyhow!("--icon: {e}"))?,
                ),
                None => None,
            };
            let new = NewApplication {
                name,
                description,
                command,
                args,
                working_dir: None,
                icon,
                stream: StreamDefaults {
                    width,
                    height,
                    fps,
                    bitrate_kbps,
                },
                max_sessions,
                state: ApplicationState::Enabled,
            };
            new.validate().map_err(anyhow::Error::msg)?;
            store.create_application(&new, now)?;
            println!("application {} added", new.name);
            // The owner, at the data directory, allows the command too.
            if crate::control_plane::allowed_commands::allow(data_dir, &new.command)? {
                println!(
                    "command {:?} added to {}",
                    new.command,
                    data_dir
                        .join(crate::control_plane::allowed_commands::ALLOWED_COMMANDS_FILE)
                        .display()
                );
            }
        }
        AppsCommand::Enable { name } => {
            store.set_application_state(&name, ApplicationState::Enabled, now)?;
            println!("application {name} enabled");
        }
        AppsCommand::Disable { name } => {
            store.set_application_state(&name, ApplicationState::Disabled, now)?;
            println!("application {name} disabled");
        }
        AppsCommand::Remove { name } => {
            store.delete_application(&name)?;
            println!("application {name} removed");
        }
    }
    Ok(())
}

fn read_password(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if !from_stdin {
        return Ok((passwords::random_password(), true));
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    if password.len() < 8 {
        bail!("the password must have at least 8 characters");
    }
    Ok((password, false))
}

fn users(store: &dyn Store, command: UsersCommand, now: i64) -> anyhow::Result<()> {
    match command {
        UsersCommand::List => {
            for p in store
                .principals()?
                .into_iter()
                .filter(|p| p.kind == PrincipalKind::User)
            {
                println!(
                    "{}\t{}\t{}\tentitled to: {}",
                    p.name,
                    if p.has_password {
                        "password"
                    } else {
                        "no password"
                    },
                    if p.has_totp { "totp" } else { "no totp" },
                    store.entitlements(&p.name)?.join(", ")
                );
            }
        }
        UsersCommand::Add {
            name,
            password_stdin,
        } => {
            validate_name("user", &name).map_err(anyhow::Error::msg)?;
            let (password, generated) = read_password(password_stdin)?;
            store.create_principal(&name, PrincipalKind::User, now)?;
            store.set_password_hash(&name, &passwords::hash_password(&password)?)?;
            println!("user {name} added");
            if generated {
                println!("password (shown once): {password}");
            }
        }
        UsersCommand::SetPassword {
            name,
            password_stdin,
        } => {
            let (password, generated) = read_password(password_stdin)?;
            store.set_password_hash(&name, &passwords::hash_password(&password)?)?;
            println!("password of {name} set");
            if generated {
                println!("password (shown once): {password}");
            }
        }
        UsersCommand::EnableTotp { name } => {
            let secret = passwords::new_totp_secret();
            store.set_totp_secret(&name, Some(&secret))?;
            println!("TOTP enabled for {name}");
            println!("secret: {secret}");
            println!("url: {}", passwords::totp_url(&name, &secret));
        }
        UsersCommand::DisableTotp { name } => {
            store.set_totp_secret(&name, None)?;
            println!("TOTP disabled for {name}");
        }
        UsersCommand::Entitle { name, application } => {
            // Not checked against local applications: a standalone
            // entitlement service's applications live at a remote host.
            store.entitle(&name, &application)?;
            println!("{name} may start {application}");
        }
        UsersCommand::Revoke { name, application } => {
            store.revoke_entitlement(&name, &application)?;
            println!("{name} may no longer start {application}");
        }
        UsersCommand::Delete { name } => {
            store.delete_principal(&name)?;
            println!("user {name} deleted");
        }
    }
    Ok(())
}

fn roles(store: &dyn Store, command: RolesCommand, now: i64) -> anyhow::Result<()> {
    match command {
        RolesCommand::List => {
            for p in store
                .principals()?
                .into_iter()
                .filter(|p| p.kind == PrincipalKind::Role)
            {
                let policies: Vec<String> = store
                    .attached_policies(&p.name)?
                    .into_iter()
                    .map(|(n, _)| n)
                    .collect();
                println!("{}\tpolicies: {}", p.name, policies.join(", "));
            }
        }
        RolesCommand::Add { name } => {
            validate_name("role", &name).map_err(anyhow::Error::msg)?;
            store.create_principal(&name, PrincipalKind::Role, now)?;
            println!("role {name} added");
        }
    }
    Ok(())
}

fn print_or_write_key(
    key: &common::client::AccessKeyFile,
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
    match out {
        Some(path) => {
            write_private(&path, key.to_text().as_bytes())?;
            println!("key {} written to {}", key.key_id, path.display());
        }
        None => print!("{}", key.to_text()),
    }
    Ok(())
}

fn keys(store: &dyn Store, command: KeysCommand, now: i64) -> anyhow::Result<()> {
    match command {
        KeysCommand::List { principal } => {
            for k in store.keys(principal.as_deref())? {
                println!(
                    "{}\t{}\t{}\tcreated {}{}",
                    k.key_id,
                    k.principal,
                    if k.active { "active" } else { "inactive" },
                    common::signing::format_date(k.created_at),
                    k.expires_at
                        .map(|t| format!("\texpires {}", common::signing::format_date(t)))
                        .unwrap_or_default()
                );
            }
        }
        KeysCommand::Create { principal, out } => {
            store.principal(&principal)?;
            print_or_write_key(&create_access_key(store, &principal, now)?, out)?;
        }
        KeysCommand::Rotate { key_id, out } => {
            let old = store.key(&key_id)?;
            let new = create_access_key(store, &old.principal, now)?;
            print_or_write_key(&new, out)?;
            eprintln!(
                "{key_id} stays active: deactivate it (`host keys deactivate {key_id}`) once every client uses {}",
                new.key_id
            );
        }
        KeysCommand::Deactivate { key_id } => {
            store.set_key_active(&key_id, false)?;
            println!("key {key_id} deactivated");
        }
        KeysCommand::Activate { key_id } => {
            store.set_key_active(&key_id, true)?;
            println!("key {key_id} activated");
        }
        KeysCommand::Delete { key_id } => {
            store.delete_key(&key_id)?;
            println!("key {key_id} deleted");
        }
    }
    Ok(())
}

fn policies(store: &dyn Store, command: PoliciesCommand, now: i64) -> anyhow::Result<()> {
    match command {
        PoliciesCommand::List => {
            for name in store.policy_names()? {
                println!("{name}");
            }
        }
        PoliciesCommand::Show { name } => println!("{}", store.policy(&name)?),
        PoliciesCommand::Put { name, file } => {
            validate_name("policy", &name).map_err(anyhow::Error::msg)?;
            let document = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            Policy::parse(&document)
                .with_context(|| format!("policy {} refused", file.display()))?;
            store.put_policy(&name, &document, now)?;
            println!("policy {name} stored");
        }
        PoliciesCommand::Attach { name, principal } => {
            store.attach_policy(&principal, &name)?;
            println!("policy {name} attached to {principal}");
        }
        PoliciesCommand::Detach { name, principal } => {
            store.detach_policy(&principal, &name)?;
            println!("policy {name} detached from {principal}");
        }
        PoliciesCommand::Simulate {
            principal,
            action,
            resource,
            request,
            source_ip,
            mfa,
        } => {
            store.principal(&principal)?;
            let (action, resource) = match (request, action) {
                (Some(request), _) => request_action(&request)?,
                (None, Some(action)) => (action, resource),
                (None, None) => anyhow::bail!("give --action or --request"),
            };
            let context = CallContext {
                source_ip,
                mfa_present: mfa,
                secure_transport: true,
            };
            let explanation = authorize(store, &principal, &action, &resource, context, now)?;
            let verdict = match explanation.decision {
                Decision::Allow => "ALLOWED",
                Decision::ExplicitDeny => "DENIED (explicit deny)",
                Decision::ImplicitDeny => "DENIED (no policy allows it)",
            };
            println!(
                "{principal} {action} {resource}: {verdict}{}",
                explanation
                    .sid
                    .map(|s| format!(" by {s}"))
                    .unwrap_or_default()
            );
        }
    }
    Ok(())
}

/// The action and resource the API would authorize for "METHOD PATH": the
/// same route templates and decoding as the router.
fn request_action(request: &str) -> anyhow::Result<(String, String)> {
    let (method, path) = request
        .trim()
        .split_once(' ')
        .context("--request takes \"METHOD PATH\", e.g. \"GET /api/applications/demo\"")?;
    let method = axum::http::Method::from_bytes(method.trim().to_ascii_uppercase().as_bytes())
        .map_err(|_| anyhow::anyhow!("--request: {method:?} is not an HTTP method"))?;
    let path = path.trim().split('?').next().unwrap_or("");
    let (template, captures) = crate::control_plane::api::routes::match_route(path)
        .with_context(|| format!("--request: no API route matches {path}"))?;
    let params = crate::control_plane::api::routes::RouteParams::from_captures(
        captures.iter().map(|(name, value)| (*name, value.as_str())),
    )
    .map_err(|why| anyhow::anyhow!("--request: {why}"))?;
    let (action, resource) =
        crate::control_plane::api::routes::action_and_resource(&method, template, &params, b"");
    Ok((action.to_string(), resource))
}
