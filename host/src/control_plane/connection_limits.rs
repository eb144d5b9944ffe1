//! Caps on open TCP connections, per source address and in total, so one
//! client (or a few) cannot hold every socket of the host. A slot is taken
//! at accept and given back when its guard drops, however the connection
//! ends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Defaults for `--max-connections` and `--max-connections-per-address`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
pub const DEFAULT_MAX_PER_ADDRESS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub total: usize,
    pub per_address: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            total: DEFAULT_MAX_CONNECTIONS,
            per_address: DEFAULT_MAX_PER_ADDRESS,
        }
    }
}

/// Why a connection was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Total,
    PerAddress,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
    refused_total: u64,
    refused_per_address: u64,
}

/// Shared by the accept loop and every connection's guard.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    limits: Limits,
    counts: Arc<Mutex<Counts>>,
}

/// One open connection's slot; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot {
    address: IpAddr,
    counts: Arc<Mutex<Counts>>,
}

impl ConnectionLimits {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            counts: Arc::default(),
        }
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a slot for a connection from `address`, or says which cap it
    /// hit (counted).
    pub fn admit(&self, address: IpAddr) -> Result<Slot, Refused> {
        // IPv4 peers of a dual-stack socket count as their IPv4 address.
        let address = address.to_canonical();
        let mut counts = self.counts();
        if counts.total >= self.limits.total {
            counts.refused_total += 1;
            return Err(Refused::Total);
        }
        let mine = counts.by_address.get(&address).copied().unwrap_or(0);
        if mine >= self.limits.per_address {
            counts.refused_per_address += 1;
            return Err(Refused::PerAddress);
        }
        counts.total += 1;
        counts.by_address.insert(address, mine + 1);
        Ok(Slot {
            address,
            counts: self.counts.clone(),
        })
    }

    /// Open connections now.
    pub fn open(&self) -> usize {
        self.counts().total
    }

    /// Connections refused so far: (total cap, per-address cap).
    pub fn refused(&self) -> (u64, u64) {
        let counts = self.counts();
        (counts.refused_total, counts.refused_per_address)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.by_address.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                counts.by_address.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn each_address_and_the_total_are_capped_and_slots_come_back() {
        let limits = ConnectionLimits::new(Limits {
            total: 3,
            per_address: 2,
        });
        let a1 = limits.admit(ip(2)).expect("first");
        let _a2 = limits.admit(ip(2)).expect("second");
        assert_eq!(limits.admit(ip(2)).unwrap_err(), Refused::PerAddress);
        let _b1 = limits.admit(ip(3)).expect("another address");
        assert_eq!(limits.admit(ip(4)).unwrap_err(), Refused::Total);
        drop(a1);
        assert_eq!(limits.open(), 2);
        let _c1 = limits.admit(ip(4)).expect("a slot came back");
        assert_eq!(limits.refused(), (1, 1));
    }

    #[test]
    fn ipv4_mapped_peers_count_as_their_ipv4_address() {
        let limits = ConnectionLimits::new(Limits {
            total: 10,
            per_address: 1,
        });
        let _v4 = limits.admit(ip(2)).expect("v4");
        let mapped = IpAddr::V6(std::net::Ipv4Addr::new(127, 0, 0, 2).to_ipv6_mapped());
        assert_eq!(limits.admit(mapped).unwrap_err(), Refused::PerAddress);
    }
}
