//! The AI watch: how confident a recommendation must be before the user
//! is told, and whether a strategy lets it close positions by itself
//! (off unless the user turns it on).
//!
//! Inserts set both columns explicitly: SQLite's `RETURNING` was seen to
//! answer NULL, intermittently, for the default of a column added by
//! `ALTER TABLE … ADD COLUMN`.

use crate::m20261124_000001_identity::Users;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261124_000007_ai"
    }
}

#[derive(DeriveIden)]
enum Strategies {
    Table,
    AiAutoExit,
}

#[derive(DeriveIden)]
enum AiCols {
    AiAlertConfidence,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(
                        ColumnDef::new(AiCols::AiAlertConfidence)
                            .double()
                            .not_null()
                            .default(0.7)
                            .check(Expr::col(AiCols::AiAlertConfidence).between(0.0, 1.0)),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Strategies::Table)
                    .add_column(
                        ColumnDef::new(Strategies::AiAutoExit)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Strategies::Table)
                    .drop_column(Strategies::AiAutoExit)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(AiCols::AiAlertConfidence)
                    .to_owned(),
            )
            .await
    }
}
