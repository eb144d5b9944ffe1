#![no_main]
//! Any text on the control channel: a message or an error; messages round-trip.
use common::control::ControlMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(message) = ControlMessage::from_json(text)
    {
        let again = ControlMessage::from_json(&message.to_json()).expect("round trip");
        assert_eq!(again.to_json(), message.to_json());
    }
});
