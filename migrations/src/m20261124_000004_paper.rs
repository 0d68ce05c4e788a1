//! The paper exchange's own books: one snapshot of each paper account's
//! state (wallet, positions, orders), as the venue would keep it.

use crate::columns::*;
use crate::m20261124_000002_accounts::ApiKeys;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261124_000004_paper"
    }
}

#[derive(DeriveIden)]
enum PaperAccounts {
    Table,
    AccountId,
    State,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PaperAccounts::Table)
                    .col(
                        ColumnDef::new(PaperAccounts::AccountId)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    // JSON of `tradingbot_core::exchange::paper::PaperAccount`;
                    // its decimals are strings, so nothing is rounded.
                    .col(ColumnDef::new(PaperAccounts::State).text().not_null())
                    .col(created_at(PaperAccounts::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(PaperAccounts::Table, PaperAccounts::AccountId)
                            .to(ApiKeys::Table, ApiKeys::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PaperAccounts::Table).to_owned())
            .await
    }
}
