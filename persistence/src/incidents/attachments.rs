//! Files attached to cases (evidence and results), by content hash.

use crate::db::AnyConnection;
use crate::error::StoreError;
use crate::schema::incident_attachments as attachments;
use diesel::prelude::*;

/// A file attached to a case.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = attachments, treat_none_as_default_value = false)]
pub struct Attachment {
    pub incident_id: String,
    pub hash: String,
    pub kind: String,
    pub media_type: String,
    pub size_bytes: i64,
    pub uploaded_by: Option<String>,
    pub created_at: String,
}

/// Links a content to a case. False when the same content was attached as the same kind.
///
/// # Errors
/// Database errors.
pub fn attach(conn: &mut AnyConnection, row: &Attachment) -> Result<bool, StoreError> {
    let n = on_backend!(conn, |c| diesel::insert_into(attachments::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(n == 1)
}

/// The attachments of these cases, each case's oldest first.
///
/// # Errors
/// Database errors.
pub fn attachments_of_cases(
    conn: &mut AnyConnection,
    ids: &[&str],
) -> Result<Vec<Attachment>, StoreError> {
    Ok(attachments::table
        .filter(attachments::incident_id.eq_any(ids))
        .select(Attachment::as_select())
        .order((
            attachments::incident_id.asc(),
            attachments::created_at.asc(),
            attachments::hash.asc(),
        ))
        .load(conn)?)
}

/// A case's attachments, oldest first.
///
/// # Errors
/// Database errors.
pub fn attachments_of(conn: &mut AnyConnection, id: &str) -> Result<Vec<Attachment>, StoreError> {
    Ok(attachments::table
        .filter(attachments::incident_id.eq(id))
        .select(Attachment::as_select())
        .order((attachments::created_at.asc(), attachments::hash.asc()))
        .load(conn)?)
}
