//! How a strategy's entries go out: `order_type` (`market`, every existing
//! strategy's, or `limit`) and a limit entry's offset from the price, how
//! long it rests, what it becomes then, and whether it must be a maker.

use crate::columns::*;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000019_strategy_entry_order"
    }
}

#[derive(DeriveIden)]
enum Strategies {
    Table,
    OrderType,
    LimitOffsetPct,
    LimitExpirySec,
    LimitFallback,
    PostOnly,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_database_backend();
        add_columns(
            manager,
            Strategies::Table,
            vec![
                string_default(Strategies::OrderType, 8, "market"),
                money_null(db, Strategies::LimitOffsetPct),
                ColumnDef::new(Strategies::LimitExpirySec)
                    .integer()
                    .null()
                    .to_owned(),
                string_null(Strategies::LimitFallback, 8),
                // Nullable (null: not post-only): SQLite's ADD COLUMN keeps a
                // boolean default as written, not as the 0 a row would hold.
                ColumnDef::new(Strategies::PostOnly)
                    .boolean()
                    .null()
                    .to_owned(),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_columns(
            manager,
            Strategies::Table,
            vec![
                Strategies::PostOnly,
                Strategies::LimitFallback,
                Strategies::LimitExpirySec,
                Strategies::LimitOffsetPct,
                Strategies::OrderType,
            ],
        )
        .await
    }
}
