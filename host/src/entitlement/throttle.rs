//! Failed sign-in throttling, per user and per source address: after a few
//! failures within a window, each further attempt waits longer (doubling, up
//! to a cap). Sans-IO: the caller passes the time.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

/// Failures allowed freely within the window.
pub const FREE_FAILURES: usize = 5;
pub const WINDOW_S: i64 = 15 * 60;
const FIRST_DELAY_S: i64 = 30;
const MAX_DELAY_S: i64 = 15 * 60;
/// Bound on remembered subjects, so a spray of names cannot grow it forever.
const MAX_SUBJECTS: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Subject {
    User(String),
    Address(IpAddr),
}

#[derive(Debug, Default)]
pub struct Throttle {
    failures: HashMap<Subject, VecDeque<i64>>,
}

impl Throttle {
    /// `Err(retry_after_s)` while the user or the address must wait.
    pub fn check(&mut self, user: &str, address: Option<IpAddr>, now: i64) -> Result<(), i64> {
        self.check_subjects(subjects(Some(user), address), now)
    }

    /// For attempts that name no user (a refresh token): the address alone.
    pub fn check_address(&mut self, address: Option<IpAddr>, now: i64) -> Result<(), i64> {
        self.check_subjects(subjects(None, address), now)
    }

    pub fn record_failure(&mut self, user: &str, address: Option<IpAddr>, now: i64) {
        self.record_subjects(subjects(Some(user), address), now);
    }

    pub fn record_address_failure(&mut self, address: Option<IpAddr>, now: i64) {
        self.record_subjects(subjects(None, address), now);
    }

    fn check_subjects(&self, subjects: Vec<Subject>, now: i64) -> Result<(), i64> {
        let wait = subjects
            .iter()
            .map(|s| self.wait_s(s, now))
            .max()
            .unwrap_or(0);
        if wait > 0 { Err(wait) } else { Ok(()) }
    }

    fn record_subjects(&mut self, subjects: Vec<Subject>, now: i64) {
        if self.failures.len() >= MAX_SUBJECTS {
            self.failures
                .retain(|_, times| times.back().is_some_and(|t| now - t < WINDOW_S));
        }
        for subject in subjects {
            let times = self.failures.entry(subject).or_default();
            times.push_back(now);
            while times.front().is_some_and(|t| now - t >= WINDOW_S) {
                times.pop_front();
            }
        }
    }

    /// A successful sign-in clears the user's record (not the address's:
    /// one good account must not unlock guessing at others).
    pub fn record_success(&mut self, user: &str) {
        self.failures.remove(&Subject::User(user.to_string()));
    }

    fn wait_s(&self, subject: &Subject, now: i64) -> i64 {
        let Some(times) = self.failures.get(subject) else {
            return 0;
        };
        let recent = times.iter().filter(|t| now - **t < WINDOW_S).count();
        if recent < FREE_FAILURES {
            return 0;
        }
        let doublings = (recent - FREE_FAILURES).min(16) as u32;
        let delay = (FIRST_DELAY_S << doublings).min(MAX_DELAY_S);
        let last = times.back().copied().unwrap_or(now);
        (last + delay - now).max(0)
    }
}

fn subjects(user: Option<&str>, address: Option<IpAddr>) -> Vec<Subject> {
    let mut subjects: Vec<Subject> = user
        .map(|u| Subject::User(u.to_string()))
        .into_iter()
        .collect();
    subjects.extend(address.map(Subject::Address));
    subjects
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)));
    const OTHER_IP: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)));

    #[test]
    fn five_failures_are_free_then_waits_double() {
        let mut t = Throttle::default();
        for i in 0..5 {
            assert!(t.check("alice", IP, i).is_ok());
            t.record_failure("alice", IP, i);
        }
        assert_eq!(t.check("alice", IP, 4), Err(30));
        assert!(t.check("alice", IP, 34).is_ok());
        t.record_failure("alice", IP, 34);
        assert_eq!(t.check("alice", IP, 34), Err(60));
    }

    #[test]
    fn the_user_is_throttled_from_any_address_and_the_address_for_any_user() {
        let mut t = Throttle::default();
        for i in 0..5 {
            t.record_failure("alice", IP, i);
        }
        assert!(t.check("alice", OTHER_IP, 5).is_err());
        assert!(t.check("bob", IP, 5).is_err());
        assert!(t.check("bob", OTHER_IP, 5).is_ok());
    }

    #[test]
    fn success_clears_the_user_and_the_window_forgets() {
        let mut t = Throttle::default();
        for i in 0..5 {
            t.record_failure("alice", None, i);
        }
        t.record_success("alice");
        assert!(t.check("alice", None, 5).is_ok());
        for i in 0..5 {
            t.record_failure("bob", None, i);
        }
        assert!(t.check("bob", None, WINDOW_S + 5).is_ok());
    }

    #[test]
    fn address_only_failures_throttle_the_address_not_the_users() {
        let mut t = Throttle::default();
        for i in 0..5 {
            assert!(t.check_address(IP, i).is_ok());
            t.record_address_failure(IP, i);
        }
        assert_eq!(t.check_address(IP, 5), Err(29));
        assert!(t.check("alice", IP, 5).is_err());
        assert!(t.check("alice", OTHER_IP, 5).is_ok());
        assert!(t.check_address(None, 5).is_ok());
    }
}
