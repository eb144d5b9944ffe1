#![no_main]
//! Any sequence of (authentic-looking) shards: frames or losses, never a panic.
use common::packetizer::{Depacketizer, DepacketizerConfig};
use common::{Header, StreamKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut depacketizer = Depacketizer::new(StreamKind::Video, DepacketizerConfig::default());
    let mut now = 0u64;
    for chunk in data.chunks(48) {
        now += 1000;
        if let Ok((header, payload)) = Header::decode(chunk) {
            let _ = depacketizer.handle_shard(now, &header, payload);
        }
        depacketizer.handle_timeout(now);
        while depacketizer.poll_event().is_some() {}
        let _ = depacketizer.missing_shards(now, 0);
    }
});
