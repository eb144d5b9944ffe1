#![no_main]
//! Any bytes: a header or an error, never a panic; a header re-encodes to itself.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((header, _)) = common::Header::decode(data) {
        assert_eq!(&header.encode()[..], &data[..common::datagram::HEADER_LEN]);
    }
});
