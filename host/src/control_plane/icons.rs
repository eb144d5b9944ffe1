//! Application icons. `Application.icon` is a path under the host's data
//! directory (relative to it, or absolute) or an https URL. Only PNG files
//! of at most `MAX_ICON_BYTES` that resolve inside the data directory
//! (symlinks and `..` followed, then checked) are served; a URL is for the
//! viewer to fetch itself. `import` copies a PNG from anywhere into
//! `DATA_DIR/icons/` so that it can be served.

use std::io::Read;
use std::path::{Path, PathBuf};

use thiserror::Error;

pub const MAX_ICON_BYTES: u64 = 1024 * 1024;
pub const ICONS_DIR: &str = "icons";
const PNG_SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

#[derive(Debug, Error)]
pub enum IconError {
    #[error("the application has no icon")]
    None,
    #[error("the icon is at {0}; fetch it from there")]
    Remote(String),
    #[error("the icon {0:?} is not inside the host's data directory")]
    OutsideDataDir(String),
    #[error("the icon {icon:?} cannot be read: {source}")]
    Unreadable {
        icon: String,
        source: std::io::Error,
    },
    #[error("the icon {0:?} is larger than {MAX_ICON_BYTES} bytes")]
    TooLarge(String),
    #[error("the icon {0:?} is not a PNG file")]
    NotPng(String),
}

impl IconError {
    /// The stable code the API and the entitlement service answer with (404).
    pub fn code(&self) -> &'static str {
        match self {
            Self::None => "no_icon",
            Self::Remote(_) => "icon_remote",
            Self::Unreadable { .. } => "icon_missing",
            Self::OutsideDataDir(_) | Self::TooLarge(_) | Self::NotPng(_) => "icon_refused",
        }
    }
}

fn is_url(icon: &str) -> bool {
    icon.get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
}

/// The icon's PNG bytes. Blocking file I/O: call it off the async workers.
pub fn load(data_dir: &Path, icon: Option<&str>) -> Result<Vec<u8>, IconError> {
    let icon = icon.map(str::trim).filter(|i| !i.is_empty());
    let Some(icon) = icon else {
        return Err(IconError::None);
    };
    if is_url(icon) {
        return Err(IconError::Remote(icon.to_string()));
    }
    let unreadable = |source| IconError::Unreadable {
        icon: icon.to_string(),
        source,
    };
    let root = data_dir.canonicalize().map_err(unreadable)?;
    let path = root.join(icon).canonicalize().map_err(unreadable)?;
    if !path.starts_with(&root) {
        return Err(IconError::OutsideDataDir(icon.to_string()));
    }
    read_png(&path, icon)
}

/// Reads at most `MAX_ICON_BYTES` of a PNG file.
fn read_png(path: &Path, icon: &str) -> Result<Vec<u8>, IconError> {
    let unreadable = |source| IconError::Unreadable {
        icon: icon.to_string(),
        source,
    };
    // Non-blocking, and regular files only: a FIFO or a device put in place
    // of an icon must not hold a thread.
    let file = crate::platform::open_regular_file(path).map_err(unreadable)?;
    let mut bytes = Vec::new();
    file.take(MAX_ICON_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_ICON_BYTES {
        return Err(IconError::TooLarge(icon.to_string()));
    }
    if !bytes.starts_with(PNG_SIGNATURE) {
        return Err(IconError::NotPng(icon.to_string()));
    }
    Ok(bytes)
}

/// What to store as an application's icon for `--icon VALUE`: an https URL
/// as is; a file inside the data directory as its path there; any other PNG
/// file is copied to `DATA_DIR/icons/APP.png` first.
pub fn import(data_dir: &Path, application: &str, value: &str) -> Result<String, IconError> {
    if is_url(value) {
        return Ok(value.to_string());
    }
    let unreadable = |source| IconError::Unreadable {
        icon: value.to_string(),
        source,
    };
    let source = Path::new(value).canonicalize().map_err(unreadable)?;
    let bytes = read_png(&source, value)?;
    std::fs::create_dir_all(data_dir).map_err(unreadable)?;
    let root = data_dir.canonicalize().map_err(unreadable)?;
    if let Ok(inside) = source.strip_prefix(&root) {
        return Ok(inside.to_string_lossy().into_owned());
    }
    write_icon(&root, application, &bytes).map_err(unreadable)
}

/// Keeps an uploaded icon (the API's `PUT .../icon`) as
/// `DATA_DIR/icons/APP.png`, if it is a PNG of at most `MAX_ICON_BYTES`;
/// returns the value for `Application.icon`. Blocking file I/O.
pub fn save_upload(data_dir: &Path, application: &str, bytes: &[u8]) -> Result<String, IconError> {
    let what = "the uploaded icon";
    if bytes.len() as u64 > MAX_ICON_BYTES {
        return Err(IconError::TooLarge(what.into()));
    }
    if !bytes.starts_with(PNG_SIGNATURE) {
        return Err(IconError::NotPng(what.into()));
    }
    let unreadable = |source| IconError::Unreadable {
        icon: what.into(),
        source,
    };
    let root = data_dir.canonicalize().map_err(unreadable)?;
    write_icon(&root, application, bytes).map_err(unreadable)
}

/// Writes `icons/APP.png` under `root` whole (a reader never sees half of
/// it) and returns that relative path.
fn write_icon(root: &Path, application: &str, bytes: &[u8]) -> std::io::Result<String> {
    let relative: PathBuf = [ICONS_DIR, &format!("{application}.png")].iter().collect();
    std::fs::create_dir_all(root.join(ICONS_DIR))?;
    let partial = root
        .join(ICONS_DIR)
        .join(format!(".{application}.png.partial"));
    std::fs::write(&partial, bytes)?;
    std::fs::rename(&partial, root.join(&relative))?;
    Ok(relative.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn dir(label: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("icons-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn png(extra: usize) -> Vec<u8> {
        let mut bytes = PNG_SIGNATURE.to_vec();
        bytes.resize(8 + extra, 7);
        bytes
    }

    #[test]
    fn an_upload_is_kept_as_the_applications_png_and_served() {
        let data = dir("upload");
        let icon = save_upload(&data, "game", &png(16)).unwrap();
        assert_eq!(icon, "icons/game.png");
        assert_eq!(load(&data, Some(&icon)).unwrap(), png(16));
        assert!(matches!(
            save_upload(&data, "game", b"GIF89a..."),
            Err(IconError::NotPng(_))
        ));
        let huge = png(MAX_ICON_BYTES as usize);
        assert!(matches!(
            save_upload(&data, "game", &huge),
            Err(IconError::TooLarge(_))
        ));
        assert_eq!(load(&data, Some(&icon)).unwrap(), png(16), "kept");
    }

    #[test]
    fn only_pngs_inside_the_data_dir_are_loaded() {
        let base = dir("load");
        let data = base.join("data");
        std::fs::create_dir_all(data.join("icons")).unwrap();
        std::fs::write(data.join("icons/a.png"), png(10)).unwrap();
        std::fs::write(base.join("outside.png"), png(10)).unwrap();
        std::fs::write(data.join("big.png"), png(MAX_ICON_BYTES as usize)).unwrap();
        std::fs::write(data.join("text.png"), b"not a png").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(base.join("outside.png"), data.join("link.png")).unwrap();

        assert_eq!(load(&data, Some("icons/a.png")).unwrap(), png(10));
        let absolute = data.join("icons/a.png");
        assert_eq!(load(&data, absolute.to_str()).unwrap(), png(10));
        let code = |icon: &str| load(&data, Some(icon)).unwrap_err().code();
        assert_eq!(code("../outside.png"), "icon_refused");
        assert_eq!(code("icons/../../outside.png"), "icon_refused");
        assert_eq!(
            code(base.join("outside.png").to_str().unwrap()),
            "icon_refused"
        );
        #[cfg(unix)]
        assert_eq!(code("link.png"), "icon_refused");
        assert_eq!(code("big.png"), "icon_refused");
        assert_eq!(code("text.png"), "icon_refused");
        assert_eq!(code("missing.png"), "icon_missing");
        assert_eq!(code("https://example.com/i.png"), "icon_remote");
        assert_eq!(load(&data, None).unwrap_err().code(), "no_icon");
        assert_eq!(load(&data, Some(" ")).unwrap_err().code(), "no_icon");
        assert_eq!(code("ééééé.png"), "icon_missing");
    }

    #[test]
    fn import_copies_outside_files_and_keeps_inside_paths_and_urls() {
        let base = dir("import");
        let data = base.join("data");
        std::fs::write(base.join("game.png"), png(4)).unwrap();
        let stored = import(&data, "game", base.join("game.png").to_str().unwrap()).unwrap();
        assert_eq!(stored, "icons/game.png");
        assert_eq!(load(&data, Some(&stored)).unwrap(), png(4));
        let inside = data.join("icons/game.png");
        assert_eq!(
            import(&data, "other", inside.to_str().unwrap()).unwrap(),
            "icons/game.png"
        );
        let url = "https://example.com/game.png";
        assert_eq!(import(&data, "game", url).unwrap(), url);
        std::fs::write(base.join("notes.txt"), b"hello").unwrap();
        assert!(matches!(
            import(&data, "game", base.join("notes.txt").to_str().unwrap()),
            Err(IconError::NotPng(_))
        ));
    }
}
