#![no_main]
//! Any TXT record (lines of `key=value`) as a host advert: parsed or refused;
//! parsed adverts survive a round trip.
use common::discovery::HostAdvert;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let entries = text
        .lines()
        .map(|line| line.split_once('=').unwrap_or((line, "")));
    if let Ok(advert) = HostAdvert::from_properties(entries) {
        assert_eq!(
            HostAdvert::from_properties(advert.to_properties()),
            Ok(advert)
        );
    }
});
