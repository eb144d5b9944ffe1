//! A seeded network link emulator: random and burst (Gilbert-Elliott) loss,
//! delay, jitter, reordering, duplication, a rate limit and blackouts, in
//! virtual time (`now_us` comes in). The impairment relay uses it on real packets.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// What the link does to packets. Percentages are 0.0..=100.0. Also the
/// impairing router's settings (JSON; keys left out are 0 or off).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Impairments {
    pub loss_pct: f64,
    /// Share of time spent in loss bursts (everything sent in one is lost).
    pub burst_loss_pct: f64,
    /// Mean length of a loss burst.
    pub burst_ms: f64,
    pub delay_ms: f64,
    /// Extra delay, uniform in `0..jitter_ms`.
    pub jitter_ms: f64,
    /// Packets held back behind later ones.
    pub reorder_pct: f64,
    /// Jitter without reordering: no packet overtakes an earlier one.
    pub keep_order: bool,
    pub duplicate_pct: f64,
    /// Bottleneck rate; packets queue behind it (and drop past 50 ms of queue: a drop-tail router).
    pub rate_kbps: Option<u32>,
    /// Drop everything.
    pub block: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub sent: u64,
    pub forwarded: u64,
    pub dropped: u64,
    pub duplicated: u64,
    pub reordered: u64,
    pub delayed: u64,
}

/// Longest queue behind the rate limit before tail drop.
const MAX_QUEUE_US: u64 = 50_000;

/// One direction of an emulated link.
#[derive(Debug)]
pub struct Link {
    pub impairments: Impairments,
    rng: StdRng,
    in_burst: bool,
    last_send_us: Option<u64>,
    /// When the bottleneck is free again.
    busy_until_us: u64,
    queue: BinaryHeap<Reverse<(u64, u64, Vec<u8>)>>,
    next_id: u64,
    /// The latest arrival scheduled (for `keep_order`).
    last_arrival_us: u64,
    stats: LinkStats,
}

impl Link {
    pub fn new(impairments: Impairments, seed: u64) -> Self {
        Link {
            impairments,
            rng: StdRng::seed_from_u64(seed),
            in_burst: false,
            last_send_us: None,
            busy_until_us: 0,
            queue: BinaryHeap::new(),
            next_id: 0,
            last_arrival_us: 0,
            stats: LinkStats::default(),
        }
    }

    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    fn chance(&mut self, pct: f64) -> bool {
        pct > 0.0 && self.rng.random::<f64>() * 100.0 < pct
    }

    /// Gilbert-Elliott in time: the state flips with rates that give the
    /// configured share of burst time and mean burst length.
    fn update_burst(&mut self, now_us: u64) {
        let imp = &self.impairments;
        if imp.burst_loss_pct <= 0.0 || imp.burst_ms <= 0.0 {
            self.in_burst = false;
            return;
        }
        let dt_ms = self
            .last_send_us
            .map_or(0.0, |last| now_us.saturating_sub(last) as f64 / 1000.0);
        let share = (imp.burst_loss_pct / 100.0).clamp(0.0, 0.999);
        let leave_per_ms = 1.0 / imp.burst_ms;
        let enter_per_ms = leave_per_ms * share / (1.0 - share);
        let rate = if self.in_burst {
            leave_per_ms
        } else {
            enter_per_ms
        };
        let flip = 1.0 - (-rate * dt_ms).exp();
        if self.rng.random::<f64>() < flip {
            self.in_burst = !self.in_burst;
        }
    }

    /// Offers a packet to the link at `now_us`.
    pub fn send(&mut self, now_us: u64, packet: Vec<u8>) {
        self.stats.sent += 1;
        self.update_burst(now_us);
        self.last_send_us = Some(now_us);
        let loss = self.impairments.loss_pct;
        if self.impairments.block || self.in_burst || self.chance(loss) {
            self.stats.dropped += 1;
            return;
        }
        // The bottleneck serialises packets at the configured rate.
        let mut depart_us = now_us;
        if let Some(kbps) = self.impairments.rate_kbps.filter(|&k| k > 0) {
            let start = self.busy_until_us.max(now_us);
            if start - now_us > MAX_QUEUE_US {
                self.stats.dropped += 1;
                return;
            }
            let serialise_us = packet.len() as u64 * 8 * 1000 / u64::from(kbps);
            self.busy_until_us = start + serialise_us;
            depart_us = self.busy_until_us;
        }
        let copies = if self.chance(self.impairments.duplicate_pct) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut delay_us = (self.impairments.delay_ms * 1000.0) as u64;
            if self.impairments.jitter_ms > 0.0 {
                delay_us += (self.rng.random::<f64>() * self.impairments.jitter_ms * 1000.0) as u64;
            }
            if self.chance(self.impairments.reorder_pct) {
                // Held back long enough for a few later packets to overtake it.
                self.stats.reordered += 1;
                delay_us += 2_000 + (self.rng.random::<f64>() * 8_000.0) as u64;
            }
            if delay_us > 0 || depart_us > now_us {
                self.stats.delayed += 1;
            }
            let mut arrival_us = depart_us + delay_us;
            if self.impairments.keep_order {
                arrival_us = arrival_us.max(self.last_arrival_us);
            }
            self.last_arrival_us = self.last_arrival_us.max(arrival_us);
            self.queue
                .push(Reverse((arrival_us, self.next_id, packet.clone())));
            self.next_id += 1;
        }
    }

    /// The next packet due by `now_us`.
    pub fn poll_receive(&mut self, now_us: u64) -> Option<Vec<u8>> {
        let Reverse((due, _, _)) = self.queue.peek()?;
        if *due > now_us {
            return None;
        }
        let Reverse((_, _, packet)) = self.queue.pop()?;
        self.stats.forwarded += 1;
        Some(packet)
    }

    /// When the next packet is due.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.queue.peek().map(|Reverse((due, _, _))| *due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(impairments: Impairments, seed: u64, packets: u64, gap_us: u64) -> (Link, Vec<u64>) {
        let mut link = Link::new(impairments, seed);
        let mut arrived = Vec::new();
        for i in 0..packets {
            link.send(i * gap_us, i.to_be_bytes().to_vec());
        }
        while let Some(at) = link.poll_timeout() {
            while let Some(p) = link.poll_receive(at) {
                arrived.push(u64::from_be_bytes(p.try_into().unwrap()));
            }
        }
        (link, arrived)
    }

    #[test]
    fn same_seed_same_fate() {
        let imp = Impairments {
            loss_pct: 10.0,
            jitter_ms: 5.0,
            reorder_pct: 5.0,
            duplicate_pct: 5.0,
            ..Default::default()
        };
        assert_eq!(run(imp.clone(), 7, 2000, 1000).1, run(imp, 7, 2000, 1000).1);
    }

    #[test]
    fn random_loss_is_near_its_rate() {
        let imp = Impairments {
            loss_pct: 5.0,
            ..Default::default()
        };
        let (link, arrived) = run(imp, 1, 20_000, 100);
        let lost = 20_000 - arrived.len();
        assert!((800..1200).contains(&lost), "lost {lost}");
        assert_eq!(link.stats().dropped as usize, lost);
    }

    #[test]
    fn bursts_take_their_share_of_time() {
        let imp = Impairments {
            burst_loss_pct: 10.0,
            burst_ms: 50.0,
            ..Default::default()
        };
        let (_, arrived) = run(imp, 3, 100_000, 1000);
        let lost_share = 1.0 - arrived.len() as f64 / 100_000.0;
        assert!(
            (0.07..0.13).contains(&lost_share),
            "lost share {lost_share}"
        );
    }

    #[test]
    fn rate_limit_paces_packets() {
        // 1000-byte packets at 800 kbit/s: one every 10 ms.
        let imp = Impairments {
            rate_kbps: Some(800),
            ..Default::default()
        };
        let mut link = Link::new(imp, 1);
        for _ in 0..5 {
            link.send(0, vec![0; 1000]);
        }
        let mut times = Vec::new();
        while let Some(at) = link.poll_timeout() {
            link.poll_receive(at);
            times.push(at);
        }
        assert_eq!(times, vec![10_000, 20_000, 30_000, 40_000, 50_000]);
    }

    #[test]
    fn block_drops_everything() {
        let imp = Impairments {
            block: true,
            ..Default::default()
        };
        assert!(run(imp, 1, 100, 10).1.is_empty());
    }
}
