//! A strategy's protections: most entries per UTC day, a cooldown after a
//! stop-loss, a pause after stop-losses in a row, a pause after the day's
//! drawdown. Null: off (every existing strategy).

use crate::columns::*;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000016_strategy_protections"
    }
}

#[derive(DeriveIden)]
enum Strategies {
    Table,
    MaxEntriesPerDay,
    CooldownAfterSlMin,
    PauseAfterSlStreak,
    MaxDrawdownPct,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_database_backend();
        add_columns(
            manager,
            Strategies::Table,
            vec![
                ColumnDef::new(Strategies::MaxEntriesPerDay)
                    .integer()
                    .null()
                    .to_owned(),
                ColumnDef::new(Strategies::CooldownAfterSlMin)
                    .integer()
                    .null()
                    .to_owned(),
                ColumnDef::new(Strategies::PauseAfterSlStreak)
                    .integer()
                    .null()
                    .to_owned(),
                money_null(db, Strategies::MaxDrawdownPct),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_columns(
            manager,
            Strategies::Table,
            vec![
                Strategies::MaxDrawdownPct,
                Strategies::PauseAfterSlStreak,
                Strategies::CooldownAfterSlMin,
                Strategies::MaxEntriesPerDay,
            ],
        )
        .await
    }
}
