//! The public mark-price streams against the local venues over real
//! websockets: the symbols a table wants are followed, a new symbol joins,
//! and every move of the venue's mark arrives.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tradingbot_actors::exchange::marks;
use tradingbot_actors::execution::view::MarkTable;
use tradingbot_core::exchange::Venue;
use tradingbot_testkit::binance::LocalBinance;
use tradingbot_testkit::okx::LocalOkx;

async fn until_mark(table: &MarkTable, symbol: &str, want: Decimal) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if table.get(symbol).map(|(p, _)| p) == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{symbol} never reached {want}: {:?}",
            table.get(symbol)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn binance_marks_follow_the_combined_stream() {
    let venue = LocalBinance::start();
    venue.set_mark("BTCUSDT", dec!(43000));
    let table = Arc::new(MarkTable::default());
    marks::spawn(Venue::Binance, venue.stream_url.clone(), &table);
    table.want("BTCUSDT");
    until_mark(&table, "BTCUSDT", dec!(43000)).await;
    venue.set_mark("BTCUSDT", dec!(43123.4));
    until_mark(&table, "BTCUSDT", dec!(43123.4)).await;
    // A symbol wanted later is followed too (the stream reconnects with it).
    venue.set_mark("ETHUSDT", dec!(2345.6));
    table.want("ETHUSDT");
    until_mark(&table, "ETHUSDT", dec!(2345.6)).await;
    until_mark(&table, "BTCUSDT", dec!(43123.4)).await;
}

#[tokio::test]
async fn okx_marks_follow_the_public_channel() {
    let venue = LocalOkx::start();
    let table = Arc::new(MarkTable::default());
    marks::spawn(Venue::Okx, venue.ws_public_url.clone(), &table);
    table.want("BTC-USDT-SWAP");
    until_mark(&table, "BTC-USDT-SWAP", dec!(43000)).await;
    venue.set_mark("BTC-USDT-SWAP", dec!(42310.6));
    until_mark(&table, "BTC-USDT-SWAP", dec!(42310.6)).await;
    table.want("ETH-USDT-SWAP");
    until_mark(&table, "ETH-USDT-SWAP", dec!(2300)).await;
}
