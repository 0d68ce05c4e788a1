//! The OKX private websocket: one task owns the connection, logs in (HMAC
//! of `timestamp + "GET" + "/users/self/verify"`, timestamp in seconds),
//! subscribes to orders and positions, forwards pushes, and carries order
//! operations (`op: "order"`) matched to their callers by id. It reconnects
//! with back-off; while it is down, callers use REST.

use super::OkxClient;
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message;
use tradingbot_core::exchange::okx::model::{Order, Position};
use tradingbot_core::exchange::okx::stream::{self, PrivateMessage};

/// What the stream reports.
#[derive(Debug, Clone, PartialEq)]
pub enum OkxStreamMessage {
    Connected,
    Disconnected(String),
    Orders(Vec<Order>),
    Positions(Vec<Position>),
}

struct Op {
    id: String,
    message: serde_json::Value,
    reply: oneshot::Sender<serde_json::Value>,
}

/// A running private stream; dropping it stops the task.
pub struct PrivateStream {
    ops: mpsc::Sender<Op>,
    ready: Arc<AtomicBool>,
    _stop: watch::Sender<bool>,
}

impl PrivateStream {
    pub fn spawn(client: Arc<OkxClient>, url: String, tx: mpsc::Sender<OkxStreamMessage>) -> Self {
        let (ops, rx) = mpsc::channel(256);
        let (stop, stopped) = watch::channel(false);
        let ready = Arc::new(AtomicBool::new(false));
        tokio::spawn(run(client, url, tx, rx, ready.clone(), stopped));
        Self {
            ops,
            ready,
            _stop: stop,
        }
    }

    /// Logged in and subscribed.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Sends an op and waits for its answer; `None` when not ready (nothing
    /// was sent) or when no answer came (the caller resolves by query).
    pub async fn op(
        &self,
        id: &str,
        message: serde_json::Value,
        timeout: Duration,
    ) -> Result<serde_json::Value, bool> {
        if !self.is_ready() {
            return Err(false);
        }
        let (reply, answer) = oneshot::channel();
        self.ops
            .send(Op {
                id: id.to_owned(),
                message,
                reply,
            })
            .await
            .map_err(|_| false)?;
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(v)) => Ok(v),
            _ => Err(true),
        }
    }
}

async fn run(
    client: Arc<OkxClient>,
    url: String,
    tx: mpsc::Sender<OkxStreamMessage>,
    mut ops: mpsc::Receiver<Op>,
    ready: Arc<AtomicBool>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(500);
    loop {
        if *stopped.borrow() {
            return;
        }
        let reason = session(&client, &url, &tx, &mut ops, &ready, &mut stopped).await;
        ready.store(false, Ordering::Release);
        let Err(reason) = reason else { return };
        metrics::counter!("exchange_ws_reconnects_total", "exchange" => "okx", "stream" => "private").increment(1);
        tracing::warn!(%reason, "OKX private stream down; reconnecting");
        if tx
            .send(OkxStreamMessage::Disconnected(reason))
            .await
            .is_err()
        {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stopped.changed() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

async fn session(
    client: &OkxClient,
    url: &str,
    tx: &mpsc::Sender<OkxStreamMessage>,
    ops: &mut mpsc::Receiver<Op>,
    ready: &AtomicBool,
    stopped: &mut watch::Receiver<bool>,
) -> Result<(), String> {
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut sink, mut source) = ws.split();
    let login = client.signer().ws_login(client.server_now_ms() / 1000);
    sink.send(Message::text(login.to_string()))
        .await
        .map_err(|e| format!("login: {e}"))?;
    let mut pending: HashMap<String, oneshot::Sender<serde_json::Value>> = HashMap::new();
    // OKX closes idle connections after 30 s; a text "ping" keeps it open.
    let mut keepalive = tokio::time::interval(Duration::from_secs(20));
    keepalive.tick().await;
    loop {
        tokio::select! {
            _ = stopped.changed() => {
                let _ = sink.send(Message::Close(None)).await;
                return Ok(());
            }
            _ = keepalive.tick() => {
                sink.send(Message::text("ping")).await.map_err(|e| format!("ping: {e}"))?;
            }
            op = ops.recv(), if ready.load(Ordering::Acquire) => match op {
                Some(op) => {
                    pending.insert(op.id, op.reply);
                    sink.send(Message::text(op.message.to_string())).await.map_err(|e| format!("send: {e}"))?;
                }
                None => return Ok(()),
            },
            msg = source.next() => match msg {
                Some(Ok(Message::Text(text))) if text.as_str() == "pong" => {}
                Some(Ok(Message::Text(text))) => match stream::parse(&text) {
                    Ok(PrivateMessage::Login { ok: true, .. }) => {
                        sink.send(Message::text(stream::subscribe().to_string())).await.map_err(|e| format!("subscribe: {e}"))?;
                    }
                    Ok(PrivateMessage::Login { ok: false, code, msg }) | Ok(PrivateMessage::Error { code, msg }) => {
                        return Err(format!("refused: {msg} ({code})"));
                    }
                    Ok(PrivateMessage::Subscribed) => {
                        if !ready.swap(true, Ordering::AcqRel) {
                            tx.send(OkxStreamMessage::Connected).await.map_err(|_| "owner gone")?;
                        }
                    }
                    Ok(PrivateMessage::Orders(o)) => {
                        tx.send(OkxStreamMessage::Orders(o)).await.map_err(|_| "owner gone")?;
                    }
                    Ok(PrivateMessage::Positions(p)) => {
                        tx.send(OkxStreamMessage::Positions(p)).await.map_err(|_| "owner gone")?;
                    }
                    Ok(PrivateMessage::OpResult { id, body }) => {
                        if let Some(reply) = pending.remove(&id) {
                            let _ = reply.send(body);
                        }
                    }
                    Ok(PrivateMessage::Other) => {}
                    Err(e) => tracing::warn!(error = %e, "unreadable OKX private message skipped"),
                },
                Some(Ok(Message::Ping(p))) => {
                    sink.send(Message::Pong(p)).await.map_err(|e| format!("pong: {e}"))?;
                }
                Some(Ok(Message::Close(f))) => return Err(format!("closed: {f:?}")),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(format!("read: {e}")),
                None => return Err("ended".into()),
            }
        }
    }
}
