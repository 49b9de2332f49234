//! The unit of work. [`write`] runs a use case in one write transaction: it loads the caller,
//! lets the use case write its record, collects what the change leaves behind (history,
//! audit, outbox and change-feed rows), writes those too, and commits, or rolls everything
//! back. [`read`] loads the caller for a use case that only reads.

use crate::caller::{Caller, Who};
use crate::error::AppError;
use crate::services::Services;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use wangge_persistence::audit::{self, NewAuditEvent};
use wangge_persistence::idempotency::AnsweredKey;
use wangge_persistence::journal::{self, Created, HistoryRow, NewChange, OutboxRow};
use wangge_persistence::{AnyConnection, write_transaction};

/// The kinds of record the change feed and the history know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Unit,
    Household,
    Resident,
    Visit,
    User,
    Department,
    Category,
    CalendarDay,
    Incident,
    Patrol,
    VisitRule,
}

impl Entity {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unit => "unit",
            Self::Household => "household",
            Self::Resident => "resident",
            Self::Visit => "visit",
            Self::User => "user",
            Self::Department => "department",
            Self::Category => "category",
            Self::CalendarDay => "calendar_day",
            Self::Incident => "incident",
            Self::Patrol => "patrol",
            Self::VisitRule => "visit_rule",
        }
    }
}

/// One change-feed entry: the record, its version after the change, whether it was deleted,
/// and where in the grid it was before and after (so a phone can tell it left its scope).
#[derive(Debug, Clone)]
pub struct Change {
    pub entity: Entity,
    pub id: String,
    pub version: i64,
    pub deleted: bool,
    pub unit_path_before: Option<String>,
    pub unit_path_after: Option<String>,
}

/// An audit entry; the actor, address, request and time come from the transaction.
#[derive(Debug, Clone, Default)]
pub struct Audit {
    pub action: &'static str,
    pub subject_type: Option<&'static str>,
    pub subject_id: Option<String>,
    pub unit_path: Option<String>,
    pub details: Value,
}

/// Rows kept in memory before they are written in the same transaction.
const FLUSH_AT: usize = 2_000;

/// The stored form of a time: RFC 3339 UTC with milliseconds, fixed width, so it sorts as text.
#[must_use]
pub fn stored_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Whole seconds from one stored time to another (none when either does not parse): from the
/// stored forms, so anyone can recount a figure from the times the history shows.
#[must_use]
pub fn seconds_between(start: &str, end: &str) -> Option<i64> {
    let start = DateTime::parse_from_rfc3339(start).ok()?;
    let end = DateTime::parse_from_rfc3339(end).ok()?;
    Some((end - start).num_seconds())
}

/// A new UUIDv7, hyphenated.
#[must_use]
pub fn new_id() -> String {
    uuid::Uuid::now_v7().as_hyphenated().to_string()
}

/// A use case's transaction: the connection, the caller, the services, one clock reading,
/// and the rows the change leaves behind.
pub struct Tx<'c> {
    pub conn: &'c mut AnyConnection,
    pub caller: &'c Caller,
    pub svc: &'c Services,
    now: DateTime<Utc>,
    now_text: String,
    created: Vec<Created>,
    history: Vec<HistoryRow>,
    outbox: Vec<OutboxRow>,
    changes: Vec<NewChange>,
    audit: Vec<NewAuditEvent>,
    /// The answer to keep under the request's idempotency key, written with the journal.
    answer: Option<AnsweredKey>,
    /// Audit rows kept even when the use case fails (a refusal that tells something).
    lasting: &'c mut Vec<NewAuditEvent>,
    /// When a phone says the work was done offline: kept in every history row beside the
    /// row's own (server) time.
    recorded_at: Option<String>,
}

impl<'c> Tx<'c> {
    fn new(
        conn: &'c mut AnyConnection,
        caller: &'c Caller,
        svc: &'c Services,
        now: DateTime<Utc>,
        lasting: &'c mut Vec<NewAuditEvent>,
    ) -> Self {
        Self {
            conn,
            caller,
            svc,
            now,
            now_text: stored_time(now),
            created: Vec::new(),
            history: Vec::new(),
            outbox: Vec::new(),
            changes: Vec::new(),
            audit: Vec::new(),
            answer: None,
            lasting,
            recorded_at: None,
        }
    }

    /// The time of this use case, as stored.
    #[must_use]
    pub fn now(&self) -> &str {
        &self.now_text
    }

    #[must_use]
    pub fn now_utc(&self) -> DateTime<Utc> {
        self.now
    }

    /// Marks what this transaction writes as done at `at` on a phone (the history keeps it
    /// as `recorded_at`; the row's `at` stays the server's time of receipt).
    pub fn recorded_at(&mut self, at: DateTime<Utc>) {
        self.recorded_at = Some(stored_time(at));
    }

    /// Appends to a record's history.
    ///
    /// # Errors
    /// Database errors when a full buffer is written.
    pub fn history(
        &mut self,
        entity: Entity,
        entity_id: &str,
        kind: &str,
        version: Option<i64>,
        mut details: Value,
    ) -> Result<(), AppError> {
        if let Some(at) = &self.recorded_at {
            if details.is_null() {
                details = Value::Object(serde_json::Map::new());
            }
            if let Some(o) = details.as_object_mut() {
                o.insert("recorded_at".into(), Value::String(at.clone()));
            }
        }
        self.history.push(HistoryRow {
            id: new_id(),
            entity: entity.as_str().to_owned(),
            entity_id: entity_id.to_owned(),
            at: self.now_text.clone(),
            actor_id: self.caller.actor.id.clone(),
            actor_name: Some(self.caller.actor.name.clone()),
            kind: kind.to_owned(),
            version,
            details: if details.is_null() {
                "{}".to_owned()
            } else {
                details.to_string()
            },
        });
        self.flush_if_full()
    }

    /// Queues an outbox event for subscribers outside. `payload` must hold no personal data.
    ///
    /// # Errors
    /// Database errors when a full buffer is written.
    pub fn event(
        &mut self,
        event_type: &str,
        entity: Entity,
        id: &str,
        version: i64,
        payload: Value,
    ) -> Result<(), AppError> {
        self.outbox.push(OutboxRow {
            id: new_id(),
            event_type: event_type.to_owned(),
            aggregate_type: entity.as_str().to_owned(),
            aggregate_id: id.to_owned(),
            aggregate_version: version,
            payload: payload.to_string(),
            occurred_at: self.now_text.clone(),
            delivered_at: None,
        });
        self.flush_if_full()
    }

    /// Records a change in the change feed.
    ///
    /// # Errors
    /// Database errors when a full buffer is written.
    pub fn change(&mut self, c: Change) -> Result<(), AppError> {
        self.changes.push(NewChange {
            id: new_id(),
            entity: c.entity.as_str().to_owned(),
            entity_id: c.id,
            version: c.version,
            deleted: c.deleted,
            unit_path_before: c.unit_path_before,
            unit_path_after: c.unit_path_after,
            at: self.now_text.clone(),
        });
        self.flush_if_full()
    }

    /// Records an audit event by the caller.
    ///
    /// # Errors
    /// Database errors when a full buffer is written.
    pub fn audit(&mut self, a: Audit) -> Result<(), AppError> {
        self.audit.push(audit_row(self.caller, a));
        self.flush_if_full()
    }

    /// Records an audit event that stays even if the use case then fails: the refusal itself
    /// is what must be on record (it is written after the rollback, in a transaction of its
    /// own).
    pub fn audit_lasting(&mut self, a: Audit) {
        self.lasting.push(audit_row(self.caller, a));
    }

    /// Hands a new record to be written with the journal (see [`Created`]): it is not in the
    /// database before the use case ends, [`Self::flush_journal`] is called, or the held rows
    /// reach the batch size.
    pub fn create(&mut self, record: Created) {
        self.created.push(record);
    }

    /// Keeps the request's answer under its idempotency key, written with the journal when
    /// the use case ends ([`AppError::ClaimLost`] then if another request's answer for the
    /// key committed first).
    pub fn keep_answer(&mut self, answer: AnsweredKey) {
        self.answer = Some(answer);
    }

    fn flush_if_full(&mut self) -> Result<(), AppError> {
        let held = self.created.len()
            + self.history.len()
            + self.outbox.len()
            + self.changes.len()
            + self.audit.len();
        if held >= FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the created records, history, outbox and change rows held so far, so that the
    /// use case can read its own record back whole (a case shows its history). Audit rows
    /// stay held: those kept after a failure must not be written into a transaction that may
    /// roll back.
    ///
    /// # Errors
    /// Database errors.
    pub fn flush_journal(&mut self) -> Result<(), AppError> {
        journal::insert_journal(
            self.conn,
            &std::mem::take(&mut self.created),
            &std::mem::take(&mut self.history),
            &std::mem::take(&mut self.outbox),
            &std::mem::take(&mut self.changes),
            None,
        )?;
        Ok(())
    }

    /// Writes what is held; done at the end of every use case, before commit.
    fn flush(&mut self) -> Result<(), AppError> {
        let answer = self.answer.take();
        let stored = journal::insert_journal(
            self.conn,
            &std::mem::take(&mut self.created),
            &std::mem::take(&mut self.history),
            &std::mem::take(&mut self.outbox),
            &std::mem::take(&mut self.changes),
            answer.as_ref(),
        )?;
        if !stored {
            return Err(AppError::ClaimLost);
        }
        for e in std::mem::take(&mut self.audit)
            .into_iter()
            .chain(std::mem::take(self.lasting))
        {
            audit::record(self.conn, &e)?;
        }
        Ok(())
    }
}

/// An audit row by `caller`.
#[must_use]
pub fn audit_row(caller: &Caller, a: Audit) -> NewAuditEvent {
    NewAuditEvent {
        actor_id: caller.actor.id.clone(),
        actor_name: Some(caller.actor.name.clone()),
        action: a.action,
        subject_type: a.subject_type,
        subject_id: a.subject_id,
        unit_path: a.unit_path,
        address: caller.actor.address.clone(),
        request_id: caller.actor.request_id.clone(),
        details: a.details,
    }
}

/// How often a use case that lost a race on a write without `If-Match` runs again.
const RACE_RETRIES: usize = 4;

/// Runs a writing use case: loads the caller, runs `f` in one write transaction with the rows
/// its change leaves behind, commits. A use case that lost a race it may retry
/// ([`AppError::Raced`]) runs again on fresh data.
///
/// # Errors
/// `f`'s error (everything is rolled back), or the database's.
pub fn write<T>(
    conn: &mut AnyConnection,
    svc: &Services,
    who: &Who,
    mut f: impl FnMut(&mut Tx<'_>) -> Result<T, AppError>,
) -> Result<T, AppError> {
    write_with(conn, svc, who, None, |tx, _| f(tx))
}

/// PostgreSQL: [`write`], first taking the advisory lock `lock` without waiting, in the
/// statement that loads the caller; `f` is told whether it was taken.
///
/// # Errors
/// `f`'s error (everything is rolled back), or the database's.
pub fn write_locked<T>(
    conn: &mut AnyConnection,
    svc: &Services,
    who: &Who,
    lock: &str,
    f: impl FnMut(&mut Tx<'_>, bool) -> Result<T, AppError>,
) -> Result<T, AppError> {
    write_with(conn, svc, who, Some(lock), f)
}

fn write_with<T>(
    conn: &mut AnyConnection,
    svc: &Services,
    who: &Who,
    lock: Option<&str>,
    mut f: impl FnMut(&mut Tx<'_>, bool) -> Result<T, AppError>,
) -> Result<T, AppError> {
    let mut attempt = 0;
    let mut lasting = Vec::new();
    let result = loop {
        let now = Utc::now();
        let result = write_transaction(conn, |conn| {
            let (caller, locked) = match lock {
                Some(lock) => Caller::load_locking(conn, who, lock)?,
                None => (Caller::load(conn, who)?, false),
            };
            let mut tx = Tx::new(conn, &caller, svc, now, &mut lasting);
            let value = f(&mut tx, locked)?;
            tx.flush()?;
            Ok(value)
        });
        match result {
            Err(AppError::Raced) if attempt < RACE_RETRIES => attempt += 1,
            Err(AppError::Raced) => {
                break Err(AppError::Unavailable(
                    "the record kept changing under this write; retry".into(),
                ));
            }
            other => break other,
        }
    };
    if result.is_err() && !lasting.is_empty() {
        let kept = write_transaction(conn, |c| {
            for e in &lasting {
                audit::record(c, e)?;
            }
            Ok::<_, AppError>(())
        });
        if let Err(e) = kept {
            tracing::error!(error.cause = %e, "an audit event of a refused request could not be written");
        }
    }
    result
}

/// A use case that only reads: the connection, the caller and the services.
pub struct Reader<'c> {
    pub conn: &'c mut AnyConnection,
    pub caller: Caller,
    pub svc: &'c Services,
}

/// Runs a reading use case with the caller loaded (one query).
///
/// # Errors
/// `f`'s error, or 401 when the account is gone.
pub fn read<T>(
    conn: &mut AnyConnection,
    svc: &Services,
    who: &Who,
    f: impl FnOnce(&mut Reader<'_>) -> Result<T, AppError>,
) -> Result<T, AppError> {
    let caller = Caller::load(conn, who)?;
    f(&mut Reader { conn, caller, svc })
}
