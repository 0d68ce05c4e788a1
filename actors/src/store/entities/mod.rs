//! sea-orm entities, one module per table, mirroring the migrations.
//!
//! Money columns are [`DbDecimal`](super::DbDecimal); ciphertext columns are
//! raw bytes produced by the credential vault and never leave the store
//! decrypted except in the actor that needs the secret.

pub mod api_keys;
pub mod audit_log;
pub mod backtest_jobs;
pub mod email_verification_tokens;
pub mod equity_snapshots;
pub mod notifications;
pub mod orders;
pub mod paper_accounts;
pub mod paper_orders;
pub mod performances;
pub mod positions;
pub mod refresh_tokens;
pub mod risk_settings;
pub mod security_alert_settings;
pub mod signals;
pub mod strategies;
pub mod system_settings;
pub mod telegram_bots;
pub mod totp_recovery_codes;
pub mod users;
pub mod webhook_tokens;
