//! Market data: candles and where they come from.

pub mod candle;
pub mod replay;

pub use candle::{Candle, CandleError, CsvReport};
