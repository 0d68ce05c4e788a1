//! The user's order records: created before an order is sent, brought up
//! to date by every answer and stream update, dropped once nothing needs them.

use super::*;

impl UserActor {
    /// Records an order we are about to send.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn record_new_order(
        &mut self,
        account_id: i64,
        strategy_id: i64,
        signal_id: Option<i64>,
        position_id: Option<i64>,
        req: &OrderRequest,
        quantity: Decimal,
        status: OrderStatus,
    ) {
        let now = Utc::now();
        let (order_type, price, trigger) = kind_db(&req.kind);
        let rec = OrderRecord {
            id: self.ids.next(),
            user_id: self.user_id,
            position_id,
            strategy_id: Some(strategy_id),
            signal_id,
            account_id,
            exchange: self.venue_name(account_id),
            venue_order_id: None,
            client_order_id: req.client_id.clone(),
            leg: leg_db(req.client_id.leg().unwrap_or(Leg::Entry)),
            symbol: req.symbol.clone(),
            side: order_side(req.side),
            order_type,
            price,
            trigger_price: trigger,
            quantity,
            filled_qty: Decimal::ZERO,
            avg_fill_price: None,
            fee: Decimal::ZERO,
            fee_asset: None,
            reduce_only: req.reduce_only,
            status,
            error_code: None,
            error_message: None,
            created_at: now,
            updated_at: now,
            filled_at: None,
        };
        self.publish(Event::OrderPlaced(rec.clone()));
        self.orders.insert(req.client_id.as_str().to_owned(), rec);
    }

    /// Records an order of ours found resting on the venue that the store
    /// does not know (its record was lost with a process): every order on
    /// the venue is in the store.
    pub(super) fn record_found(
        &mut self,
        account_id: i64,
        id: &ClientOrderId,
        r: &OrderReport,
        position_id: Option<i64>,
    ) {
        if self.orders.contains_key(id.as_str()) {
            return;
        }
        let Some((strategy_id, signal_id, leg)) = id.parts() else {
            return;
        };
        let order_type = match leg {
            Leg::StopLoss | Leg::MovedStop => OrderType::StopMarket,
            Leg::TrailingStop => OrderType::TrailingStopMarket,
            Leg::TakeProfit | Leg::Target(_) => OrderType::TakeProfitMarket,
            Leg::Entry | Leg::FallbackEntry | Leg::Close => OrderType::Market,
        };
        let now = Utc::now();
        let rec = OrderRecord {
            id: self.ids.next(),
            user_id: self.user_id,
            position_id,
            strategy_id: Some(strategy_id),
            // The signal may not be stored (an adopted position's): the
            // order stands without it rather than refer to nothing.
            signal_id: None,
            account_id,
            exchange: self.venue_name(account_id),
            venue_order_id: (!r.venue_order_id.is_empty()).then(|| r.venue_order_id.clone()),
            client_order_id: id.clone(),
            leg: leg_db(leg),
            symbol: r.symbol.clone(),
            side: order_side(r.side),
            order_type,
            price: None,
            trigger_price: None,
            quantity: r.quantity,
            filled_qty: r.filled,
            avg_fill_price: r.avg_price,
            fee: Decimal::ZERO,
            fee_asset: None,
            reduce_only: leg.is_protective() || leg == Leg::Close,
            status: OrderStatus::from_report(r.status),
            error_code: None,
            error_message: None,
            created_at: now,
            updated_at: now,
            filled_at: None,
        };
        let _ = signal_id;
        self.publish(Event::OrderFound(rec.clone()));
        self.orders.insert(id.as_str().to_owned(), rec);
    }

    /// Applies what the venue says about one of our orders; publishes the change.
    pub(super) fn apply_report(
        &mut self,
        id: &ClientOrderId,
        report: Result<&OrderReport, &ExchangeError>,
        fee: Option<Decimal>,
        position_id: Option<i64>,
    ) -> Option<OrderRecord> {
        let rec = self.orders.get_mut(id.as_str())?;
        let before = rec.status;
        let now = Utc::now();
        match report {
            Ok(r) => {
                let status = OrderStatus::from_report(r.status);
                if !r.venue_order_id.is_empty() {
                    rec.venue_order_id = Some(r.venue_order_id.clone());
                }
                rec.status = status;
                if r.filled > Decimal::ZERO {
                    rec.filled_qty = r.filled;
                }
                if r.avg_price.is_some() {
                    rec.avg_fill_price = r.avg_price;
                }
                if let Some(f) = fee.or(r.fee) {
                    rec.fee = f.abs();
                }
                if r.fee_asset.is_some() {
                    rec.fee_asset = r.fee_asset.clone();
                }
                if status == OrderStatus::Filled && rec.filled_at.is_none() {
                    rec.filled_at = Some(now);
                }
            }
            Err(e) => {
                rec.status = if e.outcome_unknown() {
                    OrderStatus::Unknown
                } else {
                    OrderStatus::Rejected
                };
                rec.error_code = Some(e.code().unwrap_or(e.kind()).to_owned());
                rec.error_message = Some(e.to_string());
            }
        }
        if position_id.is_some() {
            rec.position_id = position_id;
        }
        rec.updated_at = now;
        let rec = rec.clone();
        self.publish(Event::for_order(Some(before), rec.clone()));
        if rec.status.is_final_db() && !self.references(id) {
            self.orders.remove(id.as_str());
        }
        Some(rec)
    }

    /// Whether a live position still needs the record of order `id`.
    pub(super) fn references(&self, id: &ClientOrderId) -> bool {
        self.live.values().any(|l| &l.entry_id == id || l.owns(id))
    }

    /// Drops finished orders nothing refers to any more.
    pub(super) fn prune_orders(&mut self) {
        let done: Vec<String> = self
            .orders
            .iter()
            .filter(|(_, o)| o.status.is_final_db() && !self.references(&o.client_order_id))
            .map(|(k, _)| k.clone())
            .collect();
        for k in done {
            self.orders.remove(&k);
        }
    }
}
