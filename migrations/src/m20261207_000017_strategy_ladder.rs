//! A strategy's take-profit ladder (`tp_levels`, a JSON list of targets)
//! and its moving stop (`break_even_after`, `break_even_to`). Null: one
//! take-profit from `long_tp_pct` / `short_tp_pct`, as every existing
//! strategy has.

use crate::columns::*;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000017_strategy_ladder"
    }
}

#[derive(DeriveIden)]
enum Strategies {
    Table,
    TpLevels,
    BreakEvenAfter,
    BreakEvenTo,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_columns(
            manager,
            Strategies::Table,
            vec![
                ColumnDef::new(Strategies::TpLevels)
                    .text()
                    .null()
                    .to_owned(),
                ColumnDef::new(Strategies::BreakEvenAfter)
                    .integer()
                    .null()
                    .to_owned(),
                string_null(Strategies::BreakEvenTo, 16),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_columns(
            manager,
            Strategies::Table,
            vec![
                Strategies::BreakEvenTo,
                Strategies::BreakEvenAfter,
                Strategies::TpLevels,
            ],
        )
        .await
    }
}
