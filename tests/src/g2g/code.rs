//! The time code the game paints and the sampler reads back off the screen:
//! a millisecond clock and a frame counter as large black and white cells,
//! made to survive video compression.
//!
//! Each bit is a pair of 16×16 cells side by side, the bit and its
//! complement; 16 px cells sit on the encoder's macroblock grid, so a cell
//! is one flat block. A bit reads as which cell of its pair is brighter and
//! is refused when the two are too close (blur, a half-updated block). A
//! CRC-16 over the payload refuses whatever else went wrong (tearing, a mix
//! of two frames), so a misread sample is counted, never used.

/// Side of a cell, px.
pub const CELL_PX: usize = 16;
/// Bit pairs per row of cells.
const BITS_PER_ROW: usize = 28;
/// Bits of the clock (ms, wrapping every 4.6 hours).
pub const TIME_BITS: u32 = 24;
const COUNTER_BITS: u32 = 16;
const CHECK_BITS: u32 = 16;
const BITS: usize = (TIME_BITS + COUNTER_BITS + CHECK_BITS) as usize;
const ROWS: usize = BITS.div_ceil(BITS_PER_ROW);
/// Height of the band the code occupies at the top of an area, px.
pub const BAND_HEIGHT_PX: usize = ROWS * CELL_PX;
/// Width of the band, px: the narrowest area the code fits in.
pub const BAND_WIDTH_PX: usize = BITS_PER_ROW * 2 * CELL_PX;
/// The smallest brightness difference (0..255) between a bit's two cells.
const MIN_CONTRAST: i32 = 64;

const CRC: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_IBM_3740);

/// What one painting of the game says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeCode {
    /// The wall clock when the game painted it, ms, modulo 2^TIME_BITS.
    pub time_ms: u32,
    /// The game's frame counter, modulo 2^16.
    pub counter: u16,
}

/// Why a band could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misread {
    /// A bit's two cells were too close in brightness.
    Ambiguous,
    /// Every bit was clear but the check code did not match.
    Check,
}

impl TimeCode {
    pub fn new(time_ms: u64, counter: u64) -> TimeCode {
        TimeCode {
            time_ms: (time_ms % (1 << TIME_BITS)) as u32,
            counter: (counter % (1 << COUNTER_BITS)) as u16,
        }
    }

    fn payload(&self) -> [u8; 5] {
        let value = u64::from(self.time_ms) | (u64::from(self.counter) << TIME_BITS);
        let bytes = value.to_le_bytes();
        [bytes[0], bytes[1], bytes[2], bytes[3], bytes[4]]
    }

    fn bits(&self) -> u64 {
        let payload = self.payload();
        let mut value = 0u64;
        for (i, byte) in payload.iter().enumerate() {
            value |= u64::from(*byte) << (8 * i);
        }
        value | (u64::from(CRC.checksum(&payload)) << (TIME_BITS + COUNTER_BITS))
    }

    /// The white cells of the band, as (x, y) of their top-left corner
    /// relative to the band; everything else in the band is black.
    pub fn white_cells(&self) -> Vec<(usize, usize)> {
        let bits = self.bits();
        (0..BITS)
            .map(|i| {
                let (x, y) = cell_of(i);
                let one = (bits >> i) & 1 == 1;
                // The bit's cell is white for a one, its complement for a zero.
                (if one { x } else { x + CELL_PX }, y)
            })
            .collect()
    }

    /// Reads the band from BGRX pixels (`stride` bytes a row, the band's
    /// top-left corner at column `x0` of the first row).
    pub fn read(pixels: &[u8], stride: usize, x0: usize) -> Result<TimeCode, Misread> {
        let mut bits = 0u64;
        for i in 0..BITS {
            let (x, y) = cell_of(i);
            let cell = cell_brightness(pixels, stride, x0 + x, y);
            let complement = cell_brightness(pixels, stride, x0 + x + CELL_PX, y);
            if (cell - complement).abs() < MIN_CONTRAST {
                return Err(Misread::Ambiguous);
            }
            bits |= u64::from(cell > complement) << i;
        }
        let payload_bits = bits & ((1 << (TIME_BITS + COUNTER_BITS)) - 1);
        let code = TimeCode::new(payload_bits, payload_bits >> TIME_BITS);
        let check = (bits >> (TIME_BITS + COUNTER_BITS)) as u16;
        if CRC.checksum(&code.payload()) != check {
            return Err(Misread::Check);
        }
        Ok(code)
    }

    /// How far `self` (painted later) is ahead of `earlier`, ms; the clock
    /// wraps, so anything past half its range reads as negative.
    pub fn ms_after(&self, earlier: &TimeCode) -> i64 {
        let modulus = 1i64 << TIME_BITS;
        let diff = (i64::from(self.time_ms) - i64::from(earlier.time_ms)).rem_euclid(modulus);
        if diff >= modulus / 2 {
            diff - modulus
        } else {
            diff
        }
    }
}

/// Top-left corner of bit `i`'s cell (its complement is the next cell right).
fn cell_of(i: usize) -> (usize, usize) {
    (
        (i % BITS_PER_ROW) * 2 * CELL_PX,
        (i / BITS_PER_ROW) * CELL_PX,
    )
}

/// Mean green level of the middle half of the cell at (x, y): its edges are
/// where compression and scaling smear neighbours in.
fn cell_brightness(pixels: &[u8], stride: usize, x: usize, y: usize) -> i32 {
    let (start, end) = (CELL_PX / 4, CELL_PX * 3 / 4);
    let mut sum = 0u32;
    for row in y + start..y + end {
        for column in x + start..x + end {
            sum += u32::from(
                pixels
                    .get(row * stride + column * 4 + 1)
                    .copied()
                    .unwrap_or(0),
            );
        }
    }
    (sum / ((end - start) * (end - start)) as u32) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paint(code: &TimeCode, stride_px: usize, x0: usize) -> Vec<u8> {
        let mut pixels = vec![0u8; stride_px * 4 * BAND_HEIGHT_PX];
        for (x, y) in code.white_cells() {
            for row in y..y + CELL_PX {
                for column in x0 + x..x0 + x + CELL_PX {
                    let at = row * stride_px * 4 + column * 4;
                    pixels[at..at + 4].copy_from_slice(&[255, 255, 255, 0]);
                }
            }
        }
        pixels
    }

    #[test]
    fn a_painted_code_reads_back() {
        for (time, counter) in [(0, 0), (123_456_789, 65_535), (1 << 40, 70_000)] {
            let code = TimeCode::new(time, counter);
            let pixels = paint(&code, 2 * BAND_WIDTH_PX, BAND_WIDTH_PX);
            assert_eq!(
                TimeCode::read(&pixels, 2 * BAND_WIDTH_PX * 4, BAND_WIDTH_PX),
                Ok(code)
            );
        }
    }

    #[test]
    fn a_flat_or_damaged_band_is_refused() {
        let flat = vec![128u8; BAND_WIDTH_PX * 4 * BAND_HEIGHT_PX];
        assert_eq!(
            TimeCode::read(&flat, BAND_WIDTH_PX * 4, 0),
            Err(Misread::Ambiguous)
        );
        // Half of one code over half of another (tearing): the check refuses it.
        let (a, b) = (TimeCode::new(1000, 1), TimeCode::new(2047, 2));
        let (top, bottom) = (paint(&a, BAND_WIDTH_PX, 0), paint(&b, BAND_WIDTH_PX, 0));
        let half = top.len() / 2;
        let torn = [&top[..half], &bottom[half..]].concat();
        assert_eq!(
            TimeCode::read(&torn, BAND_WIDTH_PX * 4, 0),
            Err(Misread::Check)
        );
    }

    #[test]
    fn the_difference_wraps_with_the_clock() {
        let late = TimeCode::new((1 << TIME_BITS) + 5, 0);
        let early = TimeCode::new((1 << TIME_BITS) - 10, 0);
        assert_eq!(late.ms_after(&early), 15);
        assert_eq!(early.ms_after(&late), -15);
    }
}
