//! Why an alert was not traded, as the trader reads it.
//!
//! Every refusal the execution runtime can give is one variant here, so the
//! code a client receives, the reason stored with the signal and the retry
//! decision all come from the same value. How a refusal is spoken over HTTP
//! is decided at the web edge, in one place; the runtime never names a
//! status code.

use crate::risk::RiskRejection;
use crate::sizing::SizingError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The user's trading is being handed to another instance.
    #[error("this user's trading is moving to another instance; retry")]
    OwnerChanging,
    /// Taken over from another instance and not yet compared with the venue.
    #[error(
        "this instance has just taken the account over and is comparing it with the \
         exchange; the alert was not traded, send it again shortly"
    )]
    OwnerUnavailable,
    #[error("the strategy is not active; activate it to trade")]
    StrategyInactive,
    #[error("the strategy has no exchange account; set account_id")]
    NoAccount,
    #[error("the strategy's exchange account is not connected")]
    AccountUnavailable,
    #[error("{symbol} is not one of the strategy's symbols ({allowed})")]
    SymbolNotInStrategy { symbol: String, allowed: String },
    #[error("the strategy trades several symbols; the alert must say which (`symbol`)")]
    SymbolRequired,
    /// Another strategy of the user holds the position on this account.
    #[error("strategy {holder} holds the {symbol} position on this account")]
    SymbolBusy { holder: i64, symbol: String },
    #[error("the previous order for this position is still in flight")]
    OrderInFlight,
    #[error("no matching open position on {symbol} to close")]
    NoOpenPosition { symbol: String },
    #[error("already {side} on {symbol}")]
    AlreadyInPosition { side: &'static str, symbol: String },
    /// New entries wait while the store catches up with a burst (closes
    /// are still taken).
    #[error(
        "the service is still writing down a burst of earlier trades; new positions are \
         taken again in a moment (closes are taken now)"
    )]
    RecordsBehind,
    /// An alert asked for more than its strategy allows.
    #[error("{field} {value} is above the strategy's {max}")]
    OverrideOutOfBounds {
        field: &'static str,
        value: String,
        max: String,
    },
    /// One of the strategy's protections holds new positions back.
    #[error(transparent)]
    Protection(#[from] crate::protections::Tripped),
    /// An alert sized by a field its strategy's sizing mode does not use.
    #[error("{field} does not apply: the strategy sizes by `{mode}`")]
    OverrideNotForSizing {
        field: &'static str,
        mode: &'static str,
    },
    #[error("instrument rules for {0} are not loaded yet; retry shortly")]
    RulesNotLoaded(String),
    #[error("no recent price for {0}")]
    NoRecentPrice(String),
    #[error("{symbol} allows at most {max}x")]
    LeverageAboveVenueMax { symbol: String, max: u32 },
    #[error("the account's balance is not known yet; retry shortly")]
    BalanceUnavailable,
    #[error(transparent)]
    Sizing(#[from] SizingError),
    #[error(transparent)]
    Risk(#[from] RiskRejection),
    /// A reversal closed the position, and risk refused the new entry.
    #[error("position closed; the reversing entry was refused: {}", .0.message)]
    ReversalEntryRefused(RiskRejection),
    /// A broken internal invariant: nothing was sent.
    #[error("{0}")]
    Internal(&'static str),
}

impl Refusal {
    /// Stable machine code for the API and the stored reason.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::OwnerChanging => "owner_changing",
            Refusal::OwnerUnavailable => "owner_unavailable",
            Refusal::StrategyInactive => "strategy_inactive",
            Refusal::NoAccount => "no_account",
            Refusal::AccountUnavailable => "account_unavailable",
            Refusal::SymbolNotInStrategy { .. } => "symbol_not_in_strategy",
            Refusal::SymbolRequired => "symbol_required",
            Refusal::SymbolBusy { .. } => "symbol_busy",
            Refusal::OrderInFlight => "order_in_flight",
            Refusal::NoOpenPosition { .. } => "no_open_position",
            Refusal::AlreadyInPosition { .. } => "already_in_position",
            Refusal::RecordsBehind => "records_behind",
            Refusal::OverrideOutOfBounds { .. } => "override_out_of_bounds",
            Refusal::OverrideNotForSizing { .. } => "override_not_for_sizing",
            Refusal::Protection(t) => t.code(),
            Refusal::RulesNotLoaded(_) | Refusal::NoRecentPrice(_) => "market_data_unavailable",
            Refusal::LeverageAboveVenueMax { .. } => "leverage_above_venue_max",
            Refusal::BalanceUnavailable => "balance_unavailable",
            Refusal::Sizing(e) => e.code(),
            Refusal::Risk(r) | Refusal::ReversalEntryRefused(r) => r.rule.as_str(),
            Refusal::Internal(_) => "internal",
        }
    }

    /// Nothing was traded and the cause passes by itself: the same alert
    /// may be let through again (the replay gate forgets it).
    pub fn passes(&self) -> bool {
        matches!(
            self,
            Refusal::OwnerChanging
                | Refusal::OwnerUnavailable
                | Refusal::AccountUnavailable
                | Refusal::RecordsBehind
                | Refusal::RulesNotLoaded(_)
                | Refusal::NoRecentPrice(_)
                | Refusal::BalanceUnavailable
        )
    }

    /// What the signal's record keeps: `code: message`.
    pub fn reason(&self) -> String {
        format!("{}: {self}", self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::risk::RiskRule;

    #[test]
    fn codes_and_messages_read_as_the_api_has_always_said_them() {
        let r = Refusal::OverrideOutOfBounds {
            field: "leverage",
            value: "10x".into(),
            max: "5x".into(),
        };
        assert_eq!(r.code(), "override_out_of_bounds");
        assert_eq!(
            r.reason(),
            "override_out_of_bounds: leverage 10x is above the strategy's 5x"
        );
        let risk = RiskRejection {
            rule: RiskRule::MaxOpenPositions,
            message: "10 positions are open".into(),
        };
        assert_eq!(Refusal::from(risk.clone()).code(), "max_open_positions");
        assert_eq!(
            Refusal::ReversalEntryRefused(risk).to_string(),
            "position closed; the reversing entry was refused: 10 positions are open"
        );
        assert_eq!(Refusal::Sizing(SizingError::NoBalance).code(), "no_balance");
    }

    #[test]
    fn only_causes_that_pass_let_the_alert_through_again() {
        assert!(Refusal::NoRecentPrice("BTCUSDT".into()).passes());
        assert!(!Refusal::StrategyInactive.passes());
        assert!(
            !Refusal::Risk(RiskRejection {
                rule: RiskRule::UserKillSwitch,
                message: String::new(),
            })
            .passes()
        );
    }
}
