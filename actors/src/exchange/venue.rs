//! What a venue client is: one call per exchange operation, each sent once.
//!
//! The policies that make those calls safe — an order whose answer was
//! lost is looked up by its client id before anything else is sent — are
//! written once, in [`super::Connection`], for every venue alike; a client
//! only speaks its venue's protocol.

use super::budget::Priority;
use super::endpoints::Endpoints;
use super::updates::{UpdateStream, VenueUpdate};
use rust_decimal::Decimal;
use std::sync::Arc;
use tokio::sync::mpsc;
use tradingbot_core::exchange::{
    Balance, ClientOrderId, ExchangeError, InstrumentRules, KeyPermissions, MarginMode,
    OrderReport, OrderRequest, PositionReport, Venue,
};
use tradingbot_core::simulator::Tier;

#[async_trait::async_trait]
pub trait VenueClient: Send + Sync + std::fmt::Debug {
    fn venue(&self) -> Venue;

    /// Proves the key works: the balances and what the key may do (after
    /// agreeing on the clock where the venue signs with time).
    async fn check(&self) -> Result<(Vec<Balance>, KeyPermissions), ExchangeError>;

    async fn rules(&self, symbol: &str) -> Result<InstrumentRules, ExchangeError>;

    async fn balances_at(&self, priority: Priority) -> Result<Vec<Balance>, ExchangeError>;

    async fn positions_at(&self, priority: Priority) -> Result<Vec<PositionReport>, ExchangeError>;

    async fn mark_price(&self, symbol: &str) -> Result<Decimal, ExchangeError>;

    /// The maintenance-margin tiers of `symbol` in notional terms (`price`
    /// converts tiers a venue states in contracts).
    async fn maintenance_tiers(
        &self,
        symbol: &str,
        mode: MarginMode,
        price: Decimal,
    ) -> Result<Vec<Tier>, ExchangeError>;

    /// The most leverage the venue allows on `symbol`.
    async fn max_leverage(&self, symbol: &str) -> Result<u32, ExchangeError> {
        Ok(self.rules(symbol).await?.max_leverage.unwrap_or(125))
    }

    async fn configure(
        &self,
        symbol: &str,
        leverage: u32,
        mode: MarginMode,
    ) -> Result<(), ExchangeError>;

    /// Sends the order once. An error whose `outcome_unknown()` holds may
    /// have reached the venue: never retried here.
    async fn send_order(
        &self,
        order: &OrderRequest,
        margin: MarginMode,
        reference_price: Decimal,
        priority: Priority,
    ) -> Result<OrderReport, ExchangeError>;

    /// The order named by our client id, or `None` if the venue has none.
    async fn query_at(
        &self,
        symbol: &str,
        id: &ClientOrderId,
        conditional: bool,
        priority: Priority,
    ) -> Result<Option<OrderReport>, ExchangeError>;

    /// Every open order of `symbol` (venue spelling), ours or not.
    async fn open_orders(
        &self,
        symbol: &str,
        priority: Priority,
    ) -> Result<Vec<OrderReport>, ExchangeError>;

    async fn cancel(
        &self,
        symbol: &str,
        id: &ClientOrderId,
        conditional: bool,
    ) -> Result<OrderReport, ExchangeError>;

    /// Starts the account's private stream; its updates arrive on `tx`.
    fn start_updates(
        self: Arc<Self>,
        endpoints: &Endpoints,
        testnet: bool,
        tx: mpsc::Sender<VenueUpdate>,
    ) -> UpdateStream;
}
