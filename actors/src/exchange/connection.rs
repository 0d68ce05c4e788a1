//! One interface over the three venues, so the execution core and the API
//! never branch on which exchange an account is on.

use super::binance::BinanceClient;
use super::budget::Priority;
use super::okx::OkxClient;
use super::paper::PaperClient;
use rust_decimal::Decimal;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tradingbot_core::exchange::{
    Balance, ClientOrderId, ExchangeError, InstrumentRules, KeyPermissions, MarginMode,
    OrderReport, OrderRequest, PositionReport, Venue,
};

#[derive(Debug, Clone)]
pub enum Connection {
    Binance(Arc<BinanceClient>),
    Okx(Arc<OkxClient>),
    Paper(Arc<PaperClient>),
}

/// What a connection test found.
#[derive(Debug, Clone)]
pub struct ConnectionReport {
    pub balances: Vec<Balance>,
    pub permissions: KeyPermissions,
    pub latency: Duration,
}

impl Connection {
    pub fn venue(&self) -> Venue {
        match self {
            Connection::Binance(_) => Venue::Binance,
            Connection::Okx(_) => Venue::Okx,
            Connection::Paper(_) => Venue::Paper,
        }
    }

    /// Proves the key works: reads the balance and what the key may do.
    pub async fn test(&self) -> Result<ConnectionReport, ExchangeError> {
        let started = Instant::now();
        let (balances, permissions) = match self {
            Connection::Binance(c) => {
                c.sync_time().await?;
                c.balances_and_permissions().await?
            }
            Connection::Okx(c) => {
                c.sync_time().await?;
                (c.balances().await?, c.permissions().await?)
            }
            Connection::Paper(c) => (c.balances(), c.permissions()),
        };
        Ok(ConnectionReport {
            balances,
            permissions,
            latency: started.elapsed(),
        })
    }

    pub async fn rules(&self, symbol: &str) -> Result<InstrumentRules, ExchangeError> {
        match self {
            Connection::Binance(c) => c.rules(symbol).await,
            Connection::Okx(c) => c.rules(symbol).await,
            Connection::Paper(c) => c.rules(symbol),
        }
    }

    pub async fn balances(&self) -> Result<Vec<Balance>, ExchangeError> {
        match self {
            Connection::Binance(c) => c.balances().await,
            Connection::Okx(c) => c.balances().await,
            Connection::Paper(c) => Ok(c.balances()),
        }
    }

    /// Balances for a periodic refresh: skipped, not waited for, when the
    /// venue's budget is short.
    pub async fn poll_balances(&self) -> Result<Vec<Balance>, ExchangeError> {
        match self {
            Connection::Binance(c) => c.balances_at(Priority::Background).await,
            Connection::Okx(c) => c.balances_at(Priority::Background).await,
            Connection::Paper(c) => Ok(c.balances()),
        }
    }

    pub async fn positions(&self) -> Result<Vec<PositionReport>, ExchangeError> {
        match self {
            Connection::Binance(c) => c.positions().await,
            Connection::Okx(c) => c.positions().await,
            Connection::Paper(c) => Ok(c.positions()),
        }
    }

    pub async fn mark_price(&self, symbol: &str) -> Result<Decimal, ExchangeError> {
        match self {
            Connection::Binance(c) => c.mark_price(symbol).await,
            Connection::Okx(c) => c.mark_price(symbol).await,
            Connection::Paper(c) => c.mark_price(symbol),
        }
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
        match self {
            Connection::Binance(c) => Ok(c
                .brackets(symbol)
                .await?
                .iter()
                .map(tradingbot_core::exchange::binance::model::Bracket::tier)
                .collect()),
            Connection::Okx(c) => c.tiers(symbol, mode, price).await,
            Connection::Paper(_) => Ok(tradingbot_core::simulator::binance_btcusdt_tiers()),
        }
    }

    /// The most leverage the venue allows on `symbol`.
    pub async fn max_leverage(&self, symbol: &str) -> Result<u32, ExchangeError> {
        match self {
            Connection::Binance(c) => c.max_leverage(symbol).await,
            _ => Ok(self.rules(symbol).await?.max_leverage.unwrap_or(125)),
        }
    }

    pub async fn configure(
        &self,
        symbol: &str,
        leverage: u32,
        mode: MarginMode,
    ) -> Result<(), ExchangeError> {
        match self {
            Connection::Binance(c) => c.configure(symbol, leverage, mode).await,
            Connection::Okx(c) => c.configure(symbol, leverage, mode).await,
            Connection::Paper(c) => c.configure(symbol, leverage, mode),
        }
    }

    pub async fn place(
        &self,
        order: &OrderRequest,
        margin: MarginMode,
        reference_price: Decimal,
        priority: Priority,
    ) -> Result<OrderReport, ExchangeError> {
        let placed = match self {
            Connection::Binance(c) => c.place(order, reference_price, priority).await,
            Connection::Okx(c) => c.place(order, margin, reference_price, priority).await,
            Connection::Paper(c) => c.place(order),
        };
        match placed {
            // Our ids are derived from (strategy, signal, leg): an open order
            // with this id is this very order, placed by an attempt whose
            // answer was lost. It is found, never sent again or given up on.
            Err(ExchangeError::DuplicateClientId { code, message }) => {
                tracing::info!(client_id = %order.client_id, "the order is already on the venue; reading it back");
                let conditional = order.kind.is_conditional();
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

    pub async fn query(
        &self,
        symbol: &str,
        id: &ClientOrderId,
        conditional: bool,
    ) -> Result<Option<OrderReport>, ExchangeError> {
        match self {
            Connection::Binance(c) => c.query(symbol, id, conditional).await,
            Connection::Okx(c) => c.query(symbol, id, conditional).await,
            Connection::Paper(c) => Ok(c.query(id)),
        }
    }

    /// Every open order of `symbol` (venue spelling), ours or not.
    pub async fn open_orders(
        &self,
        symbol: &str,
        priority: Priority,
    ) -> Result<Vec<OrderReport>, ExchangeError> {
        match self {
            Connection::Binance(c) => c.open_orders(symbol, priority).await,
            Connection::Okx(c) => c.open_orders(symbol, priority).await,
            Connection::Paper(c) => Ok(c.open_orders(symbol)),
        }
    }

    /// Positions at `priority` (a periodic sweep reads in the background).
    pub async fn positions_at(
        &self,
        priority: Priority,
    ) -> Result<Vec<PositionReport>, ExchangeError> {
        match self {
            Connection::Binance(c) => c.positions_at(priority).await,
            Connection::Okx(c) => c.positions_at(priority).await,
            Connection::Paper(c) => Ok(c.positions()),
        }
    }

    /// An order by client id at `priority`.
    pub async fn query_at(
        &self,
        symbol: &str,
        id: &ClientOrderId,
        conditional: bool,
        priority: Priority,
    ) -> Result<Option<OrderReport>, ExchangeError> {
        match self {
            Connection::Binance(c) => c.query_at(symbol, id, conditional, priority).await,
            Connection::Okx(c) => c.query_at(symbol, id, conditional, priority).await,
            Connection::Paper(c) => Ok(c.query(id)),
        }
    }

    pub async fn cancel(
        &self,
        symbol: &str,
        id: &ClientOrderId,
        conditional: bool,
    ) -> Result<OrderReport, ExchangeError> {
        match self {
            Connection::Binance(c) => c.cancel(symbol, id, conditional).await,
            Connection::Okx(c) => c.cancel(symbol, id, conditional).await,
            Connection::Paper(c) => c.cancel(id),
        }
    }
}
