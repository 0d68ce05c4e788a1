//! The execution core: from an authenticated alert to a protected position.
//!
//! ```text
//! webhook ─► UserActor ── check_entry (in place) ─► RiskBook (one per shard)
//!               │ Open / Close, with its RiskApproved
//!               ▼
//!            ExchangeActor (one per account) ─► venue
//!               │ results, stream updates
//!               ▼
//!            UserActor ─► EventBus ─► PersistActor (write-behind), live subscribers
//! ```
//!
//! A user's actors (user, exchange) and risk book live on one arbiter — a
//! shard — so a signal crosses threads once, on the way in. Users are spread over
//! one shard per core.

pub mod bus;
pub mod events;
pub mod exchange;
pub mod fences;
pub mod ids;
pub mod journal;
pub mod mailbox;
pub mod monitor;
pub mod persist;
pub mod registry;
pub mod risk;
pub mod rows;
pub mod runtime;
pub mod user;
pub mod view;

pub use runtime::{CloseError, Execution, ExecutionOptions};

use crate::exchange::updates::VenueUpdate;
use actix::prelude::*;
use tradingbot_core::exchange::{ClientOrderId, ExchangeError, OrderReport, PositionReport};

/// Which shard (arbiter) a user's actors live on.
pub fn shard_of(user_id: i64, shards: usize) -> usize {
    (user_id.unsigned_abs() % shards.max(1) as u64) as usize
}

/// What an exchange actor reports to its owner.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub enum FromExchange {
    EntryDone {
        position_id: i64,
        result: Result<OrderReport, ExchangeError>,
    },
    ProtectionDone {
        position_id: i64,
        placed: Vec<exchange::Placed>,
    },
    /// A limit entry cancelled (its time ran out, or a part filled): the
    /// order as it ended.
    EntryCanceled {
        position_id: i64,
        result: Result<OrderReport, ExchangeError>,
    },
    CloseDone {
        position_id: i64,
        result: Result<OrderReport, ExchangeError>,
        canceled: Vec<(ClientOrderId, Result<OrderReport, ExchangeError>)>,
    },
    Venue {
        account_id: i64,
        update: VenueUpdate,
    },
    Reconciled {
        account_id: i64,
        positions: Result<Vec<PositionReport>, ExchangeError>,
        orders: Vec<(ClientOrderId, Result<Option<OrderReport>, ExchangeError>)>,
        /// Open orders by symbol (venue spelling), for the symbols that
        /// could be listed.
        open: std::collections::HashMap<String, Vec<OrderReport>>,
    },
}
