//! Every message the bot sends, in English and Korean, as Telegram HTML
//! (only `<b>`, `<i>`, `<code>`; every other `<`, `>`, `&` escaped).

use crate::execution::events::{PnlStep, PositionRecord, PositionValue, RiskAlert};
use crate::store::enums::PositionSide;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use tradingbot_core::exchange::PositionSide as CoreSide;
use tradingbot_core::performance::Summary;
use tradingbot_core::sizing;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Ko,
}

impl Lang {
    pub fn parse(s: &str) -> Self {
        if s.eq_ignore_ascii_case("ko") {
            Lang::Ko
        } else {
            Lang::En
        }
    }

    fn pick<'a>(self, en: &'a str, ko: &'a str) -> &'a str {
        match self {
            Lang::En => en,
            Lang::Ko => ko,
        }
    }
}

/// Escapes text for Telegram's HTML mode.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// A price or quantity as the exchange gave it, without trailing zeros.
pub fn plain(d: Decimal) -> String {
    d.normalize().to_string()
}

/// Money with a sign and two decimals: `+29.67`, `-5.00`.
pub fn signed(d: Decimal) -> String {
    let r = d.round_dp(2);
    if r >= Decimal::ZERO {
        format!("+{r:.2}")
    } else {
        format!("{r:.2}")
    }
}

fn pct(d: Decimal) -> String {
    format!("{} %", signed(d))
}

fn side(s: PositionSide) -> &'static str {
    match s {
        PositionSide::Long => "LONG",
        PositionSide::Short => "SHORT",
    }
}

fn core_side(s: PositionSide) -> CoreSide {
    match s {
        PositionSide::Long => CoreSide::Long,
        PositionSide::Short => CoreSide::Short,
    }
}

fn icon(d: Decimal) -> &'static str {
    if d >= Decimal::ZERO { "🟢" } else { "🔴" }
}

fn duration(lang: Lang, secs: i64) -> String {
    let (h, m) = (secs / 3600, (secs % 3600) / 60);
    match lang {
        Lang::En if h > 0 => format!("{h} h {m} min"),
        Lang::En => format!("{m} min {} s", secs % 60),
        Lang::Ko if h > 0 => format!("{h}시간 {m}분"),
        Lang::Ko => format!("{m}분 {}초", secs % 60),
    }
}

/// An entry filled: every number the trader needs, and what the stop-loss
/// and take-profit would make.
pub fn position_opened(lang: Lang, p: &PositionRecord) -> String {
    let s = core_side(p.side);
    let mut lines = vec![
        format!(
            "{} <b>{} {}</b> {}",
            if p.side == PositionSide::Long {
                "📈"
            } else {
                "📉"
            },
            side(p.side),
            esc(&p.symbol),
            lang.pick("opened", "진입"),
        ),
        format!(
            "{}: <code>{}</code>",
            lang.pick("Entry", "진입가"),
            plain(p.entry_price)
        ),
        format!(
            "{}: <code>{}</code>",
            lang.pick("Quantity", "수량"),
            plain(p.quantity)
        ),
        format!(
            "{}: <code>{}x</code>",
            lang.pick("Leverage", "레버리지"),
            p.leverage
        ),
    ];
    if !p.targets.is_empty() {
        // Each target with what its share makes there.
        for t in &p.targets {
            let share = p.quantity * t.size_pct / Decimal::ONE_HUNDRED;
            let gain = sizing::pnl(s, p.entry_price, t.price, share);
            lines.push(format!(
                "{} {}: <code>{}</code> · {}% ({} {})",
                lang.pick("Target", "목표"),
                t.target,
                plain(t.price),
                plain(t.size_pct),
                lang.pick("expected", "예상"),
                signed(gain.round_dp(2))
            ));
        }
    } else if let Some(tp) = p.take_profit {
        let gain = sizing::pnl(s, p.entry_price, tp, p.quantity);
        lines.push(format!(
            "{}: <code>{}</code> ({} {})",
            lang.pick("Take-profit", "익절가"),
            plain(tp),
            lang.pick("expected", "예상"),
            signed(gain)
        ));
    }
    if let Some(sl) = p.stop_loss {
        let loss = sizing::pnl(s, p.entry_price, sl, p.quantity);
        lines.push(format!(
            "{}: <code>{}</code> ({} {})",
            lang.pick("Stop-loss", "손절가"),
            plain(sl),
            lang.pick("expected", "예상"),
            signed(loss)
        ));
    }
    lines.push(format!("<i>{}</i>", esc(&p.exchange)));
    lines.join("\n")
}

/// A target of a ladder filled: what it realized, what remains, where the
/// stop is now.
pub fn target_filled(lang: Lang, p: &PositionRecord) -> String {
    let filled: Vec<String> = p
        .targets
        .iter()
        .filter(|t| t.state == "filled")
        .map(|t| t.target.to_string())
        .collect();
    let mut lines = vec![
        format!(
            "🎯 <b>{} {}</b> {} {}",
            side(p.side),
            esc(&p.symbol),
            lang.pick("target", "목표"),
            filled.join(", "),
        ),
        format!(
            "{}: <code>{}</code>",
            lang.pick("Realized", "실현 손익"),
            signed(p.realized_pnl.round_dp(2))
        ),
        format!(
            "{}: <code>{}</code>",
            lang.pick("Remaining", "남은 수량"),
            plain(p.quantity)
        ),
    ];
    if let Some(sl) = p.stop_loss {
        lines.push(format!(
            "{}: <code>{}</code>",
            lang.pick("Stop-loss", "손절가"),
            plain(sl)
        ));
    }
    if let Some(next) = p.targets.iter().find(|t| t.state != "filled") {
        lines.push(format!(
            "{} {}: <code>{}</code>",
            lang.pick("Next target", "다음 목표"),
            next.target,
            plain(next.price)
        ));
    }
    lines.join("\n")
}

pub fn position_closed(lang: Lang, p: &PositionRecord) -> String {
    let margin = p.entry_price * p.quantity / Decimal::from(p.leverage.max(1));
    let roe = if margin.is_zero() {
        Decimal::ZERO
    } else {
        p.realized_pnl / margin * Decimal::ONE_HUNDRED
    };
    let secs = p
        .closed_at
        .map_or(0, |c| (c - p.opened_at).num_seconds().max(0));
    let reason = p.close_reason.as_deref().unwrap_or("signal");
    let reason = match (lang, reason) {
        (Lang::Ko, "stop_loss") => "손절",
        (Lang::Ko, "take_profit") => "익절",
        (Lang::Ko, "trailing_stop") => "추적 손절",
        (Lang::Ko, "signal") => "신호",
        (Lang::Ko, "manual") => "수동 청산",
        (Lang::Ko, "liquidation") => "강제 청산",
        (Lang::Ko, "reversal") => "반전",
        (_, r) => r,
    };
    [
        format!(
            "{} <b>{} {}</b> {}",
            icon(p.realized_pnl),
            side(p.side),
            esc(&p.symbol),
            lang.pick("closed", "청산"),
        ),
        format!(
            "{}: <b>{}</b> (ROE {})",
            lang.pick("Realized PnL", "실현 손익"),
            signed(p.realized_pnl),
            pct(roe)
        ),
        format!(
            "{}: <code>{}</code> → <code>{}</code>",
            lang.pick("Entry → exit", "진입 → 청산"),
            plain(p.entry_price),
            p.exit_price.map_or_else(|| "?".into(), plain)
        ),
        format!("{}: {}", lang.pick("Fees", "수수료"), plain(p.fees)),
        format!(
            "{}: {}",
            lang.pick("Held", "보유 시간"),
            duration(lang, secs)
        ),
        format!("{}: {}", lang.pick("Reason", "사유"), esc(reason)),
    ]
    .join("\n")
}

pub fn pnl_step(lang: Lang, s: &PnlStep) -> String {
    format!(
        "{} <b>{} {}</b> {} <b>{}</b> ({}) @ <code>{}</code>",
        if s.step > 0 { "⬆️" } else { "⬇️" },
        side(s.side),
        esc(&s.symbol),
        lang.pick("PnL", "손익"),
        pct(s.pnl_percentage),
        signed(s.unrealized_pnl),
        plain(s.current_price)
    )
}

pub fn risk_alert(lang: Lang, a: &RiskAlert) -> String {
    let title = match a.rule {
        Some(_) => lang.pick("Signal refused", "신호 거부"),
        None => lang.pick("Attention", "주의"),
    };
    let rule = a.rule.map(|r| format!(" <code>{}</code>", r.as_str()));
    format!(
        "⚠️ <b>{title}</b>{}\n{}",
        rule.unwrap_or_default(),
        esc(&a.message)
    )
}

/// A security alert: already in the user's language; its first line is
/// the title.
pub fn security_alert(a: &crate::execution::events::SecurityAlert) -> String {
    let (title, rest) = a.message.split_once('\n').unwrap_or((&a.message, ""));
    format!("🔐 <b>{}</b>\n{}", esc(title), esc(rest))
}

/// The AI watch's advice, with the command that acts on it.
pub fn ai_advice(lang: Lang, a: &crate::execution::events::AiAdvice) -> String {
    let action = match a.action.as_str() {
        "close" => lang.pick("close", "청산"),
        "reduce" => lang.pick("reduce", "축소"),
        _ => lang.pick("reverse", "반전"),
    };
    let head = if a.auto_closed {
        format!(
            "🤖 <b>{}</b> {} {}",
            lang.pick("AI closed", "AI 조기 청산"),
            esc(&a.side),
            esc(&a.symbol)
        )
    } else {
        format!(
            "🤖 <b>{}</b>: {action} {} {}",
            lang.pick("AI recommends", "AI 추천"),
            esc(&a.side),
            esc(&a.symbol)
        )
    };
    let mut out = format!(
        "{head}\n{}: {:.0} % ({})\n{}",
        lang.pick("Confidence", "신뢰도"),
        a.confidence * 100.0,
        esc(&a.sources.join(", ")),
        esc(&a.reason)
    );
    if !a.auto_closed {
        out.push_str(&format!(
            "\n{} <code>/close {}</code>",
            lang.pick("To close it:", "청산하려면:"),
            esc(&a.symbol)
        ));
    }
    out
}

fn summary_lines(lang: Lang, s: &Summary) -> Vec<String> {
    let mut lines = vec![
        format!(
            "{}: <b>{}</b>",
            lang.pick("PnL", "손익"),
            signed(s.total_pnl)
        ),
        format!(
            "{}: {} ({} {:.1} %)",
            lang.pick("Trades", "거래"),
            s.total_trades,
            lang.pick("win rate", "승률"),
            s.win_rate
        ),
    ];
    if let Some(pf) = s.profit_factor {
        lines.push(format!(
            "{}: {pf:.2}",
            lang.pick("Profit factor", "수익 팩터")
        ));
    }
    if let (Some(b), Some(w)) = (&s.best_trade, &s.worst_trade)
        && s.total_trades > 1
    {
        lines.push(format!(
            "{}: {} {} · {}: {} {}",
            lang.pick("Best", "최고"),
            esc(&b.symbol),
            signed(b.pnl),
            lang.pick("worst", "최저"),
            esc(&w.symbol),
            signed(w.pnl)
        ));
    }
    lines
}

/// The report of a period (`day`, `week`, `month`).
pub fn report(
    lang: Lang,
    period: &str,
    from: NaiveDate,
    to: NaiveDate,
    s: &Summary,
    open: usize,
) -> String {
    let title = match (lang, period) {
        (Lang::En, "day") => format!("📊 <b>Daily report</b> {from}"),
        (Lang::En, "week") => format!("📊 <b>Weekly report</b> {from} – {to}"),
        (Lang::En, _) => format!("📊 <b>Monthly report</b> {}", from.format("%Y-%m")),
        (Lang::Ko, "day") => format!("📊 <b>일일 리포트</b> {from}"),
        (Lang::Ko, "week") => format!("📊 <b>주간 리포트</b> {from} – {to}"),
        (Lang::Ko, _) => format!("📊 <b>월간 리포트</b> {}", from.format("%Y-%m")),
    };
    let mut lines = vec![title];
    lines.extend(summary_lines(lang, s));
    lines.push(format!(
        "{}: {open}",
        lang.pick("Open positions", "보유 포지션")
    ));
    lines.join("\n")
}

pub fn help(lang: Lang) -> String {
    match lang {
        Lang::En => "<b>TradingBot</b>\n\
            /status — open positions, today's PnL, whether new entries are paused\n\
            /positions — open positions with live PnL\n\
            /pnl [today|week|month] — performance\n\
            /close &lt;symbol or position id&gt; — close a position (asks first)\n\
            /pause — stop new entries · /resume — allow them again\n\
            /help — this list"
            .into(),
        Lang::Ko => "<b>TradingBot</b>\n\
            /status — 보유 포지션, 오늘 손익, 신규 진입 중지 여부\n\
            /positions — 실시간 손익과 보유 포지션\n\
            /pnl [today|week|month] — 성과\n\
            /close &lt;심볼 또는 포지션 ID&gt; — 포지션 청산 (확인 후)\n\
            /pause — 신규 진입 중지 · /resume — 재개\n\
            /help — 명령어 목록"
            .into(),
    }
}

pub fn welcome(lang: Lang) -> String {
    format!(
        "✅ {}\n\n{}",
        lang.pick(
            "This chat now receives your TradingBot notifications.",
            "이 채팅으로 TradingBot 알림을 받습니다."
        ),
        help(lang)
    )
}

pub fn test_message(lang: Lang) -> String {
    format!(
        "🔔 {}",
        lang.pick(
            "Test notification from TradingBot: delivery works.",
            "TradingBot 테스트 알림: 정상적으로 전달되었습니다."
        )
    )
}

pub fn status(
    lang: Lang,
    open: usize,
    today: Decimal,
    unrealized: Decimal,
    paused: bool,
) -> String {
    [
        format!("<b>{}</b>", lang.pick("Status", "상태")),
        format!("{}: {open}", lang.pick("Open positions", "보유 포지션")),
        format!(
            "{}: {} ({} {})",
            lang.pick("Today's realized PnL", "오늘 실현 손익"),
            signed(today),
            lang.pick("unrealized", "미실현"),
            signed(unrealized)
        ),
        format!(
            "{}: {}",
            lang.pick("New entries", "신규 진입"),
            if paused {
                lang.pick("paused ⏸", "중지됨 ⏸")
            } else {
                lang.pick("allowed ▶️", "허용 ▶️")
            }
        ),
    ]
    .join("\n")
}

/// One line per open position.
pub fn positions(lang: Lang, rows: &[(PositionRecord, Option<PositionValue>)]) -> String {
    if rows.is_empty() {
        return lang
            .pick("No open positions.", "보유 포지션이 없습니다.")
            .into();
    }
    let mut lines = vec![format!(
        "<b>{}</b>",
        lang.pick("Open positions", "보유 포지션")
    )];
    for (p, v) in rows {
        let live = v.as_ref().map_or_else(String::new, |v| {
            format!(
                " · {} {} ({})",
                plain(v.current_price),
                signed(v.unrealized_pnl),
                pct(v.pnl_percentage)
            )
        });
        lines.push(format!(
            "#{} {} {} {} @ {} {}x{}",
            p.id,
            side(p.side),
            esc(&p.symbol),
            plain(p.quantity),
            plain(p.entry_price),
            p.leverage,
            live
        ));
    }
    lines.join("\n")
}

pub fn pnl(lang: Lang, label: &str, s: &Summary) -> String {
    let mut lines = vec![format!(
        "<b>{} — {}</b>",
        lang.pick("Performance", "성과"),
        esc(label)
    )];
    lines.extend(summary_lines(lang, s));
    lines.join("\n")
}

pub fn confirm_close(lang: Lang, p: &PositionRecord, v: Option<&PositionValue>) -> String {
    let live = v.map_or_else(String::new, |v| format!(" ({})", signed(v.unrealized_pnl)));
    match lang {
        Lang::En => format!(
            "Close <b>{} {}</b> #{} {}{live}? Send /confirm within 60 s.",
            side(p.side),
            esc(&p.symbol),
            p.id,
            plain(p.quantity)
        ),
        Lang::Ko => format!(
            "<b>{} {}</b> #{} {}{live} 포지션을 청산할까요? 60초 안에 /confirm 을 보내세요.",
            side(p.side),
            esc(&p.symbol),
            p.id,
            plain(p.quantity)
        ),
    }
}

pub fn plain_text(lang: Lang, en: &str, ko: &str) -> String {
    esc(lang.pick(en, ko))
}

/// When an event happened, for messages that need it.
pub fn at(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::enums::{MarginMode, PositionStatus};
    use chrono::TimeZone;
    use rust_decimal_macros::dec;

    fn long() -> PositionRecord {
        PositionRecord {
            id: 12,
            user_id: 1,
            strategy_id: Some(3),
            account_id: 4,
            exchange: "binance".into(),
            symbol: "BTCUSDT".into(),
            side: PositionSide::Long,
            entry_price: dec!(43000.0),
            quantity: dec!(0.069),
            leverage: 3,
            margin_mode: MarginMode::Isolated,
            stop_loss: Some(dec!(42140)),
            take_profit: Some(dec!(45150)),
            liquidation_price: None,
            realized_pnl: dec!(29.67),
            fees: dec!(0),
            exit_price: Some(dec!(43430)),
            close_reason: Some("manual".into()),
            status: PositionStatus::Open,
            opened_at: Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap(),
            closed_at: Some(Utc.with_ymd_and_hms(2026, 11, 24, 11, 30, 5).unwrap()),
            targets: Vec::new(),
        }
    }

    #[test]
    fn a_ladder_lists_every_target_and_each_fill() {
        use crate::execution::events::TargetState;
        let t = |target, price, size_pct, state: &str| TargetState {
            target,
            price,
            size_pct,
            state: state.into(),
        };
        let mut p = PositionRecord {
            quantity: dec!(0.2),
            targets: vec![
                t(1, dec!(43430), dec!(50), "resting"),
                t(2, dec!(43860), dec!(50), "resting"),
            ],
            ..long()
        };
        let m = position_opened(Lang::En, &p);
        // 0.1 × 430 = 43; 0.1 × 860 = 86.
        assert!(
            m.contains("Target 1: <code>43430</code> · 50% (expected +43"),
            "{m}"
        );
        assert!(
            m.contains("Target 2: <code>43860</code> · 50% (expected +86"),
            "{m}"
        );
        assert!(!m.contains("Take-profit"), "{m}");
        p.targets[0].state = "filled".into();
        p.quantity = dec!(0.1);
        p.stop_loss = Some(dec!(43043));
        p.realized_pnl = dec!(40.5);
        let m = target_filled(Lang::En, &p);
        assert!(m.contains("target 1"), "{m}");
        assert!(m.contains("Remaining: <code>0.1</code>"), "{m}");
        assert!(m.contains("Stop-loss: <code>43043</code>"), "{m}");
        assert!(m.contains("Next target 2: <code>43860</code>"), "{m}");
        assert!(target_filled(Lang::Ko, &p).contains("다음 목표"));
    }

    #[test]
    fn an_opened_position_carries_every_number() {
        let m = position_opened(Lang::En, &long());
        // TP: (45150 − 43000) × 0.069 = 148.35; SL: (42140 − 43000) × 0.069 = −59.34.
        for part in [
            "LONG BTCUSDT",
            "43000",
            "0.069",
            "3x",
            "45150",
            "+148.35",
            "42140",
            "-59.34",
        ] {
            assert!(m.contains(part), "{part} missing in {m}");
        }
        let ko = position_opened(Lang::Ko, &long());
        assert!(ko.contains("진입가") && ko.contains("손절가"), "{ko}");
    }

    #[test]
    fn a_closed_position_shows_pnl_roe_and_duration() {
        let m = position_closed(Lang::En, &long());
        // ROE: 29.67 / (43000 × 0.069 / 3 = 989) = 3.00 %.
        for part in ["+29.67", "+3.00 %", "1 h 30 min", "manual", "43430"] {
            assert!(m.contains(part), "{part} missing in {m}");
        }
        assert!(position_closed(Lang::Ko, &long()).contains("수동 청산"));
    }

    #[test]
    fn reports_name_their_period_and_figures() {
        let trades = [
            tradingbot_core::performance::ClosedTrade {
                position_id: 1,
                symbol: "BTCUSDT".into(),
                closed_at: Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap(),
                pnl: dec!(40),
                margin: dec!(100),
                close_reason: None,
            },
            tradingbot_core::performance::ClosedTrade {
                position_id: 2,
                symbol: "ETHUSDT".into(),
                closed_at: Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap(),
                pnl: dec!(-10),
                margin: dec!(100),
                close_reason: None,
            },
        ];
        let s = tradingbot_core::performance::summarize(&trades);
        let day = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let m = report(Lang::En, "week", day - chrono::Days::new(6), day, &s, 2);
        for part in [
            "Weekly report",
            "2026-11-17 – 2026-11-23",
            "+30.00",
            "Trades: 2",
            "win rate 50.0 %",
            "Profit factor: 4.00",
            "BTCUSDT +40.00",
            "ETHUSDT -10.00",
            "Open positions: 2",
        ] {
            assert!(m.contains(part), "{part} missing in {m}");
        }
        assert!(report(Lang::Ko, "day", day, day, &s, 0).contains("일일 리포트</b> 2026-11-23"));
        assert!(report(Lang::En, "month", day, day, &s, 0).contains("Monthly report</b> 2026-11"));
    }

    #[test]
    fn text_from_outside_is_escaped() {
        let a = RiskAlert {
            user_id: 1,
            kind: "x".into(),
            rule: None,
            message: "<script> & co".into(),
            position_id: None,
        };
        assert!(risk_alert(Lang::En, &a).contains("&lt;script&gt; &amp; co"));
        assert_eq!(signed(dec!(-5)), "-5.00");
        assert_eq!(signed(dec!(0)), "+0.00");
    }
}
