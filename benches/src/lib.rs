//! Criterion benchmarks of TradingBot's hot paths: webhook → signed order,
//! request signing, indicators and backtest throughput. Each concern has its
//! own file under `benches/`; `benches/README.md` records how to run them and
//! the figures measured.
//!
//! This library target holds no code of its own: benchmarks exercise the real
//! crates, never copies of them.
