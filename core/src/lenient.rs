//! Decimals from JSON written either way: `"5.5"` or `5.5`.
//!
//! Frontends send numbers, TradingView substitutes `{{close}}` into a quoted
//! string, and neither should be refused for it. Numbers are read through
//! their shortest decimal spelling (what the sender wrote), never kept as
//! binary floating point.

use rust_decimal::Decimal;
use serde::de::{self, Deserializer, Visitor};
use std::fmt;
use std::str::FromStr;

struct LenientVisitor;

impl<'de> Visitor<'de> for LenientVisitor {
    type Value = Decimal;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a decimal number or a string holding one")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal, E> {
        Ok(Decimal::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
        Ok(Decimal::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Decimal, E> {
        if !v.is_finite() {
            return Err(E::custom("not a finite number"));
        }
        // `Display` for f64 prints the shortest string that reads back as
        // the same double: the digits the sender wrote.
        let s = v.to_string();
        Decimal::from_str(&s)
            .or_else(|_| Decimal::from_scientific(&s))
            .map_err(|_| E::custom("number out of range"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
        let t = v.trim();
        if t.is_empty() || t.len() > 40 {
            return Err(E::custom("not a decimal number"));
        }
        Decimal::from_str(t)
            .or_else(|_| Decimal::from_scientific(t))
            .map_err(|_| E::custom("not a decimal number"))
    }
}

/// `#[serde(deserialize_with = "lenient::decimal")]`
pub fn decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    d.deserialize_any(LenientVisitor)
}

/// `#[serde(default, deserialize_with = "lenient::opt_decimal")]`
pub fn opt_decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    struct Opt;
    impl<'de> Visitor<'de> for Opt {
        type Value = Option<Decimal>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a decimal number, a string holding one, or null")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            decimal(d).map(Some)
        }
    }
    d.deserialize_option(Opt)
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;
    use rust_decimal_macros::dec;

    #[derive(serde::Deserialize)]
    struct T {
        #[serde(default, deserialize_with = "super::opt_decimal")]
        v: Option<Decimal>,
    }

    fn read(json: &str) -> Result<Option<Decimal>, serde_json::Error> {
        serde_json::from_str::<T>(json).map(|t| t.v)
    }

    #[test]
    fn reads_numbers_strings_and_absence() {
        assert_eq!(read(r#"{"v": 43000.1}"#).unwrap(), Some(dec!(43000.1)));
        assert_eq!(read(r#"{"v": 0.1}"#).unwrap(), Some(dec!(0.1)));
        assert_eq!(read(r#"{"v": 7}"#).unwrap(), Some(dec!(7)));
        assert_eq!(read(r#"{"v": " 2.50 "}"#).unwrap(), Some(dec!(2.50)));
        assert_eq!(read(r#"{"v": "1e-3"}"#).unwrap(), Some(dec!(0.001)));
        assert_eq!(read(r#"{"v": null}"#).unwrap(), None);
        assert_eq!(read(r#"{}"#).unwrap(), None);
        assert!(read(r#"{"v": "abc"}"#).is_err());
        assert!(read(r#"{"v": true}"#).is_err());
        assert!(read(r#"{"v": 1e300}"#).is_err());
    }
}
