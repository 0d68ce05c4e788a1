//! The paper exchange's orders, one row each. The account's row keeps the
//! small part of its books (wallet, positions, leverage); orders are
//! written one by one as they change, so a fill writes that order and the
//! account, not the whole history of the account with it.

use crate::columns::*;
use crate::m20261124_000002_accounts::ApiKeys;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000012_paper_orders"
    }
}

#[derive(DeriveIden)]
enum PaperOrders {
    Table,
    AccountId,
    ClientId,
    /// The venue's order number (the books keep orders in this order).
    OrderNo,
    /// JSON of `tradingbot_core::exchange::paper::PaperOrder`.
    State,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PaperOrders::Table)
                    .col(
                        ColumnDef::new(PaperOrders::AccountId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(string(PaperOrders::ClientId, 64))
                    .col(
                        ColumnDef::new(PaperOrders::OrderNo)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(PaperOrders::State).text().not_null())
                    .col(created_at(PaperOrders::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(PaperOrders::AccountId)
                            .col(PaperOrders::ClientId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(PaperOrders::Table, PaperOrders::AccountId)
                            .to(ApiKeys::Table, ApiKeys::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PaperOrders::Table).to_owned())
            .await
    }
}
