//! Exchange accounts: their credentials sealed in the vault (bound to user,
//! row and column), and the live connection to each, built once from the
//! decrypted credentials and kept until the account changes.

use crate::exchange::paper::PriceFeed;
use crate::exchange::paper::{PaperBooks, PaperClient};
use crate::exchange::{
    Connection, ConnectionReport, Endpoints, binance::BinanceClient, okx::OkxClient,
};
use crate::identity::secrets;
use crate::store::Store;
use crate::store::entities::api_keys;
use crate::store::enums::Exchange;
use chrono::Utc;
use rust_decimal::Decimal;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tradingbot_core::exchange::paper::PaperConfig;
use tradingbot_core::exchange::{ExchangeError, KeyPermissions, mask_key};
use tradingbot_core::vault::{Binding, Vault};
use zeroize::Zeroizing;

/// Credentials as submitted, held only as long as needed.
pub struct Credentials {
    pub api_key: Zeroizing<String>,
    pub secret: Zeroizing<String>,
    pub passphrase: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(..)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error("not found")]
    NotFound,
    #[error("the stored credentials cannot be decrypted: {0}")]
    Vault(String),
    #[error("storage failed: {0}")]
    Store(#[from] sea_orm::DbErr),
    #[error("{0}")]
    Exchange(#[from] ExchangeError),
}

/// Encryption bindings of the `api_keys` ciphertext columns.
fn binding(user_id: i64, row_id: i64, column: &'static str) -> Binding<'static> {
    Binding {
        user_id,
        table: "api_keys",
        row_id,
        column,
    }
}

pub struct Accounts {
    store: Store,
    vault: Arc<Vault>,
    endpoints: Endpoints,
    feed: Arc<PriceFeed>,
    paper: PaperConfig,
    paper_balance: Decimal,
    paper_books: PaperBooks,
    connections: Mutex<HashMap<i64, Connection>>,
}

impl Accounts {
    pub fn new(
        store: Store,
        vault: Arc<Vault>,
        endpoints: Endpoints,
        feed: Arc<PriceFeed>,
        paper: PaperConfig,
        paper_balance: Decimal,
    ) -> Self {
        Self {
            paper_books: PaperBooks::new(store.clone()),
            store,
            vault,
            endpoints,
            feed,
            paper,
            paper_balance,
            connections: Mutex::new(HashMap::new()),
        }
    }

    pub fn feed(&self) -> &Arc<PriceFeed> {
        &self.feed
    }

    /// A connection for credentials not (yet) stored: the test before saving.
    pub fn connect_with(
        &self,
        exchange: Exchange,
        testnet: bool,
        creds: &Credentials,
    ) -> Connection {
        match exchange {
            Exchange::Binance => Connection::new(Arc::new(BinanceClient::new(
                self.endpoints.binance_rest(testnet),
                &creds.api_key,
                creds.secret.as_bytes(),
            ))),
            Exchange::Okx | Exchange::Paper => Connection::new(Arc::new(OkxClient::new(
                self.endpoints.okx_rest(testnet),
                &creds.api_key,
                creds.secret.as_bytes(),
                creds.passphrase.as_deref().map_or("", |p| p.as_str()),
                testnet,
            ))),
        }
    }

    /// Stores a tested account; the credentials are sealed in the same
    /// transaction that creates the row, so no row exists half-written.
    pub async fn create(
        &self,
        user_id: i64,
        exchange: Exchange,
        label: &str,
        testnet: bool,
        creds: Option<&Credentials>,
        permissions: Option<&KeyPermissions>,
    ) -> Result<api_keys::Model, AccountsError> {
        let txn = self.store.conn().begin().await?;
        let now = Utc::now();
        let row = api_keys::ActiveModel {
            user_id: Set(user_id),
            account_id: Set(permissions.and_then(|p| p.account_id.clone())),
            label: Set(label.to_owned()),
            exchange: Set(exchange),
            api_key_mask: Set(creds.map(|c| mask_key(&c.api_key))),
            testnet: Set(testnet),
            is_active: Set(true),
            permissions: Set(permissions.and_then(|p| serde_json::to_string(p).ok())),
            last_tested_at: Set(permissions.map(|_| now)),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        let row = match creds {
            Some(c) => {
                let mut active = row.clone().into_active_model();
                let id = row.id;
                active.api_key_enc = Set(Some(self.vault.seal(
                    &binding(user_id, id, "api_key_enc"),
                    c.api_key.as_bytes(),
                    secrets::nonce(),
                )));
                active.api_secret_enc = Set(Some(self.vault.seal(
                    &binding(user_id, id, "api_secret_enc"),
                    c.secret.as_bytes(),
                    secrets::nonce(),
                )));
                active.passphrase_enc = Set(c.passphrase.as_ref().map(|p| {
                    self.vault.seal(
                        &binding(user_id, id, "passphrase_enc"),
                        p.as_bytes(),
                        secrets::nonce(),
                    )
                }));
                active.update(&txn).await?
            }
            None => row,
        };
        txn.commit().await?;
        Ok(row)
    }

    /// Replaces the credentials of an account (after a successful test).
    pub async fn replace_credentials(
        &self,
        account: &api_keys::Model,
        creds: &Credentials,
        permissions: &KeyPermissions,
    ) -> Result<api_keys::Model, AccountsError> {
        let (user_id, id) = (account.user_id, account.id);
        let mut active = account.clone().into_active_model();
        active.api_key_enc = Set(Some(self.vault.seal(
            &binding(user_id, id, "api_key_enc"),
            creds.api_key.as_bytes(),
            secrets::nonce(),
        )));
        active.api_secret_enc = Set(Some(self.vault.seal(
            &binding(user_id, id, "api_secret_enc"),
            creds.secret.as_bytes(),
            secrets::nonce(),
        )));
        active.passphrase_enc = Set(creds.passphrase.as_ref().map(|p| {
            self.vault.seal(
                &binding(user_id, id, "passphrase_enc"),
                p.as_bytes(),
                secrets::nonce(),
            )
        }));
        active.api_key_mask = Set(Some(mask_key(&creds.api_key)));
        active.permissions = Set(serde_json::to_string(permissions).ok());
        active.account_id = Set(permissions.account_id.clone());
        active.last_tested_at = Set(Some(Utc::now()));
        active.updated_at = Set(Utc::now());
        let row = active.update(self.store.conn()).await?;
        self.forget(id);
        Ok(row)
    }

    pub async fn list(&self, user_id: i64) -> Result<Vec<api_keys::Model>, AccountsError> {
        Ok(api_keys::Entity::find()
            .filter(api_keys::Column::UserId.eq(user_id))
            .order_by_asc(api_keys::Column::Id)
            .all(self.store.conn())
            .await?)
    }

    /// Every active account of every user (the balance refresher's list).
    pub async fn all_active(&self) -> Result<Vec<api_keys::Model>, AccountsError> {
        Ok(api_keys::Entity::find()
            .filter(api_keys::Column::IsActive.eq(true))
            .order_by_asc(api_keys::Column::Id)
            .all(self.store.conn())
            .await?)
    }

    /// The account `id` of `user_id` — another user's is simply not found.
    pub async fn get(&self, user_id: i64, id: i64) -> Result<api_keys::Model, AccountsError> {
        api_keys::Entity::find_by_id(id)
            .filter(api_keys::Column::UserId.eq(user_id))
            .one(self.store.conn())
            .await?
            .ok_or(AccountsError::NotFound)
    }

    pub async fn update_meta(
        &self,
        account: api_keys::Model,
        label: Option<String>,
        is_active: Option<bool>,
    ) -> Result<api_keys::Model, AccountsError> {
        let id = account.id;
        let mut active = account.into_active_model();
        if let Some(l) = label {
            active.label = Set(l);
        }
        if let Some(a) = is_active {
            active.is_active = Set(a);
        }
        active.updated_at = Set(Utc::now());
        let row = active.update(self.store.conn()).await?;
        self.forget(id);
        Ok(row)
    }

    pub async fn record_test(
        &self,
        account: api_keys::Model,
        report: &ConnectionReport,
    ) -> Result<api_keys::Model, AccountsError> {
        let mut active = account.into_active_model();
        active.permissions = Set(serde_json::to_string(&report.permissions).ok());
        if let Some(uid) = &report.permissions.account_id {
            active.account_id = Set(Some(uid.clone()));
        }
        active.last_tested_at = Set(Some(Utc::now()));
        Ok(active.update(self.store.conn()).await?)
    }

    pub async fn delete(&self, account: api_keys::Model) -> Result<(), AccountsError> {
        let id = account.id;
        api_keys::Entity::delete_by_id(id)
            .exec(self.store.conn())
            .await?;
        self.forget(id);
        Ok(())
    }

    /// Drops the cached connection of an account (its credentials changed
    /// on another instance): the next use opens a new one.
    pub fn forget_connection(&self, id: i64) {
        self.forget(id);
    }

    fn forget(&self, id: i64) {
        self.connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }

    fn open(
        &self,
        account: &api_keys::Model,
        column: &'static str,
        sealed: &Option<Vec<u8>>,
    ) -> Result<Option<Zeroizing<String>>, AccountsError> {
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        let plain = self
            .vault
            .open(&binding(account.user_id, account.id, column), sealed)
            .map_err(|e| AccountsError::Vault(e.to_string()))?;
        String::from_utf8(plain.to_vec())
            .map(|s| Some(Zeroizing::new(s)))
            .map_err(|_| AccountsError::Vault("credential is not UTF-8".into()))
    }

    /// The stored credentials, decrypted.
    pub fn credentials(&self, account: &api_keys::Model) -> Result<Credentials, AccountsError> {
        Ok(Credentials {
            api_key: self
                .open(account, "api_key_enc", &account.api_key_enc)?
                .ok_or(AccountsError::Vault("no key".into()))?,
            secret: self
                .open(account, "api_secret_enc", &account.api_secret_enc)?
                .ok_or(AccountsError::Vault("no secret".into()))?,
            passphrase: self.open(account, "passphrase_enc", &account.passphrase_enc)?,
        })
    }

    /// The connection of a stored account, built on first use.
    pub async fn connection(&self, account: &api_keys::Model) -> Result<Connection, AccountsError> {
        if let Some(c) = self
            .connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&account.id)
        {
            return Ok(c.clone());
        }
        let connection = match account.exchange {
            Exchange::Paper => Connection::new(
                PaperClient::open(
                    self.paper_books.clone(),
                    account.id,
                    self.paper_balance,
                    self.feed.clone(),
                    self.paper,
                )
                .await?,
            ),
            exchange => {
                let creds = self.credentials(account)?;
                self.connect_with(exchange, account.testnet, &creds)
            }
        };
        let mut cache = self.connections.lock().unwrap_or_else(|e| e.into_inner());
        Ok(cache.entry(account.id).or_insert(connection).clone())
    }
}
