//! The software presenter, for machines where wgpu would rasterize on the
//! CPU anyway: the picture converted I420→BGRA with SIMD (yuvutils-rs)
//! straight into softbuffer's buffer (an MIT-SHM segment on X11, shm on
//! Wayland) and put on the window, with no GPU API in between. A window of
//! another size than the picture gets it scaled (pic-scale, bilinear) and
//! letterboxed.

use std::num::NonZeroU32;
use std::sync::Arc;

use anyhow::Context;
use pic_scale::{ImageSize, ImageStore, ImageStoreMut, Resampling, ResamplingFunction, Scaler};
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
    /// The scaling weights for (picture size, target size).
    plan: Option<(ImageSize, ImageSize, Arc<Resampling<u8, 4>>)>,
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
        let sizes = (
            ImageSize::new(picture_width, picture_height),
            ImageSize::new(width as usize, height as usize),
        );
        let plan = match &self.plan {
            Some((from, to, plan)) if (*from, *to) == sizes => plan.clone(),
            _ => {
                let plan = Scaler::new(ResamplingFunction::Bilinear)
                    .plan_rgba_resampling(sizes.0, sizes.1, false)?;
                self.plan = Some((sizes.0, sizes.1, plan.clone()));
                plan
            }
        };
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A uniform picture: video-range white (Y 235, no colour).
    fn white(width: u32, height: u32) -> YuvPicture {
        let chroma = (width.div_ceil(2) * height.div_ceil(2)) as usize;
        YuvPicture {
            width,
            height,
            y: vec![235; (width * height) as usize],
            u: vec![128; chroma],
            v: vec![128; chroma],
            ..Default::default()
        }
    }

    fn row_is(window: &[u8], width: u32, row: u32, value: u8) -> bool {
        let stride = width as usize * 4;
        window[row as usize * stride..][..stride]
            .chunks_exact(4)
            .all(|p| p[..3].iter().all(|c| c.abs_diff(value) <= 1))
    }

    #[test]
    fn a_picture_the_window_size_is_converted_one_to_one() {
        let mut window = vec![7u8; 32 * 16 * 4];
        Letterbox::default()
            .draw(&white(32, 16), &mut window, (32, 16))
            .unwrap();
        assert!((0..16).all(|row| row_is(&window, 32, row, 255)));
    }

    #[test]
    fn a_wide_picture_in_a_square_window_gets_bars_above_and_below() {
        let mut window = vec![7u8; 32 * 32 * 4];
        let mut letterbox = Letterbox::default();
        for _ in 0..2 {
            // Twice: the second draw reuses the scaling plan.
            letterbox
                .draw(&white(64, 32), &mut window, (32, 32))
                .unwrap();
            assert!((0..8).all(|row| row_is(&window, 32, row, 0)));
            assert!((8..24).all(|row| row_is(&window, 32, row, 255)));
            assert!((24..32).all(|row| row_is(&window, 32, row, 0)));
        }
    }
}
