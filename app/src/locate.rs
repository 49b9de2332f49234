//! The locate service: an in-memory index from H3 cells to the deepest covering unit, plus the
//! units themselves, so a locate answers without touching the database. It is rebuilt whole
//! when the coverage generation in the database moves (after a local write at once; for
//! changes made by other instances on a Redis notification or the next poll).

use arc_swap::ArcSwap;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use wangge_geo::{CellIndex, LatLng, LocateIndex, Resolution};
use wangge_persistence::{AnyConnection, StoreError, grid};

/// A unit as locate answers it; the same fields as everywhere a unit appears in a body.
#[derive(Debug, Clone, Serialize)]
pub struct UnitSummary {
    pub id: String,
    pub code: String,
    pub name: String,
    pub level: i32,
    pub level_name: &'static str,
    pub parent_id: Option<String>,
    #[serde(skip)]
    parent: Option<u32>,
    /// This unit serialised once at build time: a locate answer is these fragments joined,
    /// which keeps the hot path to one allocation.
    #[serde(skip)]
    pub json: Box<str>,
}

pub struct Snapshot {
    pub generation: i64,
    pub index: LocateIndex,
    pub units: Vec<UnitSummary>,
    /// Position in `units` by unit id.
    by_id: HashMap<String, u32>,
}

pub struct Locator {
    current: ArcSwap<Snapshot>,
    // One rebuild at a time; a second caller finds the fresh snapshot and returns.
    rebuilding: Mutex<()>,
    leaf: Resolution,
}

/// The name of a stored level number.
#[must_use]
pub fn level_name(level: i32) -> &'static str {
    wangge_domain::Level::from_number(i64::from(level)).map_or("unknown", |l| l.name())
}

impl Locator {
    #[must_use]
    pub fn new(leaf: Resolution) -> Self {
        Self {
            current: ArcSwap::from_pointee(Snapshot {
                generation: -1,
                index: LocateIndex::builder(leaf).build(),
                units: Vec::new(),
                by_id: HashMap::new(),
            }),
            rebuilding: Mutex::new(()),
            leaf,
        }
    }

    #[must_use]
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Rebuilds when the database's coverage generation differs from the snapshot's. Returns
    /// whether it rebuilt. Blocking: call it from a blocking context.
    ///
    /// # Errors
    /// Database errors.
    pub fn refresh(&self, conn: &mut AnyConnection) -> Result<bool, StoreError> {
        let _guard = self
            .rebuilding
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Read the generation first: a change committed while we load shows up as a newer
        // generation at the next refresh.
        let generation = grid::coverage_generation(conn)?;
        if generation == self.current.load().generation {
            return Ok(false);
        }
        let records = grid::all_units(conn)?;
        let mut pos = HashMap::with_capacity(records.len());
        for (i, u) in records.iter().enumerate() {
            pos.insert(u.id.clone(), u32::try_from(i).unwrap_or(u32::MAX));
        }
        let units: Vec<UnitSummary> = records
            .into_iter()
            .map(|u| {
                let mut s = UnitSummary {
                    parent: u.parent_id.as_ref().and_then(|p| pos.get(p).copied()),
                    level_name: level_name(u.level),
                    id: u.id,
                    code: u.code,
                    name: u.name,
                    level: u.level,
                    parent_id: u.parent_id,
                    json: Box::from(""),
                };
                s.json = serde_json::to_string(&s).unwrap_or_default().into();
                s
            })
            .collect();
        let mut builder = LocateIndex::builder(self.leaf);
        for (unit_id, level, rec) in grid::all_coverages(conn)? {
            let Some(&owner) = pos.get(&unit_id) else {
                continue;
            };
            let cov = rec.coverage()?;
            builder.add(owner, u8::try_from(level).unwrap_or(0), &cov);
        }
        self.current.store(Arc::new(Snapshot {
            generation,
            index: builder.build(),
            units,
            by_id: pos,
        }));
        Ok(true)
    }
}

impl Snapshot {
    /// The unit with this id, as of the snapshot's generation: names and codes change only
    /// with the generation, so a snapshot is as fresh as the locate index. A unit created
    /// since (it has no coverage yet) is not here; callers ask the database for it.
    #[must_use]
    pub fn unit(&self, id: &str) -> Option<&UnitSummary> {
        self.units.get(usize::try_from(*self.by_id.get(id)?).ok()?)
    }

    /// The leaf cell of the point and the chain of units from the deepest covering one up to
    /// the district; `None` when no unit covers it.
    #[must_use]
    pub fn locate(&self, ll: LatLng) -> Option<(CellIndex, Vec<&UnitSummary>)> {
        let (cell, owner) = self.index.locate(ll)?;
        let mut chain = Vec::with_capacity(5);
        let mut next = Some(owner);
        while let Some(i) = next {
            let u = self.units.get(usize::try_from(i).ok()?)?;
            chain.push(u);
            next = u.parent;
            if chain.len() > 5 {
                break; // a cycle would be corrupt data; never loop forever
            }
        }
        Some((cell, chain))
    }
}
