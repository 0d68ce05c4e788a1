//! The asset chart: account equity snapshots folded into one curve per
//! interval. Each point is the total as of the interval's end — every
//! account's latest snapshot by then, an account that missed a snapshot
//! (its exchange did not answer) carried at its last known value rather
//! than counted as zero, which would draw a crash that never happened.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// One account's equity at one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub account_id: i64,
    pub taken_at: DateTime<Utc>,
    pub wallet_balance: Decimal,
    pub unrealized_pnl: Decimal,
    pub equity: Decimal,
}

/// The curve at one interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Point {
    /// The interval's start.
    pub time: DateTime<Utc>,
    pub equity: Decimal,
    pub wallet_balance: Decimal,
    pub unrealized_pnl: Decimal,
    /// Each account's equity in the total, by id.
    pub accounts: Vec<(i64, Decimal)>,
}

/// The start of the interval of `every_secs` holding `t` (intervals are
/// aligned on the Unix epoch, so days start at UTC midnight).
pub fn interval_start(t: DateTime<Utc>, every_secs: i64) -> DateTime<Utc> {
    let every = every_secs.max(1);
    let s = t.timestamp().div_euclid(every) * every;
    DateTime::from_timestamp(s, 0).unwrap_or(t)
}

/// The curve of `snapshots` (any order) per interval of `every_secs`: one
/// point per interval holding at least one snapshot, oldest first.
/// `before` holds each account's last snapshot before the range, so the
/// first points carry accounts not snapshotted in them yet.
pub fn curve(before: &[Snapshot], snapshots: &[Snapshot], every_secs: i64) -> Vec<Point> {
    let mut latest: BTreeMap<i64, &Snapshot> = BTreeMap::new();
    for s in before {
        let keep = latest
            .get(&s.account_id)
            .is_none_or(|l| l.taken_at < s.taken_at);
        if keep {
            latest.insert(s.account_id, s);
        }
    }
    let mut ordered: Vec<&Snapshot> = snapshots.iter().collect();
    ordered.sort_by_key(|s| (s.taken_at, s.account_id));
    let mut out: Vec<Point> = Vec::new();
    let mut i = 0;
    while i < ordered.len() {
        let start = interval_start(ordered[i].taken_at, every_secs);
        while i < ordered.len() && interval_start(ordered[i].taken_at, every_secs) == start {
            latest.insert(ordered[i].account_id, ordered[i]);
            i += 1;
        }
        out.push(Point {
            time: start,
            equity: latest.values().map(|s| s.equity).sum(),
            wallet_balance: latest.values().map(|s| s.wallet_balance).sum(),
            unrealized_pnl: latest.values().map(|s| s.unrealized_pnl).sum(),
            accounts: latest.values().map(|s| (s.account_id, s.equity)).collect(),
        });
    }
    out
}

/// The change from `from` to `to` in money and percent of `from` (`None`
/// when `from` is not positive).
pub fn change(from: Decimal, to: Decimal) -> (Decimal, Option<Decimal>) {
    let diff = to - from;
    let pct = (from > Decimal::ZERO).then(|| (diff / from * Decimal::ONE_HUNDRED).round_dp(4));
    (diff, pct)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use rust_decimal_macros::dec;

    fn snap(account_id: i64, h: u32, m: u32, equity: Decimal) -> Snapshot {
        Snapshot {
            account_id,
            taken_at: Utc.with_ymd_and_hms(2026, 12, 7, h, m, 0).unwrap(),
            wallet_balance: equity - dec!(1),
            unrealized_pnl: dec!(1),
            equity,
        }
    }

    #[test]
    fn a_missed_snapshot_carries_the_last_value() {
        let before = [snap(2, 0, 0, dec!(500)), snap(2, 0, 30, dec!(510))];
        let snaps = [
            snap(1, 1, 0, dec!(1000)),
            snap(1, 2, 0, dec!(1100)),
            snap(2, 2, 0, dec!(520)),
            // Account 2 missed 03:00.
            snap(1, 3, 0, dec!(1050)),
        ];
        let c = curve(&before, &snaps, 3600);
        let totals: Vec<Decimal> = c.iter().map(|p| p.equity).collect();
        assert_eq!(totals, [dec!(1510), dec!(1620), dec!(1570)]);
        assert_eq!(c[2].accounts, [(1, dec!(1050)), (2, dec!(520))]);
        assert_eq!(c[0].wallet_balance, dec!(1508));
        assert_eq!(c[0].unrealized_pnl, dec!(2));
    }

    #[test]
    fn a_day_closes_at_its_last_snapshot() {
        let snaps = [
            snap(1, 0, 0, dec!(1000)),
            snap(1, 12, 0, dec!(1200)),
            snap(1, 23, 0, dec!(900)),
        ];
        let c = curve(&[], &snaps, 86_400);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].equity, dec!(900));
        assert_eq!(
            c[0].time,
            Utc.with_ymd_and_hms(2026, 12, 7, 0, 0, 0).unwrap()
        );
    }

    #[test]
    fn change_in_money_and_percent() {
        assert_eq!(change(dec!(1000), dec!(1025)), (dec!(25), Some(dec!(2.5))));
        assert_eq!(change(dec!(0), dec!(5)), (dec!(5), None));
        let t = Utc.with_ymd_and_hms(2026, 12, 7, 13, 59, 59).unwrap();
        assert_eq!(
            interval_start(t, 3600),
            Utc.with_ymd_and_hms(2026, 12, 7, 13, 0, 0).unwrap()
        );
    }
}
