//! The state machine of a case: state × action × actor → next state, or a refusal that says
//! why. Who may take an action is decided here too, from the actor's roles and their relation
//! to the case (the owner unit in their capture scope, or their department dispatched or
//! summoned to it); whether they may see the case at all is the scope's question, asked
//! before this one.

use super::{Action, Status};
use crate::auth::Role;
use crate::ids::DepartmentId;
use crate::unit::Level;

/// The actor, as the state machine needs to know them.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub roles: &'a [Role],
    /// The case's owner unit lies in the actor's capture scope.
    pub captures_owner: bool,
    /// The department the actor works for, if any.
    pub department: Option<DepartmentId>,
    /// The escalation clock, a system actor: it escalates, nothing else.
    pub clock: bool,
}

/// The case, as the state machine needs to know it.
#[derive(Debug, Clone, Copy)]
pub struct Case<'a> {
    pub status: Status,
    /// The state a held case resumes to.
    pub held_from: Option<Status>,
    pub owner_level: Level,
    /// The department the case is dispatched to, if any.
    pub department: Option<DepartmentId>,
    /// Summoned departments, each with whether it has reported in.
    pub summoned: &'a [(DepartmentId, bool)],
    pub extension_pending: bool,
    /// A photo of the handled result is attached (needed to report back).
    pub has_result_photo: bool,
}

/// What an action comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub to: Status,
}

/// Why an action was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The actor may not take this action on this case (403).
    Forbidden(String),
    /// Not in this state; `allowed` lists what this actor may do now (409).
    NotAllowed { allowed: Vec<Action> },
    /// Something the action needs is missing (422), naming the field.
    Missing { field: &'static str, reason: String },
}

use Role::{
    CommandCentre, CommunityStaff, Department as Dept, GridWorker, GroupLeader, SubdistrictOfficer,
};

/// The roles that take each action for the owner unit (with capture scope there). Department
/// actions (`report_in`, and handling a case dispatched to the department) are decided apart.
#[must_use]
pub fn unit_roles(action: Action) -> &'static [Role] {
    match action {
        Action::Register | Action::Reject | Action::Dispatch | Action::MergeInto => {
            &[CommunityStaff, SubdistrictOfficer, CommandCentre]
        }
        Action::Sign | Action::Start | Action::Resolve | Action::RequestExtension => {
            &[GridWorker, GroupLeader, CommunityStaff]
        }
        Action::Verify | Action::SendBack | Action::Close | Action::Callback | Action::Reopen => &[
            GridWorker,
            CommunityStaff,
            SubdistrictOfficer,
            CommandCentre,
        ],
        Action::Escalate | Action::Hold | Action::Resume => {
            &[CommunityStaff, SubdistrictOfficer, CommandCentre]
        }
        Action::GrantExtension | Action::RefuseExtension | Action::Summon => {
            &[SubdistrictOfficer, CommandCentre]
        }
        Action::ReportIn => &[],
    }
}

/// Whether a department acts for this case: the one it was dispatched to handles it
/// (sign, start, resolve, ask for more time); a summoned one reports in.
fn department_may(case: &Case<'_>, actor: &Actor<'_>, action: Action) -> bool {
    let Some(mine) = actor.department else {
        return false;
    };
    if !actor.roles.contains(&Dept) {
        return false;
    }
    match action {
        Action::Sign | Action::Start | Action::Resolve | Action::RequestExtension => {
            case.department == Some(mine)
        }
        Action::ReportIn => case.summoned.iter().any(|(d, _)| *d == mine),
        _ => false,
    }
}

/// May this actor take `action` on this case at all, whatever its state?
#[must_use]
pub fn may(case: &Case<'_>, actor: &Actor<'_>, action: Action) -> bool {
    if actor.clock {
        return action == Action::Escalate;
    }
    let by_unit =
        actor.captures_owner && unit_roles(action).iter().any(|r| actor.roles.contains(r));
    by_unit || department_may(case, actor, action)
}

/// The state `action` leads to from the case's state, if it is legal there (roles aside).
fn next(case: &Case<'_>, action: Action) -> Option<Status> {
    use Status::{
        Closed, Dispatched, InProgress, OnHold, Registered, Rejected, Reported, Resolved, Signed,
        Verified,
    };
    let s = case.status;
    let working = matches!(s, Dispatched | Signed | InProgress);
    match action {
        Action::Register => (s == Reported).then_some(Registered),
        Action::Reject => matches!(s, Reported | Registered).then_some(Rejected),
        Action::Dispatch => (s == Registered).then_some(Dispatched),
        Action::MergeInto => matches!(
            s,
            Reported | Registered | Dispatched | Signed | InProgress | OnHold
        )
        .then_some(Closed),
        Action::Sign => (s == Dispatched).then_some(Signed),
        Action::Start => (s == Signed).then_some(InProgress),
        Action::Resolve => (s == InProgress).then_some(Resolved),
        Action::Verify => (s == Resolved).then_some(Verified),
        Action::SendBack => (s == Resolved).then_some(InProgress),
        Action::Close => (s == Verified).then_some(Closed),
        Action::Callback => (s == Closed).then_some(Closed),
        Action::Reopen => matches!(s, Verified | Closed).then_some(InProgress),
        Action::Hold => (working || s == Registered).then_some(OnHold),
        Action::Resume => (s == OnHold).then_some(case.held_from.unwrap_or(Registered)),
        // Up one level, where the parent dispatches it anew (its people or a department).
        Action::Escalate => match s {
            Reported | Registered | OnHold if case.owner_level != Level::District => Some(s),
            Dispatched | Signed | InProgress if case.owner_level != Level::District => {
                Some(Registered)
            }
            _ => None,
        },
        Action::RequestExtension => (working && !case.extension_pending).then_some(s),
        Action::GrantExtension | Action::RefuseExtension => {
            (s.is_open() && case.extension_pending).then_some(s)
        }
        Action::Summon => (s.is_open() && s != Reported).then_some(s),
        Action::ReportIn => s.is_open().then_some(s),
    }
}

/// What this actor may do to the case now: legal here and theirs to take.
#[must_use]
pub fn allowed(case: &Case<'_>, actor: &Actor<'_>) -> Vec<Action> {
    Action::ALL
        .iter()
        .copied()
        .filter(|a| may(case, actor, *a) && next(case, *a).is_some())
        .filter(|a| *a != Action::ReportIn || not_yet_reported_in(case, actor))
        .collect()
}

fn not_yet_reported_in(case: &Case<'_>, actor: &Actor<'_>) -> bool {
    case.summoned
        .iter()
        .any(|(d, done)| Some(*d) == actor.department && !done)
}

/// Decides an action: the next state, or why not.
///
/// # Errors
/// `Forbidden` when the actor may not take the action on this case at all; `NotAllowed`
/// (with what they may do) when the state does not allow it; `Missing` when reporting back
/// without a photo of the result.
pub fn decide(case: &Case<'_>, actor: &Actor<'_>, action: Action) -> Result<Outcome, Refusal> {
    if !may(case, actor, action) {
        return Err(Refusal::Forbidden(format!(
            "your roles and scope do not allow {action} on this case"
        )));
    }
    let Some(to) = next(case, action) else {
        return Err(Refusal::NotAllowed {
            allowed: allowed(case, actor),
        });
    };
    if action == Action::ReportIn && !not_yet_reported_in(case, actor) {
        return Err(Refusal::NotAllowed {
            allowed: allowed(case, actor),
        });
    }
    if action == Action::Resolve && !case.has_result_photo {
        return Err(Refusal::Missing {
            field: "attachments",
            reason: "report back with a photo of the handled result: attach one first".into(),
        });
    }
    Ok(Outcome { to })
}

/// The state after a callback: a satisfied reporter leaves the case closed; an unsatisfied one
/// reopens it for the owner to handle again.
#[must_use]
pub fn after_callback(satisfied: bool) -> Status {
    if satisfied {
        Status::Closed
    } else {
        Status::InProgress
    }
}

#[cfg(test)]
mod tests;
