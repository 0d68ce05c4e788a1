//! Writes the Pine Script of every template at its defaults to the
//! directory given (for checking them with a Pine parser by hand).

use rust_decimal::Decimal;
use tradingbot_core::pine::{PineTarget, generate};
use tradingbot_core::templates;

fn main() {
    // No default folder: the scripts are output, never part of the
    // repository.
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: cargo run -p tradingbot-core --example dump_pine -- <output folder>");
        std::process::exit(2);
    };
    for t in templates::library() {
        let c = t.configure(&serde_json::Map::new()).expect("defaults");
        let target = PineTarget {
            name: t.name,
            secret: "example-secret",
            webhook_url: "https://example.com/api/v1/webhook/tradingview/token",
            investment_pct: Decimal::from(10),
            sizing: tradingbot_core::strategy::Sizing::InvestmentPct,
            leverage: 3,
            long_tp_pct: Decimal::from(5),
            long_sl_pct: Decimal::from(2),
            short_tp_pct: Decimal::from(5),
            short_sl_pct: Decimal::from(2),
            ladder: None,
            trailing: None,
        };
        let p = generate(&t, &c, &target);
        std::fs::write(format!("{dir}/{}.pine", t.id), p.script).expect("write");
    }
}
