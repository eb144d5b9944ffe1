//! The software presenter, for machines where wgpu would rasterize on the
//! CPU anyway: the picture converted I420→BGRA with SIMD (yuvutils-rs)
//! straight into softbuffer's buffer (an MIT-SHM segment on X11, shm on
//! Wayland) and put on the window, with no GPU API in between. A window of
//! another size than the picture gets it scaled (pic-scale, bilinear) and
//! letterboxed.

use std::num::NonZeroU32;
use std::sync::Arc;

use anyhow::Context;
use pic_scale::{ImageSize, ImageStore, ImageStoreMut, ResamplingFunction, Scaler};
use winit::window::Window;
use yuvutils_rs::{YuvRange, YuvStandardMatrix};

use super::text_overlay::TextOverlay;
use super::{OverlayText, PictureRect};
use crate::platform::video::YuvPicture;

type Surface = softbuffer::Surface<Arc<Window>, Arc<Window>>;

pub struct SoftwarePresenter {
    window: Arc<Window>,
    surface: Surface,
    size: (u32, u32),
    picture_size: Option<(u32, u32)>,
    scaling: Letterbox,
    text: TextOverlay,
}

/// Draws pictures letterboxed into a BGRA buffer the size of the window;
/// keeps the buffers for a picture that does not fill it 1:1.
#[derive(Default)]
pub struct Letterbox {
    converted: Vec<u8>,
    scaled: Vec<u8>,
}

impl SoftwarePresenter {
    pub fn new(window: Arc<Window>) -> anyhow::Result<Self> {
        let context = softbuffer::Context::new(window.clone())
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("softbuffer cannot reach the display")?;
        let surface = softbuffer::Surface::new(&context, window.clone())
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("softbuffer cannot draw into the window")?;
        tracing::info!("software presenter (softbuffer)");
        Ok(SoftwarePresenter {
            window,
            surface,
            size: (0, 0),
            picture_size: None,
            scaling: Letterbox::default(),
            text: TextOverlay::new()?,
        })
    }

    pub fn picture_rect(&self) -> PictureRect {
        PictureRect::fit(self.size, self.picture_size.unwrap_or(self.size))
    }

    pub fn present(
        &mut self,
        picture: Option<&YuvPicture>,
        overlay: Option<&OverlayText>,
    ) -> anyhow::Result<()> {
        let inner = self.window.inner_size();
        let size = (inner.width.max(1), inner.height.max(1));
        if size != self.size {
            let (Some(width), Some(height)) = (NonZeroU32::new(size.0), NonZeroU32::new(size.1))
            else {
                return Ok(());
            };
            self.surface
                .resize(width, height)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            self.size = size;
        }
        let mut buffer = self
            .surface
            .buffer_mut()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut buffer[..]);
        match picture {
            Some(picture) => {
                self.picture_size = Some((picture.width, picture.height));
                self.scaling.draw(picture, bytes, size)?;
            }
            None => bytes.fill(0),
        }
        self.text.draw(overlay, bytes, size);
        buffer.present().map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(())
    }
}

fn range(picture: &YuvPicture) -> YuvRange {
    if picture.full_range {
        YuvRange::Full
    } else {
        YuvRange::Limited
    }
}

impl Letterbox {
    /// Draws `picture` letterboxed into a window buffer of `size`.
    pub fn draw(
        &mut self,
        picture: &YuvPicture,
        window: &mut [u8],
        size: (u32, u32),
    ) -> anyhow::Result<()> {
        let stride = size.0 * 4;
        let (x, y, width, height) =
            PictureRect::fit(size, (picture.width, picture.height)).pixels();
        let matrix = YuvStandardMatrix::Bt601;
        if (width, height) == (picture.width, picture.height) {
            // 1:1 (the window is sized to the stream): straight into the buffer.
            if (x, y) != (0, 0) || size != (width, height) {
                window.fill(0);
            }
            let offset = (y * stride + x * 4) as usize;
            yuvutils_rs::yuv420_to_bgra(
                &picture.planar(),
                &mut window[offset..],
                stride,
                range(picture),
                matrix,
            )?;
            return Ok(());
        }
        let (picture_width, picture_height) = (picture.width as usize, picture.height as usize);
        self.converted.resize(picture_width * picture_height * 4, 0);
        yuvutils_rs::yuv420_to_bgra(
            &picture.planar(),
            &mut self.converted,
            picture.width * 4,
            range(picture),
            matrix,
        )?;
        self.scaled.resize(width as usize * height as usize * 4, 0);
        let source =
            ImageStore::<u8, 4>::from_slice(&self.converted, picture_width, picture_height)?;
        let mut target =
            ImageStoreMut::<u8, 4>::from_slice(&mut self.scaled, width as usize, height as usize)?;
        let plan = Scaler::new(ResamplingFunction::Bilinear).plan_rgba_resampling(
            ImageSize::new(picture_width, picture_height),
            ImageSize::new(width as usize, height as usize),
            false,
        )?;
        plan.resample(&source, &mut target)?;
        window.fill(0);
        let row = width as usize * 4;
        for (index, line) in self.scaled.chunks_exact(row).enumerate() {
            let start = (y as usize + index) * stride as usize + x as usize * 4;
            window[start..start + row].copy_from_slice(line);
        }
        Ok(())
    }
}
