//! The data directory holds every secret of the host (keys, database, TLS
//! key): it is made private before anything is written into it. Files are
//! created under a umask of 077, so SQLite's `-wal`/`-shm` files are never
//! readable by others even for a moment.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use anyhow::Context;
use nix::sys::stat::{Mode, umask};

/// Files the process creates from now on are private to its user. Called
/// first thing in `main`, before any file is opened.
pub fn restrict_umask() {
    umask(Mode::from_bits_truncate(0o077));
}

/// What `prepare` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prepared {
    Created,
    AlreadyPrivate,
    /// It was readable or writable by others; it has been tightened.
    Tightened {
        previous_mode: u32,
    },
}

/// Creates the data directory 0700, or tightens an existing one (and the
/// files in it) that others could read, warning that its secrets may have
/// leaked.
pub fn prepare(data_dir: &Path) -> anyhow::Result<Prepared> {
    if !data_dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .with_context(|| format!("creating data directory {}", data_dir.display()))?;
        // `recursive` applies the umask to the last component too; be exact.
        set_mode(data_dir, 0o700)?;
        return Ok(Prepared::Created);
    }
    // The directory itself through any link to it (a link's own mode says
    // nothing); its entries are tightened without following links.
    let mode = std::fs::metadata(data_dir)
        .with_context(|| format!("reading {}", data_dir.display()))?
        .permissions()
        .mode()
        & 0o7777;
    if mode & 0o077 == 0 {
        return Ok(Prepared::AlreadyPrivate);
    }
    set_mode(data_dir, 0o700)?;
    tighten_contents(data_dir)?;
    tracing::warn!(
        dir = %data_dir.display(),
        previous_mode = format!("{mode:o}"),
        "the data directory was readable by other users; it is now private (0700). \
         The secrets it held may have been read: rotate the access keys \
         (`host keys rotate NAME`, then deactivate the old ones) and make a new TLS key \
         (stop the host, delete host.key and host.crt, start it again)"
    );
    Ok(Prepared::Tightened {
        previous_mode: mode,
    })
}

fn tighten_contents(dir: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        let file_type = entry.file_type()?;
        if file_type.is_symlink() {
            continue;
        }
        let mode = mode_of(&path)?;
        if file_type.is_dir() {
            if mode & 0o077 != 0 {
                set_mode(&path, 0o700)?;
            }
            tighten_contents(&path)?;
        } else if mode & 0o077 != 0 {
            set_mode(&path, mode & 0o700)?;
        }
    }
    Ok(())
}

fn mode_of(path: &Path) -> anyhow::Result<u32> {
    Ok(std::fs::symlink_metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .permissions()
        .mode()
        & 0o7777)
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("making {} private", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(label: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "private-dir-{label}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_new_directory_is_0700() {
        let dir = scratch("new").join("nested");
        assert_eq!(prepare(&dir).expect("prepared"), Prepared::Created);
        assert_eq!(mode_of(&dir).expect("mode"), 0o700);
        assert_eq!(prepare(&dir).expect("again"), Prepared::AlreadyPrivate);
    }

    #[test]
    fn an_open_directory_and_its_files_are_tightened() {
        let dir = scratch("open");
        std::fs::create_dir_all(dir.join("icons")).expect("made");
        set_mode(&dir, 0o755).expect("opened");
        std::fs::write(dir.join("admin.key"), b"secret").expect("written");
        set_mode(&dir.join("admin.key"), 0o644).expect("opened");
        set_mode(&dir.join("icons"), 0o755).expect("opened");
        assert_eq!(
            prepare(&dir).expect("prepared"),
            Prepared::Tightened {
                previous_mode: 0o755
            }
        );
        assert_eq!(mode_of(&dir).expect("mode"), 0o700);
        assert_eq!(mode_of(&dir.join("admin.key")).expect("mode"), 0o600);
        assert_eq!(mode_of(&dir.join("icons")).expect("mode"), 0o700);
    }
}
