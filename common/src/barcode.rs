//! The latency barcode: the synthetic source paints its capture time into the
//! top band of each frame; the viewer reads it back off decoded pixels, so a
//! test measures end-to-end latency from what would reach the screen.
//!
//! 64 cells across the full width, one band `height / 40` tall:
//! cell 0 white, cell 1 black (levels for the threshold), 48 data bits
//! (capture time in µs, modulo 2^48), 8 CRC bits, the rest black.

const CELLS: usize = 64;
const DATA_BITS: usize = 48;
const CRC_BITS: usize = 8;
const DATA_MASK: u64 = (1 << DATA_BITS) - 1;
const CRC: crc::Crc<u8> = crc::Crc::<u8>::new(&crc::CRC_8_SMBUS);

/// Pixel rectangle of one cell within a `width × height` picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    pub white: bool,
}

/// Height of the barcode band for a picture of `height` rows.
pub fn band_height(height: u32) -> u32 {
    (height / 40).max(4)
}

fn cell_x(index: usize, width: u32) -> u32 {
    (index as u64 * u64::from(width) / CELLS as u64) as u32
}

fn checksum(value: u64) -> u8 {
    CRC.checksum(&(value & DATA_MASK).to_be_bytes()[2..])
}

fn bits(value: u64) -> [bool; CELLS] {
    let value = value & DATA_MASK;
    let crc = checksum(value);
    let mut out = [false; CELLS];
    out[0] = true;
    for i in 0..DATA_BITS {
        out[2 + i] = (value >> (DATA_BITS - 1 - i)) & 1 == 1;
    }
    for i in 0..CRC_BITS {
        out[2 + DATA_BITS + i] = (crc >> (CRC_BITS - 1 - i)) & 1 == 1;
    }
    out
}

/// The cells to paint for `value` in a `width × height` picture.
pub fn cells(value: u64, width: u32, height: u32) -> impl Iterator<Item = Cell> {
    let band = band_height(height);
    bits(value).into_iter().enumerate().map(move |(i, white)| {
        let x = cell_x(i, width);
        Cell {
            x,
            y: 0,
            width: cell_x(i + 1, width) - x,
            height: band,
            white,
        }
    })
}

/// Reads a value back; `luma(x, y)` samples the picture. `None` when the band
/// does not hold a valid code (levels too close, or the CRC fails).
pub fn read(width: u32, height: u32, luma: impl Fn(u32, u32) -> u8) -> Option<u64> {
    let band = band_height(height);
    let sample = |i: usize| -> u32 {
        // Average the middle of the cell, away from edges blurred by the codec.
        let x0 = cell_x(i, width);
        let x1 = cell_x(i + 1, width);
        let (xa, xb) = (x0 + (x1 - x0) / 4, x0 + 3 * (x1 - x0) / 4);
        let (ya, yb) = (band / 4, 3 * band / 4);
        let (mut sum, mut n) = (0u32, 0u32);
        for y in ya..=yb.max(ya) {
            for x in xa..=xb.max(xa) {
                sum += u32::from(luma(x, y));
                n += 1;
            }
        }
        sum / n.max(1)
    };
    let (white, black) = (sample(0), sample(1));
    if white < black + 64 {
        return None;
    }
    let threshold = (white + black) / 2;
    let bit = |i: usize| sample(i) > threshold;
    let mut value = 0u64;
    for i in 0..DATA_BITS {
        value = (value << 1) | u64::from(bit(2 + i));
    }
    let mut crc = 0u8;
    for i in 0..CRC_BITS {
        crc = (crc << 1) | u8::from(bit(2 + DATA_BITS + i));
    }
    (crc == checksum(value)).then_some(value)
}

/// Microseconds from a capture time read from a barcode (48 bits) to
/// `now_us` on the same clock, handling the 48-bit wrap. Negative when the
/// capture seems later than `now_us` (the clock offset estimate is a little
/// off): never a wrapped subtraction read as years.
pub fn elapsed_us(read_value: u64, now_us: u64) -> i64 {
    let forward = (now_us & DATA_MASK).wrapping_sub(read_value) & DATA_MASK;
    // More than half the 48-bit range forward is a small step backward.
    if forward > DATA_MASK / 2 {
        -((DATA_MASK + 1 - forward) as i64)
    } else {
        forward as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Latency never wraps: a capture just after `now` (a clock offset a
        /// little off) is a small negative, one before is the true gap,
        /// across the 48-bit wrap too.
        #[test]
        fn elapsed_is_the_signed_gap(capture in 0u64..(1 << 62), gap in -10_000_000i64..10_000_000) {
            let now = capture.saturating_add_signed(gap);
            let read = capture & DATA_MASK;
            prop_assert_eq!(elapsed_us(read, now), now as i64 - capture as i64);
        }
    }

    fn paint(value: u64, width: u32, height: u32) -> Vec<u8> {
        let mut luma = vec![90u8; (width * height) as usize];
        for cell in cells(value, width, height) {
            for y in cell.y..cell.y + cell.height {
                for x in cell.x..cell.x + cell.width {
                    luma[(y * width + x) as usize] = if cell.white { 235 } else { 16 };
                }
            }
        }
        luma
    }

    proptest! {
        #[test]
        fn round_trip(value in 0u64..(1 << 48), size in prop_oneof![Just((1280, 720)), Just((1920, 1080)), Just((640, 360)), Just((333, 200))]) {
            let (w, h) = size;
            let luma = paint(value, w, h);
            prop_assert_eq!(read(w, h, |x, y| luma[(y * w + x) as usize]), Some(value));
        }

        #[test]
        fn random_pictures_rarely_pass(noise in proptest::collection::vec(any::<u8>(), 64 * 8)) {
            // Must not panic; a random picture passing the CRC is possible but
            // not a crash.
            let _ = read(64, 8, |x, y| noise[(y * 64 + x) as usize]);
        }
    }

    #[test]
    fn flat_picture_reads_nothing() {
        assert_eq!(read(1280, 720, |_, _| 128), None);
    }

    #[test]
    fn elapsed_handles_wrap() {
        assert_eq!(elapsed_us(DATA_MASK - 5, (1 << 48) + 10), 16);
    }
}
