//! One stream of account updates per connection, whatever the venue.
//!
//! Binance's user-data stream, OKX's private channels and the paper
//! exchange's events all say the same things in different words: an order
//! changed or filled, a position moved, the balance changed, the stream was
//! lost (so whatever it would have said must be asked for over REST). This
//! module starts the venue's stream and translates it into [`VenueUpdate`]s.

use super::VenueClient;
use super::binance::BinanceClient;
use super::binance::user_stream::{StreamMessage, StreamTiming, UserStream};
use super::endpoints::Endpoints;
use super::okx::OkxClient;
use super::okx::private_stream::{OkxStreamMessage, PrivateStream};
use super::paper::PaperClient;
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc;
use tradingbot_core::exchange::binance::stream::UserEvent;
use tradingbot_core::exchange::paper::PaperEvent;
use tradingbot_core::exchange::{Balance, ClientOrderId, OrderReport, OrderStatus, PositionReport};

/// An order changed; `client_id` is ours when the order is one of ours
/// (including the market order a protective trigger created).
#[derive(Debug, Clone, PartialEq)]
pub struct OrderUpdate {
    pub client_id: Option<ClientOrderId>,
    pub report: OrderReport,
    /// Fee of the fill this update reports (quote asset).
    pub fee: Decimal,
    /// PnL the venue says the fill realized.
    pub realized_pnl: Option<Decimal>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum VenueUpdate {
    /// The stream is (again) up: anything missed must be reconciled.
    Connected,
    Disconnected(String),
    Order(OrderUpdate),
    /// The position on `symbol` (venue spelling); `None`: flat.
    Position {
        symbol: String,
        position: Option<PositionReport>,
    },
    Balances(Vec<Balance>),
    Liquidated {
        symbol: String,
        price: Decimal,
    },
}

/// Keeps the venue's stream alive; dropping it stops the stream.
pub enum UpdateStream {
    Binance(UserStream),
    Okx(Arc<PrivateStream>),
    Paper(tokio::task::JoinHandle<()>),
}

impl Drop for UpdateStream {
    fn drop(&mut self) {
        if let UpdateStream::Paper(task) = self {
            task.abort();
        }
    }
}

fn ours(id: &str) -> Option<ClientOrderId> {
    ClientOrderId::try_from(id.to_owned()).ok()
}

/// Binance's user-data stream (and its websocket API for orders).
pub(super) fn binance(
    client: Arc<BinanceClient>,
    endpoints: &Endpoints,
    testnet: bool,
    tx: mpsc::Sender<VenueUpdate>,
) -> UpdateStream {
    client.use_ws_api(endpoints.binance_ws_api(testnet));
    let (raw_tx, raw_rx) = mpsc::channel(1024);
    let stream = UserStream::spawn(
        client,
        endpoints.binance_stream(testnet).to_owned(),
        StreamTiming::default(),
        raw_tx,
    );
    tokio::spawn(translate_binance(raw_rx, tx));
    UpdateStream::Binance(stream)
}

/// OKX's private channels (which also carry its orders).
pub(super) fn okx(
    client: Arc<OkxClient>,
    endpoints: &Endpoints,
    testnet: bool,
    tx: mpsc::Sender<VenueUpdate>,
) -> UpdateStream {
    let (raw_tx, raw_rx) = mpsc::channel(1024);
    let stream = Arc::new(PrivateStream::spawn(
        client.clone(),
        endpoints.okx_ws_private(testnet).to_owned(),
        raw_tx,
    ));
    client.use_stream(stream.clone());
    tokio::spawn(translate_okx(client, raw_rx, tx));
    UpdateStream::Okx(stream)
}

/// The paper exchange's events.
pub(super) fn paper(client: Arc<PaperClient>, tx: mpsc::Sender<VenueUpdate>) -> UpdateStream {
    let mut events = client.subscribe();
    UpdateStream::Paper(tokio::spawn(async move {
        if tx.send(VenueUpdate::Connected).await.is_err() {
            return;
        }
        loop {
            let update = match events.recv().await {
                Ok(e) => e,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    // Missed events: say so, so the owner reconciles.
                    tracing::warn!(missed = n, "paper events lagged");
                    if tx.send(VenueUpdate::Connected).await.is_err() {
                        return;
                    }
                    continue;
                }
                Err(_) => return,
            };
            for u in translate_paper(&client, update) {
                if tx.send(u).await.is_err() {
                    return;
                }
            }
        }
    }))
}

fn translate_paper(client: &super::paper::PaperClient, event: PaperEvent) -> Vec<VenueUpdate> {
    match event {
        PaperEvent::Order(report) => vec![VenueUpdate::Order(OrderUpdate {
            client_id: ours(&report.client_id),
            report,
            fee: Decimal::ZERO,
            realized_pnl: None,
        })],
        PaperEvent::Fill {
            report,
            fee,
            realized_pnl,
            ..
        } => {
            let symbol = report.symbol.clone();
            let mut out = vec![VenueUpdate::Order(OrderUpdate {
                client_id: ours(&report.client_id),
                report,
                fee,
                realized_pnl: Some(realized_pnl),
            })];
            out.push(VenueUpdate::Position {
                position: client.positions().into_iter().find(|p| p.symbol == symbol),
                symbol,
            });
            out.push(VenueUpdate::Balances(client.balances()));
            out
        }
        PaperEvent::Liquidated { symbol, price, .. } => vec![
            VenueUpdate::Liquidated {
                symbol: symbol.clone(),
                price,
            },
            VenueUpdate::Position {
                symbol,
                position: None,
            },
            VenueUpdate::Balances(client.balances()),
        ],
    }
}

async fn translate_binance(mut rx: mpsc::Receiver<StreamMessage>, tx: mpsc::Sender<VenueUpdate>) {
    // The market order a triggered algo created → the algo's client id.
    let mut triggered: HashMap<String, ClientOrderId> = HashMap::new();
    while let Some(message) = rx.recv().await {
        let updates = match message {
            StreamMessage::Connected => vec![VenueUpdate::Connected],
            StreamMessage::Disconnected(reason) => vec![VenueUpdate::Disconnected(reason)],
            StreamMessage::Event(event) => match *event {
                UserEvent::Order {
                    report,
                    realized_pnl,
                    last_fill,
                    ..
                } => {
                    let client_id = ours(&report.client_id)
                        .or_else(|| triggered.get(&report.venue_order_id).cloned());
                    let fee = if last_fill.is_some() {
                        report.fee.unwrap_or_default()
                    } else {
                        Decimal::ZERO
                    };
                    if report.status.is_final() {
                        triggered.remove(&report.venue_order_id);
                    }
                    vec![VenueUpdate::Order(OrderUpdate {
                        client_id,
                        report,
                        fee,
                        realized_pnl: last_fill.map(|_| realized_pnl),
                    })]
                }
                UserEvent::Algo { report, .. } => {
                    let client_id = ours(&report.client_id);
                    if let (Some(id), Some(order)) = (&client_id, &report.triggered_order_id)
                        && !order.is_empty()
                        && report.status == OrderStatus::Triggered
                    {
                        triggered.insert(order.clone(), id.clone());
                    }
                    vec![VenueUpdate::Order(OrderUpdate {
                        client_id,
                        report,
                        fee: Decimal::ZERO,
                        realized_pnl: None,
                    })]
                }
                UserEvent::Account {
                    balances,
                    positions,
                } => {
                    let mut out: Vec<VenueUpdate> = positions
                        .into_iter()
                        .map(|(symbol, position)| VenueUpdate::Position { symbol, position })
                        .collect();
                    if !balances.is_empty() {
                        out.push(VenueUpdate::Balances(balances));
                    }
                    out
                }
                UserEvent::ListenKeyExpired | UserEvent::Other(_) => Vec::new(),
            },
        };
        for u in updates {
            if tx.send(u).await.is_err() {
                return;
            }
        }
    }
}

async fn translate_okx(
    client: Arc<super::okx::OkxClient>,
    mut rx: mpsc::Receiver<OkxStreamMessage>,
    tx: mpsc::Sender<VenueUpdate>,
) {
    while let Some(message) = rx.recv().await {
        let mut updates = Vec::new();
        match message {
            OkxStreamMessage::Connected => updates.push(VenueUpdate::Connected),
            OkxStreamMessage::Disconnected(reason) => {
                updates.push(VenueUpdate::Disconnected(reason));
            }
            OkxStreamMessage::Orders(orders) => {
                for o in orders {
                    let Ok(rules) = client.rules(&o.inst_id).await else {
                        continue;
                    };
                    let Ok(report) = o.report(&rules) else {
                        continue;
                    };
                    let client_id = ours(&o.cl_ord_id).or_else(|| ours(&o.algo_cl_ord_id));
                    let fee = if o.last_fill(&rules).is_some() {
                        report.fee.unwrap_or_default()
                    } else {
                        Decimal::ZERO
                    };
                    updates.push(VenueUpdate::Order(OrderUpdate {
                        client_id,
                        realized_pnl: o.realized_pnl().filter(|_| o.last_fill(&rules).is_some()),
                        report,
                        fee,
                    }));
                }
            }
            OkxStreamMessage::Positions(positions) => {
                for p in positions {
                    let Ok(rules) = client.rules(&p.inst_id).await else {
                        continue;
                    };
                    updates.push(VenueUpdate::Position {
                        position: p.report(&rules),
                        symbol: p.inst_id.clone(),
                    });
                }
            }
        }
        for u in updates {
            if tx.send(u).await.is_err() {
                return;
            }
        }
    }
}
