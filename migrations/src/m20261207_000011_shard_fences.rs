//! The database's side of the cluster's fencing: for each shard, the
//! highest lease token any owner has announced. A new owner raises it
//! before it reads its users back; every batch of records carries the token
//! its events were made under and checks it against this row (locked for
//! the batch), so a paused-then-resumed old owner cannot overwrite what the
//! new one wrote — its late records are kept as new facts only.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000011_shard_fences"
    }
}

#[derive(DeriveIden)]
enum ShardFences {
    Table,
    Shard,
    Token,
    Owner,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ShardFences::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(ShardFences::Shard)
                            .integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ShardFences::Token).big_integer().not_null())
                    .col(ColumnDef::new(ShardFences::Owner).string_len(64).not_null())
                    .col(
                        ColumnDef::new(ShardFences::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ShardFences::Table).to_owned())
            .await
    }
}
