//! The moment an order leaves our hands.
//!
//! `webhook_to_order_seconds` runs from the first byte of the webhook to the
//! signed request handed to the connection's socket. Only the client knows
//! when signing is done, and only the webhook knows when it began, so the
//! start travels with the placing task (a task-local) and the client marks
//! the hand-off right after signing.

use std::cell::Cell;
use std::future::Future;
use std::time::Instant;

tokio::task_local! {
    static ORIGIN: Cell<Option<Instant>>;
}

/// Runs `f` (a placement) remembering when its signal arrived.
pub async fn scope<F: Future>(origin: Option<Instant>, f: F) -> F::Output {
    ORIGIN.scope(Cell::new(origin), f).await
}

/// Called by a client once the order is signed and about to be written:
/// records the latency the first time in a scope, and never again (a retry
/// is not the webhook's latency).
pub fn signed(exchange: &'static str) {
    let _ = ORIGIN.try_with(|origin| {
        if let Some(t) = origin.take() {
            metrics::histogram!("webhook_to_order_seconds", "exchange" => exchange)
                .record(t.elapsed().as_secs_f64());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn marks_once_per_scope_and_not_outside() {
        signed("paper"); // outside any scope: nothing to do, no panic
        let seen = scope(Some(Instant::now()), async {
            signed("paper");
            ORIGIN.with(|o| o.get())
        })
        .await;
        assert!(seen.is_none(), "taken by the first mark");
    }
}
