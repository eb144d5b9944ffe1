//! What differs between operating systems for the launcher's files and
//! child processes. On Unix a private file gets mode 0600 before any byte is
//! written; on Windows the files live under the user's `AppData`, whose
//! inherited ACL already admits only the user, SYSTEM and administrators
//! (the workspace forbids the unsafe calls a hand-made ACL would need).

use std::path::Path;
use std::process::ExitStatus;

/// Who may read a file the launcher writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// The platform's default for new files.
    Default,
    /// The user alone (secrets such as remembered sign-ins).
    Private,
}

/// Writes `bytes` to `path` via a sibling temporary file and a rename,
/// creating the directory; a private file is restricted before any byte is
/// written.
pub fn write_atomically(path: &Path, bytes: &[u8], access: Access) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    restrict_new(&mut options, access);
    let mut file = options.open(&tmp)?;
    // The file may have existed with looser permissions.
    restrict_existing(&file, access)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)
}

/// The permission bits a test can check: `Some` on Unix only.
pub fn permission_bits(path: &Path) -> std::io::Result<Option<u32>> {
    let metadata = std::fs::metadata(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        Ok(Some(metadata.permissions().mode() & 0o777))
    }
    #[cfg(not(unix))]
    {
        let _ = metadata;
        Ok(None)
    }
}

/// How a child process ended, in words: a Unix signal is named as such.
pub fn exit_reason(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("signal {signal}");
        }
    }
    match status.code() {
        Some(code) => format!("exit status {code}"),
        None => "no exit status".into(),
    }
}

const PRIVATE_MODE: u32 = 0o600;

#[cfg(unix)]
fn restrict_new(options: &mut std::fs::OpenOptions, access: Access) {
    use std::os::unix::fs::OpenOptionsExt;
    if access == Access::Private {
        options.mode(PRIVATE_MODE);
    }
}

#[cfg(unix)]
fn restrict_existing(file: &std::fs::File, access: Access) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if access == Access::Private {
        file.set_permissions(std::fs::Permissions::from_mode(PRIVATE_MODE))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict_new(_options: &mut std::fs::OpenOptions, _access: Access) {
    let _ = PRIVATE_MODE;
}

#[cfg(not(unix))]
fn restrict_existing(_file: &std::fs::File, _access: Access) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_file_is_the_users_alone_even_if_it_existed_looser() {
        let dir = std::env::temp_dir().join(format!("platform-files-{}", std::process::id()));
        let path = dir.join("secret.json");
        write_atomically(&path, b"one", Access::Default).unwrap();
        write_atomically(&path, b"two", Access::Private).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        if let Some(bits) = permission_bits(&path).unwrap() {
            assert_eq!(bits, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
