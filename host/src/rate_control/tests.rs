//! The rate control against a model encoder whose pictures cost
//! `complexity / qscale` bits, with the complexity changing as a stream's
//! does; `platform::x264_video`'s tests drive it with x264 itself.

use super::*;

/// A source of pictures of one complexity per kind (keyframes `ratio` times
/// a predicted picture's), encoded by a model that is `error` off the
/// rate control's own relation (so the control must correct, not just
/// invert its own formula).
struct Model {
    predicted: f64,
    ratio: f64,
    error: f64,
}

impl Model {
    fn bits(&self, qp: u8, keyframe: bool) -> u64 {
        let complexity = self.predicted * if keyframe { self.ratio } else { 1.0 };
        (complexity * self.error / qscale(f64::from(qp))) as u64
    }
}

/// Runs `frames` pictures (the first a keyframe); the bits of each.
fn run(control: &mut RateControl, model: &Model, frames: usize, first_key: bool) -> Vec<u64> {
    (0..frames)
        .map(|index| {
            let keyframe = first_key && index == 0;
            let qp = control.plan(keyframe);
            let bits = model.bits(qp, keyframe);
            control.record(qp, bits, keyframe);
            bits
        })
        .collect()
}

/// 1280×720.
const PIXELS: u32 = 921_600;

fn mean(bits: &[u64]) -> f64 {
    bits.iter().sum::<u64>() as f64 / bits.len() as f64
}

/// A busy picture: at the floor it would cost ~8× a 720p60 budget of
/// 10 Mbit/s.
fn busy() -> Model {
    Model {
        predicted: 8.0 * 166_667.0 * qscale(f64::from(MIN_QP)),
        ratio: 5.0,
        error: 1.3,
    }
}

#[test]
fn the_average_settles_on_the_bitrate() {
    let mut control = RateControl::new(10_000, 60, PIXELS);
    let bits = run(&mut control, &busy(), 120, true);
    let settled = mean(&bits[60..]);
    let budget = control.budget_bits();
    assert!(
        (settled / budget - 1.0).abs() < 0.12,
        "settled at {settled:.0} bits a picture for a budget of {budget:.0}"
    );
}

#[test]
fn the_first_keyframe_is_a_guess_and_later_ones_keep_to_two_pictures() {
    let mut control = RateControl::new(10_000, 60, PIXELS);
    let model = busy();
    run(&mut control, &model, 60, true);
    let budget = control.budget_bits();
    let keyframe = run(&mut control, &model, 1, true)[0] as f64;
    assert!(
        keyframe <= MAX_PICTURE_BUDGETS * budget * 1.15,
        "a keyframe of {keyframe:.0} bits for a budget of {budget:.0} a picture"
    );
    // Its debt is paid back within a few pictures; then the average holds.
    let after = run(&mut control, &model, 60, false);
    assert!(mean(&after[10..]) <= budget * 1.1, "{after:?}");
}

#[test]
fn a_lower_bitrate_is_followed_within_a_few_pictures() {
    let mut control = RateControl::new(10_000, 60, PIXELS);
    let model = busy();
    run(&mut control, &model, 60, true);
    control.set_bitrate(4_000, 60);
    let bits = run(&mut control, &model, 30, false);
    let budget = control.budget_bits();
    assert!(
        bits[3..].iter().all(|&b| b as f64 <= budget * 1.6),
        "budget {budget:.0}: {bits:?}"
    );
    assert!((mean(&bits[10..]) / budget - 1.0).abs() < 0.12, "{bits:?}");
}

#[test]
fn a_busier_scene_raises_the_quantizer_and_its_debt_is_paid_back() {
    let mut control = RateControl::new(10_000, 60, PIXELS);
    let mut model = busy();
    run(&mut control, &model, 60, true);
    model.predicted *= 4.0;
    let bits = run(&mut control, &model, 60, false);
    let budget = control.budget_bits();
    // One picture is over (x264 cannot take it back); the next ones pay.
    assert!(bits[0] as f64 > 2.0 * budget, "{bits:?}");
    let total: u64 = bits.iter().sum();
    assert!(
        (total as f64) < budget * 60.0 * 1.1,
        "{total} bits over 60 pictures for {:.0}",
        budget * 60.0
    );
}

#[test]
fn an_easy_picture_stays_at_the_floor_and_saves_nothing_for_later() {
    let mut control = RateControl::new(10_000, 60, PIXELS);
    let easy = Model {
        predicted: 0.2 * 166_667.0 * qscale(f64::from(MIN_QP)),
        ratio: 4.0,
        error: 1.0,
    };
    let bits = run(&mut control, &easy, 60, true);
    assert_eq!(control.plan(false), MIN_QP);
    assert!(mean(&bits[30..]) < 0.3 * control.budget_bits());
    // Then a busy scene: no credit from the easy one buys a burst.
    let busy = run(&mut control, &busy(), 30, false);
    assert!(mean(&busy[5..]) <= control.budget_bits() * 1.1, "{busy:?}");
}

#[test]
fn quality_rises_by_small_steps() {
    let mut control = RateControl::new(10_000, 60, PIXELS);
    let mut model = busy();
    run(&mut control, &model, 60, true);
    let before = control.plan(false);
    model.predicted /= 64.0;
    let mut last = before;
    for _ in 0..10 {
        let qp = control.plan(false);
        assert!(qp + MAX_QP_FALL >= last, "from {last} to {qp}");
        control.record(qp, model.bits(qp, false), false);
        last = qp;
    }
    assert!(last < before);
}

#[test]
fn after_a_sudden_change_the_next_ones_would_fit_two_pictures() {
    let mut control = RateControl::new(10_000, 60, PIXELS);
    // Calm pictures at the floor, and every 90th one 40 times busier (a
    // scene cut, or the bench's texture wrapping its tint).
    let calm = 0.1 * 166_667.0 * qscale(f64::from(MIN_QP));
    let mut model = Model {
        predicted: calm,
        ratio: 4.0,
        error: 1.0,
    };
    run(&mut control, &model, 60, true);
    let budget = control.budget_bits();
    let mut cuts = Vec::new();
    for index in 0..450 {
        let cut = index % 90 == 0;
        model.predicted = if cut { 40.0 * calm } else { calm };
        let qp = control.plan(false);
        let bits = model.bits(qp, false);
        control.record(qp, bits, false);
        if cut {
            cuts.push(bits as f64 / budget);
        }
    }
    // The first one is a surprise; after it the calm ones are planned so
    // that a cut like it fits two pictures' budget.
    assert!(cuts[0] > 3.0, "{cuts:?}");
    assert!(
        cuts[1..]
            .iter()
            .all(|&share| share <= MAX_PICTURE_BUDGETS * 1.05),
        "{cuts:?}"
    );
}
