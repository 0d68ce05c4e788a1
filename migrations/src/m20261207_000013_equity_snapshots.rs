//! Account equity over time, for the dashboard's asset chart and its change
//! over a day: one row per exchange account at each snapshot boundary
//! (hourly by default; UTC midnight is always one, the day's close). The
//! boundary is the row's time, so instances of a cluster writing the same
//! snapshot collide on the unique index instead of doubling it.

use crate::columns::*;
use crate::m20261124_000001_identity::Users;
use crate::m20261124_000002_accounts::ApiKeys;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000013_equity_snapshots"
    }
}

#[derive(DeriveIden)]
enum EquitySnapshots {
    Table,
    Id,
    UserId,
    AccountId,
    TakenAt,
    WalletBalance,
    UnrealizedPnl,
    Equity,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_database_backend();
        manager
            .create_table(
                Table::create()
                    .table(EquitySnapshots::Table)
                    .col(id(EquitySnapshots::Id))
                    .col(fk(EquitySnapshots::UserId))
                    .col(fk(EquitySnapshots::AccountId))
                    .col(timestamp(EquitySnapshots::TakenAt))
                    .col(money(db, EquitySnapshots::WalletBalance))
                    .col(money(db, EquitySnapshots::UnrealizedPnl))
                    .col(money(db, EquitySnapshots::Equity))
                    .col(created_at(EquitySnapshots::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(EquitySnapshots::Table, EquitySnapshots::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(EquitySnapshots::Table, EquitySnapshots::AccountId)
                            .to(ApiKeys::Table, ApiKeys::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_equity_snapshots_account_id_taken_at")
                    .table(EquitySnapshots::Table)
                    .col(EquitySnapshots::AccountId)
                    .col(EquitySnapshots::TakenAt)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_equity_snapshots_user_id_taken_at")
                    .table(EquitySnapshots::Table)
                    .col(EquitySnapshots::UserId)
                    .col(EquitySnapshots::TakenAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(EquitySnapshots::Table).to_owned())
            .await
    }
}
