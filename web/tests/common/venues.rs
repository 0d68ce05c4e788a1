//! The local Binance and OKX servers as the binary sees them: the keys
//! tests register and the environment that points the binary at them.

use tradingbot_testkit::binance::LocalBinance;
use tradingbot_testkit::okx::LocalOkx;

pub const BINANCE_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
pub const BINANCE_SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
pub const OKX_KEY: &str = "c6ad9e38-5e25-4d8b-9f1a-0f1c3b2a7d11";
pub const OKX_SECRET: &str = "22582BD0CFF14C41EDBF1AB98506286D";
pub const OKX_PASS: &str = "Correct-Passphrase-1";

/// Testnet/demo URLs of the venues given.
/// The venues' URLs, and API rate limits a polling test does not reach.
pub fn polled<'a>(b: &'a LocalBinance, o: Option<&'a LocalOkx>) -> Vec<(&'a str, &'a str)> {
    let mut e = env(Some(b), o);
    e.push(("TRADINGBOT_RATE_LIMIT_IP", "100000"));
    e.push(("TRADINGBOT_RATE_LIMIT_USER", "100000"));
    e
}

pub fn env<'a>(b: Option<&'a LocalBinance>, o: Option<&'a LocalOkx>) -> Vec<(&'a str, &'a str)> {
    let mut env = Vec::new();
    if let Some(b) = b {
        env.push(("TRADINGBOT_BINANCE_TESTNET_REST_URL", b.rest_url.as_str()));
        env.push((
            "TRADINGBOT_BINANCE_TESTNET_WS_API_URL",
            b.ws_api_url.as_str(),
        ));
        env.push((
            "TRADINGBOT_BINANCE_TESTNET_STREAM_URL",
            b.stream_url.as_str(),
        ));
    }
    if let Some(o) = o {
        env.push(("TRADINGBOT_OKX_DEMO_REST_URL", o.rest_url.as_str()));
        env.push((
            "TRADINGBOT_OKX_DEMO_WS_PRIVATE_URL",
            o.ws_private_url.as_str(),
        ));
        env.push((
            "TRADINGBOT_OKX_DEMO_WS_PUBLIC_URL",
            o.ws_public_url.as_str(),
        ));
    }
    env
}

/// `{"exchange": "binance", …}` registering the test key on the testnet.
pub fn binance_account() -> serde_json::Value {
    serde_json::json!({ "exchange": "binance", "api_key": BINANCE_KEY,
                        "api_secret": BINANCE_SECRET, "testnet": true })
}

/// `{"exchange": "okx", …}` registering the test key in demo trading.
pub fn okx_account() -> serde_json::Value {
    serde_json::json!({ "exchange": "okx", "api_key": OKX_KEY, "api_secret": OKX_SECRET,
                        "passphrase": OKX_PASS, "testnet": true })
}
