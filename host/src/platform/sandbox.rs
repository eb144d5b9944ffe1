//! The sandbox launched applications run in: they get their display, the SDK
//! socket, the machine role's credentials file and the system, and nothing
//! of the host's data directory (keys, database, TLS key).
//!
//! Two layers. Under root, the application runs as an unprivileged user
//! (`--app-user`, default `nobody`), for which the 0700 data directory is
//! closed. In every mode where the kernel has it, a Landlock ruleset grants
//! only the listed paths; Landlock can only grant, so a granted directory
//! that contains the data directory is granted entry by entry, leaving the
//! data directory out. Both are applied by a trampoline, `host sandbox-exec
//! … -- COMMAND`, which then execs the application: no unsafe `pre_exec`.

use std::convert::Infallible;
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use landlock::{
    ABI, Access, AccessFs, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus,
};
use nix::unistd::{Gid, Uid, User};

/// The Landlock ABI we ask for (Linux 6.7+ has it; older kernels get what
/// they support, and a warning).
const LANDLOCK_ABI: ABI = ABI::V4;
/// Read (and execute) for the system.
const SYSTEM_READ: &[&str] = &[
    "/usr",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/bin",
    "/sbin",
    "/etc",
    "/opt",
    "/sys",
    "/proc",
    "/var/lib",
    "/var/cache",
    "/run",
];
/// Read and write: devices, shared memory, temporary files.
const SYSTEM_WRITE: &[&str] = &["/dev", "/tmp", "/var/tmp"];
/// A bound on the rules carving may produce (a huge directory next to the
/// data directory would otherwise make thousands).
const MAX_RULES: usize = 4096;

/// What the host owner chose (`--sandbox`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SandboxChoice {
    /// `uid` when the host runs as root, else `landlock`.
    Auto,
    Landlock,
    Uid,
    /// No sandbox (applications can read the host's secrets).
    Off,
}

/// The sandbox as resolved at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sandbox {
    Off,
    /// Same uid, Landlock only.
    Landlock,
    /// Another uid (and Landlock where the kernel has it).
    User {
        name: String,
        uid: u32,
        gid: u32,
    },
}

impl Sandbox {
    /// Resolves the choice; says in words what it could not do.
    pub fn resolve(choice: SandboxChoice, app_user: &str) -> anyhow::Result<Sandbox> {
        let root = Uid::effective().is_root();
        let want_user = match choice {
            SandboxChoice::Off => {
                tracing::warn!(
                    "--sandbox off: launched applications run as the host's user and can read its data directory"
                );
                return Ok(Sandbox::Off);
            }
            SandboxChoice::Uid => true,
            SandboxChoice::Landlock => false,
            SandboxChoice::Auto => root,
        };
        if !landlock_available() {
            tracing::warn!(
                "this kernel has no Landlock: launched applications are not confined by a ruleset{}",
                if want_user && root {
                    " (they still run as another user)"
                } else {
                    "; they run as the host's user and could read its data directory. \
                     Run the host as root (applications then run as --app-user) or on Linux 5.13+ with Landlock enabled"
                }
            );
        }
        if !want_user {
            // Landlock alone leaves a root application root: it could kill
            // the host, load modules or read the disk under the ruleset.
            anyhow::ensure!(
                !root,
                "--sandbox landlock as root would leave applications running as root; \
                 use --sandbox uid (the default as root: they run as --app-user, under Landlock too)"
            );
            return Ok(Sandbox::Landlock);
        }
        anyhow::ensure!(
            root,
            "--sandbox uid needs the host to run as root (it switches applications to --app-user)"
        );
        let user = User::from_name(app_user)
            .with_context(|| format!("looking up --app-user {app_user}"))?
            .with_context(|| format!("--app-user {app_user}: no such user"))?;
        anyhow::ensure!(
            !user.uid.is_root(),
            "--app-user {app_user} is root: applications must run unprivileged"
        );
        Ok(Sandbox::User {
            name: app_user.to_string(),
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        })
    }

    /// The uid and gid files handed to the application must belong to.
    pub fn owner(&self) -> Option<(u32, u32)> {
        match self {
            Sandbox::User { uid, gid, .. } => Some((*uid, *gid)),
            _ => None,
        }
    }

    pub fn describe(&self) -> String {
        let landlock = if landlock_available() {
            "Landlock ruleset"
        } else {
            "no Landlock (kernel lacks it)"
        };
        match self {
            Sandbox::Off => "off".into(),
            Sandbox::Landlock => landlock.into(),
            Sandbox::User { name, uid, .. } => format!("user {name} (uid {uid}) + {landlock}"),
        }
    }
}

/// Whether this kernel enforces Landlock.
pub fn landlock_available() -> bool {
    Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(ABI::V1))
        .and_then(|ruleset| ruleset.create())
        .is_ok()
}

/// Makes a file or directory the application's (uid mode). A symlink is
/// never followed: an application that planted one where the host hands
/// over a file gets the link, not what it points at.
pub fn give_to(path: &Path, owner: Option<(u32, u32)>) -> anyhow::Result<()> {
    if let Some((uid, gid)) = owner {
        nix::unistd::fchownat(
            nix::fcntl::AT_FDCWD,
            path,
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
            nix::unistd::FchownatFlags::AT_SYMLINK_NOFOLLOW,
        )
        .with_context(|| format!("handing {} to uid {uid}", path.display()))?;
    }
    Ok(())
}

/// What one application may touch besides the system.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// Granted, less the hidden paths inside them.
    pub read: Vec<PathBuf>,
    pub write: Vec<PathBuf>,
    /// The application's own places under the host's runtime root (its
    /// private directory, the credentials): granted exactly, though the
    /// runtime root is hidden.
    pub own_read: Vec<PathBuf>,
    pub own_write: Vec<PathBuf>,
    /// Never granted, even inside a granted directory.
    pub hidden: Vec<PathBuf>,
}

/// The trampoline's command line: `HOST sandbox-exec [--uid U --gid G]
/// [--read P]… [--write P]… [--hide P]… -- PROGRAM ARGS…`.
pub fn wrap(
    sandbox: &Sandbox,
    grants: &Grants,
    program: &str,
    args: &[String],
) -> anyhow::Result<(PathBuf, Vec<OsString>)> {
    let host = std::env::current_exe().context("finding the host's own executable")?;
    let mut argv: Vec<OsString> = vec!["sandbox-exec".into()];
    if let Sandbox::User { uid, gid, .. } = sandbox {
        argv.extend(["--uid".into(), uid.to_string().into()]);
        argv.extend(["--gid".into(), gid.to_string().into()]);
    }
    for (flag, paths) in [
        ("--read", &grants.read),
        ("--write", &grants.write),
        ("--own-read", &grants.own_read),
        ("--own-write", &grants.own_write),
        ("--hide", &grants.hidden),
    ] {
        for path in paths {
            argv.push(flag.into());
            argv.push(path.clone().into_os_string());
        }
    }
    // The program's own directory is readable (its libraries, its data).
    if let Some(dir) = resolve_program(program).and_then(|p| p.parent().map(Path::to_path_buf)) {
        argv.push("--read".into());
        argv.push(dir.into_os_string());
    }
    argv.push("--".into());
    argv.push(program.into());
    argv.extend(args.iter().map(OsString::from));
    Ok((host, argv))
}

/// `PROGRAM` as `exec` will find it (a path, or the first match on PATH).
fn resolve_program(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return std::fs::canonicalize(program).ok();
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .and_then(|p| std::fs::canonicalize(p).ok())
}

/// `host sandbox-exec`'s arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct ExecArgs {
    #[arg(long)]
    pub uid: Option<u32>,
    #[arg(long)]
    pub gid: Option<u32>,
    #[arg(long)]
    pub read: Vec<PathBuf>,
    #[arg(long)]
    pub write: Vec<PathBuf>,
    #[arg(long)]
    pub own_read: Vec<PathBuf>,
    #[arg(long)]
    pub own_write: Vec<PathBuf>,
    #[arg(long)]
    pub hide: Vec<PathBuf>,
    /// The program and its arguments, after `--`.
    #[arg(last = true, required = true)]
    pub command: Vec<OsString>,
}

/// The trampoline: drops to the application's user, restricts itself with
/// Landlock, and execs the program (returns only on failure).
pub fn exec(args: ExecArgs) -> anyhow::Result<Infallible> {
    let (program, program_args) = args
        .command
        .split_first()
        .context("sandbox-exec needs a command after --")?;
    if let (Some(uid), Some(gid)) = (args.uid, args.gid) {
        let (uid, gid) = (Uid::from_raw(uid), Gid::from_raw(gid));
        nix::unistd::setgroups(&[gid]).context("dropping supplementary groups")?;
        nix::unistd::setgid(gid).context("switching group")?;
        nix::unistd::setuid(uid).context("switching user")?;
        anyhow::ensure!(
            nix::unistd::setuid(Uid::from_raw(0)).is_err(),
            "the user switch can be undone"
        );
    }
    restrict(&args)?;
    let error = std::process::Command::new(program)
        .args(program_args)
        .exec();
    Err(anyhow::Error::new(error).context(format!("starting {}", program.to_string_lossy())))
}

/// Applies the Landlock ruleset to this process (best effort on kernels
/// with an older ABI; nothing where Landlock is missing: the host warned).
fn restrict(args: &ExecArgs) -> anyhow::Result<()> {
    if !landlock_available() {
        return Ok(());
    }
    // Fail closed: a hidden path that cannot be resolved is an error, not
    // a path left out of the list.
    let hidden = args
        .hide
        .iter()
        .map(|p| std::fs::canonicalize(p).with_context(|| format!("resolving {}", p.display())))
        .collect::<anyhow::Result<Vec<PathBuf>>>()?;
    let read_access = AccessFs::from_read(LANDLOCK_ABI);
    let write_access = AccessFs::from_all(LANDLOCK_ABI);
    let mut rules: Vec<(PathBuf, bool)> = Vec::new();
    for path in SYSTEM_READ {
        carve(Path::new(path), &hidden, false, &mut rules)?;
    }
    for path in SYSTEM_WRITE {
        carve(Path::new(path), &hidden, true, &mut rules)?;
    }
    for (paths, writable) in [(&args.read, false), (&args.write, true)] {
        for path in paths {
            carve(path, &hidden, writable, &mut rules)?;
        }
    }
    for (paths, writable) in [(&args.own_read, false), (&args.own_write, true)] {
        for path in paths {
            rules.push((path.clone(), writable));
        }
    }
    let mut ruleset = Ruleset::default()
        .handle_access(write_access)
        .context("Landlock: handling file access")?
        .create()
        .context("Landlock: creating the ruleset")?;
    for (path, writable) in rules {
        // A path that vanished since it was listed is skipped.
        let Ok(fd) = PathFd::new(&path) else { continue };
        let access = if writable { write_access } else { read_access };
        ruleset = ruleset
            .add_rule(PathBeneath::new(fd, access))
            .with_context(|| format!("Landlock: granting {}", path.display()))?;
    }
    let status = ruleset
        .restrict_self()
        .context("Landlock: restricting the application")?;
    if status.ruleset == RulesetStatus::NotEnforced {
        anyhow::bail!("Landlock: the ruleset is not enforced by this kernel");
    }
    Ok(())
}

/// Grants `path`, or, when a hidden path lies inside it, every entry of it
/// except the way to the hidden one (recursively).
fn carve(
    path: &Path,
    hidden: &[PathBuf],
    writable: bool,
    rules: &mut Vec<(PathBuf, bool)>,
) -> anyhow::Result<()> {
    let Ok(path) = std::fs::canonicalize(path) else {
        return Ok(());
    };
    if hidden.iter().any(|h| path.starts_with(h)) {
        return Ok(());
    }
    anyhow::ensure!(
        rules.len() < MAX_RULES,
        "the sandbox would need over {MAX_RULES} rules to leave the data directory out; \
         move the data directory out of a directory with that many entries"
    );
    if !hidden.iter().any(|h| h.starts_with(&path)) || !path.is_dir() {
        rules.push((path, writable));
        return Ok(());
    }
    let entries =
        std::fs::read_dir(&path).with_context(|| format!("listing {}", path.display()))?;
    for entry in entries {
        carve(&entry?.path(), hidden, writable, rules)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carving_leaves_the_hidden_directory_and_grants_its_siblings() {
        let root = std::env::temp_dir().join(format!("carve-{}", rand::random::<u64>()));
        for dir in ["a/secret", "a/b", "c"] {
            std::fs::create_dir_all(root.join(dir)).expect("dir");
        }
        std::fs::write(root.join("a/file"), b"x").expect("file");
        let root = std::fs::canonicalize(&root).expect("canonical");
        let hidden = vec![root.join("a/secret")];
        let mut rules = Vec::new();
        carve(&root, &hidden, false, &mut rules).expect("carved");
        let mut granted: Vec<_> = rules
            .iter()
            .map(|(p, _)| p.strip_prefix(&root).expect("inside").to_path_buf())
            .collect();
        granted.sort();
        assert_eq!(
            granted,
            vec![
                PathBuf::from("a/b"),
                PathBuf::from("a/file"),
                PathBuf::from("c")
            ]
        );
        let mut none = Vec::new();
        carve(&root.join("a/secret"), &hidden, true, &mut none).expect("carved");
        assert!(none.is_empty());
        // A grant inside a hidden directory is carved away too.
        std::fs::create_dir_all(root.join("a/secret/inner")).expect("dir");
        let mut inner = Vec::new();
        carve(&root.join("a/secret/inner"), &hidden, true, &mut inner).expect("carved");
        assert!(inner.is_empty());
    }
}
