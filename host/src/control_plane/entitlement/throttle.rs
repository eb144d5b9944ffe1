//! Failed sign-in throttling, per user and per source address: after a few
//! failures within a window, each further attempt waits longer (doubling, up
//! to a cap). An attempt is reserved before the password is checked,
//! atomically with the check: failures plus attempts in flight never pass the
//! free allowance, so concurrent attempts cannot all slip in under the limit
//! (a reservation that would is told to wait for one in flight to resolve,
//! so concurrent good sign-ins from one address still all get through).
//! Keys are bounded (long user names are hashed) and so is their number.
//! Sans-IO: the caller passes the time.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

/// Failures allowed freely within the window.
pub const FREE_FAILURES: usize = 5;
pub const WINDOW_S: i64 = 15 * 60;
const FIRST_DELAY_S: i64 = 30;
const MAX_DELAY_S: i64 = 15 * 60;
/// Bound on remembered subjects, so a spray of names cannot grow it forever:
/// once full of subjects inside the window, new user names are not
/// tracked (their addresses still are, which is what throttles a spray).
const MAX_SUBJECTS: usize = 20_000;
/// User names are kept at most this long (longer ones cut and hashed).
const MAX_USER_KEY_BYTES: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Subject {
    User(String),
    Address(IpAddr),
}

impl Subject {
    /// Its key in a fleet's shared store.
    fn key(&self) -> String {
        match self {
            Subject::User(user) => format!("user:{user}"),
            Subject::Address(address) => format!("address:{address}"),
        }
    }
}

#[derive(Debug, Default)]
pub struct Throttle {
    failures: HashMap<Subject, VecDeque<i64>>,
    /// Attempts reserved and not yet resolved, per subject.
    in_flight: HashMap<Subject, usize>,
}

/// An attempt counted in advance; resolve it with [`Throttle::failed`],
/// [`Throttle::succeeded`] or [`Throttle::release`].
#[derive(Debug)]
#[must_use = "a reservation stays in flight until it is resolved"]
pub struct Reservation {
    subjects: Vec<Subject>,
}

/// Why an attempt may not go ahead now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Too many failures: wait this long.
    Throttled { retry_after_s: i64 },
    /// The allowance is taken by attempts in flight: try again once one of
    /// them resolves.
    Saturated,
}

impl Throttle {
    /// Checks and, if the attempt may go ahead, counts it in flight.
    pub fn reserve(
        &mut self,
        user: &str,
        address: Option<IpAddr>,
        now: i64,
    ) -> Result<Reservation, Refusal> {
        let subjects = subjects(Some(user), address);
        if let Err(retry_after_s) = self.check_subjects(subjects.clone(), now) {
            return Err(Refusal::Throttled { retry_after_s });
        }
        // In flight at once: what is left of the free allowance, and one at
        // a time once it is used up (each then waits out its delay).
        let saturated = subjects.iter().any(|subject| {
            let failures = self.recent_failures(subject, now);
            let in_flight = self.in_flight.get(subject).copied().unwrap_or(0);
            in_flight >= FREE_FAILURES.saturating_sub(failures).max(1)
        });
        if saturated {
            return Err(Refusal::Saturated);
        }
        for subject in &subjects {
            *self.in_flight.entry(subject.clone()).or_default() += 1;
        }
        Ok(Reservation { subjects })
    }

    /// The attempt failed: counted as a failure of each subject.
    pub fn failed(&mut self, reservation: Reservation, now: i64) {
        let subjects = reservation.subjects.clone();
        self.release(reservation);
        self.record_subjects(subjects, now);
    }

    /// The attempt succeeded: the user's record is cleared (not the
    /// address's: one good account must not unlock guessing at others).
    pub fn succeeded(&mut self, reservation: Reservation) {
        for subject in &reservation.subjects {
            if let Subject::User(_) = subject {
                self.failures.remove(subject);
            }
        }
        self.release(reservation);
    }

    /// The attempt never ran, or was neither right nor wrong (a second
    /// factor still to come): nothing is counted.
    pub fn release(&mut self, reservation: Reservation) {
        for subject in reservation.subjects {
            if let Some(n) = self.in_flight.get_mut(&subject) {
                *n -= 1;
                if *n == 0 {
                    self.in_flight.remove(&subject);
                }
            }
        }
    }

    fn recent_failures(&self, subject: &Subject, now: i64) -> usize {
        self.failures.get(subject).map_or(0, |times| {
            times.iter().filter(|t| now - **t < WINDOW_S).count()
        })
    }

    /// The keys a fleet's shared store knows these subjects by.
    pub fn shared_keys(user: Option<&str>, address: Option<IpAddr>) -> Vec<String> {
        subjects(user, address).iter().map(Subject::key).collect()
    }

    /// Takes the fleet's failures of these subjects (from the shared store,
    /// this host's own included) in place of what this host saw alone.
    pub fn adopt_shared(
        &mut self,
        user: Option<&str>,
        address: Option<IpAddr>,
        failures: &[(String, i64)],
    ) {
        for subject in subjects(user, address) {
            let key = subject.key();
            let mut times: Vec<i64> = failures
                .iter()
                .filter(|(k, _)| *k == key)
                .map(|(_, at)| *at)
                .collect();
            times.sort_unstable();
            if times.is_empty() {
                self.failures.remove(&subject);
            } else {
                self.failures.insert(subject, times.into());
            }
        }
    }

    /// For attempts that name no user (a refresh token): the address alone.
    pub fn check_address(&mut self, address: Option<IpAddr>, now: i64) -> Result<(), i64> {
        self.check_subjects(subjects(None, address), now)
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
            let full = self.failures.len() >= MAX_SUBJECTS;
            if full && matches!(subject, Subject::User(_)) && !self.failures.contains_key(&subject)
            {
                continue;
            }
            let times = self.failures.entry(subject).or_default();
            times.push_back(now);
            while times.front().is_some_and(|t| now - t >= WINDOW_S) {
                times.pop_front();
            }
        }
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
        .map(|u| Subject::User(user_key(u)))
        .into_iter()
        .collect();
    subjects.extend(address.map(Subject::Address));
    subjects
}

/// The bounded key of a user name.
fn user_key(user: &str) -> String {
    crate::control_plane::store::bounded_text(user, MAX_USER_KEY_BYTES).into_owned()
}

/// Subjects tracked now.
#[cfg(test)]
impl Throttle {
    pub fn tracked(&self) -> usize {
        self.failures.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)));
    const OTHER_IP: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)));

    /// Whether an attempt may go ahead now (`Err(retry_after_s)` if not);
    /// nothing is counted.
    fn may_try(t: &mut Throttle, user: &str, ip: Option<IpAddr>, now: i64) -> Result<(), i64> {
        match t.reserve(user, ip, now) {
            Ok(attempt) => {
                t.release(attempt);
                Ok(())
            }
            Err(Refusal::Throttled { retry_after_s }) => Err(retry_after_s),
            Err(Refusal::Saturated) => Err(0),
        }
    }

    /// An attempt that ran and failed.
    fn fail(t: &mut Throttle, user: &str, ip: Option<IpAddr>, now: i64) {
        let attempt = t.reserve(user, ip, now).expect("may try");
        t.failed(attempt, now);
    }

    fn succeed(t: &mut Throttle, user: &str, ip: Option<IpAddr>, now: i64) {
        let attempt = t.reserve(user, ip, now).expect("may try");
        t.succeeded(attempt);
    }

    #[test]
    fn five_failures_are_free_then_waits_double() {
        let mut t = Throttle::default();
        for i in 0..5 {
            assert!(may_try(&mut t, "alice", IP, i).is_ok());
            fail(&mut t, "alice", IP, i);
        }
        assert_eq!(may_try(&mut t, "alice", IP, 4), Err(30));
        // After the wait, one attempt at a time (not locked out for the
        // rest of the window), and each further failure doubles the wait.
        assert!(may_try(&mut t, "alice", IP, 34).is_ok());
        fail(&mut t, "alice", IP, 34);
        assert_eq!(may_try(&mut t, "alice", IP, 34), Err(60));
        let one = t.reserve("alice", IP, 94).expect("after the wait");
        assert_eq!(t.reserve("alice", IP, 94).unwrap_err(), Refusal::Saturated);
        t.release(one);
    }

    #[test]
    fn the_user_is_throttled_from_any_address_and_the_address_for_any_user() {
        let mut t = Throttle::default();
        for i in 0..5 {
            fail(&mut t, "alice", IP, i);
        }
        assert!(may_try(&mut t, "alice", OTHER_IP, 5).is_err());
        assert!(may_try(&mut t, "bob", IP, 5).is_err());
        assert!(may_try(&mut t, "bob", OTHER_IP, 5).is_ok());
    }

    #[test]
    fn success_clears_the_user_and_the_window_forgets() {
        let mut t = Throttle::default();
        for i in 0..4 {
            fail(&mut t, "alice", None, i);
        }
        succeed(&mut t, "alice", None, 4);
        for i in 5..9 {
            fail(&mut t, "alice", None, i);
        }
        assert!(may_try(&mut t, "alice", None, 9).is_ok(), "cleared at 4");
        for i in 0..5 {
            fail(&mut t, "bob", None, i);
        }
        assert!(may_try(&mut t, "bob", None, WINDOW_S + 5).is_ok());
    }

    #[test]
    fn address_only_failures_throttle_the_address_not_the_users() {
        let mut t = Throttle::default();
        for i in 0..5 {
            assert!(t.check_address(IP, i).is_ok());
            t.record_address_failure(IP, i);
        }
        assert_eq!(t.check_address(IP, 5), Err(29));
        assert!(may_try(&mut t, "alice", IP, 5).is_err());
        assert!(may_try(&mut t, "alice", OTHER_IP, 5).is_ok());
        assert!(t.check_address(None, 5).is_ok());
    }

    #[test]
    fn attempts_in_flight_count_against_the_allowance() {
        let mut t = Throttle::default();
        // Five concurrent attempts reserve; the sixth must wait for one.
        let reserved: Vec<Reservation> = (0..5)
            .map(|_| t.reserve("alice", IP, 0).expect("free"))
            .collect();
        assert_eq!(t.reserve("alice", IP, 0).unwrap_err(), Refusal::Saturated);
        assert_eq!(t.reserve("bob", IP, 0).unwrap_err(), Refusal::Saturated);
        // All five were wrong: now the address is throttled outright.
        for r in reserved {
            t.failed(r, 0);
        }
        assert!(matches!(
            t.reserve("bob", IP, 0),
            Err(Refusal::Throttled { .. })
        ));
    }

    #[test]
    fn concurrent_good_sign_ins_all_get_through_in_turn() {
        let mut t = Throttle::default();
        for _ in 0..20 {
            let batch: Vec<Reservation> = (0..5)
                .map(|_| t.reserve("alice", IP, 0).expect("free"))
                .collect();
            for r in batch {
                t.succeeded(r);
            }
        }
        let released = t.reserve("carol", IP, 0).expect("free");
        t.release(released);
        assert_eq!(t.tracked(), 0);
    }

    #[test]
    fn long_user_names_are_bounded_keys() {
        let mut t = Throttle::default();
        let long = "x".repeat(2 << 20);
        let attempt = t.reserve(&long, None, 0).expect("free");
        t.failed(attempt, 0);
        let key_bytes: usize = t
            .failures
            .keys()
            .map(|k| match k {
                Subject::User(u) => u.len(),
                Subject::Address(_) => 0,
            })
            .sum();
        assert!(key_bytes <= 100, "{key_bytes}");
    }

    #[test]
    fn failures_seen_on_other_hosts_count_here() {
        // Two hosts, each with its own throttle: three failures on each.
        let mut hosts = [Throttle::default(), Throttle::default()];
        let mut shared = Vec::new();
        for i in 0..5 {
            let t = &mut hosts[i % 2];
            t.adopt_shared(Some("alice"), IP, &shared);
            fail(t, "alice", IP, i as i64);
            for key in Throttle::shared_keys(Some("alice"), IP) {
                shared.push((key, i as i64));
            }
        }
        let [_, b] = &mut hosts;
        // Host b saw two of the five itself: with the fleet's, it throttles.
        assert!(may_try(b, "alice", IP, 5).is_ok(), "alone, b lets it try");
        b.adopt_shared(Some("alice"), IP, &shared);
        assert!(
            may_try(b, "alice", IP, 5).is_err(),
            "with the fleet's, it waits"
        );
        assert_eq!(
            Throttle::shared_keys(Some("alice"), IP),
            ["user:alice", "address:10.0.0.1"]
        );
        // Nothing shared for a subject: what this host had goes too (the
        // store is the record; a success elsewhere cleared it).
        b.adopt_shared(Some("alice"), None, &[]);
        assert!(may_try(b, "alice", None, 6).is_ok());
    }
}
