//! `viewer stream --headless`: the whole pipeline without a window. Every
//! stdout line is one JSON object: a stats line per second, then a summary.

use std::time::{Duration, Instant};

use common::stream_url::StreamUrl;
use serde_json::json;

use crate::stats::{Rates, Snapshot};
use crate::stream::net::StreamEnd;
use crate::stream::notes::HostNotes;
use crate::stream::{RunningStream, StreamOptions};

use crate::stream::ending::print_json_line as print_line;

fn stats_line(elapsed: Duration, snapshot: &Snapshot, rates: &Rates) -> serde_json::Value {
    let mut value = json!({ "type": "stats", "t_s": elapsed.as_secs_f64() });
    merge(&mut value, serde_json::to_value(snapshot));
    merge(&mut value, serde_json::to_value(rates));
    value
}

fn merge(into: &mut serde_json::Value, from: serde_json::Result<serde_json::Value>) {
    if let (Some(into), Ok(serde_json::Value::Object(from))) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}

/// Streams for `duration` (or until the host ends it); returns the process
/// exit code (0 when the session ended normally).
pub fn run(
    url: StreamUrl,
    media_via: Option<std::net::SocketAddr>,
    synthetic: crate::stream::synthetic_input::SyntheticInput,
    request: Option<common::control::DisplayRequest>,
    duration: Option<Duration>,
    audio: crate::platform::audio::AudioOutput,
) -> i32 {
    let mut stream = match RunningStream::start(StreamOptions {
        url,
        media_via,
        synthetic,
        request,
        audio,
        display: None,
        input: None,
        gamepads: None,
    }) {
        Ok(stream) => stream,
        Err(e) => {
            print_line(&json!({ "type": "summary", "error": format!("{e:#}") }));
            return 2;
        }
    };
    let started = Instant::now();
    let mut notes = HostNotes::default();
    let mut last = (started, stream.stats.snapshot());
    let mut quit_sent = false;
    while !stream.is_finished() {
        std::thread::sleep(Duration::from_millis(50));
        let now = Instant::now();
        if now - last.0 >= Duration::from_secs(1) {
            let snapshot = stream.stats.snapshot();
            let rates = Rates::between(&last.1, &snapshot, (now - last.0).as_secs_f64());
            notes.take_from(&stream.notes);
            let mut line = stats_line(now - started, &snapshot, &rates);
            notes.merge_into(&mut line);
            print_line(&line);
            last = (now, snapshot);
        }
        if !quit_sent && duration.is_some_and(|d| now - started >= d) {
            stream.quit();
            quit_sent = true;
        }
    }
    let stats = stream.stats.clone();
    // The last notes may come with the session's end.
    let notes_rx = std::mem::replace(&mut stream.notes, std::sync::mpsc::channel().1);
    let end = stream.join();
    notes.take_from(&notes_rx);
    let snapshot = stats.snapshot();
    let mut summary = json!({ "type": "summary", "duration_s": started.elapsed().as_secs_f64() });
    merge(&mut summary, serde_json::to_value(&snapshot));
    notes.merge_into(&mut summary);
    let code = match &end {
        Ok(StreamEnd::Ended(reason)) => {
            summary["end"] = json!(reason);
            0
        }
        Ok(StreamEnd::ConnectionLost(why)) => {
            summary["end"] = json!("connection_lost");
            summary["error"] = json!(why);
            1
        }
        Err(e) => {
            eprintln!("viewer: {e}");
            summary["error"] = json!(e.to_string());
            2
        }
    };
    print_line(&summary);
    code
}
