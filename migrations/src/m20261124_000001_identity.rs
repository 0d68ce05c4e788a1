//! Identity: users, their sessions (refresh tokens), email verification,
//! two-factor recovery codes, and the security audit log.

use crate::columns::*;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261124_000001_identity"
    }
}

#[derive(DeriveIden)]
pub enum Users {
    Table,
    Id,
    Email,
    PasswordHash,
    Role,
    IsActive,
    #[sea_orm(iden = "is_2fa_enabled")]
    Is2faEnabled,
    TotpSecret,
    TotpLastStep,
    EmailVerifiedAt,
    FailedLoginCount,
    FailedLoginWindowStart,
    LockedUntil,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Id,
    UserId,
    FamilyId,
    TokenHash,
    ExpiresAt,
    UsedAt,
    RevokedAt,
    Ip,
    UserAgent,
    CreatedAt,
}

#[derive(DeriveIden)]
enum EmailVerificationTokens {
    Table,
    Id,
    UserId,
    Email,
    TokenHash,
    ExpiresAt,
    ConsumedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum TotpRecoveryCodes {
    Table,
    Id,
    UserId,
    CodeHash,
    UsedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    UserId,
    Event,
    Ip,
    UserAgent,
    Details,
    CreatedAt,
}

fn user_fk<T: IntoIden + 'static, C: IntoIden + 'static>(
    table: T,
    column: C,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, column)
        .to(Users::Table, Users::Id)
        .on_delete(on_delete)
        .on_update(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(id(Users::Id))
                    .col(string(Users::Email, 255).unique_key())
                    .col(string(Users::PasswordHash, 255))
                    .col(string_default(Users::Role, 16, "user").check((
                        "ck_users_role",
                        Expr::col(Users::Role).is_in(["user", "admin"]),
                    )))
                    .col(boolean(Users::IsActive, true))
                    .col(boolean(Users::Is2faEnabled, false))
                    .col(ciphertext_null(Users::TotpSecret))
                    .col(ColumnDef::new(Users::TotpLastStep).big_integer().null())
                    .col(timestamp_null(Users::EmailVerifiedAt))
                    .col(
                        ColumnDef::new(Users::FailedLoginCount)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(timestamp_null(Users::FailedLoginWindowStart))
                    .col(timestamp_null(Users::LockedUntil))
                    .col(created_at(Users::CreatedAt))
                    .col(created_at(Users::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // The seed's index: logins look users up by email.
        manager
            .create_index(
                Index::create()
                    .name("idx_users_email")
                    .table(Users::Table)
                    .col(Users::Email)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    .col(id(RefreshTokens::Id))
                    .col(fk(RefreshTokens::UserId))
                    .col(string(RefreshTokens::FamilyId, 36))
                    .col(string(RefreshTokens::TokenHash, 64).unique_key())
                    .col(timestamp(RefreshTokens::ExpiresAt))
                    .col(timestamp_null(RefreshTokens::UsedAt))
                    .col(timestamp_null(RefreshTokens::RevokedAt))
                    .col(string_null(RefreshTokens::Ip, 64))
                    .col(string_null(RefreshTokens::UserAgent, 255))
                    .col(created_at(RefreshTokens::CreatedAt))
                    .foreign_key(&mut user_fk(
                        RefreshTokens::Table,
                        RefreshTokens::UserId,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_refresh_tokens_user_id")
                    .table(RefreshTokens::Table)
                    .col(RefreshTokens::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_refresh_tokens_family_id")
                    .table(RefreshTokens::Table)
                    .col(RefreshTokens::FamilyId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(EmailVerificationTokens::Table)
                    .col(id(EmailVerificationTokens::Id))
                    .col(fk(EmailVerificationTokens::UserId))
                    .col(string(EmailVerificationTokens::Email, 255))
                    .col(string(EmailVerificationTokens::TokenHash, 64).unique_key())
                    .col(timestamp(EmailVerificationTokens::ExpiresAt))
                    .col(timestamp_null(EmailVerificationTokens::ConsumedAt))
                    .col(created_at(EmailVerificationTokens::CreatedAt))
                    .foreign_key(&mut user_fk(
                        EmailVerificationTokens::Table,
                        EmailVerificationTokens::UserId,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_email_verification_tokens_user_id")
                    .table(EmailVerificationTokens::Table)
                    .col(EmailVerificationTokens::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(TotpRecoveryCodes::Table)
                    .col(id(TotpRecoveryCodes::Id))
                    .col(fk(TotpRecoveryCodes::UserId))
                    .col(string(TotpRecoveryCodes::CodeHash, 128))
                    .col(timestamp_null(TotpRecoveryCodes::UsedAt))
                    .col(created_at(TotpRecoveryCodes::CreatedAt))
                    .foreign_key(&mut user_fk(
                        TotpRecoveryCodes::Table,
                        TotpRecoveryCodes::UserId,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_totp_recovery_codes_user_id")
                    .table(TotpRecoveryCodes::Table)
                    .col(TotpRecoveryCodes::UserId)
                    .to_owned(),
            )
            .await?;

        // The audit trail outlives the account it describes: deleting a user
        // keeps their security events, detached from the (now gone) user.
        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(id(AuditLog::Id))
                    .col(fk_null(AuditLog::UserId))
                    .col(string(AuditLog::Event, 64))
                    .col(string_null(AuditLog::Ip, 64))
                    .col(string_null(AuditLog::UserAgent, 255))
                    .col(ColumnDef::new(AuditLog::Details).text().null())
                    .col(created_at(AuditLog::CreatedAt))
                    .foreign_key(&mut user_fk(
                        AuditLog::Table,
                        AuditLog::UserId,
                        ForeignKeyAction::SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_log_user_id_created_at")
                    .table(AuditLog::Table)
                    .col(AuditLog::UserId)
                    .col(AuditLog::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_log_event")
                    .table(AuditLog::Table)
                    .col(AuditLog::Event)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditLog::Table.into_iden(),
            TotpRecoveryCodes::Table.into_iden(),
            EmailVerificationTokens::Table.into_iden(),
            RefreshTokens::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
