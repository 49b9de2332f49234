//! Reporting a case (采集/上报): routed at once to the unit that owns the place, raised to the
//! category's lowest level, handed to its department when the category answers to its owner;
//! open cases of the same category nearby come back as possible duplicates.

use super::{Standing, UnitBrief, actor, caller_department, load, read};
use crate::calendar;
use crate::caller::Caller;
use crate::categories;
use crate::client_id::{self, Claimed};
use crate::error::AppError;
use crate::households::Location;
use crate::pii::PiiKind;
use crate::tx::{Change, Entity, Tx, new_id, stored_time};
use serde::Serialize;
use serde_json::json;
use wangge_domain::incident::flow::{self, Case};
use wangge_domain::incident::{CategoryCode, Priority, Status, route};
use wangge_domain::unit::Level;
use wangge_domain::{Action, Description, HouseholdId, IncidentId};
use wangge_persistence::incidents::{self as store, IncidentRecord, NearbyCase};
use wangge_persistence::journal::Created;

/// Open cases of the same category closer than this are offered as possible duplicates.
pub const DUPLICATE_RADIUS_M: f64 = 50.0;

/// Where the case is: a point, or a household's place.
#[derive(Debug, Clone)]
pub enum Place {
    Point(Location),
    Household(HouseholdId),
}

/// A case to report, every field parsed.
#[derive(Debug, Clone)]
pub struct NewIncident {
    /// A client-made id (UUIDv7), for cases reported offline.
    pub id: Option<IncidentId>,
    pub category: CategoryCode,
    pub priority: Priority,
    pub description: Description,
    pub place: Place,
    pub anonymous: bool,
    /// The reporter's own name and phone, when given (sealed before they are stored).
    pub reporter_name: Option<wangge_domain::PersonName>,
    pub reporter_phone: Option<wangge_domain::PhoneNumber>,
}

/// An open case near the new one.
#[derive(Debug, Clone, Serialize)]
pub struct Duplicate {
    pub id: String,
    pub status: String,
    pub distance_m: f64,
    pub created_at: String,
}

/// What a report answers.
#[derive(Debug, Clone, Serialize)]
pub struct Reported {
    #[serde(flatten)]
    pub incident: read::IncidentView,
    pub possible_duplicates: Vec<Duplicate>,
    /// The same client id and content sent again: nothing new was written.
    #[serde(skip)]
    pub again: bool,
}

/// Great-circle distance in metres.
fn distance_m((lon1, lat1): (f64, f64), (lon2, lat2): (f64, f64)) -> f64 {
    let r = 6_371_008.8_f64;
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let (dp, dl) = ((lat2 - lat1).to_radians(), (lon2 - lon1).to_radians());
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * r * a.sqrt().asin()
}

/// Reports a case.
///
/// # Errors
/// `validation_failed` (a class or retired category, a household the caller cannot see);
/// `not_covered`; 403 outside the caller's capture scope; `id_taken`.
pub fn report(tx: &mut Tx<'_>, new: &NewIncident) -> Result<Reported, AppError> {
    if tx.caller.reach(Action::ReportIncident) == wangge_domain::Reach::Nothing {
        return Err(AppError::forbidden("your roles do not report incidents"));
    }
    // The place is read first, since the duplicate search needs its box, but its error is
    // told after the category's, as when the category was read first on its own.
    let place = place_of(tx, &new.place);
    let probe = place.as_ref().map_or((0.0, 0.0), |p| (p.0, p.1));
    // The category and the open cases of it nearby, in one round trip.
    let (category, nearby_cases) =
        store::category_and_open_in_box(tx.conn, new.category.as_str(), around(probe), 50)?
            .ok_or_else(|| AppError::field("category", "names no category"))?;
    let category = categories::Category::from_record(category)?;
    if category.parent_code.is_none() || category.retired {
        return Err(AppError::field(
            "category",
            "must be a leaf category in use (not a class, not retired)",
        ));
    }
    let policy = category.policy()?;
    let (lon, lat, cell, household) = place?;
    let ll = wangge_geo::LatLng::new(lat, lon)
        .map_err(|e| AppError::field("location", e.to_string()))?;
    let snap = tx.svc.locator.snapshot();
    let (_, deepest_first) = snap.locate(ll).ok_or_else(|| AppError::Unprocessable {
        code: "not_covered",
        message: "no unit covers this location; check the point and its crs".into(),
        details: json!({ "field": "location" }),
    })?;
    let chain: Vec<_> = deepest_first.into_iter().rev().collect();
    let levels = chain
        .iter()
        .map(|u| Level::from_number(i64::from(u.level)).map(|l| (u.name.as_str(), l)))
        .collect::<Result<Vec<_>, _>>()?;
    let routed = route(&levels, &policy, &category.name)
        .ok_or_else(|| AppError::internal("empty locate chain"))?;
    let path_to = |i: usize| -> String {
        let ids: Vec<&str> = chain[..=i].iter().map(|u| u.id.as_str()).collect();
        format!("/{}/", ids.join("/"))
    };
    let (locality_path, owner_path) = (path_to(routed.locality), path_to(routed.owner));
    if !tx.caller.permits(Action::ReportIncident, &locality_path) {
        return Err(AppError::forbidden(
            "you may report incidents only at places inside your capture scope",
        ));
    }
    let (locality, owner) = (
        chain[routed.locality].id.clone(),
        chain[routed.owner].id.clone(),
    );
    let owner_chain: Vec<UnitBrief> = chain[..=routed.owner]
        .iter()
        .map(|u| UnitBrief {
            id: u.id.clone(),
            code: u.code.clone(),
            name: u.name.clone(),
            level: u.level,
        })
        .collect();
    let owner_level = levels[routed.owner].1;
    drop(snap);

    let id = match new.id {
        Some(id) => {
            let mut content = json!({ "category": category.code, "priority": new.priority.as_str(),
                "description": new.description.as_str(), "lon": lon, "lat": lat,
                "household_id": household, "anonymous": new.anonymous });
            // The reporter's name and phone count as content too, by keyed hash (a plain
            // digest of a phone number is brute-forced); absent, the digest is as it was.
            let pii = &tx.svc.pii;
            for (member, hash) in [
                (
                    "reporter_name",
                    new.reporter_name
                        .as_ref()
                        .map(|n| pii.hash(PiiKind::Name, n.as_str())),
                ),
                (
                    "reporter_phone",
                    new.reporter_phone
                        .as_ref()
                        .map(|p| pii.hash(PiiKind::Phone, p.expose())),
                ),
            ] {
                if let (Some(hash), Some(o)) = (hash, content.as_object_mut()) {
                    o.insert(member.into(), hash.into());
                }
            }
            if client_id::claim(tx, Entity::Incident, &id.to_string(), &content)? == Claimed::Again
            {
                let loaded = load(tx.conn, tx.caller, &id.to_string())
                    .map_err(|_| client_id::taken(&id.to_string()))?;
                let incident = read::view(tx.conn, tx.caller, &loaded, tx.now_utc())?;
                return Ok(Reported {
                    incident,
                    possible_duplicates: Vec::new(),
                    again: true,
                });
            }
            id.to_string()
        }
        None => new_id(),
    };
    let duplicates = nearby(tx.caller, nearby_cases, (lon, lat), &id);
    let now = tx.now_utc();
    let register = policy.limits.of(new.priority).register;
    let register_due = calendar::deadline(tx.conn, now, register)?;
    let record = IncidentRecord {
        id: id.clone(),
        category_code: category.code.clone(),
        priority: new.priority.as_str().to_owned(),
        status: Status::Reported.as_str().to_owned(),
        held_from: None,
        description: new.description.as_str().to_owned(),
        lon,
        lat,
        cell,
        household_id: household,
        locality_unit_id: locality.clone(),
        owner_unit_id: owner.clone(),
        department_id: policy.department.map(|d| d.to_string()),
        routing_rule: routed.rule.to_owned(),
        routing_explanation: routed.explanation.clone(),
        reporter_id: tx.caller.account_id().map(str::to_owned),
        anonymous: new.anonymous,
        merged_into: None,
        extension_pending: false,
        register_due: Some(stored_time(register_due)),
        sign_due: None,
        close_due: None,
        next_due: Some(stored_time(register_due)),
        clock_noted: None,
        escalations: 0,
        satisfied: None,
        created_at: tx.now().to_owned(),
        updated_at: tx.now().to_owned(),
        closed_at: None,
        version: 1,
    };
    // Written with the journal at the end, in its statement: a round trip fewer.
    tx.create(Created::Incident(Box::new(record.clone())));
    let reporter = super::reporter::seal(&tx.svc.pii, &id, new);
    if let Some(r) = &reporter {
        tx.create(Created::Reporter(r.clone()));
    }
    let routing =
        json!({ "unit_id": owner, "rule": routed.rule, "explanation": routed.explanation });
    let mut steps = vec![(
        "report",
        json!({ "action": "report", "from": null, "to": "reported", "routing": routing }),
    )];
    if routed.raised() {
        // Beyond the place's unit's competence: handed up at once, and recorded as such.
        steps.push((
            "escalate",
            json!({ "action": "escalate", "reason": "beyond_competence", "from": "reported",
                    "to": "reported", "from_unit": locality, "to_unit": owner }),
        ));
    }
    let mut history = Vec::with_capacity(steps.len());
    for (kind, details) in steps {
        tx.history(Entity::Incident, &id, kind, Some(1), details.clone())?;
        let actor = tx.caller.actor.name.clone();
        history.push(read::entry(tx.now(), Some(&actor), kind, details));
    }
    tx.event(
        "incident.reported",
        Entity::Incident,
        &id,
        1,
        json!({ "id": id, "category": category.code, "priority": record.priority,
                "owner_unit_id": owner, "department_id": record.department_id }),
    )?;
    tx.change(Change {
        entity: Entity::Incident,
        id: id.clone(),
        version: 1,
        deleted: false,
        unit_path_before: None,
        unit_path_after: Some(owner_path.clone()),
    })?;
    // The answer is built from what is at hand: nothing is read back.
    let dispatched_to = policy.department;
    let standing = Standing {
        captures_owner: tx.caller.permits(Action::HandleIncident, &owner_path),
        department: caller_department(tx.caller).filter(|d| Some(*d) == dispatched_to),
    };
    let case = Case {
        status: Status::Reported,
        held_from: None,
        owner_level,
        department: dispatched_to,
        summoned: &[],
        extension_pending: false,
        has_result_photo: false,
    };
    let allowed = flow::allowed(&case, &actor(tx.caller, &standing));
    let category_brief =
        json!({ "code": category.code, "name": category.name, "key": category.key });
    let mut incident = read::fresh(&record, category_brief, owner_chain, history, allowed, now);
    incident.reporter = Some(super::reporter::masked(&record, reporter.as_ref()));
    Ok(Reported {
        incident,
        possible_duplicates: duplicates,
        again: false,
    })
}

/// Where the case is: longitude, latitude, cell, and the household when it is one's.
fn place_of(tx: &mut Tx<'_>, place: &Place) -> Result<(f64, f64, i64, Option<String>), AppError> {
    match place {
        Place::Point(l) => {
            let (lon, lat, cell) = l.resolve(tx.svc.config.leaf)?;
            Ok((lon, lat, cell, None))
        }
        Place::Household(id) => {
            let h =
                crate::households::household_for(tx.conn, tx.caller, *id, Action::ReadHousehold)
                    .map_err(|_| {
                        AppError::field("household_id", "names no household you can see")
                    })?;
            Ok((
                h.record.lon,
                h.record.lat,
                h.record.cell,
                Some(id.to_string()),
            ))
        }
    }
}

/// A box (degrees) a little larger than the circle of [`DUPLICATE_RADIUS_M`] around the point;
/// the distance decides.
fn around((lon, lat): (f64, f64)) -> (f64, f64, f64, f64) {
    let dlat = DUPLICATE_RADIUS_M / 111_000.0 * 1.1;
    let dlon = dlat / lat.to_radians().cos().max(0.1);
    (lon - dlon, lat - dlat, lon + dlon, lat + dlat)
}

/// Of the open cases in the box, those within [`DUPLICATE_RADIUS_M`] that the caller may see,
/// nearest first.
fn nearby(
    caller: &Caller,
    cases: Vec<NearbyCase>,
    (lon, lat): (f64, f64),
    except: &str,
) -> Vec<Duplicate> {
    let mut out = Vec::new();
    for r in cases {
        let d = distance_m((lon, lat), (r.lon, r.lat));
        if r.id == except || d > DUPLICATE_RADIUS_M {
            continue;
        }
        // Only cases the caller may see are suggested (their own reports, or owned in scope).
        let own = r.reporter_id.is_some() && r.reporter_id.as_deref() == caller.account_id();
        if !own && !caller.permits(Action::ReadIncident, &r.owner_path) {
            continue;
        }
        out.push(Duplicate {
            id: r.id,
            status: r.status,
            distance_m: (d * 10.0).round() / 10.0,
            created_at: r.created_at,
        });
    }
    out.sort_by(|a, b| a.distance_m.total_cmp(&b.distance_m));
    out
}

#[cfg(test)]
mod tests {
    use super::distance_m;

    #[test]
    fn distances_are_metres_on_the_ground() {
        // 0.001 degree of latitude is about 111 m anywhere.
        let d = distance_m((111.0, 21.5), (111.0, 21.501));
        assert!((d - 111.2).abs() < 0.5, "{d}");
        assert!(distance_m((111.0, 21.5), (111.0, 21.5)) < f64::EPSILON);
    }
}
