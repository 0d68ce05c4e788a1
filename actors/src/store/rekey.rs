//! Re-encrypting every stored secret under a new master key, in one
//! transaction: either every ciphertext moves to the new key or none does.

use super::entities::{api_keys, telegram_bots, users, webhook_tokens};
use super::{Store, StoreError};
use crate::identity::secrets;
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set, TransactionTrait};
use tradingbot_core::vault::{Binding, Vault, VaultError};

#[derive(Debug, thiserror::Error)]
pub enum RekeyError {
    #[error("{table}.{column} of row {row}: {source}")]
    Vault {
        table: &'static str,
        column: &'static str,
        row: i64,
        source: VaultError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("database error: {0}")]
    Db(#[from] sea_orm::DbErr),
}

fn reseal(
    vault: &Vault,
    user_id: i64,
    table: &'static str,
    row: i64,
    column: &'static str,
    sealed: &[u8],
) -> Result<Vec<u8>, RekeyError> {
    let binding = Binding {
        user_id,
        table,
        row_id: row,
        column,
    };
    vault
        .reseal(&binding, sealed, secrets::nonce())
        .map_err(|source| RekeyError::Vault {
            table,
            column,
            row,
            source,
        })
}

fn reseal_opt(
    vault: &Vault,
    user_id: i64,
    table: &'static str,
    row: i64,
    column: &'static str,
    sealed: &Option<Vec<u8>>,
    count: &mut usize,
) -> Result<Option<Vec<u8>>, RekeyError> {
    match sealed {
        Some(s) => {
            *count += 1;
            Ok(Some(reseal(vault, user_id, table, row, column, s)?))
        }
        None => Ok(None),
    }
}

/// Reseals every ciphertext with `vault`'s current key (its previous key
/// opening the old ones); returns how many secrets moved.
pub async fn reseal_all(store: &Store, vault: &Vault) -> Result<usize, RekeyError> {
    let txn = store.conn().begin().await?;
    let mut count = 0;
    for a in api_keys::Entity::find().all(&txn).await? {
        let (u, id) = (a.user_id, a.id);
        let key = reseal_opt(
            vault,
            u,
            "api_keys",
            id,
            "api_key_enc",
            &a.api_key_enc,
            &mut count,
        )?;
        let secret = reseal_opt(
            vault,
            u,
            "api_keys",
            id,
            "api_secret_enc",
            &a.api_secret_enc,
            &mut count,
        )?;
        let pass = reseal_opt(
            vault,
            u,
            "api_keys",
            id,
            "passphrase_enc",
            &a.passphrase_enc,
            &mut count,
        )?;
        let mut active = a.into_active_model();
        active.api_key_enc = Set(key);
        active.api_secret_enc = Set(secret);
        active.passphrase_enc = Set(pass);
        active.update(&txn).await?;
    }
    for user in users::Entity::find().all(&txn).await? {
        if user.totp_secret.is_some() {
            let id = user.id;
            let totp = reseal_opt(
                vault,
                id,
                "users",
                id,
                "totp_secret",
                &user.totp_secret,
                &mut count,
            )?;
            let mut active = user.into_active_model();
            active.totp_secret = Set(totp);
            active.update(&txn).await?;
        }
    }
    for w in webhook_tokens::Entity::find().all(&txn).await? {
        let (u, id) = (w.user_id, w.id);
        let token = reseal(vault, u, "webhook_tokens", id, "token_enc", &w.token_enc)?;
        let secret = reseal(vault, u, "webhook_tokens", id, "secret_enc", &w.secret_enc)?;
        count += 2;
        let mut active = w.into_active_model();
        active.token_enc = Set(token);
        active.secret_enc = Set(secret);
        active.update(&txn).await?;
    }
    for b in telegram_bots::Entity::find().all(&txn).await? {
        let (u, id) = (b.user_id, b.id);
        let token = reseal(
            vault,
            u,
            "telegram_bots",
            id,
            "bot_token_enc",
            &b.bot_token_enc,
        )?;
        count += 1;
        let mut active = b.into_active_model();
        active.bot_token_enc = Set(token);
        active.update(&txn).await?;
    }
    txn.commit().await?;
    Ok(count)
}
