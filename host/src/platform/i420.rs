//! The picture passed from capture to encoder: planar YUV 4:2:0 (I420,
//! FFmpeg's YUV420P) held in an FFmpeg frame, so the encoder takes it as it
//! is, with no copy. A frame is `Send`: the capture thread fills it, the
//! encode thread encodes it, and it goes back to be filled again.

use ffmpeg_next::format::Pixel;
use ffmpeg_next::frame;

/// An I420 picture: Y at full size, U and V at half width and height
/// (rounded up), each plane with its own stride (FFmpeg's, 32-byte aligned).
pub struct I420Frame {
    frame: frame::Video,
}

/// The three planes of an I420 frame, writable at once.
pub struct PlanesMut<'a> {
    pub y: &'a mut [u8],
    pub u: &'a mut [u8],
    pub v: &'a mut [u8],
    /// Bytes per row of Y, U and V.
    pub strides: [usize; 3],
}

impl std::fmt::Debug for I420Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "I420Frame({}x{})", self.width(), self.height())
    }
}

impl I420Frame {
    /// A black picture (Y 16, U and V 128: limited range). Panics when
    /// FFmpeg cannot allocate it (no memory, or a zero size), as a `Vec`
    /// that cannot allocate does.
    pub fn new(width: u32, height: u32) -> Self {
        let mut frame = frame::Video::new(Pixel::YUV420P, width, height);
        assert!(
            planes_lie_in_buffers(&frame),
            "FFmpeg could not allocate a {width}x{height} I420 frame"
        );
        frame.data_mut(0).fill(16);
        frame.data_mut(1).fill(128);
        frame.data_mut(2).fill(128);
        I420Frame { frame }
    }

    pub fn width(&self) -> u32 {
        self.frame.width()
    }

    pub fn height(&self) -> u32 {
        self.frame.height()
    }

    pub fn size(&self) -> (u32, u32) {
        (self.width(), self.height())
    }

    /// An encoder's check that this picture is its stream's size.
    pub fn ensure_size(&self, stream: (u32, u32)) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.size() == stream,
            "a {}x{} picture for a {}x{} stream",
            self.width(),
            self.height(),
            stream.0,
            stream.1
        );
        Ok(())
    }

    /// Width and height of plane `index` (0 Y, 1 U, 2 V).
    pub fn plane_size(&self, index: usize) -> (usize, usize) {
        (
            self.frame.plane_width(index) as usize,
            self.frame.plane_height(index) as usize,
        )
    }

    /// Plane `index` (0 Y, 1 U, 2 V) and its stride in bytes.
    pub fn plane(&self, index: usize) -> (&[u8], usize) {
        (self.frame.data(index), self.frame.stride(index))
    }

    /// The sample of plane `index` at column `x`, row `y` of that plane.
    pub fn sample(&self, index: usize, x: usize, y: usize) -> u8 {
        let (data, stride) = self.plane(index);
        data[y * stride + x]
    }

    /// The three planes at once. Panics if the frame was made into
    /// something else through `as_ffmpeg_mut` (another format, a size its
    /// buffers do not hold).
    #[allow(unsafe_code)]
    pub fn planes_mut(&mut self) -> PlanesMut<'_> {
        assert!(
            planes_lie_in_buffers(&self.frame),
            "the I420 frame's planes no longer fit its buffers"
        );
        let strides = [0, 1, 2].map(|i| self.frame.stride(i));
        let lengths = [0, 1, 2].map(|i| plane_bytes(&self.frame, i));
        // SAFETY: each plane is `stride × plane height` bytes inside one of
        // the frame's own buffers (checked just above), and the planes of a
        // YUV420P frame never overlap (av_frame_get_buffer cuts them from
        // one buffer one after the other); the slices borrow `self`
        // mutably, so nothing else reaches the frame while they live.
        unsafe {
            let data = (*self.frame.as_mut_ptr()).data;
            PlanesMut {
                y: std::slice::from_raw_parts_mut(data[0], lengths[0]),
                u: std::slice::from_raw_parts_mut(data[1], lengths[1]),
                v: std::slice::from_raw_parts_mut(data[2], lengths[2]),
                strides,
            }
        }
    }

    /// The FFmpeg frame, for the encoder (which sets its timestamp and
    /// picture type) and for swscale.
    pub fn as_ffmpeg_mut(&mut self) -> &mut frame::Video {
        &mut self.frame
    }

    pub fn as_ffmpeg(&self) -> &frame::Video {
        &self.frame
    }
}

/// Bytes of plane `index`: its stride times its height.
fn plane_bytes(frame: &frame::Video, index: usize) -> usize {
    frame.stride(index) * frame.plane_height(index) as usize
}

/// Whether `frame` is YUV420P and each of its three planes lies whole
/// inside one of the buffers the frame holds.
#[allow(unsafe_code)]
fn planes_lie_in_buffers(frame: &frame::Video) -> bool {
    if frame.format() != Pixel::YUV420P || frame.planes() < 3 {
        return false;
    }
    // SAFETY: reads the frame's plane pointers and its buffer references
    // (FFmpeg's own, valid while the frame lives); nothing is dereferenced
    // but the AVBufferRefs, which are non-null where read.
    unsafe {
        let raw = &*frame.as_ptr();
        (0..3).all(|plane| {
            let start = raw.data[plane] as usize;
            let end = start.saturating_add(plane_bytes(frame, plane));
            start != 0
                && raw.buf.iter().any(|buffer| {
                    !buffer.is_null() && {
                        let buffer = &**buffer;
                        let (from, size) = (buffer.data as usize, buffer.size);
                        from <= start && end <= from.saturating_add(size)
                    }
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planes_are_apart_and_sized_for_odd_pictures() {
        let mut frame = I420Frame::new(33, 17);
        assert_eq!(frame.plane_size(0), (33, 17));
        assert_eq!(frame.plane_size(1), (17, 9));
        let planes = frame.planes_mut();
        assert!(planes.strides[0] >= 33 && planes.strides[1] >= 17);
        planes.y.fill(1);
        planes.u.fill(2);
        planes.v.fill(3);
        assert_eq!(frame.sample(0, 32, 16), 1);
        assert_eq!(frame.sample(1, 16, 8), 2);
        assert_eq!(frame.sample(2, 16, 8), 3);
    }

    #[test]
    fn a_frame_grown_behind_its_back_is_refused() {
        let mut frame = I420Frame::new(64, 32);
        frame.as_ffmpeg_mut().set_height(4096);
        let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            frame.planes_mut();
        }));
        assert!(refused.is_err());
    }

    #[test]
    fn a_frame_can_move_to_another_thread() {
        let frame = I420Frame::new(64, 32);
        let size = std::thread::spawn(move || frame.size()).join().unwrap();
        assert_eq!(size, (64, 32));
    }
}
