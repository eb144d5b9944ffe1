//! A resized window's picture: converted at its size, then scaled to the
//! stream's I420 frame (pic-scale and swscale), and the host's `Converter`
//! doing both.

use ffmpeg_next::format::Pixel;
use ffmpeg_next::software::scaling;
use host::platform::I420Frame;
use host::platform::convert::{Converter, bgra_to_i420};

use crate::{Args, pictures, time_ms};

/// pic-scale's bilinear I420 → I420 scaler of `from` to `to`, a plan per
/// plane size, scratch kept.
fn pic_scale(from: &I420Frame, to: &I420Frame) -> anyhow::Result<Convert2> {
    use pic_scale::{ImageSize, ResamplingFunction, Scaler};
    let scaler = Scaler::new(ResamplingFunction::Bilinear);
    let size = |frame: &I420Frame, plane| {
        let (width, height) = frame.plane_size(plane);
        ImageSize::new(width, height)
    };
    let luma = scaler.plan_planar_resampling(size(from, 0), size(to, 0))?;
    let chroma = scaler.plan_planar_resampling(size(from, 1), size(to, 1))?;
    let mut scratch = vec![0u8; luma.scratch_size().max(chroma.scratch_size())];
    Ok(Box::new(move |from, to| {
        let out_sizes = [0, 1, 2].map(|plane| to.plane_size(plane));
        let planes = to.planes_mut();
        let targets = [(planes.y, 0), (planes.u, 1), (planes.v, 2)];
        for (target, plane) in targets {
            let (data, stride) = from.plane(plane);
            let (width, height) = from.plane_size(plane);
            let source = pic_scale::ImageStore::<u8, 1> {
                buffer: std::borrow::Cow::Borrowed(data),
                channels: 1,
                width,
                height,
                stride,
                bit_depth: 0,
            };
            let (out_width, out_height) = out_sizes[plane];
            let mut target = pic_scale::ImageStoreMut::<u8, 1> {
                buffer: pic_scale::BufferStore::Borrowed(target),
                channels: 1,
                width: out_width,
                height: out_height,
                stride: planes.strides[plane],
                bit_depth: 0,
            };
            let plan = if plane == 0 { &luma } else { &chroma };
            plan.resample_with_scratch(&source, &mut target, &mut scratch)?;
        }
        Ok(())
    }))
}

/// A scaler under test: I420 in, I420 of another size out.
type Convert2 = Box<dyn FnMut(&I420Frame, &mut I420Frame) -> anyhow::Result<()>>;

/// swscale's I420 → I420 scaler of `from` to `to`.
fn swscale_scale(from: &I420Frame, to: &I420Frame) -> anyhow::Result<Convert2> {
    let mut context = scaling::Context::get(
        Pixel::YUV420P,
        from.width(),
        from.height(),
        Pixel::YUV420P,
        to.width(),
        to.height(),
        scaling::Flags::BILINEAR,
    )?;
    Ok(Box::new(move |from, to| {
        Ok(context.run(from.as_ffmpeg(), to.as_ffmpeg_mut())?)
    }))
}

/// A resized window: its picture converted at its size, then scaled to the
/// stream's (pic-scale and swscale), and the host's `Converter` doing both.
pub fn scaling_table(args: &Args) -> anyhow::Result<()> {
    println!(
        "\n| resized window → stream | convert at window size ms | pic-scale bilinear ms | swscale BILINEAR ms | the host's Converter (convert + scale) ms |"
    );
    println!("|---|---|---|---|---|");
    for (from, to) in [
        ((1366, 768), (1280, 720)),
        ((1600, 900), (1920, 1080)),
        ((2560, 1440), (1920, 1080)),
        ((1001, 563), (1280, 720)),
    ] {
        let pictures = pictures(from.0, from.1, args.frames.min(30));
        let mut captured = I420Frame::new(from.0, from.1);
        let convert_ms = time_ms(&pictures, args.runs, |picture| {
            Ok(bgra_to_i420(picture.view(), &mut captured)?)
        })?;
        let mut out = I420Frame::new(to.0, to.1);
        let mut scale_ms = Vec::new();
        for make in [pic_scale, swscale_scale] {
            let mut scale = make(&captured, &out)?;
            scale_ms.push(time_ms(&pictures, args.runs, |_| {
                scale(&captured, &mut out)
            })?);
        }
        let mut converter = Converter::default();
        let host_ms = time_ms(&pictures, args.runs, |picture| {
            Ok(converter.convert(picture.view(), &mut out)?)
        })?;
        println!(
            "| {}x{} → {}x{} | {convert_ms:.3} | {:.3} | {:.3} | {host_ms:.3} |",
            from.0, from.1, to.0, to.1, scale_ms[0], scale_ms[1]
        );
    }
    Ok(())
}
