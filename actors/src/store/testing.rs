//! Throw-away databases for tests.
//!
//! SQLite: a file in a fresh temporary directory. PostgreSQL: a fresh database
//! created on the server named by `TEST_DATABASE_URL` and dropped afterwards,
//! so tests never share state and can run in parallel.

use super::entities::users;
use super::enums::Role;
use super::{Store, StoreError, StoreOptions};
use sea_orm::{ConnectionTrait, Database, Set};

/// A trader's row as tests need one: active, without 2FA, a password hash
/// no password matches.
pub fn user_row(email: &str) -> users::ActiveModel {
    let now = chrono::Utc::now();
    users::ActiveModel {
        email: Set(email.to_owned()),
        password_hash: Set("$argon2id$v=19$m=19456,t=2,p=1$placeholder$hash".to_owned()),
        role: Set(Role::User),
        ai_alert_confidence: Set(0.7),
        is_active: Set(true),
        is_2fa_enabled: Set(false),
        failed_login_count: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}

/// Whether a missing test service must fail the test instead of skipping it
/// (CI sets `TRADINGBOT_TEST_REQUIRE_SERVICES=1`).
pub fn services_required() -> bool {
    std::env::var("TRADINGBOT_TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// Tells the person reading the test output that a test did not run its
/// service half, bypassing libtest's output capture so the line is seen.
pub fn announce_skip(test: &str, variable: &str) {
    use std::io::Write;
    if services_required() {
        panic!("{test}: {variable} is not set but TRADINGBOT_TEST_REQUIRE_SERVICES=1");
    }
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: {variable} is not set, so this test did not run against the real service"
    );
}

/// Prints a line past libtest's capture (used to show which services ran).
pub fn announce(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// A database that exists for the lifetime of this value.
pub struct TestDatabase {
    pub url: String,
    kind: Kind,
}

enum Kind {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    /// A new, empty SQLite database file.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}/test.db?mode=rwc", dir.path().display());
        Self {
            url,
            kind: Kind::Sqlite(dir),
        }
    }

    /// A new, empty PostgreSQL database, or `None` when `TEST_DATABASE_URL`
    /// is not set.
    pub async fn postgres() -> Option<Self> {
        let admin_url = std::env::var("TEST_DATABASE_URL").ok()?;
        let name = format!("tb_test_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(admin_url.as_str())
            .await
            .expect("connect to TEST_DATABASE_URL");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        admin.close().await.ok();
        let url = replace_database(&admin_url, &name);
        Some(Self {
            url,
            kind: Kind::Postgres { admin_url, name },
        })
    }

    /// Connects to it.
    pub async fn connect(&self) -> Result<Store, StoreError> {
        Store::connect(&self.url, &StoreOptions::default()).await
    }

    /// Drops a PostgreSQL test database (SQLite files go with their directory).
    pub async fn cleanup(self) {
        if let Kind::Postgres { admin_url, name } = &self.kind
            && let Ok(admin) = Database::connect(admin_url.as_str()).await
        {
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
            let _ = admin.close().await;
        }
    }
}

/// `postgres://u@h:p/old?x` with the database name replaced.
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(base.len());
    let mut out = format!("{}/{}", &base[..path_start], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            super::replace_database("postgres://u@127.0.0.1:5432/postgres", "x"),
            "postgres://u@127.0.0.1:5432/x"
        );
        assert_eq!(
            super::replace_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            super::replace_database("postgres://u@h", "x"),
            "postgres://u@h/x"
        );
    }
}
