//! Security alerts and anomaly handling: which alert kinds a user switched
//! off, and whether a strategy pauses itself when its trading looks
//! abnormal (off unless the user turns it on).
//!
//! Inserts of strategies set the new column explicitly (see
//! `m20261124_000007_ai` for why).

use crate::columns::*;
use crate::m20261124_000001_identity::Users;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261124_000008_security"
    }
}

#[derive(DeriveIden)]
enum SecurityAlertSettings {
    Table,
    UserId,
    /// Comma-separated kind codes the user does not want.
    Muted,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Strategies {
    Table,
    AutoPauseOnAnomaly,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SecurityAlertSettings::Table)
                    .col(fk(SecurityAlertSettings::UserId).primary_key())
                    .col(string(SecurityAlertSettings::Muted, 512).default(""))
                    .col(created_at(SecurityAlertSettings::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(SecurityAlertSettings::Table, SecurityAlertSettings::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Strategies::Table)
                    .add_column(
                        ColumnDef::new(Strategies::AutoPauseOnAnomaly)
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
                    .drop_column(Strategies::AutoPauseOnAnomaly)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(SecurityAlertSettings::Table).to_owned())
            .await
    }
}
