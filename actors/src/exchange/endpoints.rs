//! Where each venue lives. Every address is configurable so testnets,
//! proxies and local test servers can stand in for the real ones.

use tradingbot_core::exchange::{binance, okx};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub binance_live_rest: String,
    pub binance_live_ws_api: String,
    pub binance_live_stream: String,
    pub binance_testnet_rest: String,
    pub binance_testnet_ws_api: String,
    pub binance_testnet_stream: String,
    pub okx_live_rest: String,
    pub okx_live_ws_public: String,
    pub okx_live_ws_private: String,
    pub okx_demo_rest: String,
    pub okx_demo_ws_public: String,
    pub okx_demo_ws_private: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Self {
            binance_live_rest: binance::LIVE_REST_URL.into(),
            binance_live_ws_api: binance::LIVE_WS_API_URL.into(),
            binance_live_stream: binance::LIVE_STREAM_URL.into(),
            binance_testnet_rest: binance::TESTNET_REST_URL.into(),
            binance_testnet_ws_api: binance::TESTNET_WS_API_URL.into(),
            binance_testnet_stream: binance::TESTNET_STREAM_URL.into(),
            okx_live_rest: okx::LIVE_REST_URL.into(),
            okx_live_ws_public: okx::LIVE_WS_PUBLIC_URL.into(),
            okx_live_ws_private: okx::LIVE_WS_PRIVATE_URL.into(),
            okx_demo_rest: okx::DEMO_REST_URL.into(),
            okx_demo_ws_public: okx::DEMO_WS_PUBLIC_URL.into(),
            okx_demo_ws_private: okx::DEMO_WS_PRIVATE_URL.into(),
        }
    }
}

impl Endpoints {
    pub fn binance_rest(&self, testnet: bool) -> &str {
        if testnet {
            &self.binance_testnet_rest
        } else {
            &self.binance_live_rest
        }
    }

    pub fn binance_stream(&self, testnet: bool) -> &str {
        if testnet {
            &self.binance_testnet_stream
        } else {
            &self.binance_live_stream
        }
    }

    pub fn okx_rest(&self, demo: bool) -> &str {
        if demo {
            &self.okx_demo_rest
        } else {
            &self.okx_live_rest
        }
    }

    pub fn binance_ws_api(&self, testnet: bool) -> &str {
        if testnet {
            &self.binance_testnet_ws_api
        } else {
            &self.binance_live_ws_api
        }
    }

    pub fn okx_ws_private(&self, demo: bool) -> &str {
        if demo {
            &self.okx_demo_ws_private
        } else {
            &self.okx_live_ws_private
        }
    }
}
