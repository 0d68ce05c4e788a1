//! Lists that keep growing (position history, orders, signals): a numbered
//! page for a table, or an opaque cursor for a feed that keeps its place
//! while new rows arrive. Every answer carries `next_cursor`, so a client can
//! start with a page and go on by cursor.

use super::views::Page;
use crate::problem::ApiError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use tradingbot_actors::history::{After, Slice, Window};
use tradingbot_core::symbol::Symbol;
use utoipa::IntoParams;

/// Which page of a list.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1-based page number (not together with `cursor`).
    #[param(minimum = 1)]
    pub page: Option<u64>,
    /// Items per page (1–200, default 50).
    #[param(minimum = 1, maximum = 200)]
    pub per_page: Option<u64>,
    /// The `next_cursor` of the previous answer: the items after its last
    /// one, in the same order and with the same filters.
    pub cursor: Option<String>,
}

/// A list's request resolved: the rows to read and how to name the page.
pub struct Listing {
    page: Option<u64>,
    pub window: Window,
    /// The list (and its order) the cursors belong to.
    kind: &'static str,
}

impl ListQuery {
    /// `kind` names the list and its order, so a cursor of another list or
    /// order is refused rather than misread.
    pub fn resolve(&self, kind: &'static str) -> Result<Listing, ApiError> {
        let limit = self.per_page.unwrap_or(50);
        if !(1..=200).contains(&limit) {
            return Err(ApiError::invalid("per_page", "must be between 1 and 200"));
        }
        match (self.page, self.cursor.as_deref()) {
            (Some(_), Some(_)) => Err(ApiError::invalid(
                "cursor",
                "give either `page` or `cursor`, not both",
            )),
            (None, Some(raw)) => Ok(Listing {
                page: None,
                window: Window {
                    offset: 0,
                    limit,
                    after: Some(decode(kind, raw)?),
                },
                kind,
            }),
            (page, None) => {
                let page = page.unwrap_or(1);
                if page == 0 {
                    return Err(ApiError::invalid("page", "pages start at 1"));
                }
                let offset = (page - 1)
                    .checked_mul(limit)
                    .ok_or_else(|| ApiError::invalid("page", "too large"))?;
                Ok(Listing {
                    page: Some(page),
                    window: Window {
                        offset,
                        limit,
                        after: None,
                    },
                    kind,
                })
            }
        }
    }
}

impl Listing {
    /// The answer: the rows as views, and a cursor after the last one when
    /// more follow.
    pub fn page<R, T>(
        &self,
        slice: Slice<R>,
        key: impl Fn(&R) -> After,
        view: impl FnMut(R) -> T,
    ) -> Page<T> {
        let next_cursor = if slice.more {
            slice.items.last().map(|last| encode(self.kind, &key(last)))
        } else {
            None
        };
        Page {
            items: slice.items.into_iter().map(view).collect(),
            total: slice.total,
            page: self.page,
            per_page: self.window.limit,
            next_cursor,
        }
    }
}

fn encode(kind: &str, after: &After) -> String {
    let body = match after {
        After::At(t, id) => format!(
            "{kind}|t|{}|{id}",
            t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
        ),
        After::Pnl(p, id) => format!("{kind}|p|{p}|{id}"),
        After::Id(id) => format!("{kind}|i|{id}"),
    };
    URL_SAFE_NO_PAD.encode(body)
}

fn decode(kind: &str, raw: &str) -> Result<After, ApiError> {
    let bad = || ApiError::invalid("cursor", "not a cursor this list gave");
    let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).map_err(|_| bad())?;
    let body = String::from_utf8(bytes).map_err(|_| bad())?;
    let parts: Vec<&str> = body.split('|').collect();
    if parts.first() != Some(&kind) {
        return Err(ApiError::invalid(
            "cursor",
            "belongs to another list or sort order: start again without it",
        ));
    }
    let id = |s: &str| s.parse::<i64>().map_err(|_| bad());
    match parts[1..] {
        ["t", t, i] => Ok(After::At(
            DateTime::parse_from_rfc3339(t)
                .map_err(|_| bad())?
                .with_timezone(&Utc),
            id(i)?,
        )),
        ["p", p, i] => Ok(After::Pnl(p.parse::<Decimal>().map_err(|_| bad())?, id(i)?)),
        ["i", i] => Ok(After::Id(id(i)?)),
        _ => Err(bad()),
    }
}

/// `2026-11-24` (a whole day: from its start, or to its end) or an RFC 3339
/// instant.
pub fn instant(field: &str, raw: &str, end_of_day: bool) -> Result<DateTime<Utc>, ApiError> {
    let raw = raw.trim();
    if let Ok(d) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        let day = if end_of_day {
            d.succ_opt().unwrap_or(d)
        } else {
            d
        };
        return Ok(day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| ApiError::invalid(field, "a date (2026-11-24) or an RFC 3339 instant"))
}

/// Either end of a range, when given.
pub type Bound = Option<DateTime<Utc>>;

/// A `from`–`to` range of days or instants, `to` after `from`.
pub fn range(from: Option<&str>, to: Option<&str>) -> Result<(Bound, Bound), ApiError> {
    let from = from.map(|s| instant("from", s, false)).transpose()?;
    let to = to.map(|s| instant("to", s, true)).transpose()?;
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        return Err(ApiError::invalid("to", "must come after `from`"));
    }
    Ok((from, to))
}

/// Any spelling of a symbol (`btc/usdt`, `BTC-USDT-SWAP`) as stored.
pub fn symbol(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => Symbol::parse(s)
            .map(|s| Some(s.as_str().to_owned()))
            .map_err(|e| ApiError::invalid("symbol", e.to_string())),
    }
}

/// An optional word from a closed set, in any case.
pub fn one_of(
    field: &str,
    raw: Option<&str>,
    allowed: &[&str],
) -> Result<Option<String>, ApiError> {
    match raw.map(|s| s.trim().to_ascii_lowercase()) {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) if allowed.contains(&s.as_str()) => Ok(Some(s)),
        Some(_) => Err(ApiError::invalid(
            field,
            format!("one of {}", allowed.join(", ")),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_read_back_what_they_wrote_and_refuse_other_lists() {
        let t = DateTime::parse_from_rfc3339("2026-12-07T10:11:12.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        for after in [
            After::At(t, 42),
            After::Pnl("-12.3400".parse().unwrap(), 7),
            After::Id(9),
        ] {
            let raw = encode("orders", &after);
            assert_eq!(decode("orders", &raw).unwrap(), after);
            assert!(decode("signals", &raw).is_err());
        }
        assert!(decode("orders", "not base64 !").is_err());
        assert!(decode("orders", &URL_SAFE_NO_PAD.encode("orders|t|x|1")).is_err());
        assert!(decode("orders", &URL_SAFE_NO_PAD.encode("orders|i")).is_err());
    }

    #[test]
    fn pages_and_cursors_do_not_mix() {
        let q = ListQuery {
            page: Some(2),
            per_page: Some(10),
            cursor: Some(encode("orders", &After::Id(1))),
        };
        assert!(q.resolve("orders").is_err());
        let q = ListQuery {
            page: Some(3),
            per_page: Some(10),
            cursor: None,
        };
        assert_eq!(q.resolve("orders").unwrap().window.offset, 20);
        let q = ListQuery {
            page: Some(u64::MAX),
            per_page: Some(200),
            cursor: None,
        };
        assert!(q.resolve("orders").is_err());
    }
}
