//! The null copy, the bench's floor: whenever the game's area changes, one
//! MIT-SHM GetImage of it and one MIT-SHM PutImage of the same segment into
//! a window beside it. No encoding, no network: what is left is the X
//! server's own cost of showing a captured picture.

use x11rb::connection::Connection;
use x11rb::protocol::Event;
use x11rb::protocol::damage::{self, ConnectionExt as _};
use x11rb::protocol::shm::ConnectionExt as _;
use x11rb::protocol::xproto::{ConnectionExt as _, CreateGCAux, ImageFormat};

/// Copies the area (0, 0, width × height) to a window at (`at_x`, 0) until
/// the X server goes away.
pub fn run(display: &str, width: u16, height: u16, at_x: i16) -> anyhow::Result<()> {
    let (conn, screen, window) = super::x11::open_window(display, (at_x, 0), width, height)?;
    let gc = conn.generate_id()?;
    conn.create_gc(gc, window, &CreateGCAux::new().graphics_exposures(0))?;
    // The pixels never pass through this process: the server writes the
    // segment and reads it back, so it is not even mapped here.
    let segment = conn.generate_id()?;
    let bytes = u32::from(width) * u32::from(height) * 4;
    drop(
        conn.shm_create_segment(segment, bytes, false)?
            .reply()?
            .shm_fd,
    );
    conn.damage_query_version(1, 1)?.reply()?;
    let damage = conn.generate_id()?;
    conn.damage_create(damage, screen.root, damage::ReportLevel::RAW_RECTANGLES)?;
    conn.flush()?;
    let in_source = |event: &Event| {
        matches!(event, Event::DamageNotify(e)
            if e.area.x < at_x && e.area.y < height as i16)
    };
    loop {
        let mut dirty = in_source(&conn.wait_for_event()?);
        while let Some(event) = conn.poll_for_event()? {
            dirty |= in_source(&event);
        }
        if !dirty {
            continue; // our own drawing
        }
        conn.shm_get_image(
            screen.root,
            0,
            0,
            width,
            height,
            !0,
            ImageFormat::Z_PIXMAP.into(),
            segment,
            0,
        )?
        .reply()?;
        conn.shm_put_image(
            window,
            gc,
            width,
            height,
            0,
            0,
            width,
            height,
            0,
            0,
            screen.root_depth,
            ImageFormat::Z_PIXMAP.into(),
            false,
            segment,
            0,
        )?;
        conn.flush()?;
    }
}
