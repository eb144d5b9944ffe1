//! Synthetic sources: a moving test pattern that paints its capture time as a
//! barcode, and a sine tone. They are what tests and benchmarks stream. The
//! pattern is drawn in BGRA, as a window would be, and converted like a
//! captured window.

use super::convert::Converter;
use super::{AudioSource, BgraFrame, Captured, Grab, I420Frame, InputSink, VideoSource};

/// The static colour bars across the bottom third, left to right, as RGB.
pub const BARS_RGB: [[u8; 3]; 8] = [
    [235, 235, 235],
    [235, 235, 16],
    [16, 235, 235],
    [16, 235, 16],
    [235, 16, 235],
    [235, 16, 16],
    [16, 16, 235],
    [16, 16, 16],
];
const BACKGROUND_RGB: [u8; 3] = [48, 48, 64];
const BOX_RGB: [u8; 3] = [250, 200, 40];

/// Where bar `index` lies in a picture of `width × height`: (x0, x1, y0, y1).
pub fn bar_rect(index: usize, width: u32, height: u32) -> (u32, u32, u32, u32) {
    let x0 = index as u32 * width / BARS_RGB.len() as u32;
    let x1 = (index as u32 + 1) * width / BARS_RGB.len() as u32;
    (x0, x1, height * 2 / 3, height)
}

#[derive(Debug)]
pub struct TestPattern {
    width: u32,
    height: u32,
    fps: u32,
    /// The unchanging part (background and bars), copied into each frame.
    background: Vec<u8>,
    frames: u64,
    /// Where each picture is drawn before it is converted; only what
    /// moves is drawn again.
    canvas: BgraFrame,
    /// The box as last drawn on the canvas (`None`: nothing drawn yet).
    canvas_box: Option<(u32, u32, u32, u32)>,
    converter: Converter,
}

fn fill(frame: &mut [u8], stride: usize, rect: (u32, u32, u32, u32), rgb: [u8; 3]) {
    let (x0, x1, y0, y1) = rect;
    let bgra = [rgb[2], rgb[1], rgb[0], 255];
    for y in y0..y1 {
        let row = &mut frame[y as usize * stride..][x0 as usize * 4..x1 as usize * 4];
        for pixel in row.chunks_exact_mut(4) {
            pixel.copy_from_slice(&bgra);
        }
    }
}

impl TestPattern {
    pub fn new(width: u32, height: u32, fps: u32) -> Self {
        let mut frame = BgraFrame::new(width, height);
        fill(
            &mut frame.data,
            frame.stride,
            (0, width, 0, height),
            BACKGROUND_RGB,
        );
        for (i, rgb) in BARS_RGB.iter().enumerate() {
            fill(
                &mut frame.data,
                frame.stride,
                bar_rect(i, width, height),
                *rgb,
            );
        }
        TestPattern {
            width,
            height,
            fps: fps.max(1),
            background: frame.data,
            frames: 0,
            canvas: BgraFrame::new(width, height),
            canvas_box: None,
            converter: Converter::default(),
        }
    }

    /// The moving box: one full sweep across the middle band every 2 s.
    fn box_rect(&self) -> (u32, u32, u32, u32) {
        let side = (self.height / 6).max(2);
        let travel = u64::from(self.width - side);
        let period = u64::from(self.fps) * 2;
        let phase = self.frames % period;
        let x0 = (travel * phase / period) as u32;
        let y0 = self.height / 3;
        (x0, x0 + side, y0, y0 + side)
    }
}

impl TestPattern {
    /// A band of fresh 8×8-block noise each frame, between the box and the
    /// bars: content an encoder must spend bits on, like a game scene.
    fn paint_noise(&self, frame: &mut BgraFrame) {
        const BLOCK: u32 = 8;
        let (y0, y1) = (
            self.height / 2 + self.height / 24,
            self.height * 2 / 3 - self.height / 24,
        );
        let mut state = self.frames.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        for by in (y0..y1).step_by(BLOCK as usize) {
            for bx in (0..self.width).step_by(BLOCK as usize) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let shade = [
                    state as u8 / 2 + 40,
                    (state >> 8) as u8 / 2 + 40,
                    (state >> 16) as u8 / 2 + 40,
                ];
                let rect = (bx, (bx + BLOCK).min(self.width), by, (by + BLOCK).min(y1));
                fill(&mut frame.data, frame.stride, rect, shade);
            }
        }
    }
}

impl TestPattern {
    /// Draws the next picture, stamped `capture_us`, into `frame` (BGRA).
    pub fn paint(&mut self, capture_us: u64, frame: &mut BgraFrame) {
        if frame.width != self.width || frame.height != self.height {
            *frame = BgraFrame::new(self.width, self.height);
        }
        frame.data.copy_from_slice(&self.background);
        self.paint_moving(capture_us, frame);
    }

    /// Draws what changes from picture to picture over the background: the
    /// box, the noise band, the barcode (both bands drawn whole). Returns
    /// where the box went.
    fn paint_moving(&mut self, capture_us: u64, frame: &mut BgraFrame) -> (u32, u32, u32, u32) {
        let box_rect = self.box_rect();
        fill(&mut frame.data, frame.stride, box_rect, BOX_RGB);
        self.paint_noise(frame);
        for cell in common::barcode::cells(capture_us, self.width, self.height) {
            let rgb = if cell.white { [255; 3] } else { [0; 3] };
            let rect = (cell.x, cell.x + cell.width, cell.y, cell.y + cell.height);
            fill(&mut frame.data, frame.stride, rect, rgb);
        }
        self.frames += 1;
        box_rect
    }

    /// The next picture on the canvas: the background put back where the
    /// box was, then what moves (a 1080p frame is not copied whole).
    fn paint_canvas(&mut self, capture_us: u64) {
        let mut canvas = std::mem::replace(&mut self.canvas, BgraFrame::new(0, 0));
        match self.canvas_box {
            None => canvas.data.copy_from_slice(&self.background),
            Some((x0, x1, y0, y1)) => {
                let (start, end) = (x0 as usize * 4, x1 as usize * 4);
                for y in y0 as usize..y1 as usize {
                    let row = y * canvas.stride;
                    canvas.data[row + start..row + end]
                        .copy_from_slice(&self.background[row + start..row + end]);
                }
            }
        }
        self.canvas_box = Some(self.paint_moving(capture_us, &mut canvas));
        self.canvas = canvas;
    }
}

impl VideoSource for TestPattern {
    fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn capture(
        &mut self,
        capture_us: u64,
        _grab: Grab,
        frame: &mut I420Frame,
    ) -> anyhow::Result<Captured> {
        self.paint_canvas(capture_us);
        self.converter.convert(self.canvas.view(), frame)?;
        Ok(Captured::New)
    }
}

/// Input that goes nowhere but a JSON-lines log (the synthetic source has
/// nothing to drive); tests read the log.
pub struct LoggedInput {
    log: Option<std::fs::File>,
}

impl LoggedInput {
    pub fn new(log: Option<std::fs::File>) -> Self {
        LoggedInput { log }
    }
}

impl InputSink for LoggedInput {
    fn apply(&mut self, seq: u64, event: &common::control::InputEvent) -> anyhow::Result<()> {
        use std::io::Write;
        if let Some(file) = &mut self.log {
            let line = serde_json::json!({ "seq": seq, "event": event });
            writeln!(file, "{line}")?;
        }
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Silence, where no audio device could be opened.
pub struct Silence;

impl AudioSource for Silence {
    fn read(&mut self, interleaved: &mut [f32]) {
        interleaved.fill(0.0);
    }
}

/// A sine tone, the same on both channels.
#[derive(Debug)]
pub struct Tone {
    frequency_hz: f64,
    sample_rate_hz: f64,
    phase: f64,
}

pub const TONE_HZ: f64 = 880.0;

impl Tone {
    pub fn new(frequency_hz: f64, sample_rate_hz: u32) -> Self {
        Tone {
            frequency_hz,
            sample_rate_hz: f64::from(sample_rate_hz),
            phase: 0.0,
        }
    }
}

impl AudioSource for Tone {
    fn read(&mut self, interleaved: &mut [f32]) {
        let step = std::f64::consts::TAU * self.frequency_hz / self.sample_rate_hz;
        for pair in interleaved.chunks_exact_mut(2) {
            let sample = (self.phase.sin() * 0.3) as f32;
            pair[0] = sample;
            pair[1] = sample;
            self.phase = (self.phase + step) % std::f64::consts::TAU;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_carries_its_capture_time() {
        let mut pattern = TestPattern::new(640, 360, 60);
        let mut frame = BgraFrame::new(640, 360);
        pattern.paint(123_456_789, &mut frame);
        let luma = |x: u32, y: u32| frame.data[y as usize * frame.stride + x as usize * 4 + 1];
        assert_eq!(common::barcode::read(640, 360, luma), Some(123_456_789));
        let (x0, _, y0, _) = bar_rect(2, 640, 360);
        let at = &frame.data[y0 as usize * frame.stride + x0 as usize * 4..][..3];
        assert_eq!(at, &[235, 235, 16]); // cyan as BGR
    }

    #[test]
    fn the_canvas_drawn_in_parts_is_the_whole_picture() {
        let mut captured = TestPattern::new(320, 180, 60);
        let mut painted = TestPattern::new(320, 180, 60);
        let mut whole = BgraFrame::new(320, 180);
        let mut frame = I420Frame::new(320, 180);
        for index in 0..150 {
            let capture_us = index * 16_667;
            captured
                .capture(capture_us, Grab::Always, &mut frame)
                .unwrap();
            painted.paint(capture_us, &mut whole);
            assert!(captured.canvas.data == whole.data, "picture {index}");
        }
    }

    #[test]
    fn the_converted_pattern_matches_swscale() {
        for (width, height) in [(1280, 720), (1920, 1080)] {
            let mut pattern = TestPattern::new(width, height, 60);
            let mut frame = BgraFrame::new(width, height);
            for index in 0..40 {
                pattern.paint(index * 16_667 + 1_000_000_007, &mut frame);
            }
            let what = format!("the test pattern at {width}x{height}");
            crate::platform::convert::tests::assert_matches_swscale(frame.view(), &what);
        }
    }

    /// What the viewer reads: the barcode off the luma plane, the bars'
    /// colours as BT.601 limited-range YUV.
    #[test]
    fn captured_pictures_carry_the_barcode_in_luma() {
        let mut pattern = TestPattern::new(640, 360, 60);
        let mut frame = I420Frame::new(640, 360);
        let captured = pattern.capture(987_654_321, Grab::IfChanged, &mut frame);
        assert_eq!(captured.unwrap(), Captured::New);
        let luma = |x: u32, y: u32| frame.sample(0, x as usize, y as usize);
        assert_eq!(common::barcode::read(640, 360, luma), Some(987_654_321));
        // Cyan (16, 235, 235): Y 0.257·16 + 0.504·235 + 0.098·235 + 16 = 161.6,
        // U 0.439·235 − 0.148·16 − 0.291·235 + 128 = 160.4,
        // V 0.439·16 − 0.368·235 − 0.071·235 + 128 = 31.9.
        let (x0, x1, y0, y1) = bar_rect(2, 640, 360);
        let (x, y) = (((x0 + x1) / 2) as usize, ((y0 + y1) / 2) as usize);
        let yuv = [
            frame.sample(0, x, y),
            frame.sample(1, x / 2, y / 2),
            frame.sample(2, x / 2, y / 2),
        ];
        for (got, want) in yuv.into_iter().zip([161.6, 160.4, 31.9]) {
            assert!((f64::from(got) - want).abs() <= 1.5, "cyan bar as {yuv:?}");
        }
    }
}
