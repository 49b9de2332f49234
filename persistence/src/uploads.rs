//! Photos uploaded ahead of the operations that use them, per account and content hash
//! (`blob_uploads`): how much of each has arrived, and whether it is whole.

use crate::db::AnyConnection;
use crate::error::StoreError;
use crate::schema::blob_uploads as up;
use diesel::prelude::*;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = up)]
pub struct Upload {
    pub account_id: String,
    pub hash: String,
    pub total_bytes: i64,
    pub received_bytes: i64,
    pub media_type: Option<String>,
    pub created_at: String,
    pub completed_at: Option<String>,
}

/// The upload of `hash` by `account`, its row held until the transaction ends (PostgreSQL:
/// `FOR UPDATE`; a SQLite write transaction holds everything already), so two pieces of
/// one upload are written one after the other.
///
/// # Errors
/// Database errors.
pub fn hold(
    conn: &mut AnyConnection,
    account: &str,
    hash: &str,
) -> Result<Option<Upload>, StoreError> {
    let key = (account.to_owned(), hash.to_owned());
    if let AnyConnection::Postgresql(c) = conn {
        return Ok(up::table
            .find(key)
            .select(Upload::as_select())
            .for_update()
            .first(c)
            .optional()?);
    }
    Ok(up::table
        .find(key)
        .select(Upload::as_select())
        .first(conn)
        .optional()?)
}

/// Starts an upload of `total_bytes` (nothing received yet) unless one exists: two first
/// pieces at once both find a row to hold after this.
///
/// # Errors
/// Database errors.
pub fn open(
    conn: &mut AnyConnection,
    account: &str,
    hash: &str,
    total_bytes: i64,
    now: &str,
) -> Result<(), StoreError> {
    let values = (
        up::account_id.eq(account),
        up::hash.eq(hash),
        up::total_bytes.eq(total_bytes),
        up::received_bytes.eq(0_i64),
        up::created_at.eq(now),
    );
    on_backend!(conn, |c| diesel::insert_into(up::table)
        .values(values)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(())
}

/// Records how much has arrived, and, once whole, its media type and when it completed.
///
/// # Errors
/// Database errors.
pub fn set_received(
    conn: &mut AnyConnection,
    account: &str,
    hash: &str,
    received_bytes: i64,
    completed: Option<(&str, &str)>,
) -> Result<(), StoreError> {
    diesel::update(up::table.find((account.to_owned(), hash.to_owned())))
        .set((
            up::received_bytes.eq(received_bytes),
            up::media_type.eq(completed.map(|(m, _)| m)),
            up::completed_at.eq(completed.map(|(_, at)| at)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Starts an upload over from nothing, as a content of `total_bytes`.
///
/// # Errors
/// Database errors.
pub fn restart(
    conn: &mut AnyConnection,
    account: &str,
    hash: &str,
    total_bytes: i64,
) -> Result<(), StoreError> {
    diesel::update(up::table.find((account.to_owned(), hash.to_owned())))
        .set((
            up::total_bytes.eq(total_bytes),
            up::received_bytes.eq(0_i64),
        ))
        .execute(conn)?;
    Ok(())
}

/// The uploads of `account` among `hashes`.
///
/// # Errors
/// Database errors.
pub fn of(
    conn: &mut AnyConnection,
    account: &str,
    hashes: &[String],
) -> Result<Vec<Upload>, StoreError> {
    Ok(up::table
        .filter(up::account_id.eq(account))
        .filter(up::hash.eq_any(hashes))
        .select(Upload::as_select())
        .load(conn)?)
}
