//! Residents of households. Personal data arrives sealed ([`Sealed`]); this layer never sees
//! it in plain text.

use crate::Sealed;
use crate::db::AnyConnection;
use crate::error::StoreError;
use crate::schema::residents;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = residents)]
pub struct ResidentRecord {
    pub id: String,
    pub household_id: String,
    pub name: String,
    pub gender: Option<String>,
    pub birth_date: Option<String>,
    pub relation: String,
    pub id_card_cipher: Option<Vec<u8>>,
    pub id_card_key_id: Option<String>,
    pub id_card_hash: Option<String>,
    pub id_card_masked: Option<String>,
    pub phone_cipher: Option<Vec<u8>>,
    pub phone_key_id: Option<String>,
    pub phone_hash: Option<String>,
    pub phone_masked: Option<String>,
    pub tags: String,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
}

/// Residents of a household, in the order they were registered.
///
/// # Errors
/// Database errors.
pub fn of_household(
    conn: &mut AnyConnection,
    household_id: &str,
) -> Result<Vec<ResidentRecord>, StoreError> {
    Ok(residents::table
        .filter(residents::household_id.eq(household_id))
        .select(ResidentRecord::as_select())
        .order(residents::id.asc())
        .limit(500)
        .load(conn)?)
}

/// Residents of several households, by household then id.
///
/// # Errors
/// Database errors.
pub fn of_households(
    conn: &mut AnyConnection,
    household_ids: &[&str],
) -> Result<Vec<ResidentRecord>, StoreError> {
    if household_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(residents::table
        .filter(residents::household_id.eq_any(household_ids))
        .select(ResidentRecord::as_select())
        .order((residents::household_id.asc(), residents::id.asc()))
        .load(conn)?)
}

/// How many residents each of these households has (households with none are left out).
///
/// # Errors
/// Database errors.
pub fn counts_of_households(
    conn: &mut AnyConnection,
    household_ids: &[&str],
) -> Result<Vec<(String, i64)>, StoreError> {
    if household_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(residents::table
        .filter(residents::household_id.eq_any(household_ids))
        .group_by(residents::household_id)
        .select((residents::household_id, diesel::dsl::count_star()))
        .load(conn)?)
}

/// Residents by id (those that exist).
///
/// # Errors
/// Database errors.
pub fn by_ids(conn: &mut AnyConnection, ids: &[&str]) -> Result<Vec<ResidentRecord>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(residents::table
        .filter(residents::id.eq_any(ids))
        .select(ResidentRecord::as_select())
        .load(conn)?)
}

/// Ids and versions of a household's residents (what a deletion leaves tombstones of).
///
/// # Errors
/// Database errors.
pub fn versions_of_household(
    conn: &mut AnyConnection,
    household_id: &str,
) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(residents::table
        .filter(residents::household_id.eq(household_id))
        .select((residents::id, residents::version))
        .load(conn)?)
}

/// # Errors
/// Database errors.
pub fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<ResidentRecord>, StoreError> {
    Ok(residents::table
        .find(id)
        .select(ResidentRecord::as_select())
        .first(conn)
        .optional()?)
}

/// A resident to insert; personal data sealed.
pub struct NewResident<'a> {
    pub id: &'a str,
    pub household_id: &'a str,
    pub name: &'a str,
    pub gender: Option<&'a str>,
    pub birth_date: Option<&'a str>,
    pub relation: &'a str,
    pub id_card: Option<&'a Sealed>,
    pub phone: Option<&'a Sealed>,
    pub tags: &'a str,
}

/// Inserts residents at version 1, one statement per chunk. A registered identity number is
/// a `Conflict` (`duplicate_id_card`): the unique index finds it, including repeats within
/// the rows (a query first would be planned against the statistics from before a bulk load).
///
/// # Errors
/// `Conflict`, database errors.
pub fn insert(
    conn: &mut AnyConnection,
    rows: &[NewResident<'_>],
    now: &str,
) -> Result<(), StoreError> {
    for chunk in rows.chunks(400) {
        let values: Vec<_> = chunk
            .iter()
            .map(|r| {
                (
                    residents::id.eq(r.id),
                    residents::household_id.eq(r.household_id),
                    residents::name.eq(r.name),
                    residents::gender.eq(r.gender),
                    residents::birth_date.eq(r.birth_date),
                    residents::relation.eq(r.relation),
                    (
                        residents::id_card_cipher.eq(r.id_card.map(|s| s.cipher.clone())),
                        residents::id_card_key_id.eq(r.id_card.map(|s| s.key_id.clone())),
                        residents::id_card_hash.eq(r.id_card.map(|s| s.hash.clone())),
                        residents::id_card_masked.eq(r.id_card.map(|s| s.masked.clone())),
                    ),
                    (
                        residents::phone_cipher.eq(r.phone.map(|s| s.cipher.clone())),
                        residents::phone_key_id.eq(r.phone.map(|s| s.key_id.clone())),
                        residents::phone_hash.eq(r.phone.map(|s| s.hash.clone())),
                        residents::phone_masked.eq(r.phone.map(|s| s.masked.clone())),
                    ),
                    residents::tags.eq(r.tags),
                    residents::created_at.eq(now),
                    residents::updated_at.eq(now),
                    residents::version.eq(1_i64),
                )
            })
            .collect();
        on_backend!(conn, |c| diesel::insert_into(residents::table)
            .values(values)
            .execute(c))?;
    }
    Ok(())
}

/// Which of these identity-number hashes are registered already, except by resident `except`.
///
/// # Errors
/// Database errors.
pub fn registered_id_card_hashes(
    conn: &mut AnyConnection,
    hashes: &[&str],
    except: Option<&str>,
) -> Result<Vec<String>, StoreError> {
    if hashes.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = residents::table
        .filter(residents::id_card_hash.eq_any(hashes))
        .select(residents::id_card_hash)
        .into_boxed();
    if let Some(e) = except {
        q = q.filter(residents::id.ne(e.to_owned()));
    }
    let found: Vec<Option<String>> = q.load(conn)?;
    Ok(found.into_iter().flatten().collect())
}

/// What a change sets on a resident; the inner `None` of a nullable column clears it.
#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = residents)]
pub struct ResidentChanges {
    pub name: Option<String>,
    pub gender: Option<Option<String>>,
    pub birth_date: Option<Option<String>>,
    pub relation: Option<String>,
    pub id_card_cipher: Option<Option<Vec<u8>>>,
    pub id_card_key_id: Option<Option<String>>,
    pub id_card_hash: Option<Option<String>>,
    pub id_card_masked: Option<Option<String>>,
    pub phone_cipher: Option<Option<Vec<u8>>>,
    pub phone_key_id: Option<Option<String>>,
    pub phone_hash: Option<Option<String>>,
    pub phone_masked: Option<Option<String>>,
    pub tags: Option<String>,
}

impl ResidentChanges {
    /// Sets (or with `None` clears) the identity number.
    pub fn set_id_card(&mut self, v: Option<&Sealed>) {
        self.id_card_cipher = Some(v.map(|s| s.cipher.clone()));
        self.id_card_key_id = Some(v.map(|s| s.key_id.clone()));
        self.id_card_hash = Some(v.map(|s| s.hash.clone()));
        self.id_card_masked = Some(v.map(|s| s.masked.clone()));
    }

    /// Sets (or with `None` clears) the phone.
    pub fn set_phone(&mut self, v: Option<&Sealed>) {
        self.phone_cipher = Some(v.map(|s| s.cipher.clone()));
        self.phone_key_id = Some(v.map(|s| s.key_id.clone()));
        self.phone_hash = Some(v.map(|s| s.hash.clone()));
        self.phone_masked = Some(v.map(|s| s.masked.clone()));
    }
}

/// Applies `changes` if the resident is still at version `expected`, in one statement, and
/// raises the version. False when it is not.
///
/// # Errors
/// `Conflict` (`duplicate_id_card`) for a number registered to someone else; database errors.
pub fn update(
    conn: &mut AnyConnection,
    id: &str,
    expected: i64,
    changes: &ResidentChanges,
    now: &str,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        residents::table
            .filter(residents::id.eq(id))
            .filter(residents::version.eq(expected)),
    )
    .set((
        changes,
        residents::version.eq(residents::version + 1),
        residents::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Deletes the resident if it is still at version `expected`. False when it is not.
///
/// # Errors
/// Database errors.
pub fn delete(conn: &mut AnyConnection, id: &str, expected: i64) -> Result<bool, StoreError> {
    let n = diesel::delete(
        residents::table
            .filter(residents::id.eq(id))
            .filter(residents::version.eq(expected)),
    )
    .execute(conn)?;
    Ok(n == 1)
}
