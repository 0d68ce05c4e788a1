//! The template library over HTTP: five cards, their parameters, and win
//! rates that are the backtester's own figures on the bundled data.

mod common;

use common::api::Api;
use common::*;
use serde_json::Value;
use tradingbot_core::templates;

#[tokio::test]
async fn the_library_shows_backtested_cards() {
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, &[]);
    let api = Api::new(&bot);
    let res = api
        .http
        .get(api.url("/pine-script/strategies"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cards: Vec<Value> = res.json().await.unwrap();
    let ids: Vec<&str> = cards.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "ema_crossover",
            "rsi_reversal",
            "macd_cross",
            "bollinger",
            "supertrend"
        ]
    );
    let ema = &cards[0];
    assert_eq!(ema["name"], "EMA Crossover");
    assert_eq!(ema["difficulty"], "beginner");
    assert_eq!(ema["parameters"][0]["name"], "fast");
    assert_eq!(ema["parameters"][0]["type"], "int");
    assert_eq!(ema["parameters"][0]["default"], 9);
    assert_eq!(ema["parameters"][1]["default"], 21);
    assert_eq!(cards[3]["parameters"][2]["options"][1], "breakout");
    for card in &cards {
        let t = templates::find(card["id"].as_str().unwrap()).unwrap();
        let r = tradingbot_backtest::cards::card_report(&t).unwrap();
        assert!(r.trades > 0, "{}", t.id);
        let shown = card["win_rate"].as_f64().unwrap();
        assert!(
            (shown - r.win_rate_pct).abs() <= 0.05 + 1e-9,
            "{}: {shown} vs {}",
            t.id,
            r.win_rate_pct
        );
        assert_eq!(card["backtest"]["trades"], r.trades);
        assert_eq!(card["backtest"]["from"], "2017-05-01");
    }
}
