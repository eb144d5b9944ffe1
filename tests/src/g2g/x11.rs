//! The bench's few X11 chores: grabbing a strip of the screen with MIT-SHM,
//! listening for damage, finding and placing the display window (there is
//! no window manager on the private Xvfb), closing it as a window manager
//! would.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use host::platform::x11::capture::map_segment;
use x11rb::connection::Connection;
use x11rb::protocol::damage::{self, ConnectionExt as _};
use x11rb::protocol::shm::ConnectionExt as _;
use x11rb::protocol::xproto::{
    ClientMessageEvent, ConfigureWindowAux, ConnectionExt as _, CreateWindowAux, EventMask,
    ImageFormat, MapState, Screen, WindowClass,
};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

/// A connection with a shared memory segment the server writes grabs into.
pub struct ShmGrabber {
    pub conn: RustConnection,
    pub root: u32,
    segment: u32,
    map: memmap2::Mmap,
}

impl ShmGrabber {
    /// Room for grabs of up to `max_bytes` (4 bytes a pixel).
    pub fn open(display: &str, max_bytes: usize) -> anyhow::Result<ShmGrabber> {
        let (conn, screen) = x11rb::connect(Some(display)).context("connecting to Xvfb")?;
        let root = conn.setup().roots[screen].root;
        conn.shm_query_version()?
            .reply()
            .context("the X server has no MIT-SHM")?;
        let segment = conn.generate_id()?;
        let reply = conn
            .shm_create_segment(segment, max_bytes as u32, false)?
            .reply()
            .context("creating a shared memory segment")?;
        let map = map_segment(&std::fs::File::from(reply.shm_fd), max_bytes)?;
        Ok(ShmGrabber {
            conn,
            root,
            segment,
            map,
        })
    }

    /// The root window's pixels in the rectangle, BGRX, `4 × width` bytes a row.
    pub fn grab(&self, x: i16, y: i16, width: u16, height: u16) -> anyhow::Result<&[u8]> {
        let bytes = usize::from(width) * usize::from(height) * 4;
        anyhow::ensure!(bytes <= self.map.len(), "grab larger than the segment");
        self.conn
            .shm_get_image(
                self.root,
                x,
                y,
                width,
                height,
                !0,
                ImageFormat::Z_PIXMAP.into(),
                self.segment,
                0,
            )?
            .reply()
            .context("MIT-SHM GetImage")?;
        Ok(&self.map[..bytes])
    }

    /// Reports every drawing on the screen as a DamageNotify with its
    /// rectangle (raw: nothing accumulates, nothing needs re-arming).
    pub fn listen_for_damage(&self) -> anyhow::Result<()> {
        self.conn.damage_query_version(1, 1)?.reply()?;
        let id = self.conn.generate_id()?;
        self.conn
            .damage_create(id, self.root, damage::ReportLevel::RAW_RECTANGLES)?;
        self.conn.flush()?;
        Ok(())
    }
}

/// Connects to `display` and maps a black override-redirect window of
/// `width × height` at `(x, y)` (no window manager moves it).
pub fn open_window(
    display: &str,
    (x, y): (i16, i16),
    width: u16,
    height: u16,
) -> anyhow::Result<(RustConnection, Screen, u32)> {
    let (conn, screen) = x11rb::connect(Some(display)).context("connecting to Xvfb")?;
    let screen = conn.setup().roots[screen].clone();
    let window = conn.generate_id()?;
    let aux = CreateWindowAux::new()
        .override_redirect(1)
        .background_pixel(screen.black_pixel);
    conn.create_window(
        screen.root_depth,
        window,
        screen.root,
        x,
        y,
        width,
        height,
        0,
        WindowClass::INPUT_OUTPUT,
        0,
        &aux,
    )?;
    conn.map_window(window)?;
    Ok((conn, screen, window))
}

/// Waits for a mapped top-level window other than `except` at least
/// `min_width` wide, and moves it so its top-left corner is at (x, y).
/// Returns its id.
pub fn place_new_window(
    display: &str,
    except: &[u32],
    min_width: u16,
    (x, y): (i32, i32),
    timeout: Duration,
) -> anyhow::Result<u32> {
    let (conn, screen) = x11rb::connect(Some(display))?;
    let root = conn.setup().roots[screen].root;
    let deadline = Instant::now() + timeout;
    let window = loop {
        if let Some(window) = find_window(&conn, root, except, min_width)? {
            break window;
        }
        if Instant::now() > deadline {
            bail!("no display window appeared within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    conn.configure_window(window, &ConfigureWindowAux::new().x(x).y(y))?;
    conn.sync()?;
    let geometry = conn.get_geometry(window)?.reply()?;
    anyhow::ensure!(
        (i32::from(geometry.x), i32::from(geometry.y)) == (x, y),
        "the display window stayed at {},{}",
        geometry.x,
        geometry.y
    );
    Ok(window)
}

fn find_window(
    conn: &RustConnection,
    root: u32,
    except: &[u32],
    min_width: u16,
) -> anyhow::Result<Option<u32>> {
    for window in conn.query_tree(root)?.reply()?.children {
        if except.contains(&window) {
            continue;
        }
        let Ok(attributes) = conn.get_window_attributes(window)?.reply() else {
            continue; // gone meanwhile
        };
        let Ok(geometry) = conn.get_geometry(window)?.reply() else {
            continue;
        };
        if attributes.map_state == MapState::VIEWABLE && geometry.width >= min_width {
            return Ok(Some(window));
        }
    }
    Ok(None)
}

/// The mapped top-level windows now (to tell a new one from them).
pub fn mapped_windows(display: &str) -> anyhow::Result<Vec<u32>> {
    let (conn, screen) = x11rb::connect(Some(display))?;
    let root = conn.setup().roots[screen].root;
    let mut mapped = Vec::new();
    for window in conn.query_tree(root)?.reply()?.children {
        if let Ok(attributes) = conn.get_window_attributes(window)?.reply()
            && attributes.map_state == MapState::VIEWABLE
        {
            mapped.push(window);
        }
    }
    Ok(mapped)
}

/// Asks a window to close as a window manager does (WM_DELETE_WINDOW).
pub fn close_window(display: &str, window: u32) -> anyhow::Result<()> {
    let (conn, _) = x11rb::connect(Some(display))?;
    let protocols = conn.intern_atom(false, b"WM_PROTOCOLS")?.reply()?.atom;
    let delete = conn.intern_atom(false, b"WM_DELETE_WINDOW")?.reply()?.atom;
    let event = ClientMessageEvent::new(32, window, protocols, [delete, 0, 0, 0, 0]);
    conn.send_event(false, window, EventMask::NO_EVENT, event)?;
    conn.sync()?;
    Ok(())
}
