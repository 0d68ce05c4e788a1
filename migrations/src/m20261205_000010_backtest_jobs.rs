//! Backtest jobs in the database: they survive a restart and every
//! instance sees them (the one running a job writes its progress and, at
//! the end, its result).

use crate::columns::*;
use crate::m20261124_000001_identity::Users;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000010_backtest_jobs"
    }
}

#[derive(DeriveIden)]
pub enum BacktestJobs {
    Table,
    Id,
    UserId,
    Status,
    Phase,
    /// Thousandths of the work done.
    Permille,
    /// The request as the job shows it (JSON).
    Request,
    /// The result (JSON): report, data summary, trades, equity.
    Result,
    ErrorCode,
    ErrorDetail,
    /// The instance running it (to know a job whose runner is gone).
    Instance,
    CreatedAt,
    StartedAt,
    FinishedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BacktestJobs::Table)
                    .col(string(BacktestJobs::Id, 36).primary_key())
                    .col(fk(BacktestJobs::UserId))
                    .col(string(BacktestJobs::Status, 16))
                    .col(string(BacktestJobs::Phase, 16))
                    .col(
                        ColumnDef::new(BacktestJobs::Permille)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(ColumnDef::new(BacktestJobs::Request).text().not_null())
                    .col(ColumnDef::new(BacktestJobs::Result).text().null())
                    .col(string_null(BacktestJobs::ErrorCode, 64))
                    .col(ColumnDef::new(BacktestJobs::ErrorDetail).text().null())
                    .col(string(BacktestJobs::Instance, 64))
                    .col(created_at(BacktestJobs::CreatedAt))
                    .col(timestamp_null(BacktestJobs::StartedAt))
                    .col(timestamp_null(BacktestJobs::FinishedAt))
                    .col(created_at(BacktestJobs::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(BacktestJobs::Table, BacktestJobs::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_backtest_jobs_user_created")
                    .table(BacktestJobs::Table)
                    .col(BacktestJobs::UserId)
                    .col(BacktestJobs::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(BacktestJobs::Table).to_owned())
            .await
    }
}
