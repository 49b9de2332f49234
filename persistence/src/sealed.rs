//! Sealed personal data by key: how many values each key holds, and re-sealing them under
//! the current key so that an old key can be retired. The values stay sealed here; opening
//! and sealing happen above this layer.

use crate::db::AnyConnection;
use crate::error::StoreError;
use diesel::prelude::*;

/// A column pair that holds a sealed value and the id of its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedColumn {
    ResidentIdCard,
    ResidentPhone,
    UserPhone,
    ReporterName,
    ReporterPhone,
}

impl SealedColumn {
    pub const ALL: [Self; 5] = [
        Self::ResidentIdCard,
        Self::ResidentPhone,
        Self::UserPhone,
        Self::ReporterName,
        Self::ReporterPhone,
    ];

    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::ResidentIdCard => "residents.id_card",
            Self::ResidentPhone => "residents.phone",
            Self::UserPhone => "users.phone",
            Self::ReporterName => "incident_reporters.name",
            Self::ReporterPhone => "incident_reporters.phone",
        }
    }
}

/// A sealed value as stored.
#[derive(Debug, Clone)]
pub struct SealedValue {
    pub row_id: String,
    pub cipher: Vec<u8>,
    pub key_id: String,
}

/// Runs `$body` with `$t`, `$id`, `$cipher`, `$key` bound to the table and columns of
/// `$col`: the three column pairs have the same shape, and diesel's types differ per column.
macro_rules! with_column {
    ($col:expr, |$t:ident, $id:ident, $cipher:ident, $key:ident| $body:expr) => {
        match $col {
            SealedColumn::ResidentIdCard => {
                use crate::schema::residents::dsl as d;
                let ($t, $id, $cipher, $key) =
                    (d::residents, d::id, d::id_card_cipher, d::id_card_key_id);
                $body
            }
            SealedColumn::ResidentPhone => {
                use crate::schema::residents::dsl as d;
                let ($t, $id, $cipher, $key) =
                    (d::residents, d::id, d::phone_cipher, d::phone_key_id);
                $body
            }
            SealedColumn::UserPhone => {
                use crate::schema::users::dsl as d;
                let ($t, $id, $cipher, $key) = (d::users, d::id, d::phone_cipher, d::phone_key_id);
                $body
            }
            SealedColumn::ReporterName => {
                use crate::schema::incident_reporters::dsl as d;
                let ($t, $id, $cipher, $key) = (
                    d::incident_reporters,
                    d::incident_id,
                    d::name_cipher,
                    d::name_key_id,
                );
                $body
            }
            SealedColumn::ReporterPhone => {
                use crate::schema::incident_reporters::dsl as d;
                let ($t, $id, $cipher, $key) = (
                    d::incident_reporters,
                    d::incident_id,
                    d::phone_cipher,
                    d::phone_key_id,
                );
                $body
            }
        }
    };
}

/// How many values of `col` each key id holds, by key id.
///
/// # Errors
/// Database errors.
pub fn count_by_key(
    conn: &mut AnyConnection,
    col: SealedColumn,
) -> Result<Vec<(String, i64)>, StoreError> {
    with_column!(col, |t, _id, _cipher, key| {
        Ok(t.filter(key.is_not_null())
            .group_by(key)
            .select((key.assume_not_null(), diesel::dsl::count_star()))
            .order(key.asc())
            .load(conn)?)
    })
}

/// Up to `limit` values of `col` sealed under another key than `current_key_id`, after the
/// row `after` (by row id; "" for the first batch).
///
/// # Errors
/// Database errors.
pub fn not_under_key(
    conn: &mut AnyConnection,
    col: SealedColumn,
    current_key_id: &str,
    after: &str,
    limit: i64,
) -> Result<Vec<SealedValue>, StoreError> {
    with_column!(col, |t, id, cipher, key| {
        let rows: Vec<(String, Option<Vec<u8>>, String)> = t
            .filter(key.is_not_null())
            .filter(key.ne(current_key_id))
            .filter(id.gt(after))
            .select((id, cipher, key.assume_not_null()))
            .order(id.asc())
            .limit(limit)
            .load(conn)?;
        rows.into_iter()
            .map(|(row_id, cipher, key_id)| {
                let cipher = cipher.ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "{} of {row_id} has a key but no value",
                        col.name()
                    ))
                })?;
                Ok(SealedValue {
                    row_id,
                    cipher,
                    key_id,
                })
            })
            .collect()
    })
}

/// Replaces one sealed value with `cipher` under `key_id`, provided the row still holds
/// exactly `old` (same ciphertext: every sealing draws a fresh nonce, so a value written
/// meanwhile, under any key, never matches and is left alone). The row's version does not
/// move: its content is the same. Returns whether the row was changed.
///
/// # Errors
/// Database errors.
pub fn replace(
    conn: &mut AnyConnection,
    col: SealedColumn,
    old: &SealedValue,
    cipher: &[u8],
    key_id: &str,
) -> Result<bool, StoreError> {
    with_column!(col, |t, id, c, key| {
        let n = diesel::update(
            t.filter(id.eq(&old.row_id))
                .filter(key.eq(&old.key_id))
                .filter(c.eq(&old.cipher)),
        )
        .set((c.eq(cipher), key.eq(key_id)))
        .execute(conn)?;
        Ok(n == 1)
    })
}
