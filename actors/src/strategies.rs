//! Stored strategies and their webhooks.
//!
//! A strategy row and its webhook (path token + body secret) are written in
//! one transaction: there is never a strategy without a way to reach it, nor
//! a webhook without a strategy. The token is a bearer credential: stored
//! hashed for lookup and sealed by the vault for showing it again; the secret
//! is only sealed.

use crate::execution::registry::{StrategyRoute, TokenHash};
use crate::identity::secrets;
use crate::store::entities::{api_keys, strategies, webhook_tokens};
use crate::store::enums::{MarginMode as DbMargin, OppositeSignal as DbOpposite};
use crate::store::{DbDecimal, Store};
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, TransactionTrait,
};
use std::sync::Arc;
use tradingbot_core::exchange::MarginMode;
use tradingbot_core::strategy::{
    BreakEven, EntryOrder, Fallback, Ladder, OppositeSignal, Protections, Sizing, StopTo,
    StrategyConfig, Target, Trailing,
};
use tradingbot_core::symbol::Symbol;
use tradingbot_core::vault::{Binding, Vault};
use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error)]
pub enum StrategiesError {
    #[error("no such strategy")]
    NotFound,
    #[error("no such exchange account")]
    NoSuchAccount,
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("vault: {0}")]
    Vault(String),
}

/// A strategy's webhook, in the clear, for its owner's eyes only.
pub struct Webhook {
    pub token: Zeroizing<String>,
    pub secret: Zeroizing<String>,
}

fn binding(user_id: i64, row_id: i64, column: &'static str) -> Binding<'static> {
    Binding {
        user_id,
        table: "webhook_tokens",
        row_id,
        column,
    }
}

fn hash_bytes(hex_hash: &str) -> Option<TokenHash> {
    hex::decode(hex_hash).ok()?.try_into().ok()
}

/// A strategy's opt-in behaviours, off until the user turns them on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    /// The AI watch may close positions by itself.
    AiAutoExit,
    /// An anomaly pauses the strategy.
    AutoPauseOnAnomaly,
}

pub struct Strategies {
    store: Store,
    vault: Arc<Vault>,
}

/// The configuration a stored row describes.
pub fn config_of(m: &strategies::Model) -> StrategyConfig {
    let symbols: Vec<String> = serde_json::from_str(&m.symbols).unwrap_or_default();
    StrategyConfig {
        name: m.name.clone(),
        indicator_id: m.indicator_id.clone(),
        symbols: symbols
            .iter()
            .filter_map(|s| Symbol::parse(s).ok())
            .collect(),
        investment_pct: m.investment_pct.get(),
        // A row the API wrote always names a complete mode; anything else
        // (hand-edited) sizes as the seed does.
        sizing: Sizing::from_fields(
            &m.sizing_mode,
            m.risk_pct.map(|d| d.get()),
            m.qty_usdt.map(|d| d.get()),
            m.qty_base.map(|d| d.get()),
        )
        .unwrap_or(Sizing::InvestmentPct),
        protections: Protections {
            max_entries_per_day: m.max_entries_per_day.and_then(|v| u32::try_from(v).ok()),
            cooldown_after_sl_min: m.cooldown_after_sl_min.and_then(|v| u32::try_from(v).ok()),
            pause_after_sl_streak: m.pause_after_sl_streak.and_then(|v| u32::try_from(v).ok()),
            max_drawdown_pct: m.max_drawdown_pct.map(|d| d.get()),
        },
        ladder: ladder_of(m),
        // Validated when written; a hand-edited row that is not is none.
        trailing: Trailing::from_fields(
            m.trail_pct.map(|d| d.get()),
            m.trail_activation_pct.map(|d| d.get()),
        )
        .ok()
        .flatten(),
        entry: entry_of(m),
        long_tp_pct: m.long_tp_pct.get(),
        long_sl_pct: m.long_sl_pct.get(),
        short_tp_pct: m.short_tp_pct.get(),
        short_sl_pct: m.short_sl_pct.get(),
        leverage: m.leverage.clamp(1, 125) as u32,
        margin_mode: MarginMode::from(m.margin_mode),
        opposite_signal: OppositeSignal::from(m.opposite_signal),
    }
}

/// The row's entry order; a limit one that no longer validates
/// (hand-edited) enters at market.
fn entry_of(m: &strategies::Model) -> EntryOrder {
    if m.order_type != "limit" {
        return EntryOrder::Market;
    }
    let e = EntryOrder::Limit {
        limit_offset_pct: m
            .limit_offset_pct
            .map_or(rust_decimal::Decimal::ZERO, |d| d.get()),
        limit_expiry_sec: m
            .limit_expiry_sec
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(60),
        limit_fallback: match m.limit_fallback.as_deref() {
            Some("market") => Fallback::Market,
            _ => Fallback::Cancel,
        },
        post_only: m.post_only.unwrap_or(false),
    };
    if e.validate().is_ok() {
        e
    } else {
        EntryOrder::Market
    }
}

/// The row's ladder; one that no longer validates (hand-edited) is none,
/// so the strategy takes its single take-profit rather than a wrong ladder.
fn ladder_of(m: &strategies::Model) -> Option<Ladder> {
    let targets: Vec<Target> = serde_json::from_str(m.tp_levels.as_deref()?).ok()?;
    let to = match m.break_even_to.as_deref() {
        Some("previous_target") => StopTo::PreviousTarget,
        _ => StopTo::Entry,
    };
    let ladder = Ladder {
        targets,
        break_even: m
            .break_even_after
            .and_then(|n| u8::try_from(n).ok())
            .map(|after| BreakEven { after, to }),
    };
    ladder.validate().is_ok().then_some(ladder)
}

fn apply(active: &mut strategies::ActiveModel, cfg: &StrategyConfig, account_id: Option<i64>) {
    let symbols: Vec<&str> = cfg.symbols.iter().map(Symbol::as_str).collect();
    active.account_id = Set(account_id);
    active.name = Set(cfg.name.clone());
    active.indicator_id = Set(cfg.indicator_id.clone());
    active.symbols = Set(serde_json::to_string(&symbols).unwrap_or_else(|_| "[]".into()));
    active.investment_pct = Set(DbDecimal(cfg.investment_pct));
    active.sizing_mode = Set(cfg.sizing.mode().to_owned());
    active.risk_pct = Set(cfg.sizing.risk_pct().map(DbDecimal));
    active.qty_usdt = Set(cfg.sizing.qty_usdt().map(DbDecimal));
    active.qty_base = Set(cfg.sizing.qty_base().map(DbDecimal));
    let p = &cfg.protections;
    let int = |v: Option<u32>| v.map(|v| v as i32);
    active.max_entries_per_day = Set(int(p.max_entries_per_day));
    active.cooldown_after_sl_min = Set(int(p.cooldown_after_sl_min));
    active.pause_after_sl_streak = Set(int(p.pause_after_sl_streak));
    active.max_drawdown_pct = Set(p.max_drawdown_pct.map(DbDecimal));
    active.trail_pct = Set(cfg.trailing.map(|t| DbDecimal(t.callback_pct)));
    active.trail_activation_pct = Set(cfg.trailing.and_then(|t| t.activation_pct).map(DbDecimal));
    active.order_type = Set(cfg.entry.name().to_owned());
    match cfg.entry {
        EntryOrder::Market => {
            active.limit_offset_pct = Set(None);
            active.limit_expiry_sec = Set(None);
            active.limit_fallback = Set(None);
            active.post_only = Set(None);
        }
        EntryOrder::Limit {
            limit_offset_pct,
            limit_expiry_sec,
            limit_fallback,
            post_only,
        } => {
            active.limit_offset_pct = Set(Some(DbDecimal(limit_offset_pct)));
            active.limit_expiry_sec = Set(Some(limit_expiry_sec as i32));
            active.limit_fallback = Set(Some(
                match limit_fallback {
                    Fallback::Cancel => "cancel",
                    Fallback::Market => "market",
                }
                .to_owned(),
            ));
            active.post_only = Set(Some(post_only));
        }
    }
    let ladder = cfg.ladder.as_ref();
    active.tp_levels = Set(ladder.and_then(|l| serde_json::to_string(&l.targets).ok()));
    active.break_even_after = Set(ladder
        .and_then(|l| l.break_even)
        .map(|b| i32::from(b.after)));
    active.break_even_to = Set(ladder.and_then(|l| l.break_even).map(|b| {
        match b.to {
            StopTo::Entry => "entry",
            StopTo::PreviousTarget => "previous_target",
        }
        .to_owned()
    }));
    active.long_tp_pct = Set(DbDecimal(cfg.long_tp_pct));
    active.long_sl_pct = Set(DbDecimal(cfg.long_sl_pct));
    active.short_tp_pct = Set(DbDecimal(cfg.short_tp_pct));
    active.short_sl_pct = Set(DbDecimal(cfg.short_sl_pct));
    active.leverage = Set(cfg.leverage as i32);
    active.margin_mode = Set(DbMargin::from(cfg.margin_mode));
    active.opposite_signal = Set(DbOpposite::from(cfg.opposite_signal));
    active.updated_at = Set(Utc::now());
}

impl Strategies {
    pub fn new(store: Store, vault: Arc<Vault>) -> Self {
        Self { store, vault }
    }

    async fn check_account(
        &self,
        user_id: i64,
        account_id: Option<i64>,
    ) -> Result<(), StrategiesError> {
        if let Some(id) = account_id {
            let found = api_keys::Entity::find_by_id(id)
                .filter(api_keys::Column::UserId.eq(user_id))
                .one(self.store.conn())
                .await?;
            if found.is_none() {
                return Err(StrategiesError::NoSuchAccount);
            }
        }
        Ok(())
    }

    /// Creates a strategy and its webhook in one transaction.
    pub async fn create(
        &self,
        user_id: i64,
        cfg: &StrategyConfig,
        account_id: Option<i64>,
        active: bool,
    ) -> Result<(strategies::Model, Webhook), StrategiesError> {
        self.check_account(user_id, account_id).await?;
        let txn = self.store.conn().begin().await?;
        let now = Utc::now();
        let mut row = strategies::ActiveModel {
            user_id: Set(user_id),
            is_active: Set(active),
            // Set, not defaulted: SQLite's RETURNING has been seen to answer
            // NULL for the default of a column added by ALTER TABLE.
            ai_auto_exit: Set(false),
            auto_pause_on_anomaly: Set(false),
            created_at: Set(now),
            ..Default::default()
        };
        apply(&mut row, cfg, account_id);
        let model = row.insert(&txn).await?;
        let hook = self.new_webhook(&txn, user_id, model.id).await?;
        txn.commit().await?;
        Ok((model, hook))
    }

    async fn new_webhook(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        user_id: i64,
        strategy_id: i64,
    ) -> Result<Webhook, StrategiesError> {
        let token = Zeroizing::new(secrets::token(32));
        let secret = Zeroizing::new(secrets::token(24));
        // Sealing binds to the row id, so the row comes first with placeholders.
        let row = webhook_tokens::ActiveModel {
            user_id: Set(user_id),
            strategy_id: Set(strategy_id),
            token_hash: Set(secrets::digest(&token)),
            token_enc: Set(Vec::new()),
            secret_enc: Set(Vec::new()),
            created_at: Set(Utc::now()),
            revoked_at: Set(None),
            ..Default::default()
        }
        .insert(db)
        .await?;
        let id = row.id;
        let mut active = row.into_active_model();
        active.token_enc = Set(self.vault.seal(
            &binding(user_id, id, "token_enc"),
            token.as_bytes(),
            secrets::nonce(),
        ));
        active.secret_enc = Set(self.vault.seal(
            &binding(user_id, id, "secret_enc"),
            secret.as_bytes(),
            secrets::nonce(),
        ));
        active.update(db).await?;
        Ok(Webhook { token, secret })
    }

    pub async fn list(&self, user_id: i64) -> Result<Vec<strategies::Model>, StrategiesError> {
        Ok(strategies::Entity::find()
            .filter(strategies::Column::UserId.eq(user_id))
            .order_by_asc(strategies::Column::Id)
            .all(self.store.conn())
            .await?)
    }

    /// The user's strategy `id`; someone else's is "not found".
    pub async fn get(&self, user_id: i64, id: i64) -> Result<strategies::Model, StrategiesError> {
        strategies::Entity::find_by_id(id)
            .filter(strategies::Column::UserId.eq(user_id))
            .one(self.store.conn())
            .await?
            .ok_or(StrategiesError::NotFound)
    }

    pub async fn update(
        &self,
        model: strategies::Model,
        cfg: &StrategyConfig,
        account_id: Option<i64>,
    ) -> Result<strategies::Model, StrategiesError> {
        self.check_account(model.user_id, account_id).await?;
        let mut active = model.into_active_model();
        apply(&mut active, cfg, account_id);
        Ok(active.update(self.store.conn()).await?)
    }

    pub async fn set_active(
        &self,
        model: strategies::Model,
        on: bool,
    ) -> Result<strategies::Model, StrategiesError> {
        let mut active = model.into_active_model();
        active.is_active = Set(on);
        active.updated_at = Set(Utc::now());
        Ok(active.update(self.store.conn()).await?)
    }

    /// Turns one of the strategy's opt-in behaviours on or off.
    pub async fn set_switch(
        &self,
        model: strategies::Model,
        switch: Switch,
        on: bool,
    ) -> Result<strategies::Model, StrategiesError> {
        let mut active = model.into_active_model();
        match switch {
            Switch::AiAutoExit => active.ai_auto_exit = Set(on),
            Switch::AutoPauseOnAnomaly => active.auto_pause_on_anomaly = Set(on),
        }
        active.updated_at = Set(Utc::now());
        Ok(active.update(self.store.conn()).await?)
    }

    pub async fn delete(&self, model: strategies::Model) -> Result<(), StrategiesError> {
        strategies::Entity::delete_by_id(model.id)
            .exec(self.store.conn())
            .await?;
        Ok(())
    }

    /// The current (unrevoked) webhook row of a strategy.
    async fn webhook_row(
        &self,
        strategy_id: i64,
    ) -> Result<webhook_tokens::Model, StrategiesError> {
        webhook_tokens::Entity::find()
            .filter(webhook_tokens::Column::StrategyId.eq(strategy_id))
            .filter(webhook_tokens::Column::RevokedAt.is_null())
            .order_by_desc(webhook_tokens::Column::Id)
            .one(self.store.conn())
            .await?
            .ok_or(StrategiesError::NotFound)
    }

    fn open(
        &self,
        row: &webhook_tokens::Model,
        column: &'static str,
        sealed: &[u8],
    ) -> Result<Zeroizing<String>, StrategiesError> {
        let plain = self
            .vault
            .open(&binding(row.user_id, row.id, column), sealed)
            .map_err(|e| StrategiesError::Vault(e.to_string()))?;
        String::from_utf8(plain.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| StrategiesError::Vault("not UTF-8".into()))
    }

    /// The strategy's webhook in the clear.
    pub async fn webhook(&self, strategy_id: i64) -> Result<Webhook, StrategiesError> {
        let row = self.webhook_row(strategy_id).await?;
        Ok(Webhook {
            token: self.open(&row, "token_enc", &row.token_enc)?,
            secret: self.open(&row, "secret_enc", &row.secret_enc)?,
        })
    }

    /// A new secret (and with `new_url`, a new path token too); the old
    /// ones stop working at once.
    pub async fn rotate(
        &self,
        model: &strategies::Model,
        new_url: bool,
    ) -> Result<Webhook, StrategiesError> {
        let old = self.webhook_row(model.id).await?;
        let txn = self.store.conn().begin().await?;
        let hook = if new_url {
            let mut revoked = old.clone().into_active_model();
            revoked.revoked_at = Set(Some(Utc::now()));
            revoked.update(&txn).await?;
            self.new_webhook(&txn, model.user_id, model.id).await?
        } else {
            let secret = Zeroizing::new(secrets::token(24));
            let token = self.open(&old, "token_enc", &old.token_enc)?;
            let mut active = old.clone().into_active_model();
            active.secret_enc = Set(self.vault.seal(
                &binding(old.user_id, old.id, "secret_enc"),
                secret.as_bytes(),
                secrets::nonce(),
            ));
            active.update(&txn).await?;
            Webhook { token, secret }
        };
        txn.commit().await?;
        Ok(hook)
    }

    /// The webhook route of one strategy, as the registry holds it.
    pub async fn route(
        &self,
        strategy_id: i64,
    ) -> Result<Option<(TokenHash, StrategyRoute)>, StrategiesError> {
        let Some(model) = strategies::Entity::find_by_id(strategy_id)
            .one(self.store.conn())
            .await?
        else {
            return Ok(None);
        };
        let row = self.webhook_row(strategy_id).await?;
        self.to_route(&model, &row).map(Some)
    }

    fn to_route(
        &self,
        model: &strategies::Model,
        row: &webhook_tokens::Model,
    ) -> Result<(TokenHash, StrategyRoute), StrategiesError> {
        let hash = hash_bytes(&row.token_hash)
            .ok_or_else(|| StrategiesError::Vault("malformed token hash".into()))?;
        let secret = self.open(row, "secret_enc", &row.secret_enc)?;
        Ok((
            hash,
            StrategyRoute {
                strategy_id: model.id,
                user_id: model.user_id,
                secret: Zeroizing::new(secret.as_bytes().to_vec()),
                config: config_of(model),
                account_id: model.account_id,
                active: model.is_active,
            },
        ))
    }

    /// The route of the strategy whose current webhook token is `token`
    /// (an instance that has not heard of a new strategy yet asks here).
    pub async fn route_by_token(
        &self,
        token: &str,
    ) -> Result<Option<(TokenHash, StrategyRoute)>, StrategiesError> {
        let Some(row) = webhook_tokens::Entity::find()
            .filter(webhook_tokens::Column::TokenHash.eq(secrets::digest(token)))
            .filter(webhook_tokens::Column::RevokedAt.is_null())
            .one(self.store.conn())
            .await?
        else {
            return Ok(None);
        };
        let Some(model) = strategies::Entity::find_by_id(row.strategy_id)
            .one(self.store.conn())
            .await?
        else {
            return Ok(None);
        };
        self.to_route(&model, &row).map(Some)
    }

    /// Every strategy's route, for start-up.
    pub async fn all_routes(&self) -> Result<Vec<(TokenHash, StrategyRoute)>, StrategiesError> {
        let models = strategies::Entity::find().all(self.store.conn()).await?;
        let hooks = webhook_tokens::Entity::find()
            .filter(webhook_tokens::Column::RevokedAt.is_null())
            .all(self.store.conn())
            .await?;
        let mut by_strategy = std::collections::HashMap::new();
        for h in hooks {
            let newer = by_strategy
                .get(&h.strategy_id)
                .is_none_or(|old: &webhook_tokens::Model| old.id < h.id);
            if newer {
                by_strategy.insert(h.strategy_id, h);
            }
        }
        let mut out = Vec::new();
        for m in models {
            let Some(row) = by_strategy.get(&m.id) else {
                continue;
            };
            match self.to_route(&m, row) {
                Ok(r) => out.push(r),
                Err(e) => {
                    tracing::error!(strategy_id = m.id, error = %e, "cannot open a webhook secret; strategy not routed")
                }
            }
        }
        Ok(out)
    }
}
