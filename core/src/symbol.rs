//! Perpetual-swap symbols as a trader writes them, and as each venue spells them.
//!
//! TradingView's `{{ticker}}` on a Binance perpetual chart is `BTCUSDT.P`
//! (with `BINANCE:` when the exchange prefix is on), OKX lists the same market
//! as `BTC-USDT-SWAP`, and people type `BTC/USDT`. A strategy and its alerts
//! must agree whichever spelling arrives, so everything is reduced to one
//! canonical form (`BTCUSDT`: base then quote, upper case) and translated to
//! the venue's form only when a request is built.

use crate::exchange::Venue;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Quote assets of the linear perpetuals we trade, longest first so that
/// `BTCUSDC` is not read as `BTCUSD` + `C`.
const QUOTES: [&str; 4] = ["FDUSD", "USDT", "USDC", "USD"];

/// A linear perpetual market, venue-independent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Symbol {
    canonical: String,
    base_len: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a perpetual symbol (expected e.g. BTCUSDT, BTCUSDT.P or BTC-USDT-SWAP)")]
pub struct BadSymbol(pub String);

impl Symbol {
    /// Reads any of the spellings above.
    pub fn parse(raw: &str) -> Result<Self, BadSymbol> {
        let bad = || BadSymbol(raw.chars().take(40).collect());
        let mut s = raw.trim();
        // `BINANCE:BTCUSDT.P` → `BTCUSDT.P`
        if let Some((_, rest)) = s.split_once(':') {
            s = rest;
        }
        let upper = s.to_ascii_uppercase();
        let mut s = upper.as_str();
        for suffix in [".P", "-SWAP", "PERP", "_PERP"] {
            if let Some(rest) = s.strip_suffix(suffix) {
                s = rest;
                break;
            }
        }
        let (base, quote) = if let Some((b, q)) = s.split_once(['-', '/', '_']) {
            (b, q)
        } else {
            let quote = QUOTES
                .iter()
                .find(|q| s.len() > q.len() && s.ends_with(*q))
                .ok_or_else(bad)?;
            (&s[..s.len() - quote.len()], *quote)
        };
        let ok = |p: &str| {
            !p.is_empty() && p.len() <= 20 && p.bytes().all(|c| c.is_ascii_alphanumeric())
        };
        if !ok(base) || !QUOTES.contains(&quote) {
            return Err(bad());
        }
        Ok(Self {
            canonical: format!("{base}{quote}"),
            base_len: base.len(),
        })
    }

    /// `BTCUSDT`.
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    pub fn base(&self) -> &str {
        &self.canonical[..self.base_len]
    }

    pub fn quote(&self) -> &str {
        &self.canonical[self.base_len..]
    }

    /// The venue's spelling: `BTCUSDT` on Binance and paper, `BTC-USDT-SWAP` on OKX.
    pub fn on(&self, venue: Venue) -> String {
        match venue {
            Venue::Binance | Venue::Paper => self.canonical.clone(),
            Venue::Okx => format!("{}-{}-SWAP", self.base(), self.quote()),
        }
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

impl TryFrom<String> for Symbol {
    type Error = BadSymbol;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Symbol> for String {
    fn from(s: Symbol) -> String {
        s.canonical
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_one_market_is_one_symbol() {
        for raw in [
            "BTCUSDT",
            "btcusdt",
            "BTCUSDT.P",
            "BINANCE:BTCUSDT.P",
            "BTC-USDT-SWAP",
            "OKX:BTC-USDT-SWAP",
            "BTC/USDT",
            "BTC_USDT",
            " BTCUSDTPERP ",
        ] {
            let s = Symbol::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(s.as_str(), "BTCUSDT", "{raw}");
            assert_eq!((s.base(), s.quote()), ("BTC", "USDT"));
        }
    }

    #[test]
    fn venues_spell_it_their_way() {
        let s = Symbol::parse("1000PEPEUSDC").unwrap();
        assert_eq!(s.base(), "1000PEPE");
        assert_eq!(s.on(Venue::Binance), "1000PEPEUSDC");
        assert_eq!(s.on(Venue::Okx), "1000PEPE-USDC-SWAP");
        assert_eq!(
            Symbol::parse("ETH-USDT-SWAP").unwrap().on(Venue::Paper),
            "ETHUSDT"
        );
    }

    #[test]
    fn refuses_what_is_not_a_perpetual() {
        for raw in [
            "", "USDT", "BTC", "BTCEUR", "BTC-", "BTC USDT", "BT$USDT", "-USDT",
        ] {
            assert!(Symbol::parse(raw).is_err(), "{raw:?}");
        }
    }
}
