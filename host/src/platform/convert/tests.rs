//! The converter against swscale: within ±2 per sample on every plane.
//!
//! The reference is swscale's exact path for this conversion: SWS_AREA,
//! which at 1:1 copies luma and averages each 2×2 block for chroma, with
//! swscale's default matrix and range (BT.601, limited). The host's old
//! setting, FAST_BILINEAR, is no reference: at 1:1 its fast horizontal
//! scaler blends every other luma sample with its neighbour (up to 78
//! levels off at the barcode's edges), and its chroma is a 4-row triangle.

use ffmpeg_next::format::Pixel;
use ffmpeg_next::software::scaling;

use super::*;

/// swscale's BGRA → YUV420P (the picture's rows copied into an FFmpeg
/// frame, as swscale takes them).
pub(crate) fn swscale_i420(input: BgraView<'_>) -> I420Frame {
    ffmpeg_next::init().unwrap();
    let (width, height) = (input.width, input.height);
    let mut staging = ffmpeg_next::frame::Video::new(Pixel::BGRA, width, height);
    let stride = staging.stride(0);
    let row_bytes = width as usize * 4;
    let plane = staging.data_mut(0);
    for y in 0..height as usize {
        plane[y * stride..][..row_bytes]
            .copy_from_slice(&input.data[y * input.stride..][..row_bytes]);
    }
    let mut scaler = scaling::Context::get(
        Pixel::BGRA,
        width,
        height,
        Pixel::YUV420P,
        width,
        height,
        scaling::Flags::AREA,
    )
    .unwrap();
    let mut out = I420Frame::new(width, height);
    scaler.run(&staging, out.as_ffmpeg_mut()).unwrap();
    out
}

/// The largest difference per plane (Y, U, V), and where (plane x, y).
pub(crate) fn max_difference(a: &I420Frame, b: &I420Frame) -> [(u8, (usize, usize)); 3] {
    assert_eq!(a.size(), b.size());
    [0, 1, 2].map(|plane| {
        let (width, height) = a.plane_size(plane);
        let mut worst = (0, (0, 0));
        for y in 0..height {
            for x in 0..width {
                let d = a.sample(plane, x, y).abs_diff(b.sample(plane, x, y));
                if d > worst.0 {
                    worst = (d, (x, y));
                }
            }
        }
        worst
    })
}

/// Asserts `picture` converts within ±2 of swscale on every plane.
pub(crate) fn assert_matches_swscale(picture: BgraView<'_>, what: &str) {
    let mut ours = I420Frame::new(picture.width, picture.height);
    bgra_to_i420(picture, &mut ours).unwrap();
    let reference = swscale_i420(picture);
    let worst = max_difference(&ours, &reference);
    eprintln!("{what}: largest Y/U/V differences from swscale {worst:?}");
    for (plane, (difference, at)) in worst.into_iter().enumerate() {
        assert!(
            difference <= 2,
            "{what}: plane {plane} differs by {difference} at {at:?}"
        );
    }
}

/// A BGRA picture: smooth gradients above, seeded noise below.
fn picture(width: u32, height: u32, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut data = vec![0u8; width as usize * height as usize * 4];
    for y in 0..height as usize {
        for x in 0..width as usize {
            let at = (y * width as usize + x) * 4;
            let pixel = if y < height as usize / 2 {
                [
                    (x * 255 / width as usize) as u8,
                    (y * 255 / height as usize) as u8,
                    ((x + y) % 256) as u8,
                ]
            } else {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let [b, g, r, ..] = state.to_le_bytes();
                [b, g, r]
            };
            data[at..at + 3].copy_from_slice(&pixel);
            data[at + 3] = 255;
        }
    }
    data
}

#[test]
fn gradients_and_noise_match_swscale() {
    for (width, height) in [(1280, 720), (640, 360)] {
        let data = picture(width, height, 42);
        let view = BgraView {
            data: &data,
            stride: width as usize * 4,
            width,
            height,
        };
        assert_matches_swscale(view, &format!("{width}x{height}"));
    }
}

/// A frame of the demo game as the host's capture read it (BGRA from
/// GetImage on Xvfb, saved as RGBA by `convert_bench --save-demo-frame`).
#[test]
fn a_demo_game_frame_matches_swscale_and_keeps_its_barcode() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../assets/fixtures/demo-game-frame.png");
    let rgba = image::open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgba8();
    let (width, height) = rgba.dimensions();
    let mut bgra = rgba.into_raw();
    for pixel in bgra.chunks_exact_mut(4) {
        pixel.swap(0, 2);
    }
    let view = BgraView {
        data: &bgra,
        stride: width as usize * 4,
        width,
        height,
    };
    assert_matches_swscale(view, "a demo game frame");
    let drawn = common::barcode::read(width, height, |x, y| bgra[(y * width + x) as usize * 4 + 1]);
    assert!(drawn.is_some(), "the game painted its barcode");
    let mut frame = I420Frame::new(width, height);
    bgra_to_i420(view, &mut frame).unwrap();
    let read = common::barcode::read(width, height, |x, y| {
        frame.sample(0, x as usize, y as usize)
    });
    assert_eq!(read, drawn, "the barcode reads off the luma plane");
}

#[test]
fn a_padded_stride_is_read_row_by_row() {
    let (width, height) = (64, 32);
    let packed = picture(width, height, 7);
    let stride = width as usize * 4 + 64;
    let mut padded = vec![0xAB; stride * height as usize];
    for y in 0..height as usize {
        padded[y * stride..][..width as usize * 4]
            .copy_from_slice(&packed[y * width as usize * 4..][..width as usize * 4]);
    }
    let mut from_packed = I420Frame::new(width, height);
    let mut from_padded = I420Frame::new(width, height);
    let packed_view = BgraView {
        data: &packed,
        stride: width as usize * 4,
        width,
        height,
    };
    bgra_to_i420(packed_view, &mut from_packed).unwrap();
    let padded_view = BgraView {
        data: &padded,
        stride,
        width,
        height,
    };
    bgra_to_i420(padded_view, &mut from_padded).unwrap();
    assert!(
        max_difference(&from_packed, &from_padded)
            .iter()
            .all(|(d, _)| *d == 0)
    );
}

#[test]
fn short_and_empty_pictures_are_errors() {
    let data = vec![0u8; 100];
    let mut out = I420Frame::new(8, 8);
    let short = BgraView {
        data: &data,
        stride: 32,
        width: 8,
        height: 8,
    };
    assert_eq!(
        bgra_to_i420(short, &mut out).unwrap_err().to_string(),
        "a 8x8 BGRA picture with a stride of 32 needs 256 bytes, got 100"
    );
    let empty = BgraView {
        data: &data,
        stride: 0,
        width: 0,
        height: 8,
    };
    let error = Converter::default().convert(empty, &mut out).unwrap_err();
    assert_eq!(
        error,
        ConvertError::Empty {
            width: 0,
            height: 8
        }
    );
}

/// A window resized to another size (odd ones too) still fills the
/// stream's frame: a flat colour stays that colour after scaling.
#[test]
fn other_sizes_are_scaled_to_the_stream() {
    let mut converter = Converter::default();
    let mut out = I420Frame::new(640, 360);
    for (width, height) in [(1001, 563), (320, 180), (640, 360), (1001, 563)] {
        let data = [40u8, 200, 90, 255].repeat(width as usize * height as usize);
        let view = BgraView {
            data: &data,
            stride: width as usize * 4,
            width,
            height,
        };
        converter.convert(view, &mut out).unwrap();
        let mut flat = I420Frame::new(640, 360);
        let small = [40u8, 200, 90, 255].repeat(640 * 360);
        let flat_view = BgraView {
            data: &small,
            stride: 640 * 4,
            width: 640,
            height: 360,
        };
        bgra_to_i420(flat_view, &mut flat).unwrap();
        let worst = max_difference(&out, &flat);
        assert!(
            worst.iter().all(|(d, _)| *d <= 1),
            "{width}x{height} scaled: {worst:?}"
        );
    }
}
