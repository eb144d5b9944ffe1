//! The BGRA→I420 converters compared: swscale (as the host used it, and in
//! place), dcv-color-primitives, yuvutils-rs, and the host's own.

use ffmpeg_next::format::Pixel;
use ffmpeg_next::frame;
use ffmpeg_next::software::scaling;
use host::platform::convert::{bgra_to_i420, bgra_to_i420_in_mode};
use host::platform::{BgraView, I420Frame};
use yuvutils_rs::YuvConversionMode;

/// A converter under test.
pub type Convert = Box<dyn FnMut(BgraView<'_>, &mut I420Frame) -> anyhow::Result<()>>;

fn swscale_copied(width: u32, height: u32) -> anyhow::Result<Convert> {
    let mut scaler = scaling::Context::get(
        Pixel::BGRA,
        width,
        height,
        Pixel::YUV420P,
        width,
        height,
        scaling::Flags::FAST_BILINEAR,
    )?;
    let mut staging = frame::Video::new(Pixel::BGRA, width, height);
    Ok(Box::new(move |input, out| {
        let stride = staging.stride(0);
        let row_bytes = input.width as usize * 4;
        let plane = staging.data_mut(0);
        for y in 0..input.height as usize {
            plane[y * stride..][..row_bytes]
                .copy_from_slice(&input.data[y * input.stride..][..row_bytes]);
        }
        scaler.run(&staging, out.as_ffmpeg_mut())?;
        Ok(())
    }))
}

/// swscale reading the picture where it lies (FFmpeg's API takes plane
/// pointers; ffmpeg-next's only takes its own frames).
#[allow(unsafe_code)]
fn swscale_in_place(width: u32, height: u32, flags: scaling::Flags) -> anyhow::Result<Convert> {
    let mut scaler = scaling::Context::get(
        Pixel::BGRA,
        width,
        height,
        Pixel::YUV420P,
        width,
        height,
        flags,
    )?;
    Ok(Box::new(move |input, out| {
        anyhow::ensure!(input.data.len() >= input.stride * input.height as usize);
        anyhow::ensure!(out.size() == (width, height));
        let null = std::ptr::null();
        let source = [input.data.as_ptr(), null, null, null];
        let source_strides = [input.stride as std::ffi::c_int, 0, 0, 0];
        // SAFETY: the source covers `height` rows of `stride` bytes (checked
        // above); the destination is an allocated YUV420P frame of the
        // context's output size, with FFmpeg's own planes and strides.
        let rows = unsafe {
            let out = out.as_ffmpeg_mut().as_mut_ptr();
            ffmpeg_next::ffi::sws_scale(
                scaler.as_mut_ptr(),
                source.as_ptr(),
                source_strides.as_ptr(),
                0,
                input.height as std::ffi::c_int,
                (*out).data.as_ptr(),
                (*out).linesize.as_ptr(),
            )
        };
        anyhow::ensure!(rows > 0, "sws_scale failed ({rows})");
        Ok(())
    }))
}

fn dcv() -> Convert {
    use dcv_color_primitives as dcp;
    let source_format = dcp::ImageFormat {
        pixel_format: dcp::PixelFormat::Bgra,
        color_space: dcp::ColorSpace::Rgb,
        num_planes: 1,
    };
    let target_format = dcp::ImageFormat {
        pixel_format: dcp::PixelFormat::I420,
        color_space: dcp::ColorSpace::Bt601,
        num_planes: 3,
    };
    Box::new(move |input, out| {
        let planes = out.planes_mut();
        dcp::convert_image(
            input.width,
            input.height,
            &source_format,
            Some(&[input.stride]),
            &[input.data],
            &target_format,
            Some(&planes.strides),
            &mut [planes.y, planes.u, planes.v],
        )
        .map_err(|e| anyhow::anyhow!("dcv-color-primitives: {e}"))
    })
}

fn yuvutils(mode: YuvConversionMode) -> Convert {
    Box::new(move |input, out| Ok(bgra_to_i420_in_mode(input, out, mode)?))
}

/// Largest difference per plane (Y, U, V) between two frames.
pub fn max_difference(a: &I420Frame, b: &I420Frame) -> [u8; 3] {
    [0, 1, 2].map(|plane| {
        let (width, height) = a.plane_size(plane);
        let mut worst = 0u8;
        for y in 0..height {
            for x in 0..width {
                worst = worst.max(a.sample(plane, x, y).abs_diff(b.sample(plane, x, y)));
            }
        }
        worst
    })
}

pub struct Method {
    pub name: &'static str,
    pub make: fn(u32, u32) -> anyhow::Result<Convert>,
}

pub const METHODS: [Method; 6] = [
    Method {
        name: "swscale FAST_BILINEAR, rows copied (the host before)",
        make: swscale_copied,
    },
    Method {
        name: "swscale FAST_BILINEAR, in place",
        make: |w, h| swscale_in_place(w, h, scaling::Flags::FAST_BILINEAR),
    },
    Method {
        name: "swscale AREA (exact), in place",
        make: |w, h| swscale_in_place(w, h, scaling::Flags::AREA),
    },
    Method {
        name: "dcv-color-primitives",
        make: |_, _| Ok(dcv()),
    },
    Method {
        name: "the host's bgra_to_i420 (yuvutils-rs, balanced)",
        make: |_, _| Ok(Box::new(|input, out| Ok(bgra_to_i420(input, out)?))),
    },
    Method {
        name: "yuvutils-rs, fast",
        make: |_, _| Ok(yuvutils(YuvConversionMode::Fast)),
    },
];
/// The method whose output is the reference for the differences.
pub const EXACT: usize = 2;
