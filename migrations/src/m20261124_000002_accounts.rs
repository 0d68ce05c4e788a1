//! Exchange accounts (the seed's `api_keys`, credentials encrypted) and the
//! users' Telegram bots (token encrypted).

use crate::columns::*;
use crate::m20261124_000001_identity::Users;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261124_000002_accounts"
    }
}

#[derive(DeriveIden)]
pub enum ApiKeys {
    Table,
    Id,
    UserId,
    AccountId,
    Label,
    Exchange,
    ApiKeyEnc,
    ApiSecretEnc,
    PassphraseEnc,
    ApiKeyMask,
    Testnet,
    IsActive,
    Permissions,
    LastTestedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum TelegramBots {
    Table,
    Id,
    UserId,
    BotTokenEnc,
    BotUsername,
    ChatId,
    IsActive,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(id(ApiKeys::Id))
                    .col(fk(ApiKeys::UserId))
                    // The exchange's own identifier of the account (UID), when
                    // the connection test reports one.
                    .col(string_null(ApiKeys::AccountId, 64))
                    .col(string(ApiKeys::Label, 100))
                    .col(string(ApiKeys::Exchange, 16).check((
                        "ck_api_keys_exchange",
                        Expr::col(ApiKeys::Exchange).is_in(["binance", "okx", "paper"]),
                    )))
                    // Paper accounts have no credentials.
                    .col(ciphertext_null(ApiKeys::ApiKeyEnc))
                    .col(ciphertext_null(ApiKeys::ApiSecretEnc))
                    .col(ciphertext_null(ApiKeys::PassphraseEnc))
                    // `vmPU…uEh8A`: what the API shows, so listing accounts
                    // never needs to decrypt a key.
                    .col(string_null(ApiKeys::ApiKeyMask, 32))
                    .col(boolean(ApiKeys::Testnet, false))
                    .col(boolean(ApiKeys::IsActive, true))
                    .col(ColumnDef::new(ApiKeys::Permissions).text().null())
                    .col(timestamp_null(ApiKeys::LastTestedAt))
                    .col(created_at(ApiKeys::CreatedAt))
                    .col(created_at(ApiKeys::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ApiKeys::Table, ApiKeys::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_api_keys_user_id")
                    .table(ApiKeys::Table)
                    .col(ApiKeys::UserId)
                    .to_owned(),
            )
            .await?;

        // One bot per user: the seed's routes are singular (`/telegram`).
        manager
            .create_table(
                Table::create()
                    .table(TelegramBots::Table)
                    .col(id(TelegramBots::Id))
                    .col(fk(TelegramBots::UserId).unique_key())
                    .col(ciphertext(TelegramBots::BotTokenEnc))
                    .col(string_null(TelegramBots::BotUsername, 64))
                    .col(ColumnDef::new(TelegramBots::ChatId).big_integer().null())
                    .col(boolean(TelegramBots::IsActive, true))
                    .col(created_at(TelegramBots::CreatedAt))
                    .col(created_at(TelegramBots::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(TelegramBots::Table, TelegramBots::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TelegramBots::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ApiKeys::Table).to_owned())
            .await
    }
}
