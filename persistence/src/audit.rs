//! The audit log: security events and every read of unmasked personal data. Append-only: this
//! module only inserts and reads, and the database refuses updates and deletes (triggers).

use crate::db::AnyConnection;
use crate::error::StoreError;
use crate::schema::audit_events;
use crate::{now_rfc3339, uuid_v7};
use diesel::prelude::*;
use wangge_domain::Reach;

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = audit_events)]
pub struct AuditRecord {
    pub id: String,
    pub at: String,
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    pub action: String,
    pub subject_type: Option<String>,
    pub subject_id: Option<String>,
    #[serde(skip)]
    pub unit_path: Option<String>,
    pub address: Option<String>,
    pub request_id: Option<String>,
    pub details: String,
}

/// An event to record. `unit_path` places the subject in the grid, so that the log itself is
/// scoped: a reader sees the events about what they reach.
#[derive(Debug, Default, Clone)]
pub struct NewAuditEvent {
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    pub action: &'static str,
    pub subject_type: Option<&'static str>,
    pub subject_id: Option<String>,
    pub unit_path: Option<String>,
    pub address: Option<String>,
    pub request_id: Option<String>,
    pub details: serde_json::Value,
}

/// # Errors
/// Database errors.
pub fn record(conn: &mut AnyConnection, e: &NewAuditEvent) -> Result<(), StoreError> {
    let details = if e.details.is_null() {
        "{}".to_owned()
    } else {
        e.details.to_string()
    };
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::id.eq(uuid_v7()),
            audit_events::at.eq(now_rfc3339()),
            audit_events::actor_id.eq(&e.actor_id),
            audit_events::actor_name.eq(&e.actor_name),
            audit_events::action.eq(e.action),
            audit_events::subject_type.eq(e.subject_type),
            audit_events::subject_id.eq(&e.subject_id),
            audit_events::unit_path.eq(&e.unit_path),
            audit_events::address.eq(&e.address),
            audit_events::request_id.eq(&e.request_id),
            audit_events::details.eq(details),
        ))
        .execute(conn)?;
    Ok(())
}

#[derive(Debug, Default)]
pub struct AuditFilter {
    pub from: Option<String>,
    pub to: Option<String>,
    pub actor_id: Option<String>,
    pub subject_id: Option<String>,
    pub action: Option<String>,
}

/// Newest first, before the cursor (an event id). Events about a place in the grid are seen by
/// readers who reach it; events about no place (logins, accounts without units) only by
/// readers who reach everything.
///
/// # Errors
/// Database errors.
pub fn list(
    conn: &mut AnyConnection,
    reach: Reach<'_>,
    f: &AuditFilter,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<AuditRecord>, StoreError> {
    let mut q = audit_events::table
        .select(AuditRecord::as_select())
        .into_boxed();
    match reach {
        Reach::Nothing => return Ok(Vec::new()),
        Reach::Everything => {}
        Reach::Subtrees(paths) => {
            if paths.is_empty() {
                return Ok(Vec::new());
            }
            // A grouped OR of prefix matches; rows without a place never match.
            let mut cond: Box<
                dyn BoxableExpression<
                        audit_events::table,
                        crate::db::Backend,
                        SqlType = diesel::sql_types::Nullable<diesel::sql_types::Bool>,
                    >,
            > = Box::new(audit_events::unit_path.like(format!("{}%", paths[0])));
            for p in &paths[1..] {
                cond = Box::new(cond.or(audit_events::unit_path.like(format!("{p}%"))));
            }
            q = q.filter(cond);
        }
    }
    if let Some(t) = &f.from {
        q = q.filter(audit_events::at.ge(t.clone()));
    }
    if let Some(t) = &f.to {
        q = q.filter(audit_events::at.lt(t.clone()));
    }
    if let Some(a) = &f.actor_id {
        q = q.filter(audit_events::actor_id.eq(a.clone()));
    }
    if let Some(s) = &f.subject_id {
        q = q.filter(audit_events::subject_id.eq(s.clone()));
    }
    if let Some(a) = &f.action {
        q = q.filter(audit_events::action.eq(a.clone()));
    }
    if let Some(b) = before {
        q = q.filter(audit_events::id.lt(b.to_owned()));
    }
    Ok(q.order(audit_events::id.desc()).limit(limit).load(conn)?)
}

/// How many events of `action` the actor recorded at or after `since` (per-account limits).
///
/// # Errors
/// Database errors.
pub fn count_by_actor_since(
    conn: &mut AnyConnection,
    actor_id: &str,
    action: &str,
    since: &str,
) -> Result<i64, StoreError> {
    Ok(audit_events::table
        .filter(audit_events::actor_id.eq(actor_id))
        .filter(audit_events::at.ge(since))
        .filter(audit_events::action.eq(action))
        .count()
        .get_result(conn)?)
}
