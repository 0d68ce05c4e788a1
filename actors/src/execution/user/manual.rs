//! Closing a position by hand (the API's close button, Telegram's `/close`):
//! the same reduce-only market close a `close` alert sends, recorded as a
//! signal of its own so the history shows who closed it.

use super::{Phase, UserActor};
use crate::execution::events::{Event, SignalRecord};
use crate::store::enums::SignalOutcome;
use actix::prelude::*;
use chrono::Utc;
use std::time::Instant;

/// Where a manual close came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseSource {
    Api,
    Telegram,
    /// The AI watch, for a strategy with `ai_auto_exit` on.
    Ai,
}

impl CloseSource {
    fn as_str(self) -> &'static str {
        match self {
            CloseSource::Api => "api",
            CloseSource::Telegram => "telegram",
            CloseSource::Ai => "ai",
        }
    }
}

/// Close one of the user's open positions now.
#[derive(Message)]
#[rtype(result = "Result<CloseStarted, CloseRefused>")]
pub struct ClosePosition {
    pub position_id: i64,
    pub source: CloseSource,
    pub source_ip: Option<String>,
}

/// The close order is on its way; the position closes when it fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseStarted {
    pub position_id: i64,
    pub signal_id: i64,
    pub client_order_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloseRefused {
    #[error("no such open position")]
    NotFound,
    #[error("the position is still being opened; try again when its entry has filled")]
    StillOpening,
    #[error("the position is already being closed")]
    AlreadyClosing,
}

impl CloseRefused {
    pub fn code(&self) -> &'static str {
        match self {
            CloseRefused::NotFound => "not_found",
            CloseRefused::StillOpening => "position_opening",
            CloseRefused::AlreadyClosing => "position_closing",
        }
    }
}

impl Handler<ClosePosition> for UserActor {
    type Result = Result<CloseStarted, CloseRefused>;

    fn handle(&mut self, msg: ClosePosition, _: &mut Self::Context) -> Self::Result {
        let key = self.key_of(msg.position_id).ok_or(CloseRefused::NotFound)?;
        let l = &self.live[&key];
        match l.phase {
            Phase::Entering => return Err(CloseRefused::StillOpening),
            Phase::Closing => return Err(CloseRefused::AlreadyClosing),
            Phase::Open => {}
        }
        let started = Instant::now();
        let signal_id = self.ids.next();
        // The signal row first: the close order refers to it.
        self.publish(Event::Signal(SignalRecord {
            id: signal_id,
            user_id: Some(self.user_id),
            strategy_id: Some(l.strategy_id),
            signal_key: format!("manual-{signal_id}"),
            action: Some("close".to_owned()),
            symbol: Some(l.rec.symbol.clone()),
            price: None,
            outcome: SignalOutcome::Accepted,
            reason: Some(format!("manual_close ({})", msg.source.as_str())),
            latency_us: started.elapsed().as_micros() as i64,
            source_ip: msg.source_ip,
            received_at: Utc::now(),
        }));
        self.launch_close(&key, signal_id, None, "manual");
        let client_order_id = self.live[&key]
            .closing_id
            .as_ref()
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default();
        Ok(CloseStarted {
            position_id: msg.position_id,
            signal_id,
            client_order_id,
        })
    }
}
