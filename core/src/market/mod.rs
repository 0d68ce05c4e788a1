//! Market data: candles and where they come from.

pub mod candle;

pub use candle::{Candle, CandleError, CsvReport};
