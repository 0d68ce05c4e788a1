//! TradingView alerts: reading the message, proving who sent it, and what it
//! asks for.
//!
//! TradingView posts the alert message as the body, cannot add headers and
//! sends `text/plain` even when the message is JSON. The secret therefore
//! travels in the body and is compared in constant time; programmatic
//! senders may instead sign `timestamp + "." + body` with HMAC-SHA256 in a
//! header. Every alert carries a timestamp (±5 minutes) and an id (or is
//! identified by the hash of its body) so that a replay never trades twice.

use crate::lenient;
use crate::symbol::Symbol;
use chrono::{DateTime, NaiveDateTime};
use hmac::{Hmac, KeyInit, Mac};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::borrow::Cow;

/// How far an alert's timestamp may be from our clock.
pub const MAX_SKEW_MS: i64 = 5 * 60 * 1000;
/// Longest `id` kept as the dedupe key; longer ones are hashed.
const MAX_ID_LEN: usize = 96;

/// What an alert asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Be long (open, or reverse a short).
    Long,
    /// Be short.
    Short,
    /// Close whatever is open.
    Close,
    /// Close a long; ignored when short or flat.
    CloseLong,
    /// Close a short; ignored when long or flat.
    CloseShort,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Long => "long",
            Action::Short => "short",
            Action::Close => "close",
            Action::CloseLong => "close_long",
            Action::CloseShort => "close_short",
        }
    }

    /// Reads `action`, refined by TradingView's `market_position` when the
    /// alert has it: a strategy's `sell` that leaves it `flat` closed a long,
    /// it did not open a short.
    pub fn read(action: &str, market_position: Option<&str>) -> Option<Self> {
        let a = action.trim().to_ascii_lowercase();
        let base = match a.as_str() {
            "long" | "buy" | "enter_long" | "entry_long" => Action::Long,
            "short" | "sell" | "enter_short" | "entry_short" => Action::Short,
            "close" | "flat" | "exit" | "close_all" => Action::Close,
            "close_long" | "exit_long" => Action::CloseLong,
            "close_short" | "exit_short" => Action::CloseShort,
            _ => return None,
        };
        let position = market_position
            .map(|p| p.trim().to_ascii_lowercase())
            .filter(|p| !p.is_empty() && !p.starts_with("{{"));
        Some(match (base, position.as_deref()) {
            (Action::Long, Some("flat")) => Action::CloseShort,
            (Action::Short, Some("flat")) => Action::CloseLong,
            (Action::Long | Action::Short, Some("long")) => Action::Long,
            (Action::Long | Action::Short, Some("short")) => Action::Short,
            (a, _) => a,
        })
    }
}

/// Why an alert was refused before it reached a strategy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertError {
    #[error("the body is not a JSON alert: {0}")]
    Malformed(String),
    #[error("`{field}`: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("the secret or signature does not match")]
    BadCredentials,
    #[error("the alert is {skew_s} s away from our clock (more than 300 s): replayed or delayed")]
    Stale { skew_s: i64 },
}

/// The alert JSON, borrowing from the body where it can.
#[derive(Debug, Deserialize)]
struct RawAlert<'a> {
    #[serde(default, borrow)]
    secret: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    action: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    market_position: Option<Cow<'a, str>>,
    #[serde(default, borrow, alias = "ticker")]
    symbol: Option<Cow<'a, str>>,
    #[serde(default)]
    price: Option<serde_json::Value>,
    #[serde(default, alias = "time")]
    timestamp: Option<serde_json::Value>,
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    size_pct: Option<Decimal>,
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    leverage: Option<Decimal>,
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    tp_pct: Option<Decimal>,
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    sl_pct: Option<Decimal>,
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    risk_pct: Option<Decimal>,
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    qty_usdt: Option<Decimal>,
    #[serde(default)]
    tp_levels: Option<Vec<crate::exits::Target>>,
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    trail_pct: Option<Decimal>,
    #[serde(default, borrow)]
    order_type: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    limit_price: Option<Decimal>,
}

/// Per-signal changes to the strategy's sizing and protection, still to be
/// bounded by the strategy's own limits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub size_pct: Option<Decimal>,
    pub leverage: Option<u32>,
    pub tp_pct: Option<Decimal>,
    pub sl_pct: Option<Decimal>,
    /// Risk-sized strategies: the share of the wallet lost at the stop.
    pub risk_pct: Option<Decimal>,
    /// Fixed-amount strategies: the notional in USDT.
    pub qty_usdt: Option<Decimal>,
    /// This entry's take-profit targets (the strategy's break-even applies
    /// when it fits them).
    pub tp_levels: Option<Vec<crate::exits::Target>>,
    /// This entry's trailing stop callback, %; 0: none.
    pub trail_pct: Option<Decimal>,
    /// `Some(true)`: a limit entry (at `limit_price`, or the strategy's
    /// offset from the price); `Some(false)`: at market.
    pub limit: Option<bool>,
    pub limit_price: Option<Decimal>,
}

/// A parsed alert, not yet authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub action: Action,
    pub symbol: Option<Symbol>,
    /// TradingView's `{{close}}`: informational, orders use the venue's price.
    pub price: Option<Decimal>,
    /// Unix milliseconds, when the alert has a timestamp.
    pub timestamp_ms: Option<i64>,
    /// What identifies this alert for the replay cache.
    pub dedupe_key: String,
    pub overrides: Overrides,
    secret: Option<String>,
}

/// Reads a timestamp the ways TradingView and programs write it: ISO-8601
/// (`{{timenow}}` is `2024-01-15T10:30:00Z`), or epoch seconds/milliseconds.
pub fn parse_timestamp(v: &serde_json::Value) -> Option<i64> {
    let from_number = |n: i64| {
        // Seconds until the year 5138; milliseconds beyond.
        if n.abs() < 100_000_000_000 {
            n.checked_mul(1000)
        } else {
            Some(n)
        }
    };
    match v {
        serde_json::Value::Number(n) => n.as_i64().and_then(from_number),
        serde_json::Value::String(s) => {
            let s = s.trim();
            if let Ok(n) = s.parse::<i64>() {
                return from_number(n);
            }
            if let Ok(t) = DateTime::parse_from_rfc3339(s) {
                return Some(t.timestamp_millis());
            }
            for fmt in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M"] {
                if let Ok(t) = NaiveDateTime::parse_from_str(s.trim_end_matches('Z'), fmt) {
                    return Some(t.and_utc().timestamp_millis());
                }
            }
            None
        }
        _ => None,
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn decimal_field(v: &serde_json::Value, field: &'static str) -> Result<Decimal, AlertError> {
    let bad = || AlertError::Invalid {
        field,
        reason: "not a number".into(),
    };
    match v {
        serde_json::Value::String(s) => s.trim().parse().map_err(|_| bad()),
        serde_json::Value::Number(n) => n.to_string().parse().map_err(|_| bad()),
        _ => Err(bad()),
    }
}

/// Finds the JSON object in a body: TradingView may send it as
/// `text/plain`, sometimes with a byte-order mark or surrounding whitespace.
fn json_part(body: &[u8]) -> &[u8] {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(0);
    let end = body
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(body.len(), |e| e + 1);
    &body[start..end.max(start)]
}

/// The replay key of an alert without an `id`: the hash of its JSON.
pub fn body_key(body: &[u8]) -> String {
    format!("body:{}", sha256_hex(json_part(body)))
}

impl Alert {
    /// Parses an alert body. Unknown fields are ignored, so messages written
    /// for other bots (3Commas-style extras) still work.
    pub fn parse(body: &[u8]) -> Result<Alert, AlertError> {
        let json = json_part(body);
        let raw: RawAlert<'_> = serde_json::from_slice(json).map_err(|e| {
            AlertError::Malformed(match e.classify() {
                serde_json::error::Category::Data => e.to_string(),
                _ => format!("invalid JSON at line {} column {}", e.line(), e.column()),
            })
        })?;
        let action_raw = raw.action.as_deref().ok_or(AlertError::Invalid {
            field: "action",
            reason: "required: long, short, close, close_long, close_short, buy, sell or flat"
                .into(),
        })?;
        let action = Action::read(action_raw, raw.market_position.as_deref()).ok_or_else(|| {
            AlertError::Invalid {
                field: "action",
                reason: format!(
                    "`{}` is not one of long, short, close, close_long, close_short, buy, sell, flat",
                    action_raw.chars().take(32).collect::<String>()
                ),
            }
        })?;
        let symbol = match raw.symbol.as_deref() {
            None => None,
            Some(s) => Some(Symbol::parse(s).map_err(|e| AlertError::Invalid {
                field: "symbol",
                reason: e.to_string(),
            })?),
        };
        let price = match &raw.price {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => {
                let p = decimal_field(v, "price")?;
                (p > Decimal::ZERO)
                    .then_some(p)
                    .ok_or(AlertError::Invalid {
                        field: "price",
                        reason: "must be positive".into(),
                    })?;
                Some(p)
            }
        };
        let timestamp_ms =
            match &raw.timestamp {
                None | Some(serde_json::Value::Null) => None,
                Some(v) => Some(
                    parse_timestamp(v).ok_or(AlertError::Invalid {
                        field: "timestamp",
                        reason:
                            "expected ISO-8601 (TradingView's {{timenow}}) or epoch milliseconds"
                                .into(),
                    })?,
                ),
            };
        let id = match &raw.id {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            Some(_) => {
                return Err(AlertError::Invalid {
                    field: "id",
                    reason: "a non-empty string or a number".into(),
                });
            }
        };
        let dedupe_key = match id {
            Some(id) if id.len() <= MAX_ID_LEN && id.bytes().all(|b| b.is_ascii_graphic()) => {
                format!("id:{id}")
            }
            Some(id) => format!("idh:{}", sha256_hex(id.as_bytes())),
            None => body_key(json),
        };
        let leverage = match raw.leverage {
            None => None,
            Some(l) if l.fract().is_zero() && l >= Decimal::ONE && l <= Decimal::from(125) => {
                l.to_u32()
            }
            Some(_) => {
                return Err(AlertError::Invalid {
                    field: "leverage",
                    reason: "a whole number from 1 to 125".into(),
                });
            }
        };
        for (field, v) in [
            ("size_pct", raw.size_pct),
            ("tp_pct", raw.tp_pct),
            ("sl_pct", raw.sl_pct),
            ("risk_pct", raw.risk_pct),
        ] {
            if let Some(v) = v
                && (v <= Decimal::ZERO || v > Decimal::ONE_HUNDRED)
            {
                return Err(AlertError::Invalid {
                    field,
                    reason: "a percentage above 0 and at most 100".into(),
                });
            }
        }
        if let Some(q) = raw.qty_usdt
            && q <= Decimal::ZERO
        {
            return Err(AlertError::Invalid {
                field: "qty_usdt",
                reason: "an amount of USDT above 0".into(),
            });
        }
        if let Some(targets) = &raw.tp_levels {
            let ladder = crate::exits::Ladder {
                targets: targets.clone(),
                break_even: None,
            };
            if let Err(e) = ladder.validate() {
                let first = &e[0];
                return Err(AlertError::Invalid {
                    field: "tp_levels",
                    reason: format!("{}: {}", first.field, first.message),
                });
            }
        }
        if let Some(t) = raw.trail_pct.filter(|t| !t.is_zero())
            && let Err(e) = crate::trailing::Trailing::from_fields(Some(t), None)
        {
            return Err(AlertError::Invalid {
                field: "trail_pct",
                reason: e[0].message.clone(),
            });
        }
        let limit = match raw.order_type.as_deref() {
            None => raw.limit_price.map(|_| true),
            Some("market") if raw.limit_price.is_none() => Some(false),
            Some("limit") => Some(true),
            Some("market") => {
                return Err(AlertError::Invalid {
                    field: "limit_price",
                    reason: "only with order_type `limit`".into(),
                });
            }
            Some(_) => {
                return Err(AlertError::Invalid {
                    field: "order_type",
                    reason: "`market` or `limit`".into(),
                });
            }
        };
        if raw.limit_price.is_some_and(|p| p <= Decimal::ZERO) {
            return Err(AlertError::Invalid {
                field: "limit_price",
                reason: "a price above 0".into(),
            });
        }
        Ok(Alert {
            action,
            symbol,
            price,
            timestamp_ms,
            dedupe_key,
            overrides: Overrides {
                size_pct: raw.size_pct,
                leverage,
                tp_pct: raw.tp_pct,
                sl_pct: raw.sl_pct,
                risk_pct: raw.risk_pct,
                qty_usdt: raw.qty_usdt,
                tp_levels: raw.tp_levels,
                trail_pct: raw.trail_pct,
                limit,
                limit_price: raw.limit_price,
            },
            secret: raw.secret.map(Cow::into_owned),
        })
    }

    /// The secret the body carries (routing of the token-less webhook path).
    pub fn secret(&self) -> Option<&str> {
        self.secret.as_deref()
    }

    /// Whether the alert carries a secret in its body.
    pub fn has_secret(&self) -> bool {
        self.secret.is_some()
    }

    /// Checks the body's secret against the strategy's, in constant time.
    pub fn secret_matches(&self, expected: &[u8]) -> bool {
        self.secret
            .as_deref()
            .is_some_and(|s| constant_time_eq(s.as_bytes(), expected))
    }

    /// Checks the alert's own timestamp against `now_ms`.
    pub fn check_fresh(&self, now_ms: i64) -> Result<(), AlertError> {
        match self.timestamp_ms {
            None => Err(AlertError::Invalid {
                field: "timestamp",
                reason: "required (TradingView's {{timenow}}), or sign the request".into(),
            }),
            Some(t) => check_skew(t, now_ms),
        }
    }
}

/// ±5 minutes.
pub fn check_skew(timestamp_ms: i64, now_ms: i64) -> Result<(), AlertError> {
    let skew = timestamp_ms.saturating_sub(now_ms);
    if skew.abs() > MAX_SKEW_MS {
        Err(AlertError::Stale {
            skew_s: skew / 1000,
        })
    } else {
        Ok(())
    }
}

/// Compares without leaking, through timing, how much of a guess was right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    // Lengths are not secret (the secret's length is fixed); contents are.
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// The signature a programmatic sender puts in `X-Webhook-Signature`:
/// lowercase hex of HMAC-SHA256(secret, timestamp + "." + body).
pub fn signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Verifies a header signature and its timestamp (epoch seconds or
/// milliseconds) against `now_ms`.
pub fn verify_signature(
    secret: &[u8],
    timestamp: &str,
    signature_hex: &str,
    body: &[u8],
    now_ms: i64,
) -> Result<(), AlertError> {
    let ts = parse_timestamp(&serde_json::Value::String(timestamp.to_owned())).ok_or(
        AlertError::Invalid {
            field: "X-Webhook-Timestamp",
            reason: "epoch seconds or milliseconds".into(),
        },
    )?;
    let given = signature_hex
        .trim()
        .strip_prefix("sha256=")
        .unwrap_or(signature_hex.trim());
    let expected = signature(secret, timestamp, body);
    if !constant_time_eq(given.to_ascii_lowercase().as_bytes(), expected.as_bytes()) {
        return Err(AlertError::BadCredentials);
    }
    check_skew(ts, now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    const NOW: i64 = 1_705_314_600_000; // 2024-01-15T10:30:00Z

    #[test]
    fn exit_and_entry_fields_of_an_alert_are_read_and_checked() {
        let a = Alert::parse(
            br#"{"action":"long","tp_levels":[{"gain_pct":1,"size_pct":"50"},{"gain_pct":2,"size_pct":50}],
                 "trail_pct":"1.5","order_type":"limit","limit_price":"42800.5"}"#,
        )
        .unwrap();
        let o = &a.overrides;
        assert_eq!(o.tp_levels.as_ref().map(Vec::len), Some(2));
        assert_eq!(
            (o.trail_pct, o.limit, o.limit_price),
            (Some(dec!(1.5)), Some(true), Some(dec!(42800.5)))
        );
        // A price alone means a limit; `market` alone means at market.
        let p = Alert::parse(br#"{"action":"short","limit_price":43000}"#).unwrap();
        assert_eq!(p.overrides.limit, Some(true));
        let m = Alert::parse(br#"{"action":"short","order_type":"market","trail_pct":0}"#).unwrap();
        assert_eq!(
            (m.overrides.limit, m.overrides.trail_pct),
            (Some(false), Some(dec!(0)))
        );
        for (body, field) in [
            (
                &br#"{"action":"long","tp_levels":[{"gain_pct":1,"size_pct":60}]}"#[..],
                "tp_levels",
            ),
            (br#"{"action":"long","trail_pct":20}"#, "trail_pct"),
            (br#"{"action":"long","order_type":"stop"}"#, "order_type"),
            (
                br#"{"action":"long","order_type":"market","limit_price":1}"#,
                "limit_price",
            ),
            (br#"{"action":"long","limit_price":-1}"#, "limit_price"),
        ] {
            match Alert::parse(body) {
                Err(AlertError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{}: {other:?}", String::from_utf8_lossy(body)),
            }
        }
    }

    #[test]
    fn reads_the_generated_alert_as_tradingview_fills_it() {
        let body = br#"{
  "secret": "s3cret",
  "action": "buy",
  "market_position": "long",
  "symbol": "BTCUSDT.P",
  "price": "43250.5",
  "timestamp": "2024-01-15T10:30:00Z",
  "id": "Long-2024-01-15T10:30:00Z"
}"#;
        let a = Alert::parse(body).unwrap();
        assert_eq!(a.action, Action::Long);
        assert_eq!(a.symbol.as_ref().unwrap().as_str(), "BTCUSDT");
        assert_eq!(a.price, Some(dec!(43250.5)));
        assert_eq!(a.timestamp_ms, Some(NOW));
        assert_eq!(a.dedupe_key, "id:Long-2024-01-15T10:30:00Z");
        assert!(a.secret_matches(b"s3cret"));
        assert!(!a.secret_matches(b"s3creT"));
        assert!(!a.secret_matches(b"s3cre"));
        assert!(a.check_fresh(NOW + 299_000).is_ok());
        assert!(matches!(
            a.check_fresh(NOW + 301_000),
            Err(AlertError::Stale { skew_s: -301 })
        ));
    }

    #[test]
    fn market_position_tells_a_close_from_a_reversal() {
        assert_eq!(Action::read("sell", Some("flat")), Some(Action::CloseLong));
        assert_eq!(Action::read("buy", Some("flat")), Some(Action::CloseShort));
        assert_eq!(Action::read("sell", Some("short")), Some(Action::Short));
        assert_eq!(Action::read("sell", None), Some(Action::Short));
        assert_eq!(
            Action::read("SELL", Some("{{strategy.market_position}}")),
            Some(Action::Short)
        );
        assert_eq!(Action::read("flat", None), Some(Action::Close));
        assert_eq!(
            Action::read("close_short", Some("flat")),
            Some(Action::CloseShort)
        );
        assert_eq!(Action::read("hold", None), None);
    }

    #[test]
    fn plain_text_bodies_extra_fields_and_numbers() {
        let body = b"\xEF\xBB\xBF  {\"secret\":\"k\",\"action\":\"short\",\"ticker\":\"ETHUSDT\",\"price\":2500.25,\
            \"time\":1705314600000,\"id\":42,\"delay_seconds\":0,\"message_type\":\"bot\",\"bot_id\":1,\
            \"size_pct\":5,\"leverage\":\"2\",\"tp_pct\":3.5,\"sl_pct\":\"1\"}\n";
        let a = Alert::parse(body).unwrap();
        assert_eq!(a.action, Action::Short);
        assert_eq!(a.price, Some(dec!(2500.25)));
        assert_eq!(a.timestamp_ms, Some(NOW));
        assert_eq!(a.dedupe_key, "id:42");
        assert_eq!(
            a.overrides,
            Overrides {
                size_pct: Some(dec!(5)),
                leverage: Some(2),
                tp_pct: Some(dec!(3.5)),
                sl_pct: Some(dec!(1)),
                ..Default::default()
            }
        );
        let sized = Alert::parse(br#"{"action":"long","risk_pct":"0.5","qty_usdt":250}"#).unwrap();
        assert_eq!(
            (sized.overrides.risk_pct, sized.overrides.qty_usdt),
            (Some(dec!(0.5)), Some(dec!(250)))
        );
        for (body, field) in [
            (&br#"{"action":"long","risk_pct":0}"#[..], "risk_pct"),
            (br#"{"action":"long","risk_pct":101}"#, "risk_pct"),
            (br#"{"action":"long","qty_usdt":-5}"#, "qty_usdt"),
        ] {
            assert!(
                matches!(Alert::parse(body), Err(AlertError::Invalid { field: f, .. }) if f == field),
                "{field}"
            );
        }
    }

    #[test]
    fn without_an_id_the_body_is_the_key() {
        let a = Alert::parse(br#"{"action":"close","timestamp":1705314600}"#).unwrap();
        let b = Alert::parse(br#" {"action":"close","timestamp":1705314600} "#).unwrap();
        let c = Alert::parse(br#"{"action":"close","timestamp":1705314601}"#).unwrap();
        assert_eq!(a.timestamp_ms, Some(NOW));
        assert!(a.dedupe_key.starts_with("body:"));
        assert_eq!(a.dedupe_key, b.dedupe_key);
        assert_ne!(a.dedupe_key, c.dedupe_key);
        assert!(!a.has_secret());
    }

    #[test]
    fn refusals_name_the_field() {
        let field = |body: &[u8]| match Alert::parse(body) {
            Err(AlertError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(br#"{"secret":"k"}"#), "action");
        assert_eq!(field(br#"{"action":"hodl"}"#), "action");
        assert_eq!(field(br#"{"action":"long","symbol":"BTCEUR"}"#), "symbol");
        assert_eq!(field(br#"{"action":"long","price":"abc"}"#), "price");
        assert_eq!(field(br#"{"action":"long","price":-1}"#), "price");
        assert_eq!(
            field(br#"{"action":"long","timestamp":"yesterday"}"#),
            "timestamp"
        );
        assert_eq!(field(br#"{"action":"long","leverage":200}"#), "leverage");
        assert_eq!(field(br#"{"action":"long","leverage":2.5}"#), "leverage");
        assert_eq!(field(br#"{"action":"long","size_pct":0}"#), "size_pct");
        assert_eq!(field(br#"{"action":"long","id":{}}"#), "id");
        assert!(matches!(
            Alert::parse(b"long BTCUSDT"),
            Err(AlertError::Malformed(_))
        ));
        assert!(matches!(
            Alert::parse(b"[1,2]"),
            Err(AlertError::Malformed(_))
        ));
        assert!(matches!(Alert::parse(b""), Err(AlertError::Malformed(_))));
        assert!(matches!(
            Alert::parse(br#"{"action":"long","secret":5}"#),
            Err(AlertError::Malformed(_))
        ));
    }

    #[test]
    fn header_signatures_cover_timestamp_and_body() {
        let body = br#"{"action":"long","symbol":"BTCUSDT"}"#;
        let ts = NOW.to_string();
        let sig = signature(b"k", &ts, body);
        // Independently: HMAC-SHA256("k", "1705314600000." + body).
        let mut mac = Hmac::<Sha256>::new_from_slice(b"k").unwrap();
        mac.update(format!("{ts}.").as_bytes());
        mac.update(body);
        assert_eq!(sig, hex::encode(mac.finalize().into_bytes()));
        assert!(verify_signature(b"k", &ts, &sig, body, NOW).is_ok());
        assert!(
            verify_signature(
                b"k",
                &ts,
                &format!("sha256={}", sig.to_uppercase()),
                body,
                NOW
            )
            .is_ok()
        );
        assert_eq!(
            verify_signature(b"x", &ts, &sig, body, NOW),
            Err(AlertError::BadCredentials)
        );
        assert_eq!(
            verify_signature(b"k", &ts, &sig, b"{}", NOW),
            Err(AlertError::BadCredentials)
        );
        assert!(matches!(
            verify_signature(b"k", &ts, &sig, body, NOW + 600_000),
            Err(AlertError::Stale { .. })
        ));
        let secs = (NOW / 1000).to_string();
        assert!(verify_signature(b"k", &secs, &signature(b"k", &secs, body), body, NOW).is_ok());
    }

    #[test]
    fn timestamps_in_every_spelling() {
        use serde_json::json;
        for v in [
            json!("2024-01-15T10:30:00Z"),
            json!("2024-01-15T10:30:00.000Z"),
            json!("2024-01-15T19:30:00+09:00"),
            json!("2024-01-15 10:30:00"),
            json!(1_705_314_600),
            json!(1_705_314_600_000i64),
            json!("1705314600000"),
        ] {
            assert_eq!(parse_timestamp(&v), Some(NOW), "{v}");
        }
        assert_eq!(parse_timestamp(&json!(true)), None);
    }
}
