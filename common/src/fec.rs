//! Forward error correction for one frame: the frame (prefixed with its
//! length) is cut into equal data shards, and Reed-Solomon parity shards
//! (reed-solomon-simd) are added; any `data` of the `data + parity` shards
//! rebuild the frame. The parity share follows the loss the receiver
//! reports, never below a floor.

use thiserror::Error;

const LENGTH_PREFIX: usize = 4;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum FecError {
    #[error("only {have} of the {need} shards needed arrived")]
    NotEnoughShards { have: usize, need: usize },
    #[error("shards of one frame differ in size")]
    ShardSize,
    #[error("reed-solomon: {0}")]
    ReedSolomon(String),
    #[error("the rebuilt frame's length prefix {0} does not fit its shards")]
    BadLength(usize),
}

/// How many parity shards protect `data` shards at `parity_pct` percent.
pub fn parity_count(data: usize, parity_pct: u32) -> usize {
    if parity_pct == 0 || data == 0 {
        return 0;
    }
    (data * parity_pct as usize).div_ceil(100).max(1)
}

/// A frame past this many shards gets its share of parity only.
const LOSS_MODEL_MAX_SHARDS: usize = 256;
/// At most this many parity shards beyond the share, for small frames.
const EXTRA_PARITY_MAX: usize = 4;
/// The chance of losing a frame the loss model aims under.
const FRAME_LOSS_TARGET: f64 = 1e-3;

/// Parity for `data` shards: the share `parity_pct`, or more for a small
/// frame (one of few shards loses all of them at once too easily) so that
/// at random `loss` it is lost less than once in a thousand, up to
/// `EXTRA_PARITY_MAX` shards beyond the share.
pub fn parity_count_at_loss(data: usize, parity_pct: u32, loss: f64) -> usize {
    let share = parity_count(data, parity_pct);
    if data == 0 || loss <= 0.0 || data + share > LOSS_MODEL_MAX_SHARDS {
        return share;
    }
    let loss = loss.min(0.9);
    let mut parity = 0;
    while parity < share + EXTRA_PARITY_MAX
        && frame_loss_chance(data, parity, loss) > FRAME_LOSS_TARGET
    {
        parity += 1;
    }
    share.max(parity)
}

/// The chance that more than `parity` of `data + parity` shards are lost.
fn frame_loss_chance(data: usize, parity: usize, loss: f64) -> f64 {
    let n = data + parity;
    // P(k lost) for k = 0..=parity, built term by term.
    let mut term = (1.0 - loss).powi(n as i32);
    let mut survive = term;
    for k in 0..parity {
        term *= (n - k) as f64 / (k + 1) as f64 * loss / (1.0 - loss);
        survive += term;
    }
    (1.0 - survive).max(0.0)
}

/// Cuts `frame` into data shards of at most `max_payload` bytes (all the
/// same even size) and adds `parity_count(data, parity_pct)` parity shards.
/// Returns `(data_count, shards)` with data shards first.
pub fn encode(frame: &[u8], max_payload: usize, parity_pct: u32) -> (usize, Vec<Vec<u8>>) {
    encode_at_loss(frame, max_payload, parity_pct, 0.0)
}

/// As `encode`, with parity from `parity_count_at_loss`.
pub fn encode_at_loss(
    frame: &[u8],
    max_payload: usize,
    parity_pct: u32,
    loss: f64,
) -> (usize, Vec<Vec<u8>>) {
    let total = frame.len() + LENGTH_PREFIX;
    let max_payload = (max_payload & !1).max(2);
    let data = total.div_ceil(max_payload).max(1);
    // Even shard size, as small as fits: less padding on the last shard.
    let shard_len = total.div_ceil(data).next_multiple_of(2);
    let mut padded = Vec::with_capacity(shard_len * data);
    padded.extend_from_slice(&(frame.len() as u32).to_be_bytes());
    padded.extend_from_slice(frame);
    padded.resize(shard_len * data, 0);
    let mut shards: Vec<Vec<u8>> = padded.chunks_exact(shard_len).map(<[u8]>::to_vec).collect();
    let parity = parity_count_at_loss(data, parity_pct, loss);
    if parity > 0 {
        // Shard counts beyond the codec's range go out without parity.
        if let Ok(recovery) = reed_solomon_simd::encode(data, parity, &shards) {
            shards.extend(recovery);
        }
    }
    (data, shards)
}

/// Rebuilds a frame from the shards that arrived (`None` for missing ones;
/// data shards first). Needs at least `data_count` of them.
pub fn decode(data_count: usize, shards: &[Option<Vec<u8>>]) -> Result<Vec<u8>, FecError> {
    let have = shards.iter().flatten().count();
    if have < data_count {
        return Err(FecError::NotEnoughShards {
            have,
            need: data_count,
        });
    }
    let shard_len = shards.iter().flatten().next().map_or(0, Vec::len);
    if shards.iter().flatten().any(|s| s.len() != shard_len) {
        return Err(FecError::ShardSize);
    }
    let (data, parity) = shards.split_at(data_count.min(shards.len()));
    let mut joined = Vec::with_capacity(shard_len * data_count);
    if data.iter().all(Option::is_some) {
        for shard in data.iter().flatten() {
            joined.extend_from_slice(shard);
        }
    } else {
        let originals = data
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (i, s)));
        let recovery = parity
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (i, s)));
        let restored = reed_solomon_simd::decode(data_count, parity.len(), originals, recovery)
            .map_err(|e| FecError::ReedSolomon(e.to_string()))?;
        for (i, shard) in data.iter().enumerate() {
            match shard.as_ref().or_else(|| restored.get(&i)) {
                Some(bytes) => joined.extend_from_slice(bytes),
                None => {
                    return Err(FecError::NotEnoughShards {
                        have,
                        need: data_count,
                    });
                }
            }
        }
    }
    if joined.len() < LENGTH_PREFIX {
        return Err(FecError::BadLength(joined.len()));
    }
    let length = u32::from_be_bytes([joined[0], joined[1], joined[2], joined[3]]) as usize;
    if length > joined.len() - LENGTH_PREFIX {
        return Err(FecError::BadLength(length));
    }
    joined.drain(..LENGTH_PREFIX);
    joined.truncate(length);
    Ok(joined)
}

/// Chooses the parity share from reported loss: about four times the loss
/// seen plus a margin (losses cluster within a frame), within
/// `[floor_pct, max_pct]`.
#[derive(Debug, Clone, Copy)]
pub struct ParityController {
    pub floor_pct: u32,
    pub max_pct: u32,
    current_pct: u32,
    loss: f64,
}

impl ParityController {
    pub fn new(floor_pct: u32, max_pct: u32) -> Self {
        ParityController {
            floor_pct,
            max_pct,
            current_pct: floor_pct,
            loss: 0.0,
        }
    }

    pub fn parity_pct(&self) -> u32 {
        self.current_pct
    }

    /// The loss the share was last set from (0.0..=1.0), decaying as the share does.
    pub fn loss(&self) -> f64 {
        self.loss
    }

    /// Feeds the shard loss fraction (0.0..=1.0) of the last report.
    pub fn handle_loss(&mut self, shard_loss: f64) {
        let shard_loss = shard_loss.clamp(0.0, 1.0);
        self.loss = if shard_loss >= self.loss {
            shard_loss
        } else {
            self.loss - (self.loss - shard_loss) / 4.0
        };
        let wanted = (shard_loss.clamp(0.0, 1.0) * 400.0).ceil() as u32 + 5;
        // Rise at once, fall gently: loss comes in bursts.
        self.current_pct = if wanted >= self.current_pct {
            wanted
        } else {
            self.current_pct - (self.current_pct - wanted).div_ceil(4)
        }
        .clamp(self.floor_pct, self.max_pct);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn without_loss_the_frame_comes_back() {
        let frame: Vec<u8> = (0..5000u32).map(|i| (i * 31) as u8).collect();
        let (data, shards) = encode(&frame, 1200, 20);
        assert_eq!(data, 5);
        assert_eq!(shards.len(), 6);
        assert!(shards.iter().all(|s| s.len() <= 1200 && s.len() % 2 == 0));
        let received: Vec<Option<Vec<u8>>> = shards.into_iter().map(Some).collect();
        assert_eq!(decode(data, &received).unwrap(), frame);
    }

    #[test]
    fn too_few_shards_is_an_error() {
        let (data, shards) = encode(&[1, 2, 3], 1200, 0);
        assert_eq!((data, shards.len()), (1, 1));
        assert_eq!(
            decode(1, &[None]),
            Err(FecError::NotEnoughShards { have: 0, need: 1 })
        );
    }

    #[test]
    fn parity_follows_loss_with_a_floor() {
        let mut control = ParityController::new(10, 60);
        assert_eq!(control.parity_pct(), 10);
        control.handle_loss(0.05);
        assert_eq!(control.parity_pct(), 25);
        control.handle_loss(0.10);
        assert_eq!(control.parity_pct(), 45);
        for _ in 0..20 {
            control.handle_loss(0.0);
        }
        assert_eq!(control.parity_pct(), 10);
        control.handle_loss(1.0);
        assert_eq!(control.parity_pct(), 60);
    }

    #[test]
    fn small_frames_get_parity_enough_for_the_loss() {
        assert_eq!(parity_count_at_loss(1, 60, 0.0), 1);
        // One shard at 20 % loss: four copies' worth keeps it.
        assert_eq!(parity_count_at_loss(1, 60, 0.20), 4);
        assert!(frame_loss_chance(1, 4, 0.20) < 1e-3);
        // Large frames: the share.
        assert_eq!(parity_count_at_loss(300, 20, 0.20), 60);
        assert_eq!(parity_count_at_loss(20, 10, 0.0), 2);
    }

    proptest! {
        /// Any `data` of the shards rebuild the frame exactly.
        #[test]
        fn any_sufficient_subset_recovers(len in 0usize..20_000, pct in 1u32..60, seed: u64) {
            let frame: Vec<u8> = (0..len).map(|i| (i as u64 ^ seed) as u8).collect();
            let (data, shards) = encode(&frame, 1200, pct);
            let parity = shards.len() - data;
            let mut received: Vec<Option<Vec<u8>>> = shards.into_iter().map(Some).collect();
            // Drop `parity` shards, chosen by the seed.
            let mut state = seed | 1;
            for _ in 0..parity {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17;
                let present: Vec<usize> = (0..received.len()).filter(|&i| received[i].is_some()).collect();
                received[present[(state % present.len() as u64) as usize]] = None;
            }
            prop_assert_eq!(decode(data, &received).unwrap(), frame);
        }

        #[test]
        fn garbage_shards_are_an_error_never_a_panic(
            shards in proptest::collection::vec(proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)), 0..6),
            data in 0usize..6,
        ) {
            let _ = decode(data, &shards);
        }
    }
}
