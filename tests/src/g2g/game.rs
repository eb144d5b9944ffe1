//! The bench's game: a window at the screen's top-left corner that paints
//! the time code (the wall clock in ms and a frame counter) in a band at its
//! top at `hz` (≥ 200 Hz), and scrolls a noise texture below it about 60
//! times a second, so the encoders have real work.
//!
//! Everything is drawn server-side: the texture is uploaded once into a
//! pixmap (periodic, so any scroll offset is one copy), the band is drawn
//! into its own pixmap and copied to the window in one request, so no
//! reader ever sees half a band.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::{Rng, SeedableRng};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt as _, CreateGCAux, Gcontext, ImageFormat, Rectangle};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

use super::code::{BAND_HEIGHT_PX, CELL_PX, TimeCode};

/// The texture repeats every `TILE_PX` in both directions.
const TILE_PX: u16 = 256;
/// Texture blocks, px: small enough to cost bits, large enough to move visibly.
const BLOCK_PX: usize = 8;
/// Texture frames per second.
const TEXTURE_FPS: f64 = 60.0;

/// The wall clock, ms since the UNIX epoch: the one clock the game and the
/// sampler (another process) share.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Runs the game until the X server goes away.
pub fn run(display: &str, width: u16, height: u16, hz: f64) -> anyhow::Result<()> {
    let (conn, screen, window) = super::x11::open_window(display, (0, 0), width, height)?;
    let new_gc = |pixel: u32| -> anyhow::Result<Gcontext> {
        let gc = conn.generate_id()?;
        let aux = CreateGCAux::new().foreground(pixel).graphics_exposures(0);
        conn.create_gc(gc, window, &aux)?;
        Ok(gc)
    };
    let (black, white) = (new_gc(screen.black_pixel)?, new_gc(screen.white_pixel)?);
    let band_height = BAND_HEIGHT_PX as u16;
    let band = conn.generate_id()?;
    conn.create_pixmap(screen.root_depth, band, window, width, band_height)?;
    let texture_height = height.saturating_sub(band_height);
    let texture = upload_texture(
        &conn,
        window,
        black,
        screen.root_depth,
        width,
        texture_height,
    )?;

    let period = Duration::from_secs_f64(1.0 / hz);
    let texture_every = (hz / TEXTURE_FPS).round().max(1.0) as u64;
    let band_rect = Rectangle {
        x: 0,
        y: 0,
        width,
        height: band_height,
    };
    let mut next = Instant::now();
    for frame in 0u64.. {
        if frame.is_multiple_of(texture_every) {
            let step = (frame / texture_every) as i64;
            let (dx, dy) = (step * 3 % i64::from(TILE_PX), step % i64::from(TILE_PX));
            conn.copy_area(
                texture,
                window,
                black,
                dx as i16,
                dy as i16,
                0,
                band_height as i16,
                width,
                texture_height,
            )?;
        }
        let cells: Vec<Rectangle> = TimeCode::new(now_ms(), frame)
            .white_cells()
            .into_iter()
            .map(|(x, y)| Rectangle {
                x: x as i16,
                y: y as i16,
                width: CELL_PX as u16,
                height: CELL_PX as u16,
            })
            .collect();
        conn.poly_fill_rectangle(band, black, &[band_rect])?;
        conn.poly_fill_rectangle(band, white, &cells)?;
        conn.copy_area(band, window, black, 0, 0, 0, 0, width, band_height)?;
        // A round trip: never run ahead of the server.
        conn.sync()?;
        next += period;
        let now = Instant::now();
        match next.checked_duration_since(now) {
            Some(wait) => std::thread::sleep(wait),
            None => next = now,
        }
    }
    Ok(())
}

/// A pixmap `width + TILE_PX` × `height + TILE_PX` of grey noise blocks that
/// repeats every TILE_PX, uploaded in strips small enough for any server.
fn upload_texture(
    conn: &RustConnection,
    window: u32,
    gc: Gcontext,
    depth: u8,
    width: u16,
    height: u16,
) -> anyhow::Result<u32> {
    let tile = usize::from(TILE_PX);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let blocks: Vec<u8> = (0..(tile / BLOCK_PX).pow(2))
        .map(|_| rng.random_range(32..=224))
        .collect();
    let level = |x: usize, y: usize| {
        let (bx, by) = ((x % tile) / BLOCK_PX, (y % tile) / BLOCK_PX);
        blocks[by * (tile / BLOCK_PX) + bx]
    };
    let (full_width, full_height) = (width + TILE_PX, height + TILE_PX);
    let pixmap = conn.generate_id()?;
    conn.create_pixmap(depth, pixmap, window, full_width, full_height)?;
    const STRIP_ROWS: u16 = 16;
    for top in (0..full_height).step_by(usize::from(STRIP_ROWS)) {
        let rows = STRIP_ROWS.min(full_height - top);
        let mut data = Vec::with_capacity(usize::from(full_width) * usize::from(rows) * 4);
        for y in top..top + rows {
            for x in 0..full_width {
                let grey = level(usize::from(x), usize::from(y));
                // A slight tint across the picture: not a flat grey world.
                let tint = (usize::from(x) * 64 / usize::from(full_width)) as u8;
                data.extend_from_slice(&[grey, grey, grey.saturating_add(tint), 0]);
            }
        }
        conn.put_image(
            ImageFormat::Z_PIXMAP,
            pixmap,
            gc,
            full_width,
            rows,
            0,
            top as i16,
            0,
            depth,
            &data,
        )?;
    }
    conn.sync()?;
    Ok(pixmap)
}
