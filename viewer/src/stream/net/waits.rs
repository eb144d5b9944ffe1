//! Futures the driver waits on that never resolve without a source.

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use crate::stream::connect::ControlSocket;

pub(super) async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The next message of the control connection; never resolves without one.
pub(super) async fn next_message(
    ws: &mut Option<ControlSocket>,
) -> Option<Result<Message, String>> {
    match ws {
        Some(ws) => ws.next().await.map(|m| m.map_err(|e| e.to_string())),
        None => std::future::pending().await,
    }
}
