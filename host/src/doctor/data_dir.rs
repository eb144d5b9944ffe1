//! The data directory holds the host's secrets: `host doctor` checks it is
//! the host user's alone (0700), as `private_dir` makes it, or that it can
//! be created.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::unistd::{AccessFlags, Uid, access};

use super::report::Check;

#[derive(Debug, Clone, PartialEq, Eq)]
enum DirState {
    Missing {
        nearest_existing: PathBuf,
        creatable: bool,
    },
    NotADirectory,
    Unreadable(String),
    Exists {
        mode: u32,
        owner_uid: u32,
    },
}

pub fn check(data_dir: &Path) -> Check {
    dir_check(data_dir, &probe(data_dir), Uid::effective().as_raw())
}

fn probe(data_dir: &Path) -> DirState {
    match std::fs::metadata(data_dir) {
        Ok(meta) if meta.is_dir() => DirState::Exists {
            mode: meta.mode() & 0o7777,
            owner_uid: meta.uid(),
        },
        Ok(_) => DirState::NotADirectory,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let absolute = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.into());
            let nearest_existing = absolute
                .ancestors()
                .find(|dir| dir.exists())
                .unwrap_or(Path::new("/"))
                .to_path_buf();
            let creatable =
                access(&nearest_existing, AccessFlags::W_OK | AccessFlags::X_OK).is_ok();
            DirState::Missing {
                nearest_existing,
                creatable,
            }
        }
        Err(e) => DirState::Unreadable(e.to_string()),
    }
}

fn dir_check(data_dir: &Path, state: &DirState, my_uid: u32) -> Check {
    let name = format!("data directory {}", data_dir.display());
    let dir = data_dir.display();
    match state {
        DirState::Missing {
            creatable: true, ..
        } => Check::ok(name, "does not exist yet: the host will create it (0700)"),
        DirState::Missing {
            nearest_existing,
            creatable: false,
        } => Check::fail(
            name,
            format!(
                "does not exist, and {} is not writable by uid {my_uid}",
                nearest_existing.display()
            ),
            format!("create it (`mkdir -m 700 {dir}`) as this user, or choose another --data-dir"),
        ),
        DirState::NotADirectory => Check::fail(
            name,
            "exists but is not a directory",
            "move it away, or choose another --data-dir",
        ),
        DirState::Unreadable(e) => Check::fail(
            name,
            format!("cannot be read: {e}"),
            "give the host's user access to it, or choose another --data-dir",
        ),
        DirState::Exists { owner_uid, .. } if *owner_uid != my_uid => Check::fail(
            name,
            format!("owned by uid {owner_uid}, but the host runs as uid {my_uid}"),
            format!("run the host as its owner, or `chown -R {my_uid} {dir}`"),
        ),
        DirState::Exists { mode, .. } if mode & 0o077 != 0 => Check::fail(
            name,
            format!("mode {mode:o}: other users can reach the host's keys and database"),
            format!(
                "`chmod 700 {dir}`; its secrets may have been read: rotate access keys and make a new TLS key"
            ),
        ),
        DirState::Exists { mode, .. } => {
            Check::ok(name, format!("mode {mode:o}, owned by the host's user"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::report::Status;

    const ME: u32 = 1000;

    fn status_of(state: DirState) -> Check {
        dir_check(Path::new("/srv/host-data"), &state, ME)
    }

    #[test]
    fn a_private_directory_or_one_to_create_is_ok() {
        let private = status_of(DirState::Exists {
            mode: 0o700,
            owner_uid: ME,
        });
        assert_eq!(private.status, Status::Ok);
        let missing = status_of(DirState::Missing {
            nearest_existing: "/srv".into(),
            creatable: true,
        });
        assert_eq!(missing.status, Status::Ok);
        assert!(missing.found.contains("will create"));
    }

    #[test]
    fn an_open_or_foreign_directory_fails_and_says_how_to_fix_it() {
        let open = status_of(DirState::Exists {
            mode: 0o755,
            owner_uid: ME,
        });
        assert_eq!(open.status, Status::Fail);
        assert!(
            open.what_to_do
                .as_deref()
                .is_some_and(|t| t.contains("chmod 700 /srv/host-data"))
        );
        let foreign = status_of(DirState::Exists {
            mode: 0o700,
            owner_uid: 0,
        });
        assert_eq!(foreign.status, Status::Fail);
        let uncreatable = status_of(DirState::Missing {
            nearest_existing: "/srv".into(),
            creatable: false,
        });
        assert_eq!(uncreatable.status, Status::Fail);
    }

    #[test]
    fn probing_a_real_directory_reads_its_mode() {
        let dir = std::env::temp_dir().join(format!("doctor-data-{}", rand::random::<u64>()));
        assert!(matches!(
            probe(&dir),
            DirState::Missing {
                creatable: true,
                ..
            }
        ));
        crate::platform::private_dir::prepare(&dir).expect("made private");
        assert_eq!(
            probe(&dir),
            DirState::Exists {
                mode: 0o700,
                owner_uid: Uid::effective().as_raw()
            }
        );
        std::fs::remove_dir(&dir).expect("removed");
    }
}
