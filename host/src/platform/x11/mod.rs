//! X11 backends through x11rb: capture of a window or a rectangle of the
//! screen (MIT-SHM, XDamage to skip unchanged frames), XTest input
//! injection, and finding an application's window.

pub mod capture;
pub mod clipboard;
pub mod inject;
pub mod window;

use anyhow::Context;
use x11rb::rust_connection::RustConnection;

/// Connects to `display` (e.g. `:99`); returns the connection and the root window.
pub fn connect(display: &str) -> anyhow::Result<(RustConnection, u32)> {
    let (conn, screen) = x11rb::connect(Some(display))
        .with_context(|| format!("connecting to the X display {display}"))?;
    let root = x11rb::connection::Connection::setup(&conn).roots[screen].root;
    Ok((conn, root))
}

/// A rectangle of the screen, in root-window pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: i16,
    pub y: i16,
    pub width: u16,
    pub height: u16,
}

impl std::str::FromStr for Rect {
    type Err = String;

    /// `X,Y,WxH`, e.g. `0,0,1280x720`.
    fn from_str(text: &str) -> Result<Rect, String> {
        let bad = || format!("{text:?} is not a rectangle X,Y,WxH (e.g. 0,0,1280x720)");
        let mut parts = text.split(',');
        let (Some(x), Some(y), Some(size), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let (width, height) = size.split_once('x').ok_or_else(bad)?;
        let rect = Rect {
            x: x.trim().parse().map_err(|_| bad())?,
            y: y.trim().parse().map_err(|_| bad())?,
            width: width.trim().parse().map_err(|_| bad())?,
            height: height.trim().parse().map_err(|_| bad())?,
        };
        if rect.width < 16 || rect.height < 16 || rect.x < 0 || rect.y < 0 {
            return Err(format!(
                "{text:?}: the rectangle must be at least 16x16 and on screen"
            ));
        }
        Ok(rect)
    }
}

#[cfg(test)]
mod tests {
    use super::Rect;

    #[test]
    fn rectangles_parse_and_bad_ones_say_why() {
        assert_eq!(
            "10,20,640x360".parse::<Rect>(),
            Ok(Rect {
                x: 10,
                y: 20,
                width: 640,
                height: 360
            })
        );
        for bad in [
            "",
            "1,2",
            "1,2,3",
            "1,2,3x",
            "a,2,3x4",
            "0,0,8x8",
            "1,2,3x4,5",
        ] {
            assert!(bad.parse::<Rect>().is_err(), "{bad}");
        }
    }
}
