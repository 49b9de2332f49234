//! Accounts: delegated administration. An admin manages the accounts whose every assignment
//! lies within the admin's capture scope (see `wangge_domain::scope`); accounts outside it
//! answer 404 as if they did not exist.

use super::units::{if_match, page_of, paging};
use crate::access::{self, Access};
use crate::auth::{AuthUser, hash_password, one_time_password};
use crate::bus;
use crate::error::ApiError;
use crate::pii::PiiKind;
use crate::startup::{AppState, StateExt};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use wangge_domain::{
    Action, Assignment, PhoneNumber, Reach, Role, UnitId, Username, ValidationError,
};
use wangge_persistence::users::{self, NewUser, UserFilter, UserPatch, UserWithUnits};
use wangge_persistence::{AnyConnection, Sealed, grid, sessions};

/// An account as every body shows it. The phone is always masked here: administrators
/// manage accounts, they do not need the number (least privilege).
pub fn user_body(u: &UserWithUnits) -> Value {
    let r = &u.user;
    json!({
        "id": r.id,
        "username": r.username,
        "display_name": r.display_name,
        "roles": r.roles(),
        "active": r.active,
        "must_change_password": r.must_change_password,
        "phone": r.phone_masked,
        "department_id": r.department_id,
        "all_units": r.all_units,
        "assignments": u.assignments,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "version": r.version,
    })
}

fn with_etag(
    status: actix_web::http::StatusCode,
    u: &UserWithUnits,
    extra: Option<(&str, Value)>,
) -> HttpResponse {
    let mut body = user_body(u);
    if let (Some((k, v)), Some(obj)) = (extra, body.as_object_mut()) {
        obj.insert(k.to_owned(), v);
    }
    HttpResponse::build(status)
        .insert_header((header::ETAG, format!("\"{}\"", u.user.version)))
        .json(body)
}

fn parse_user_id(s: &str) -> Result<String, ApiError> {
    super::parse_object_id(s, "user")
}

fn user_not_found() -> ApiError {
    ApiError::not_found("user not found")
}

/// The target account, if the caller may read it; otherwise 404, as for an unknown id.
fn readable(
    conn: &mut AnyConnection,
    access: &Access,
    id: &str,
) -> Result<UserWithUnits, ApiError> {
    let target = users::with_units(conn, id)?.ok_or_else(user_not_found)?;
    if access.scope.may_read_user(&target.scope()) {
        Ok(target)
    } else {
        Err(user_not_found())
    }
}

/// The target account, if the caller may manage it: 404 when they cannot even read it, 403
/// when they can (their own account, or one reaching beyond their scope).
fn manageable(
    conn: &mut AnyConnection,
    access: &Access,
    id: &str,
) -> Result<UserWithUnits, ApiError> {
    let target = readable(conn, access, id)?;
    if access.scope.may_manage(&target.scope()) {
        Ok(target)
    } else if target.user.id == access.account.user.id {
        Err(ApiError::forbidden(
            "nobody administers their own account; ask another administrator",
        ))
    } else {
        Err(ApiError::forbidden(
            "this account is assigned beyond your scope; an administrator above you manages it",
        ))
    }
}

fn forbidden_grant() -> ApiError {
    ApiError::forbidden(
        "you may only grant units within your own capture scope; all_units, the platform role \
         and accounts without units are granted by administrators who reach every unit",
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignmentIn {
    unit_id: String,
    capture: bool,
}

/// Requested assignments as stored (unit id, capture) and as the domain sees them (paths).
type Resolved = (Vec<(String, bool)>, Vec<Assignment>);

/// Resolves requested assignments to units: unknown or repeated units are validation errors.
fn resolve_assignments(
    conn: &mut AnyConnection,
    wanted: &[AssignmentIn],
) -> Result<Resolved, ApiError> {
    if wanted.len() > 100 {
        return Err(ValidationError::new("assignments", "at most 100 units").into());
    }
    let mut ids = Vec::new();
    let mut domain = Vec::new();
    for a in wanted {
        let id = UnitId::parse(&a.unit_id).map_err(|_| {
            ValidationError::new("assignments", format!("{:?} is not a unit id", a.unit_id))
        })?;
        let unit = grid::get_unit(conn, id).map_err(|e| match e {
            wangge_persistence::StoreError::NotFound { .. } => ApiError::from(
                ValidationError::new("assignments", format!("unit {id} does not exist")),
            ),
            e => e.into(),
        })?;
        if ids.iter().any(|(u, _)| *u == unit.id) {
            return Err(
                ValidationError::new("assignments", format!("unit {id} is named twice")).into(),
            );
        }
        ids.push((unit.id.clone(), a.capture));
        domain.push(Assignment {
            unit_path: unit.path,
            capture: a.capture,
        });
    }
    Ok((ids, domain))
}

fn parse_roles(names: &[String]) -> Result<Vec<Role>, ApiError> {
    let mut roles = names
        .iter()
        .map(|n| {
            n.parse::<Role>()
                .map_err(|_| ValidationError::new("roles", format!("{n:?} is not a role")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    roles.sort_by_key(|r| r.as_str());
    roles.dedup();
    if roles.is_empty() {
        return Err(ValidationError::new("roles", "give at least one role").into());
    }
    Ok(roles)
}

/// Department users are bound to a department: their case access comes from it.
fn check_department_binding(roles: &[Role], department_id: Option<&str>) -> Result<(), ApiError> {
    if roles.contains(&Role::Department) && department_id.is_none() {
        return Err(ValidationError::new(
            "department_id",
            "a department user must be bound to a department",
        )
        .into());
    }
    Ok(())
}

fn seal_phone(state: &AppState, s: &str) -> Result<Sealed, ApiError> {
    let p = PhoneNumber::parse(s)?;
    Ok(state.pii.seal(PiiKind::Phone, p.expose(), p.masked()))
}

fn parse_department(s: &str) -> Result<String, ApiError> {
    UnitId::parse(s).map(|u| u.to_string()).map_err(|_| {
        ValidationError::new("department_id", format!("{s:?} is not a department id")).into()
    })
}

/// Ends every live session of a user, in the caller's transaction; returns the sessions to
/// announce to other instances after commit.
fn end_sessions(
    conn: &mut AnyConnection,
    user_id: &str,
    reason: &str,
) -> Result<Vec<String>, wangge_persistence::StoreError> {
    let live = sessions::live_families(conn, user_id)?;
    for f in &live {
        sessions::revoke(conn, f, user_id, reason)?;
    }
    Ok(live)
}

async fn announce(state: &web::Data<AppState>, ended: &[String]) {
    for f in ended {
        bus::announce_revoked(state, f).await;
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    unit_id: Option<String>,
    role: Option<String>,
    active: Option<bool>,
    q: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

pub async fn list(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let (limit, after) = paging(q.limit, q.cursor.as_deref())?;
    let role = q
        .role
        .as_deref()
        .map(|r| {
            r.parse::<Role>()
                .map_err(|e| ApiError::bad_request("invalid_query", e.to_string()))
        })
        .transpose()?;
    let unit = q
        .unit_id
        .as_deref()
        .map(super::units::parse_id)
        .transpose()?;
    if q.q.as_ref().is_some_and(|t| t.chars().count() > 64) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "q must be at most 64 characters",
        ));
    }
    let rows = state
        .db(move |conn| {
            let access = access::load(conn, &user)?;
            let reach = access.scope.reach(Action::ReadUser);
            if reach == Reach::Nothing {
                return Err(ApiError::forbidden("reading accounts needs the admin role"));
            }
            let under_path = match unit {
                Some(id) => Some(grid::get_unit(conn, id)?.path),
                None => None,
            };
            let filter = UserFilter {
                under_path,
                role,
                active: q.active,
                q: q.q,
            };
            Ok(users::list_users(
                conn,
                reach,
                &filter,
                after.map(|a| a.to_string()).as_deref(),
                i64::from(limit) + 1,
            )?)
        })
        .await?;
    let bodies: Vec<Value> = rows.iter().map(user_body).collect();
    Ok(HttpResponse::Ok().json(page_of(bodies, limit, |u| {
        u["id"].as_str().unwrap_or_default().to_owned()
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    username: String,
    display_name: String,
    roles: Vec<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    department_id: Option<String>,
    #[serde(default)]
    all_units: bool,
    #[serde(default)]
    assignments: Vec<AssignmentIn>,
}

/// Creates an account with a one-time password, returned once in the answer: the user must
/// set their own at first login.
pub async fn create(
    user: AuthUser,
    state: web::Data<AppState>,
    body: web::Json<CreateBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let username = Username::parse(&b.username)?;
    let display_name = wangge_domain::person::text("display_name", &b.display_name, 64, false)?;
    let roles = parse_roles(&b.roles)?;
    let department_id = b
        .department_id
        .as_deref()
        .map(parse_department)
        .transpose()?;
    check_department_binding(&roles, department_id.as_deref())?;
    let phone = b
        .phone
        .as_deref()
        .map(|p| seal_phone(&state, p))
        .transpose()?;
    let password = one_time_password();
    let hash = web::block(move || hash_password(&password).map(|h| (h, password)))
        .await?
        .map_err(|e| ApiError::internal(&e))?;
    let (hash, password) = hash;
    let created = state
        .db(move |conn| {
            let access = access::load(conn, &user)?;
            if access.scope.reach(Action::ManageUser) == Reach::Nothing {
                return Err(ApiError::forbidden(
                    "creating accounts needs the admin role and a scope",
                ));
            }
            let (unit_ids, assignments) = resolve_assignments(conn, &b.assignments)?;
            if !access.scope.may_grant(&roles, b.all_units, &assignments) {
                return Err(forbidden_grant());
            }
            let id = wangge_persistence::transaction(conn, |conn| {
                let rec = users::create_user(
                    conn,
                    &NewUser {
                        username: &username,
                        password_hash: &hash,
                        roles: &roles,
                        must_change_password: true,
                        display_name: &display_name,
                        phone: phone.as_ref(),
                        department_id: department_id.as_deref(),
                        all_units: b.all_units,
                    },
                )?;
                users::insert_assignments(conn, &rec.id, &unit_ids)?;
                let mut e = access.event(&user, "user.created");
                e.subject_type = Some("user");
                e.subject_id = Some(rec.id.clone());
                e.unit_path = assignments.first().map(|a| a.unit_path.clone());
                e.details =
                    json!({ "username": rec.username, "roles": roles, "all_units": b.all_units });
                access::record(conn, &e)?;
                Ok(rec.id)
            })?;
            users::with_units(conn, &id)?.ok_or_else(user_not_found)
        })
        .await?;
    Ok(super::with_location(
        with_etag(
            actix_web::http::StatusCode::CREATED,
            &created,
            Some(("one_time_password", Value::String(password))),
        ),
        &format!("/api/v1/users/{}", created.user.id),
    ))
}

pub async fn get(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_user_id(&id)?;
    let u = state
        .db(move |conn| {
            let access = access::load(conn, &user)?;
            readable(conn, &access, &id)
        })
        .await?;
    Ok(with_etag(actix_web::http::StatusCode::OK, &u, None))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    #[serde(default, deserialize_with = "super::non_null")]
    display_name: Option<String>,
    #[serde(default, deserialize_with = "super::double_option")]
    phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::non_null")]
    roles: Option<Vec<String>>,
    #[serde(default, deserialize_with = "super::non_null")]
    active: Option<bool>,
    #[serde(default, deserialize_with = "super::double_option")]
    department_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::non_null")]
    all_units: Option<bool>,
}

/// Changes an account. Deactivating it, or changing its roles or reach, ends its sessions:
/// no token issued under the old grant outlives it.
pub async fn patch(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
    body: web::Json<PatchBody>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_user_id(&id)?;
    let expected = if_match(&req)?;
    let b = body.into_inner();
    let display_name = b
        .display_name
        .as_deref()
        .map(|n| wangge_domain::person::text("display_name", n, 64, false))
        .transpose()?;
    let roles = b.roles.as_deref().map(parse_roles).transpose()?;
    let phone = match &b.phone {
        None => None,
        Some(None) => Some(None),
        Some(Some(p)) => Some(Some(seal_phone(&state, p)?)),
    };
    let department_id = match &b.department_id {
        None => None,
        Some(None) => Some(None),
        Some(Some(d)) => Some(Some(parse_department(d)?)),
    };
    let nothing = display_name.is_none()
        && phone.is_none()
        && roles.is_none()
        && b.active.is_none()
        && department_id.is_none()
        && b.all_units.is_none();
    if nothing {
        return Err(ApiError::unprocessable(
            "validation_failed",
            "send at least one of display_name, phone, roles, active, department_id, all_units",
        ));
    }
    let (updated, ended) = state
        .db(move |conn| {
            let access = access::load(conn, &user)?;
            let target = manageable(conn, &access, &id)?;
            let new_roles = roles.clone().unwrap_or_else(|| target.user.roles());
            let new_all = b.all_units.unwrap_or(target.user.all_units);
            let granting = roles.is_some() || b.all_units.is_some();
            let current: Vec<Assignment> =
                target.assignments.iter().map(|a| a.to_domain()).collect();
            if granting && !access.scope.may_grant(&new_roles, new_all, &current) {
                return Err(forbidden_grant());
            }
            let new_department = match &department_id {
                Some(d) => d.clone(),
                None => target.user.department_id.clone(),
            };
            check_department_binding(&new_roles, new_department.as_deref())?;
            let ends = b.active == Some(false) || granting;
            let mut fields = Vec::new();
            for (set, name) in [
                (display_name.is_some(), "display_name"),
                (phone.is_some(), "phone"),
                (roles.is_some(), "roles"),
                (b.active.is_some(), "active"),
                (department_id.is_some(), "department_id"),
                (b.all_units.is_some(), "all_units"),
            ] {
                if set {
                    fields.push(name);
                }
            }
            let ended = wangge_persistence::transaction(conn, |conn| {
                users::update_user(
                    conn,
                    &id,
                    UserPatch {
                        display_name,
                        phone,
                        roles,
                        active: b.active,
                        department_id,
                        all_units: b.all_units,
                    },
                    expected,
                )?;
                let ended = if ends {
                    end_sessions(conn, &id, "account_changed")?
                } else {
                    Vec::new()
                };
                let action = if b.active == Some(false) {
                    "user.deactivated"
                } else {
                    "user.updated"
                };
                let mut e = access.event(&user, action);
                e.subject_type = Some("user");
                e.subject_id = Some(id.clone());
                e.unit_path = target.assignments.first().map(|a| a.unit_path.clone());
                e.details = json!({ "fields": fields, "sessions_ended": ended.len() });
                access::record(conn, &e)?;
                Ok(ended)
            })?;
            let u = users::with_units(conn, &id)?.ok_or_else(user_not_found)?;
            Ok((u, ended))
        })
        .await?;
    announce(&state, &ended).await;
    Ok(with_etag(actix_web::http::StatusCode::OK, &updated, None))
}

/// Deletes an account that has no history of its own (visits recorded); otherwise 409:
/// deactivate it instead, so the record of who did what stays whole.
pub async fn delete(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = parse_user_id(&id)?;
    let expected = if_match(&req)?;
    let ended = state
        .db(move |conn| {
            let access = access::load(conn, &user)?;
            let target = manageable(conn, &access, &id)?;
            wangge_persistence::transaction(conn, |conn| {
                let ended = end_sessions(conn, &id, "account_deleted")?;
                users::delete_user(conn, &id, expected)?;
                let mut e = access.event(&user, "user.deleted");
                e.subject_type = Some("user");
                e.subject_id = Some(id.clone());
                e.unit_path = target.assignments.first().map(|a| a.unit_path.clone());
                e.details = json!({ "username": target.user.username });
                access::record(conn, &e)?;
                Ok(ended)
            })
            .map_err(ApiError::from)
        })
        .await?;
    announce(&state, &ended).await;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignmentsBody {
    assignments: Vec<AssignmentIn>,
}

/// Replaces the units an account works in. The admin must manage the account as it is and
/// be able to grant every new unit.
pub async fn put_assignments(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
    body: web::Json<AssignmentsBody>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_user_id(&id)?;
    let expected = if_match(&req)?;
    let b = body.into_inner();
    let updated = state
        .db(move |conn| {
            let access = access::load(conn, &user)?;
            let target = manageable(conn, &access, &id)?;
            let (unit_ids, assignments) = resolve_assignments(conn, &b.assignments)?;
            if !access.scope.may_grant(&target.user.roles(), target.user.all_units, &assignments) {
                return Err(forbidden_grant());
            }
            wangge_persistence::transaction(conn, |conn| {
                users::set_assignments(conn, &id, &unit_ids, expected)?;
                let mut e = access.event(&user, "user.assignments_changed");
                e.subject_type = Some("user");
                e.subject_id = Some(id.clone());
                e.unit_path = assignments
                    .first()
                    .map(|a| a.unit_path.clone())
                    .or_else(|| target.assignments.first().map(|a| a.unit_path.clone()));
                e.details = json!({
                    "from": target.assignments.iter().map(|a| json!({"unit_id": a.unit_id, "capture": a.capture})).collect::<Vec<_>>(),
                    "to": unit_ids.iter().map(|(u, c)| json!({"unit_id": u, "capture": c})).collect::<Vec<_>>(),
                });
                access::record(conn, &e)?;
                Ok(())
            })?;
            users::with_units(conn, &id)?.ok_or_else(user_not_found)
        })
        .await?;
    Ok(with_etag(actix_web::http::StatusCode::OK, &updated, None))
}

/// Gives an account a new one-time password (returned once) and ends its sessions.
pub async fn reset_password(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_user_id(&id)?;
    let password = one_time_password();
    let (hash, password) = web::block(move || hash_password(&password).map(|h| (h, password)))
        .await?
        .map_err(|e| ApiError::internal(&e))?;
    let ended = state
        .db(move |conn| {
            let access = access::load(conn, &user)?;
            let target = manageable(conn, &access, &id)?;
            wangge_persistence::transaction(conn, |conn| {
                users::set_one_time_password(conn, &id, &hash)?;
                let ended = end_sessions(conn, &id, "password_reset")?;
                let mut e = access.event(&user, "user.password_reset");
                e.subject_type = Some("user");
                e.subject_id = Some(id.clone());
                e.unit_path = target.assignments.first().map(|a| a.unit_path.clone());
                access::record(conn, &e)?;
                Ok(ended)
            })
            .map_err(ApiError::from)
        })
        .await?;
    announce(&state, &ended).await;
    Ok(HttpResponse::Ok()
        .json(json!({ "one_time_password": password, "sessions_ended": ended.len() })))
}

/// Who works a unit: the active accounts assigned to it or to any unit above it (a grid
/// worker of a resident group also serves its household groups), nearest first.
pub async fn unit_workers(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let unit_id = super::units::parse_id(&id)?;
    let body = state
        .db(move |conn| {
            let access = access::load(conn, &user)?;
            let unit = grid::get_unit(conn, unit_id)
                .map_err(|_| ApiError::not_found("unit not found"))?;
            access.check(Action::ReadUnitWorkers, &unit.path, "unit")?;
            let chain = unit.path_ids();
            let rows = users::assigned_to_any(conn, &chain)?;
            let mut items: Vec<(usize, Value)> = Vec::new();
            for u in &rows {
                // The assignment nearest to the unit says how the account serves it.
                let Some((depth, a)) = u
                    .assignments
                    .iter()
                    .filter_map(|a| chain.iter().position(|c| *c == a.unit_id).map(|d| (d, a)))
                    .max_by_key(|(d, _)| *d)
                else {
                    continue;
                };
                items.push((
                    depth,
                    json!({
                        "id": u.user.id,
                        "username": u.user.username,
                        "display_name": u.user.display_name,
                        "roles": u.user.roles(),
                        "phone": u.user.phone_masked,
                        "assigned_unit": { "id": a.unit_id, "code": a.unit_code, "name": a.unit_name, "level": a.unit_level },
                        "capture": a.capture,
                        "inherited": a.unit_id != unit.id,
                    }),
                ));
            }
            items.sort_by_key(|(d, _)| std::cmp::Reverse(*d));
            let items: Vec<Value> = items.into_iter().map(|(_, v)| v).collect();
            Ok(json!({ "unit_id": unit.id, "items": items }))
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}
