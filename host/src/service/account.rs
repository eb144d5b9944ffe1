//! The system unit's side of the machine: its dedicated user, the files it
//! must own, and whether it can run the host binary at all.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::Context;
use nix::unistd::{Gid, Uid, User};

use super::unit::SYSTEM_USER;

/// The command that creates the dedicated user (`home` its data directory).
pub fn useradd_command(home: &Path) -> Vec<String> {
    vec![
        "useradd".into(),
        "--system".into(),
        "--user-group".into(),
        "--home-dir".into(),
        home.display().to_string(),
        "--no-create-home".into(),
        "--shell".into(),
        "/usr/sbin/nologin".into(),
        SYSTEM_USER.into(),
    ]
}

/// The dedicated user's ids, if it exists.
pub fn lookup() -> anyhow::Result<Option<(Uid, Gid)>> {
    Ok(User::from_name(SYSTEM_USER)
        .with_context(|| format!("looking up the user {SYSTEM_USER}"))?
        .map(|u| (u.uid, u.gid)))
}

/// Creates the dedicated user when it is missing (root only). Says what it
/// did in `out`.
pub fn ensure_user(home: &Path, out: &mut dyn std::io::Write) -> anyhow::Result<(Uid, Gid)> {
    if let Some(ids) = lookup()? {
        writeln!(out, "user {SYSTEM_USER}: exists (uid {})", ids.0)?;
        return Ok(ids);
    }
    let command = useradd_command(home);
    let status = std::process::Command::new(&command[0])
        .args(&command[1..])
        .status()
        .with_context(|| format!("running {}", command.join(" ")))?;
    anyhow::ensure!(
        status.success(),
        "`{}` failed ({status}); create the user yourself and run this again",
        command.join(" ")
    );
    let ids = lookup()?.with_context(|| format!("{SYSTEM_USER} is still missing after useradd"))?;
    writeln!(out, "user {SYSTEM_USER}: created (uid {})", ids.0)?;
    Ok(ids)
}

/// Why a user other than the file's owner cannot run `exe`: a directory on
/// the way, or the file, that others may not enter or execute.
pub fn unreachable_by_others(exe: &Path) -> Option<String> {
    let mode = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.permissions().mode())
            .unwrap_or(0)
    };
    for dir in exe.ancestors().skip(1) {
        if dir.as_os_str().is_empty() {
            continue;
        }
        if mode(dir) & 0o001 == 0 {
            return Some(format!(
                "{} is closed to other users (mode {:o})",
                dir.display(),
                mode(dir) & 0o7777
            ));
        }
    }
    if mode(exe) & 0o001 == 0 {
        return Some(format!(
            "{} is not executable by other users (mode {:o})",
            exe.display(),
            mode(exe) & 0o7777
        ));
    }
    None
}

/// Gives `path` (not what is in it) to the dedicated user.
pub fn give(path: &Path, ids: (Uid, Gid)) -> anyhow::Result<()> {
    nix::unistd::chown(path, Some(ids.0), Some(ids.1))
        .with_context(|| format!("giving {} to {SYSTEM_USER}", path.display()))
}

/// Whether something inside `dir` belongs to another user than `uid` (the
/// host, running as that user, could not read it).
pub fn foreign_entries(dir: &Path, uid: Uid) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .any(|m| m.uid() != uid.as_raw())
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_useradd_command_makes_a_system_user_without_a_shell() {
        assert_eq!(
            useradd_command(Path::new("/var/lib/appstream-host")).join(" "),
            "useradd --system --user-group --home-dir /var/lib/appstream-host \
             --no-create-home --shell /usr/sbin/nologin appstream-host"
        );
    }

    #[test]
    fn a_binary_under_a_closed_directory_is_unreachable() {
        let dir = std::env::temp_dir().join(format!("svc-reach-{}", std::process::id()));
        let closed = dir.join("closed");
        std::fs::create_dir_all(&closed).expect("dirs");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let exe = closed.join("host");
        std::fs::write(&exe, b"").expect("file");
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let why = unreachable_by_others(&exe);
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let open = unreachable_by_others(&exe);
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let private = unreachable_by_others(&exe);
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            why.as_deref()
                .is_some_and(|w| w.contains("closed to other users")),
            "{why:?}"
        );
        // /tmp and its parents are open on any machine the tests run on.
        assert_eq!(open, None);
        assert!(
            private
                .as_deref()
                .is_some_and(|w| w.contains("not executable")),
            "{private:?}"
        );
    }
}
