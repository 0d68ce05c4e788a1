//! What the user was told — PnL steps, risk alerts, AI recommendations,
//! security alerts — kept so the dashboard shows them after a reload and
//! marks them read. `data` is the websocket frame's data as sent, so the
//! history and the live feed have one shape.

use crate::columns::*;
use crate::m20261124_000001_identity::Users;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000014_notifications"
    }
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    UserId,
    /// The websocket event: `pnl_alert`, `risk_alert`, `ai_recommendation`,
    /// `security_alert`.
    Kind,
    /// `info`, `warning` or `critical`.
    Severity,
    Title,
    Message,
    /// JSON.
    Data,
    PositionId,
    Symbol,
    CreatedAt,
    ReadAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Notifications::Table)
                    .col(id(Notifications::Id))
                    .col(fk(Notifications::UserId))
                    .col(string(Notifications::Kind, 32))
                    .col(string(Notifications::Severity, 16))
                    .col(string(Notifications::Title, 200))
                    .col(ColumnDef::new(Notifications::Message).text().not_null())
                    .col(ColumnDef::new(Notifications::Data).text().not_null())
                    .col(fk_null(Notifications::PositionId))
                    .col(string_null(Notifications::Symbol, 32))
                    .col(created_at(Notifications::CreatedAt))
                    .col(timestamp_null(Notifications::ReadAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Notifications::Table, Notifications::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_notifications_user_id_id")
                    .table(Notifications::Table)
                    .col(Notifications::UserId)
                    .col(Notifications::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_notifications_user_id_read_at")
                    .table(Notifications::Table)
                    .col(Notifications::UserId)
                    .col(Notifications::ReadAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Notifications::Table).to_owned())
            .await
    }
}
