//! Column definitions that must differ between SQLite and PostgreSQL.
//!
//! Money is exact. PostgreSQL has `NUMERIC(p, s)`; SQLite does not: a column
//! declared `DECIMAL` gets *numeric affinity* and SQLite silently converts
//! `"43250.12345678"` into a binary double. So on SQLite decimals are stored as
//! `TEXT` (the driver already binds `rust_decimal::Decimal` as its string
//! form) and read back by the entity layer's `DbDecimal`, which parses the
//! text. Range checks on such columns must cast, because SQLite would compare
//! the text `'5.00'` with the number `100` as text.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

/// Precision and scale of prices, quantities and amounts of money. 28 digits
/// is what `rust_decimal` holds; 10 decimals covers every tick and step size
/// Binance and OKX publish for perpetual swaps.
pub const MONEY_PRECISION: u32 = 28;
pub const MONEY_SCALE: u32 = 10;

/// A percentage with two decimals (the seed's `DECIMAL(5, 2)`).
pub const PCT_PRECISION: u32 = 5;
pub const PCT_SCALE: u32 = 2;

fn decimal_column<T: IntoIden>(
    backend: DatabaseBackend,
    name: T,
    precision: u32,
    scale: u32,
) -> ColumnDef {
    let mut def = ColumnDef::new(name);
    match backend {
        DatabaseBackend::Sqlite => def.text(),
        _ => def.decimal_len(precision, scale),
    };
    def
}

/// A non-null amount of money, price or quantity.
pub fn money<T: IntoIden>(backend: DatabaseBackend, name: T) -> ColumnDef {
    let mut def = decimal_column(backend, name, MONEY_PRECISION, MONEY_SCALE);
    def.not_null();
    def
}

/// A nullable amount of money, price or quantity.
pub fn money_null<T: IntoIden>(backend: DatabaseBackend, name: T) -> ColumnDef {
    let mut def = decimal_column(backend, name, MONEY_PRECISION, MONEY_SCALE);
    def.null();
    def
}

/// A non-null amount of money that starts at zero.
pub fn money_zero<T: IntoIden>(backend: DatabaseBackend, name: T) -> ColumnDef {
    let mut def = money(backend, name);
    def.default(zero_default(backend, "0"));
    def
}

/// A non-null percentage with the seed's default.
pub fn pct<T: IntoIden>(backend: DatabaseBackend, name: T, default: &'static str) -> ColumnDef {
    let mut def = decimal_column(backend, name, PCT_PRECISION, PCT_SCALE);
    def.not_null().default(zero_default(backend, default));
    def
}

/// The default value of a decimal column: text on SQLite (so it is read back
/// exactly), a numeric literal on PostgreSQL.
fn zero_default(backend: DatabaseBackend, literal: &'static str) -> SimpleExpr {
    match backend {
        DatabaseBackend::Sqlite => Expr::val(literal),
        _ => Expr::cust(literal),
    }
}

/// `CHECK (lo <= column <= hi)` for a decimal column, written so that both
/// backends compare numbers rather than text.
pub fn decimal_between(backend: DatabaseBackend, column: &str, lo: &str, hi: &str) -> SimpleExpr {
    match backend {
        DatabaseBackend::Sqlite => Expr::cust(format!(
            "CAST({column} AS REAL) >= {lo} AND CAST({column} AS REAL) <= {hi}"
        )),
        _ => Expr::cust(format!("{column} >= {lo} AND {column} <= {hi}")),
    }
}

/// A non-null UTC timestamp defaulting to the moment the row is written.
pub fn created_at<T: IntoIden>(name: T) -> ColumnDef {
    let mut def = ColumnDef::new(name);
    def.timestamp_with_time_zone()
        .not_null()
        .default(Expr::current_timestamp());
    def
}

/// A nullable UTC timestamp.
pub fn timestamp_null<T: IntoIden>(name: T) -> ColumnDef {
    let mut def = ColumnDef::new(name);
    def.timestamp_with_time_zone().null();
    def
}

/// A non-null UTC timestamp with no default.
pub fn timestamp<T: IntoIden>(name: T) -> ColumnDef {
    let mut def = ColumnDef::new(name);
    def.timestamp_with_time_zone().not_null();
    def
}

/// A 64-bit auto-increment primary key.
pub fn id<T: IntoIden>(name: T) -> ColumnDef {
    let mut def = ColumnDef::new(name);
    def.big_integer().not_null().auto_increment().primary_key();
    def
}

/// A non-null foreign key column to a 64-bit id.
pub fn fk<T: IntoIden>(name: T) -> ColumnDef {
    let mut def = ColumnDef::new(name);
    def.big_integer().not_null();
    def
}

/// A nullable foreign key column to a 64-bit id.
pub fn fk_null<T: IntoIden>(name: T) -> ColumnDef {
    let mut def = ColumnDef::new(name);
    def.big_integer().null();
    def
}

/// A non-null string of at most `len` characters.
pub fn string<T: IntoIden>(name: T, len: u32) -> ColumnDef {
    let mut def = ColumnDef::new(name);
    def.string_len(len).not_null();
    def
}

/// A nullable string of at most `len` characters.
pub fn string_null<T: IntoIden>(name: T, len: u32) -> ColumnDef {
    let mut def = ColumnDef::new(name);
    def.string_len(len).null();
    def
}

/// A non-null string with a default.
pub fn string_default<T: IntoIden>(name: T, len: u32, default: &'static str) -> ColumnDef {
    let mut def = string(name, len);
    def.default(default);
    def
}

/// A non-null boolean with a default.
pub fn boolean<T: IntoIden>(name: T, default: bool) -> ColumnDef {
    let mut def = ColumnDef::new(name);
    def.boolean().not_null().default(default);
    def
}

/// Ciphertext of an encrypted secret (AES-256-GCM with its nonce and key version).
pub fn ciphertext<T: IntoIden>(name: T) -> ColumnDef {
    let mut def = ColumnDef::new(name);
    def.binary().not_null();
    def
}

/// Nullable ciphertext.
pub fn ciphertext_null<T: IntoIden>(name: T) -> ColumnDef {
    let mut def = ColumnDef::new(name);
    def.binary().null();
    def
}

/// Adds `columns` to `table`, one statement each: SQLite alters one column
/// at a time.
pub async fn add_columns(
    manager: &SchemaManager<'_>,
    table: impl IntoIden,
    columns: Vec<ColumnDef>,
) -> Result<(), DbErr> {
    let table = table.into_iden();
    for mut column in columns {
        manager
            .alter_table(
                Table::alter()
                    .table(table.clone())
                    .add_column(&mut column)
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}

/// Drops `columns` from `table`, one statement each.
pub async fn drop_columns<C: IntoIden>(
    manager: &SchemaManager<'_>,
    table: impl IntoIden,
    columns: Vec<C>,
) -> Result<(), DbErr> {
    let table = table.into_iden();
    for column in columns {
        manager
            .alter_table(
                Table::alter()
                    .table(table.clone())
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}
