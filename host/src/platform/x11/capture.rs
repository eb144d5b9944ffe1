//! Capture of one window, or a rectangle of the root window, as I420.
//!
//! MIT-SHM: the server writes the image straight into a segment it created
//! and passed to us as a file descriptor (no copy through the socket), and
//! the converter reads it from there into the encoder's frame (no copy in
//! between); without MIT-SHM, plain GetImage. XDamage tells whether
//! anything was drawn since the last capture, so an unchanged picture is
//! not captured or encoded again. A window's resizes are followed (the
//! converter scales to the stream's size).

use anyhow::{Context, bail};
use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::Event;
use x11rb::protocol::damage::{self, ConnectionExt as _};
use x11rb::protocol::shm::ConnectionExt as _;
use x11rb::protocol::xproto::{
    ChangeWindowAttributesAux, ConnectionExt as _, EventMask, ImageFormat,
};
use x11rb::rust_connection::RustConnection;

use super::Rect;
use crate::platform::convert::{BgraView, Converter};
use crate::platform::{Captured, Grab, I420Frame, VideoSource};

/// What to capture.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    Window(u32),
    /// A rectangle of the root window (desktop mode).
    Screen(Rect),
}

struct ShmSegment {
    id: u32,
    map: memmap2::Mmap,
}

pub struct X11Capture {
    conn: RustConnection,
    drawable: u32,
    origin: (i16, i16),
    size: (u16, u16),
    /// The size the stream was negotiated at (the encoder scales to it).
    stream_size: (u32, u32),
    shm: Option<ShmSegment>,
    shm_supported: bool,
    damage: Option<u32>,
    /// Something was drawn since the last capture (or we cannot tell).
    dirty: bool,
    window_gone: bool,
    converter: Converter,
}

impl X11Capture {
    pub fn open(display: &str, target: Target, stream_size: (u32, u32)) -> anyhow::Result<Self> {
        let (conn, root) = super::connect(display)?;
        let (drawable, origin, size) = match target {
            Target::Window(window) => {
                let geometry = conn
                    .get_geometry(window)?
                    .reply()
                    .context("the window to capture is gone")?;
                // Follow resizes and notice the window's end.
                conn.change_window_attributes(
                    window,
                    &ChangeWindowAttributesAux::new().event_mask(EventMask::STRUCTURE_NOTIFY),
                )?;
                (window, (0, 0), (geometry.width, geometry.height))
            }
            Target::Screen(rect) => (root, (rect.x, rect.y), (rect.width, rect.height)),
        };
        let shm_supported = conn
            .extension_information(x11rb::protocol::shm::X11_EXTENSION_NAME)?
            .is_some()
            && conn
                .shm_query_version()?
                .reply()
                .is_ok_and(|v| (v.major_version, v.minor_version) >= (1, 2));
        if !shm_supported {
            tracing::warn!("the X server has no MIT-SHM 1.2; capturing through the socket");
        }
        let damage = match conn.extension_information(damage::X11_EXTENSION_NAME)? {
            Some(_) => {
                conn.damage_query_version(1, 1)?.reply()?;
                let id = conn.generate_id()?;
                conn.damage_create(id, drawable, damage::ReportLevel::NON_EMPTY)?;
                Some(id)
            }
            None => {
                tracing::warn!("the X server has no DAMAGE; every frame is captured");
                None
            }
        };
        conn.flush()?;
        let mut capture = X11Capture {
            conn,
            drawable,
            origin,
            size,
            stream_size,
            shm: None,
            shm_supported,
            damage,
            dirty: true,
            window_gone: false,
            converter: Converter::default(),
        };
        capture.resize_segment()?;
        Ok(capture)
    }

    pub fn uses_shm(&self) -> bool {
        self.shm.is_some()
    }

    fn resize_segment(&mut self) -> anyhow::Result<()> {
        if !self.shm_supported {
            return Ok(());
        }
        let bytes = usize::from(self.size.0) * usize::from(self.size.1) * 4;
        if self.shm.as_ref().is_some_and(|s| s.map.len() >= bytes) {
            return Ok(());
        }
        if let Some(old) = self.shm.take() {
            self.conn.shm_detach(old.id)?;
        }
        let id = self.conn.generate_id()?;
        let reply = self
            .conn
            .shm_create_segment(id, bytes as u32, false)?
            .reply()
            .context("creating a shared memory segment")?;
        let file = std::fs::File::from(reply.shm_fd);
        let map = map_segment(&file, bytes)?;
        self.shm = Some(ShmSegment { id, map });
        Ok(())
    }

    /// Reads pending events: damage, resizes, the window's end.
    fn poll_events(&mut self) -> anyhow::Result<()> {
        while let Some(event) = self.conn.poll_for_event()? {
            match event {
                Event::DamageNotify(_) => self.dirty = true,
                Event::ConfigureNotify(e)
                    if e.window == self.drawable
                        && (e.width, e.height) != self.size
                        && e.width > 0
                        && e.height > 0 =>
                {
                    tracing::info!(
                        width = e.width,
                        height = e.height,
                        "captured window resized"
                    );
                    self.size = (e.width, e.height);
                    self.resize_segment()?;
                    self.dirty = true;
                }
                Event::DestroyNotify(e) if e.window == self.drawable => self.window_gone = true,
                Event::UnmapNotify(e) if e.window == self.drawable => self.window_gone = true,
                _ => {}
            }
        }
        Ok(())
    }

    /// Grabs the picture and converts it into `frame`.
    fn grab(&mut self, frame: &mut I420Frame) -> anyhow::Result<()> {
        let (width, height) = (u32::from(self.size.0), u32::from(self.size.1));
        let stride = width as usize * 4;
        let bytes = stride * height as usize;
        let (x, y) = self.origin;
        match &self.shm {
            Some(segment) => {
                self.conn
                    .shm_get_image(
                        self.drawable,
                        x,
                        y,
                        self.size.0,
                        self.size.1,
                        !0,
                        ImageFormat::Z_PIXMAP.into(),
                        segment.id,
                        0,
                    )?
                    .reply()
                    .context("MIT-SHM GetImage")?;
                let view = BgraView {
                    data: &segment.map[..bytes],
                    stride,
                    width,
                    height,
                };
                self.converter.convert(view, frame)?;
            }
            None => {
                let reply = self
                    .conn
                    .get_image(
                        ImageFormat::Z_PIXMAP,
                        self.drawable,
                        x,
                        y,
                        self.size.0,
                        self.size.1,
                        !0,
                    )?
                    .reply()
                    .context("GetImage")?;
                if reply.data.len() < bytes {
                    bail!("the X server sent {} bytes for {bytes}", reply.data.len());
                }
                let view = BgraView {
                    data: &reply.data[..bytes],
                    stride,
                    width,
                    height,
                };
                self.converter.convert(view, frame)?;
            }
        }
        Ok(())
    }
}

/// Maps the server's segment read-only (also the g2g bench's sampler).
#[allow(unsafe_code)]
pub fn map_segment(file: &std::fs::File, bytes: usize) -> anyhow::Result<memmap2::Mmap> {
    // SAFETY: the segment is a memfd the X server made for this connection;
    // only the server writes it, and only while a ShmGetImage we wait for is
    // running, so the mapping is never read while it changes.
    let map = unsafe { memmap2::MmapOptions::new().len(bytes).map(file) }
        .context("mapping the shared memory segment")?;
    Ok(map)
}

impl VideoSource for X11Capture {
    fn size(&self) -> (u32, u32) {
        self.stream_size
    }

    fn capture(
        &mut self,
        _capture_us: u64,
        grab: Grab,
        frame: &mut I420Frame,
    ) -> anyhow::Result<Captured> {
        self.poll_events()?;
        if self.window_gone {
            bail!("the captured window is gone");
        }
        if !self.dirty && grab == Grab::IfChanged {
            return Ok(Captured::Unchanged);
        }
        if let Some(damage) = self.damage {
            // Re-arm before grabbing, so drawing during the grab is seen next time.
            self.conn
                .damage_subtract(damage, x11rb::NONE, x11rb::NONE)?;
            self.dirty = false;
        }
        self.grab(frame)?;
        Ok(Captured::New)
    }
}

impl Drop for X11Capture {
    fn drop(&mut self) {
        if let Some(segment) = self.shm.take() {
            let _ = self.conn.shm_detach(segment.id);
        }
        if let Some(damage) = self.damage {
            let _ = self.conn.damage_destroy(damage);
        }
        let _ = self.conn.flush();
    }
}
