#![no_main]
//! Any bytes offered to an opener are refused cheaply, never a panic.
use common::seal::{MediaKey, Opener};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut opener = Opener::new(&MediaKey::from_bytes([1; 32]));
    assert!(opener.open(data).is_err());
});
