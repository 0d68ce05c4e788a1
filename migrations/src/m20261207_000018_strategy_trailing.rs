//! A strategy's trailing stop: its callback (`trail_pct`) and where it
//! starts following (`trail_activation_pct`). Null: none, as every
//! existing strategy has.

use crate::columns::*;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000018_strategy_trailing"
    }
}

#[derive(DeriveIden)]
enum Strategies {
    Table,
    TrailPct,
    TrailActivationPct,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_database_backend();
        add_columns(
            manager,
            Strategies::Table,
            vec![
                money_null(db, Strategies::TrailPct),
                money_null(db, Strategies::TrailActivationPct),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_columns(
            manager,
            Strategies::Table,
            vec![Strategies::TrailActivationPct, Strategies::TrailPct],
        )
        .await
    }
}
