//! What a strategy sizes its entries by: the seed's `investment_pct` (the
//! default every existing strategy keeps), a risk percentage of the wallet
//! lost at the stop, a fixed USDT notional or a fixed base quantity.

use crate::columns::*;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000015_strategy_sizing"
    }
}

#[derive(DeriveIden)]
enum Strategies {
    Table,
    /// `investment_pct`, `risk_pct`, `fixed_usdt` or `fixed_qty`.
    SizingMode,
    RiskPct,
    QtyUsdt,
    QtyBase,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_database_backend();
        add_columns(
            manager,
            Strategies::Table,
            vec![
                string_default(Strategies::SizingMode, 16, "investment_pct"),
                money_null(db, Strategies::RiskPct),
                money_null(db, Strategies::QtyUsdt),
                money_null(db, Strategies::QtyBase),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_columns(
            manager,
            Strategies::Table,
            vec![
                Strategies::QtyBase,
                Strategies::QtyUsdt,
                Strategies::RiskPct,
                Strategies::SizingMode,
            ],
        )
        .await
    }
}
