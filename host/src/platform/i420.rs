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
    /// A black picture (Y 16, U and V 128: limited range).
    pub fn new(width: u32, height: u32) -> Self {
        let mut frame = frame::Video::new(Pixel::YUV420P, width, height);
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

    #[allow(unsafe_code)]
    pub fn planes_mut(&mut self) -> PlanesMut<'_> {
        let strides = [
            self.frame.stride(0),
            self.frame.stride(1),
            self.frame.stride(2),
        ];
        let lengths = [0, 1, 2].map(|i| strides[i] * self.frame.plane_height(i) as usize);
        // SAFETY: the frame was allocated by av_frame_get_buffer as YUV420P
        // (one buffer per plane, or one buffer cut into disjoint planes), so
        // the three planes are `stride × plane height` bytes each and never
        // overlap; the slices borrow `self` mutably, so nothing else can
        // reach the frame while they live.
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
    fn a_frame_can_move_to_another_thread() {
        let frame = I420Frame::new(64, 32);
        let size = std::thread::spawn(move || frame.size()).join().unwrap();
        assert_eq!(size, (64, 32));
    }
}
