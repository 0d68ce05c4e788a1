//! Telegram: the user's language for messages, and what a bot needs to
//! resume after a restart (the last update it read, its deep-link code, its
//! last delivery error).

use crate::m20261124_000001_identity::Users;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261124_000006_telegram"
    }
}

#[derive(DeriveIden)]
enum TelegramBots {
    Table,
    UpdateOffset,
    LinkCode,
    LastError,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds columns one at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(
                        ColumnDef::new(Alias::new("language"))
                            .string_len(8)
                            .not_null()
                            .default("en")
                            .check(Expr::col(Alias::new("language")).is_in(["en", "ko"])),
                    )
                    .to_owned(),
            )
            .await?;
        for col in [
            ColumnDef::new(TelegramBots::UpdateOffset)
                .big_integer()
                .null()
                .to_owned(),
            ColumnDef::new(TelegramBots::LinkCode)
                .string_len(32)
                .null()
                .to_owned(),
            ColumnDef::new(TelegramBots::LastError)
                .string_len(255)
                .null()
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(TelegramBots::Table)
                        .add_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [
            TelegramBots::LastError,
            TelegramBots::LinkCode,
            TelegramBots::UpdateOffset,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(TelegramBots::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Alias::new("language"))
                    .to_owned(),
            )
            .await
    }
}
