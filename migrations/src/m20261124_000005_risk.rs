//! Risk: each user's limits and the risk state that must survive a restart
//! (kill switches, the day's starting equity, a tripped daily loss limit),
//! and operator-wide settings such as the global kill switch.

use crate::columns::*;
use crate::m20261124_000001_identity::Users;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261124_000005_risk"
    }
}

#[derive(DeriveIden)]
enum RiskSettings {
    Table,
    UserId,
    MaxLeverage,
    MaxOpenPositions,
    MaxPositionNotional,
    DailyLossLimitPct,
    KillSwitch,
    AdminKillSwitch,
    Day,
    DayStartEquity,
    HaltedDay,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SystemSettings {
    Table,
    Key,
    Value,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_database_backend();
        manager
            .create_table(
                Table::create()
                    .table(RiskSettings::Table)
                    .col(
                        ColumnDef::new(RiskSettings::UserId)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(RiskSettings::MaxLeverage)
                            .integer()
                            .not_null()
                            .default(125),
                    )
                    .col(
                        ColumnDef::new(RiskSettings::MaxOpenPositions)
                            .integer()
                            .not_null()
                            .default(10),
                    )
                    .col(money_null(db, RiskSettings::MaxPositionNotional))
                    .col(money_null(db, RiskSettings::DailyLossLimitPct))
                    .col(boolean(RiskSettings::KillSwitch, false))
                    .col(boolean(RiskSettings::AdminKillSwitch, false))
                    // UTC day number (days since 1970-01-01) of `day_start_equity`.
                    .col(
                        ColumnDef::new(RiskSettings::Day)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(money_zero(db, RiskSettings::DayStartEquity))
                    .col(ColumnDef::new(RiskSettings::HaltedDay).big_integer().null())
                    .col(created_at(RiskSettings::UpdatedAt))
                    .check((
                        "ck_risk_settings_max_leverage",
                        Expr::col(RiskSettings::MaxLeverage).between(1, 125),
                    ))
                    .check((
                        "ck_risk_settings_max_open_positions",
                        Expr::col(RiskSettings::MaxOpenPositions).between(0, 1000),
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .from(RiskSettings::Table, RiskSettings::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SystemSettings::Table)
                    .col(string(SystemSettings::Key, 64).primary_key())
                    .col(ColumnDef::new(SystemSettings::Value).text().not_null())
                    .col(created_at(SystemSettings::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SystemSettings::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(RiskSettings::Table).to_owned())
            .await
    }
}
