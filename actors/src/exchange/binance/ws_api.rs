//! The websocket API session (`ws-fapi`): one long-lived, authenticated
//! connection where orders are placed without a TLS handshake or HTTP
//! round-trip setup each time. Requests carry an id; answers are matched to
//! their callers. While the session is down, callers fall back to REST; a
//! request that was sent but never answered is an unknown outcome, resolved
//! by a REST query like any other.

use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message;
use tradingbot_core::exchange::binance::stream::WsResponse;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WsApiError {
    /// Nothing was sent: use REST.
    #[error("the websocket API session is not connected")]
    NotConnected,
    /// Sent, not answered in time: the outcome is unknown.
    #[error("no answer on the websocket API in time")]
    Timeout,
    /// Sent, then the connection dropped before the answer.
    #[error("the websocket API connection dropped before the answer")]
    Dropped,
}

struct Outgoing {
    id: String,
    text: String,
    reply: oneshot::Sender<WsResponse>,
}

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<WsResponse>>>>;

/// A supervised session; dropping it closes the connection.
pub struct WsApi {
    tx: mpsc::Sender<Outgoing>,
    connected: Arc<AtomicBool>,
    _stop: watch::Sender<bool>,
}

impl WsApi {
    /// Connects to `url` (and reconnects with back-off while it lives).
    pub fn spawn(url: String) -> Arc<Self> {
        let (tx, rx) = mpsc::channel(256);
        let (stop, stopped) = watch::channel(false);
        let connected = Arc::new(AtomicBool::new(false));
        tokio::spawn(run(url, rx, connected.clone(), stopped));
        Arc::new(Self {
            tx,
            connected,
            _stop: stop,
        })
    }

    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// Sends one request (its JSON `id` must be `id`) and waits `timeout`.
    pub async fn request(
        &self,
        id: &str,
        message: serde_json::Value,
        timeout: Duration,
    ) -> Result<WsResponse, WsApiError> {
        if !self.is_connected() {
            return Err(WsApiError::NotConnected);
        }
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Outgoing {
                id: id.to_owned(),
                text: message.to_string(),
                reply,
            })
            .await
            .map_err(|_| WsApiError::NotConnected)?;
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(_)) => Err(WsApiError::Dropped),
            Err(_) => Err(WsApiError::Timeout),
        }
    }
}

async fn run(
    url: String,
    mut rx: mpsc::Receiver<Outgoing>,
    connected: Arc<AtomicBool>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(500);
    loop {
        if *stopped.borrow() {
            return;
        }
        match tokio_tungstenite::connect_async(&url).await {
            Ok((ws, _)) => {
                backoff = Duration::from_millis(500);
                connected.store(true, Ordering::Release);
                tracing::info!("Binance websocket API session connected");
                let pending: Pending = Arc::new(Mutex::new(HashMap::new()));
                let (mut sink, mut stream) = ws.split();
                let reason = loop {
                    tokio::select! {
                        _ = stopped.changed() => {
                            let _ = sink.send(Message::Close(None)).await;
                            connected.store(false, Ordering::Release);
                            return;
                        }
                        out = rx.recv() => match out {
                            Some(o) => {
                                pending.lock().unwrap_or_else(|e| e.into_inner()).insert(o.id, o.reply);
                                if let Err(e) = sink.send(Message::text(o.text)).await {
                                    break format!("send: {e}");
                                }
                            }
                            None => return,
                        },
                        msg = stream.next() => match msg {
                            Some(Ok(Message::Text(text))) => {
                                if let Ok(resp) = serde_json::from_str::<WsResponse>(&text)
                                    && let Some(id) = resp.id.clone()
                                    && let Some(reply) = pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&id)
                                {
                                    let _ = reply.send(resp);
                                }
                            }
                            Some(Ok(Message::Ping(p))) => {
                                if sink.send(Message::Pong(p)).await.is_err() {
                                    break "pong failed".into();
                                }
                            }
                            Some(Ok(Message::Close(f))) => break format!("closed: {f:?}"),
                            Some(Ok(_)) => {}
                            Some(Err(e)) => break format!("read: {e}"),
                            None => break "ended".into(),
                        }
                    }
                };
                connected.store(false, Ordering::Release);
                // Waiting callers learn the answer will not come.
                pending.lock().unwrap_or_else(|e| e.into_inner()).clear();
                metrics::counter!("exchange_ws_reconnects_total", "exchange" => "binance", "stream" => "ws_api").increment(1);
                tracing::warn!(%reason, "Binance websocket API session lost; REST meanwhile");
            }
            Err(e) => {
                tracing::debug!(error = %e, "Binance websocket API unreachable; REST meanwhile")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stopped.changed() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}
