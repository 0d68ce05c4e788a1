//! The replay check reads the signals of the last minutes at every start
//! (an alert admitted before a restart stays admitted after it): an index
//! on when they arrived keeps that read short however long the history.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000009_replay"
    }
}

#[derive(DeriveIden)]
enum Signals {
    Table,
    ReceivedAt,
}

const INDEX: &str = "idx_signals_received_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(Signals::Table)
                    .col(Signals::ReceivedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(INDEX).table(Signals::Table).to_owned())
            .await
    }
}
