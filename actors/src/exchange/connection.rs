//! One interface over the three venues, so the execution core and the API
//! never branch on which exchange an account is on — and the rule that
//! keeps an order from being placed twice, written once for all of them.

use super::budget::Priority;
use super::endpoints::Endpoints;
use super::updates::{UpdateStream, VenueUpdate};
use super::venue::VenueClient;
use rust_decimal::Decimal;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tradingbot_core::exchange::{
    Balance, ClientOrderId, ExchangeError, InstrumentRules, KeyPermissions, MarginMode,
    OrderReport, OrderRequest, PositionReport, Venue,
};

#[derive(Debug, Clone)]
pub struct Connection(Arc<dyn VenueClient>);

/// What a connection test found.
#[derive(Debug, Clone)]
pub struct ConnectionReport {
    pub balances: Vec<Balance>,
    pub permissions: KeyPermissions,
    pub latency: Duration,
}

/// After an unknown outcome, the order is looked up at these delays: a
/// fresh order can take a moment to become visible.
const LOOKUPS_MS: [u64; 4] = [0, 300, 1000, 2000];

impl Connection {
    pub fn new(client: Arc<dyn VenueClient>) -> Self {
        Self(client)
    }

    pub fn venue(&self) -> Venue {
        self.0.venue()
    }

    /// Proves the key works: reads the balance and what the key may do.
    pub async fn test(&self) -> Result<ConnectionReport, ExchangeError> {
        let started = Instant::now();
        let (balances, permissions) = self.0.check().await?;
        Ok(ConnectionReport {
            balances,
            permissions,
            latency: started.elapsed(),
        })
    }

    pub async fn rules(&self, symbol: &str) -> Result<InstrumentRules, ExchangeError> {
        self.0.rules(symbol).await
    }

    pub async fn balances(&self) -> Result<Vec<Balance>, ExchangeError> {
        self.0.balances_at(Priority::Normal).await
    }

    /// Balances for a periodic refresh: skipped, not waited for, when the
    /// venue's budget is short.
    pub async fn poll_balances(&self) -> Result<Vec<Balance>, ExchangeError> {
        self.0.balances_at(Priority::Background).await
    }

    /// What reconciliation and protection stand on: it goes first.
    pub async fn positions(&self) -> Result<Vec<PositionReport>, ExchangeError> {
        self.0.positions_at(Priority::Protective).await
    }

    pub async fn mark_price(&self, symbol: &str) -> Result<Decimal, ExchangeError> {
        self.0.mark_price(symbol).await
    }

    /// The venue's maintenance-margin tiers of `symbol`, in notional terms
    /// (OKX sizes its tiers in contracts: converted at `price`). The paper
    /// exchange follows Binance's published BTCUSDT brackets.
    pub async fn maintenance_tiers(
        &self,
        symbol: &str,
        mode: MarginMode,
        price: Decimal,
    ) -> Result<Vec<tradingbot_core::simulator::Tier>, ExchangeError> {
        self.0.maintenance_tiers(symbol, mode, price).await
    }

    /// The most leverage the venue allows on `symbol`.
    pub async fn max_leverage(&self, symbol: &str) -> Result<u32, ExchangeError> {
        self.0.max_leverage(symbol).await
    }

    pub async fn configure(
        &self,
        symbol: &str,
        leverage: u32,
        mode: MarginMode,
    ) -> Result<(), ExchangeError> {
        self.0.configure(symbol, leverage, mode).await
    }

    /// Places an order so that it exists at most once on the venue.
    ///
    /// Our client ids are derived from (strategy, signal, leg): an order
    /// the venue already holds under this id is this very order, placed by
    /// an attempt whose answer was lost — it is read back, never sent
    /// again. An unknown outcome (a timeout, a 5xx) is resolved by looking
    /// the order up. When the venue says twice, a moment apart, that it has
    /// no such order, only an order the venue itself keeps from doubling is
    /// sent once more: a reduce-only order (it cannot exceed the position)
    /// or a conditional one (it rests, so its id is refused while the first
    /// copy lives). Any other order — an entry — stays unknown: venues
    /// refuse a reused id only while the first order is open, so a filled
    /// entry a lagging lookup does not show yet would be bought twice. The
    /// caller reconciles with the venue instead.
    pub async fn place(
        &self,
        order: &OrderRequest,
        margin: MarginMode,
        reference_price: Decimal,
        priority: Priority,
    ) -> Result<OrderReport, ExchangeError> {
        let conditional = order.kind.is_conditional();
        let sent = self
            .0
            .send_order(order, margin, reference_price, priority)
            .await;
        match sent {
            Err(e) if e.outcome_unknown() => {
                tracing::warn!(client_id = %order.client_id, error = %e, "order outcome unknown; querying");
                metrics::counter!("exchange_unknown_outcomes_total", "exchange" => self.venue().as_str())
                    .increment(1);
                if let Some(report) = self
                    .resolve(&order.symbol, &order.client_id, conditional)
                    .await?
                {
                    return Ok(report);
                }
                if !(order.reduce_only || conditional) {
                    tracing::warn!(client_id = %order.client_id, "the venue shows no such order; not sent again (it could fill twice)");
                    return Err(ExchangeError::UnknownOutcome {
                        message: format!(
                            "order {} is not on the venue after an unanswered request; not sent again",
                            order.client_id
                        ),
                    });
                }
                tracing::warn!(client_id = %order.client_id, "the venue has no such order; sending it once more");
                let again = self
                    .0
                    .send_order(order, margin, reference_price, priority)
                    .await;
                match self.read_back(order, conditional, again).await {
                    // The venue holds the id yet shows no order: what it
                    // did is still unknown — never a refusal, which would
                    // let the caller give the order up.
                    Err(ExchangeError::DuplicateClientId { message, .. }) => {
                        Err(ExchangeError::UnknownOutcome { message })
                    }
                    other => other,
                }
            }
            other => self.read_back(order, conditional, other).await,
        }
    }

    /// An order the venue refuses as a duplicate of our client id is this
    /// very order, placed by an attempt whose answer was lost: read it back.
    async fn read_back(
        &self,
        order: &OrderRequest,
        conditional: bool,
        sent: Result<OrderReport, ExchangeError>,
    ) -> Result<OrderReport, ExchangeError> {
        match sent {
            Err(ExchangeError::DuplicateClientId { code, message }) => {
                tracing::info!(client_id = %order.client_id, "the order is already on the venue; reading it back");
                match self
                    .query(&order.symbol, &order.client_id, conditional)
                    .await?
                {
                    Some(report) => Ok(report),
                    None => Err(ExchangeError::DuplicateClientId { code, message }),
                }
            }
            other => other,
        }
    }

    /// Looks an order up after an unknown outcome: `Some` if it exists,
    /// `None` only when the venue says twice, a moment apart, that it does
    /// not; an error when the venue cannot be asked.
    async fn resolve(
        &self,
        symbol: &str,
        id: &ClientOrderId,
        conditional: bool,
    ) -> Result<Option<OrderReport>, ExchangeError> {
        let mut not_found = 0;
        let mut last_error = None;
        for delay_ms in LOOKUPS_MS {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            match self.query(symbol, id, conditional).await {
                Ok(Some(r)) => return Ok(Some(r)),
                Ok(None) => {
                    not_found += 1;
                    if not_found >= 2 {
                        return Ok(None);
                    }
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(ExchangeError::UnknownOutcome {
            message: format!(
                "order {id} could not be confirmed: {}",
                last_error.map_or_else(|| "no answer".to_owned(), |e| e.to_string())
            ),
        })
    }

    /// The order named by our client id (what protection asks: first in
    /// line).
    pub async fn query(
        &self,
        symbol: &str,
        id: &ClientOrderId,
        conditional: bool,
    ) -> Result<Option<OrderReport>, ExchangeError> {
        self.0
            .query_at(symbol, id, conditional, Priority::Protective)
            .await
    }

    /// Every open order of `symbol` (venue spelling), ours or not.
    pub async fn open_orders(
        &self,
        symbol: &str,
        priority: Priority,
    ) -> Result<Vec<OrderReport>, ExchangeError> {
        self.0.open_orders(symbol, priority).await
    }

    /// Positions at `priority` (a periodic sweep reads in the background).
    pub async fn positions_at(
        &self,
        priority: Priority,
    ) -> Result<Vec<PositionReport>, ExchangeError> {
        self.0.positions_at(priority).await
    }

    /// An order by client id at `priority`.
    pub async fn query_at(
        &self,
        symbol: &str,
        id: &ClientOrderId,
        conditional: bool,
        priority: Priority,
    ) -> Result<Option<OrderReport>, ExchangeError> {
        self.0.query_at(symbol, id, conditional, priority).await
    }

    pub async fn cancel(
        &self,
        symbol: &str,
        id: &ClientOrderId,
        conditional: bool,
    ) -> Result<OrderReport, ExchangeError> {
        self.0.cancel(symbol, id, conditional).await
    }

    /// Starts the account's update stream; updates arrive on `tx`.
    pub fn start_updates(
        &self,
        endpoints: &Endpoints,
        testnet: bool,
        tx: mpsc::Sender<VenueUpdate>,
    ) -> UpdateStream {
        self.0.clone().start_updates(endpoints, testnet, tx)
    }
}
