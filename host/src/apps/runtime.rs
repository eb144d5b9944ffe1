//! The places a launched application is handed, outside the host's private
//! data directory: one root per host process (traversable, not listable),
//! a private directory per instance (its SDK socket, its runtime and
//! temporary files; owned by the application's user) and the machine
//! role's credentials file (handed to that user in a directory that stays
//! the host's). Removed when the host stops.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

#[derive(Debug)]
pub struct AppRuntime {
    root: PathBuf,
}

impl AppRuntime {
    /// Creates the root under the system's temporary directory.
    pub fn create() -> anyhow::Result<Self> {
        let root = std::env::temp_dir().join(format!(
            "appstream-host-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let runtime = Self { root };
        // The machine role's directory stays the host's (0711): the
        // application may read the file it is handed, never plant a link
        // where the host writes it.
        for (dir, mode) in [
            (runtime.root.clone(), 0o711),
            (runtime.instances(), 0o711),
            (runtime.machine_role_dir(), 0o711),
        ] {
            std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
            // Set exactly: the umask is 077.
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode))
                .with_context(|| format!("setting the mode of {}", dir.display()))?;
        }
        Ok(runtime)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Each instance gets a directory of its own under this.
    pub fn instances(&self) -> PathBuf {
        self.root.join("instances")
    }

    pub fn machine_role_dir(&self) -> PathBuf {
        self.root.join("machine-role")
    }
}

impl Drop for AppRuntime {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
