//! Stored rows back into the records the actors work with: the one place
//! an order or position read from the store (a restart's restore, the
//! monitor's load, Telegram's `/positions`) becomes a record.

use super::events::{OrderRecord, PositionRecord};
use crate::store::entities::{orders, positions};
use tradingbot_core::exchange::ClientOrderId;

/// A row that cannot be a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    /// Its exchange account was removed: nothing can trade it.
    #[error("position {0} has no exchange account")]
    NoAccount(i64),
    /// Not placed by us (an order the venue reported that we adopted).
    #[error("order {0} does not carry one of our client ids")]
    ForeignClientId(i64),
}

impl TryFrom<positions::Model> for PositionRecord {
    type Error = RowError;

    fn try_from(p: positions::Model) -> Result<Self, RowError> {
        Ok(PositionRecord {
            id: p.id,
            user_id: p.user_id,
            strategy_id: p.strategy_id,
            account_id: p.account_id.ok_or(RowError::NoAccount(p.id))?,
            exchange: p.exchange,
            symbol: p.symbol,
            side: p.side,
            entry_price: p.entry_price.get(),
            quantity: p.quantity.get(),
            leverage: u32::try_from(p.leverage).unwrap_or(1).max(1),
            margin_mode: p.margin_mode,
            stop_loss: p.stop_loss.map(|d| d.get()),
            take_profit: p.take_profit.map(|d| d.get()),
            liquidation_price: p.liquidation_price.map(|d| d.get()),
            realized_pnl: p.realized_pnl.get(),
            fees: p.fees.get(),
            exit_price: p.exit_price.map(|d| d.get()),
            close_reason: p.close_reason,
            status: p.status,
            opened_at: p.opened_at,
            closed_at: p.closed_at,
            // Kept by the actor that holds the position, not in the row.
            targets: Vec::new(),
        })
    }
}

impl TryFrom<orders::Model> for OrderRecord {
    type Error = RowError;

    fn try_from(o: orders::Model) -> Result<Self, RowError> {
        let client_order_id = ClientOrderId::try_from(o.client_order_id.clone())
            .map_err(|_| RowError::ForeignClientId(o.id))?;
        Ok(OrderRecord {
            id: o.id,
            user_id: o.user_id,
            position_id: o.position_id,
            strategy_id: o.strategy_id,
            signal_id: o.signal_id,
            account_id: o.account_id.unwrap_or_default(),
            exchange: o.exchange,
            venue_order_id: o.order_id,
            client_order_id,
            leg: o.leg,
            symbol: o.symbol,
            side: o.side,
            order_type: o.order_type,
            price: o.price.map(|d| d.get()),
            trigger_price: o.trigger_price.map(|d| d.get()),
            quantity: o.quantity.get(),
            filled_qty: o.filled_qty.get(),
            avg_fill_price: o.avg_fill_price.map(|d| d.get()),
            fee: o.fee.get(),
            fee_asset: o.fee_asset,
            reduce_only: o.reduce_only,
            status: o.status,
            error_code: o.error_code,
            error_message: o.error_message,
            created_at: o.created_at,
            updated_at: o.updated_at,
            filled_at: o.filled_at,
        })
    }
}
