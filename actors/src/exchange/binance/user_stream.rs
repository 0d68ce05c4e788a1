//! The user data stream: one task owns the websocket, keeps its listen key
//! alive (every 30 minutes; the key lapses after 60), reconnects with
//! back-off when the connection drops or the key expires, and forwards
//! events. Trading never depends on it alone: while it is down, the owner
//! of the connection polls over REST.

use super::BinanceClient;
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tradingbot_core::exchange::binance::rest::Method;
use tradingbot_core::exchange::binance::stream::{UserEvent, parse_user_event};

/// What the stream task reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamMessage {
    Connected,
    /// The stream is down (reason); events may have been missed, so the
    /// owner should reconcile over REST.
    Disconnected(String),
    Event(Box<UserEvent>),
}

/// Timing of the stream's upkeep.
#[derive(Debug, Clone, Copy)]
pub struct StreamTiming {
    pub keepalive: Duration,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for StreamTiming {
    fn default() -> Self {
        Self {
            keepalive: Duration::from_secs(30 * 60),
            first_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// A running stream; dropping it stops the task.
pub struct UserStream {
    stop: watch::Sender<bool>,
}

impl Drop for UserStream {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl UserStream {
    /// Starts the task: `stream_base` is e.g. `wss://fstream.binance.com`.
    pub fn spawn(
        client: Arc<BinanceClient>,
        stream_base: String,
        timing: StreamTiming,
        tx: mpsc::Sender<StreamMessage>,
    ) -> Self {
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(run(
            client,
            stream_base.trim_end_matches('/').to_owned(),
            timing,
            tx,
            stopped,
        ));
        Self { stop }
    }
}

async fn run(
    client: Arc<BinanceClient>,
    base: String,
    timing: StreamTiming,
    tx: mpsc::Sender<StreamMessage>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut backoff = timing.first_backoff;
    loop {
        if *stopped.borrow() {
            return;
        }
        let reason = match session(&client, &base, timing, &tx, &mut stopped).await {
            Ok(()) => return,
            Err(reason) => reason,
        };
        metrics::counter!("exchange_ws_reconnects_total", "exchange" => "binance", "stream" => "user").increment(1);
        tracing::warn!(%reason, "Binance user data stream down; reconnecting");
        if tx.send(StreamMessage::Disconnected(reason)).await.is_err() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stopped.changed() => return,
        }
        backoff = (backoff * 2).min(timing.max_backoff);
    }
}

/// One connection's life; `Ok` only when asked to stop.
async fn session(
    client: &BinanceClient,
    base: &str,
    timing: StreamTiming,
    tx: &mpsc::Sender<StreamMessage>,
    stopped: &mut watch::Receiver<bool>,
) -> Result<(), String> {
    let key = client
        .listen_key(Method::Post)
        .await
        .map_err(|e| format!("listen key: {e}"))?
        .ok_or("listen key: empty answer")?;
    let (ws, _) = tokio_tungstenite::connect_async(format!("{base}/ws/{key}"))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut sink, mut stream) = ws.split();
    tx.send(StreamMessage::Connected)
        .await
        .map_err(|_| "owner gone")?;
    let mut keepalive = tokio::time::interval(timing.keepalive);
    keepalive.tick().await;
    loop {
        tokio::select! {
            _ = stopped.changed() => {
                let _ = sink.send(Message::Close(None)).await;
                let _ = client.listen_key(Method::Delete).await;
                return Ok(());
            }
            _ = keepalive.tick() => {
                if let Err(e) = client.listen_key(Method::Put).await {
                    return Err(format!("keep-alive refused: {e}"));
                }
            }
            msg = stream.next() => match msg {
                Some(Ok(Message::Text(text))) => match parse_user_event(&text) {
                    Ok(UserEvent::ListenKeyExpired) => return Err("listen key expired".into()),
                    Ok(event) => {
                        if tx.send(StreamMessage::Event(Box::new(event))).await.is_err() {
                            return Ok(());
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "unreadable user data event skipped"),
                },
                Some(Ok(Message::Ping(p))) => {
                    sink.send(Message::Pong(p)).await.map_err(|e| format!("pong: {e}"))?;
                }
                Some(Ok(Message::Close(frame))) => return Err(format!("closed by the server: {frame:?}")),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(format!("read: {e}")),
                None => return Err("connection ended".into()),
            }
        }
    }
}
