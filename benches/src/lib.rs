//! Criterion benchmarks of TradingBot's hot paths (webhook → signed order,
//! request signing) and a load test of the whole service over loopback.
//! Each concern has its own file under `benches/`; `benches/README.md` says
//! how to run them and records the figures measured.
//!
//! Benchmarks exercise the real crates, never copies of them; this library
//! holds only what they share: percentiles of latency samples, and the
//! release binary as a process ([`service`]).

pub mod service;

use std::time::Duration;

/// p50, p99 and p99.9 of `samples` (sorted in place), and the largest.
pub fn percentiles(samples: &mut [Duration]) -> Percentiles {
    samples.sort_unstable();
    let at = |q: f64| {
        if samples.is_empty() {
            return Duration::ZERO;
        }
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[i]
    };
    Percentiles {
        count: samples.len(),
        p50: at(0.50),
        p99: at(0.99),
        p999: at(0.999),
        max: samples.last().copied().unwrap_or_default(),
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Percentiles {
    pub count: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub p999: Duration,
    pub max: Duration,
}

impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "n={} p50={:.1}µs p99={:.1}µs p99.9={:.1}µs max={:.1}µs",
            self.count,
            self.p50.as_secs_f64() * 1e6,
            self.p99.as_secs_f64() * 1e6,
            self.p999.as_secs_f64() * 1e6,
            self.max.as_secs_f64() * 1e6
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_series() {
        let mut s: Vec<Duration> = (1..=1000).rev().map(Duration::from_micros).collect();
        let p = percentiles(&mut s);
        assert_eq!(p.count, 1000);
        assert_eq!(p.p50, Duration::from_micros(501));
        assert_eq!(p.p99, Duration::from_micros(990));
        assert_eq!(p.max, Duration::from_micros(1000));
    }
}
