//! BGRA → I420 (BT.601, limited range: swscale's default, which the viewer's
//! decoder assumes and the encoder signals) with yuvutils-rs' SIMD
//! converter, read straight from where the picture lies (the MIT-SHM
//! mapping) into the encoder's frame. A picture of another size than the
//! stream's (a resized window) is converted at its own size, then scaled
//! I420 → I420 with swscale. `convert_bench` measured the choices (against
//! dcv-color-primitives, swscale's own conversion, and pic-scale).

use ffmpeg_next::format::Pixel;
use ffmpeg_next::software::scaling;
use yuvutils_rs::{
    BufferStoreMut, YuvConversionMode, YuvPlanarImageMut, YuvRange, YuvStandardMatrix,
};

use super::I420Frame;

/// A BGRA picture where it lies: `height` rows of `stride` bytes.
#[derive(Debug, Clone, Copy)]
pub struct BgraView<'a> {
    pub data: &'a [u8],
    pub stride: usize,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConvertError {
    #[error(
        "a {width}x{height} BGRA picture with a stride of {stride} needs {needed} bytes, got {got}"
    )]
    TooShort {
        width: u32,
        height: u32,
        stride: usize,
        needed: usize,
        got: usize,
    },
    #[error("an empty picture ({width}x{height}) cannot be converted")]
    Empty { width: u32, height: u32 },
    #[error("a {picture:?} picture cannot be converted into a {frame:?} frame")]
    SizeMismatch {
        picture: (u32, u32),
        frame: (u32, u32),
    },
    #[error("yuvutils-rs refused a {width}x{height} BGRA→I420 conversion: {why}")]
    Convert {
        width: u32,
        height: u32,
        why: String,
    },
    #[error("swscale cannot scale {from:?} to {to:?}: {why}")]
    Scale {
        from: (u32, u32),
        to: (u32, u32),
        why: String,
    },
}

/// Converts `input` into `out`, which must be the input's size.
pub fn bgra_to_i420(input: BgraView<'_>, out: &mut I420Frame) -> Result<(), ConvertError> {
    // Balanced: as fast as the `Fast` mode here (convert_bench), and within
    // ±1 of swscale where `Fast` is ±2.
    bgra_to_i420_in_mode(input, out, YuvConversionMode::Balanced)
}

/// `bgra_to_i420` with yuvutils-rs's precision mode chosen (for the bench).
pub fn bgra_to_i420_in_mode(
    input: BgraView<'_>,
    out: &mut I420Frame,
    mode: YuvConversionMode,
) -> Result<(), ConvertError> {
    let (width, height) = (input.width, input.height);
    if width == 0 || height == 0 {
        return Err(ConvertError::Empty { width, height });
    }
    if out.size() != (width, height) {
        return Err(ConvertError::SizeMismatch {
            picture: (width, height),
            frame: out.size(),
        });
    }
    let needed = input.stride * (height as usize - 1) + width as usize * 4;
    if input.data.len() < needed || input.stride < width as usize * 4 {
        return Err(ConvertError::TooShort {
            width,
            height,
            stride: input.stride,
            needed,
            got: input.data.len(),
        });
    }
    let planes = out.planes_mut();
    let mut image = YuvPlanarImageMut {
        y_plane: BufferStoreMut::Borrowed(planes.y),
        y_stride: planes.strides[0] as u32,
        u_plane: BufferStoreMut::Borrowed(planes.u),
        u_stride: planes.strides[1] as u32,
        v_plane: BufferStoreMut::Borrowed(planes.v),
        v_stride: planes.strides[2] as u32,
        width,
        height,
    };
    yuvutils_rs::bgra_to_yuv420(
        &mut image,
        input.data,
        input.stride as u32,
        YuvRange::Limited,
        YuvStandardMatrix::Bt601,
        mode,
    )
    .map_err(|why| ConvertError::Convert {
        width,
        height,
        why: why.to_string(),
    })
}

/// swscale's I420 → I420 scaler, kept while the sizes stay.
struct PlaneScaler {
    from: (u32, u32),
    to: (u32, u32),
    context: scaling::Context,
}

impl PlaneScaler {
    fn new(from: (u32, u32), to: (u32, u32)) -> Result<Self, ConvertError> {
        let context = scaling::Context::get(
            Pixel::YUV420P,
            from.0,
            from.1,
            Pixel::YUV420P,
            to.0,
            to.1,
            scaling::Flags::BILINEAR,
        )
        .map_err(|why| ConvertError::Scale {
            from,
            to,
            why: why.to_string(),
        })?;
        Ok(PlaneScaler { from, to, context })
    }

    fn scale(&mut self, from: &I420Frame, to: &mut I420Frame) -> Result<(), ConvertError> {
        self.context
            .run(from.as_ffmpeg(), to.as_ffmpeg_mut())
            .map_err(|why| ConvertError::Scale {
                from: self.from,
                to: self.to,
                why: why.to_string(),
            })
    }
}

/// BGRA → I420 of the stream's size, whatever the picture's size: a
/// picture of another size goes through a frame of its own size, kept
/// (with the scaler's plan) until the size changes again.
#[derive(Default)]
pub struct Converter {
    resized: Option<(I420Frame, PlaneScaler)>,
}

impl std::fmt::Debug for Converter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scaling = self.resized.as_ref().map(|(_, s)| (s.from, s.to));
        f.debug_struct("Converter")
            .field("scaling", &scaling)
            .finish()
    }
}

impl Converter {
    pub fn convert(
        &mut self,
        input: BgraView<'_>,
        out: &mut I420Frame,
    ) -> Result<(), ConvertError> {
        let size = (input.width, input.height);
        if size == out.size() {
            self.resized = None;
            return bgra_to_i420(input, out);
        }
        let stale = self
            .resized
            .as_ref()
            .is_some_and(|(_, scaler)| (scaler.from, scaler.to) != (size, out.size()));
        if stale {
            self.resized = None;
        }
        let (captured, scaler) = match &mut self.resized {
            Some(resized) => resized,
            empty => {
                if size.0 == 0 || size.1 == 0 {
                    return Err(ConvertError::Empty {
                        width: size.0,
                        height: size.1,
                    });
                }
                let scaler = PlaneScaler::new(size, out.size())?;
                empty.insert((I420Frame::new(size.0, size.1), scaler))
            }
        };
        bgra_to_i420(input, captured)?;
        scaler.scale(captured, out)
    }
}

#[cfg(test)]
pub(crate) mod tests;
