//! Who may do what where: the one authorization mechanism (DHIS2's model).
//!
//! A user is assigned units; they reach those units and every descendant. A `view` assignment
//! lets them read there, a `capture` assignment lets them also create and change, so capture
//! scope is always a subset of view scope. Roles say which kinds of action a user takes at all;
//! the scope says where. Nothing is reachable by default. Handlers ask [`Scope::permits`] for
//! one object and [`Scope::reach`] to filter a list in its query; they never test roles or
//! paths themselves.
//!
//! Units are named by their materialised path, `/<root id>/…/<own id>/`, so "inside a subtree"
//! is a prefix test here and a prefix match in SQL.

use crate::auth::Role;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a caller wants to do to an object (or a list of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read households, their residents (masked) and visits.
    ReadHousehold,
    /// Create or change a household or its residents.
    WriteHousehold,
    /// Put a household in another unit than locate found, with a reason.
    OverrideHouseholdUnit,
    DeleteHousehold,
    /// See identity-card numbers and phones unmasked (audited).
    RevealPersonalData,
    RecordVisit,
    /// Read user accounts.
    ReadUser,
    /// Create, change, deactivate users and set their assignments (delegated administration).
    ManageUser,
    /// Read the audit log.
    ReadAudit,
    /// See who works a unit.
    ReadUnitWorkers,
    /// Create, change or delete units and their coverage (at the top of the grid, and for
    /// departments and whole-grid imports, only with a reach of every unit).
    ManageGrid,
    /// Read the change feed (unscoped for now: only with a reach of every unit).
    ReadChanges,
    /// Read incidents owned inside the scope (departments read theirs apart: see
    /// `incident::flow`).
    ReadIncident,
    /// Report an incident at a place inside the capture scope.
    ReportIncident,
    /// Act on a case owned inside the capture scope (which actions, the state machine says).
    HandleIncident,
    /// Learn who made an anonymous report (audited). The law names the command centre as
    /// the one place that may (domain.md, "Anonymous"): the people who handle the case never
    /// learn it.
    RevealAnonymousReporter,
}

impl Action {
    /// Whether the action changes data, so it needs capture scope rather than view scope.
    #[must_use]
    pub fn needs_capture(self) -> bool {
        matches!(
            self,
            Self::WriteHousehold
                | Self::OverrideHouseholdUnit
                | Self::DeleteHousehold
                | Self::RecordVisit
                | Self::ManageUser
                | Self::ManageGrid
                | Self::ReportIncident
                | Self::HandleIncident
        )
    }

    /// The roles that may take this action at all (where is the scope's business). Admins
    /// administer accounts and the grid but do not read household records: least privilege
    /// for personal data (PIPL art. 6), and the same account should not both grant access and
    /// use it unseen.
    #[must_use]
    pub fn roles(self) -> &'static [Role] {
        use Role::{
            Admin, CommandCentre, CommunityStaff, GridWorker, GroupLeader, Platform,
            SubdistrictOfficer,
        };
        match self {
            Self::ReadHousehold => &[
                GridWorker,
                GroupLeader,
                CommunityStaff,
                SubdistrictOfficer,
                CommandCentre,
            ],
            Self::WriteHousehold => &[GridWorker, GroupLeader, CommunityStaff, SubdistrictOfficer],
            Self::OverrideHouseholdUnit | Self::DeleteHousehold => {
                &[CommunityStaff, SubdistrictOfficer]
            }
            // Household-group leaders are often volunteers: they work from masked data.
            Self::RevealPersonalData => &[
                GridWorker,
                CommunityStaff,
                SubdistrictOfficer,
                CommandCentre,
            ],
            Self::RecordVisit => &[GridWorker, GroupLeader, CommunityStaff],
            Self::ReadUser | Self::ManageUser | Self::ManageGrid | Self::ReadChanges => &[Admin],
            Self::ReadAudit => &[Admin, CommandCentre],
            Self::RevealAnonymousReporter => &[CommandCentre],
            // Admins run the system, not cases.
            Self::ReadIncident | Self::HandleIncident => &[
                GridWorker,
                GroupLeader,
                CommunityStaff,
                SubdistrictOfficer,
                CommandCentre,
            ],
            Self::ReportIncident => &[
                GridWorker,
                GroupLeader,
                CommunityStaff,
                SubdistrictOfficer,
                CommandCentre,
                Platform,
            ],
            Self::ReadUnitWorkers => &[
                Admin,
                CommandCentre,
                SubdistrictOfficer,
                CommunityStaff,
                GridWorker,
                GroupLeader,
            ],
        }
    }
}

/// How far an action reaches: the filter a list query applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach<'a> {
    Nothing,
    Everything,
    /// Unit paths; an object is reached when its unit's path starts with one of them.
    Subtrees(&'a [String]),
}

impl Reach<'_> {
    #[must_use]
    pub fn contains(&self, unit_path: &str) -> bool {
        match self {
            Self::Nothing => false,
            Self::Everything => true,
            Self::Subtrees(paths) => paths.iter().any(|p| unit_path.starts_with(p.as_str())),
        }
    }
}

/// One unit assignment: the unit's path and whether it grants capture as well as view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub unit_path: String,
    pub capture: bool,
}

/// What the authorization questions need to know about a user (the caller or a target).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub user_id: Uuid,
    pub roles: Vec<Role>,
    /// Reaches every unit, present and future: the installation's own administrators (the
    /// first account exists before any unit does). Only such a user can grant it.
    pub all_units: bool,
    view: Vec<String>,
    capture: Vec<String>,
}

impl Scope {
    #[must_use]
    pub fn new(
        user_id: Uuid,
        roles: Vec<Role>,
        all_units: bool,
        assignments: &[Assignment],
    ) -> Self {
        // A capture assignment also grants view: capture scope ⊆ view scope by construction.
        let view = assignments.iter().map(|a| a.unit_path.clone()).collect();
        let capture = assignments
            .iter()
            .filter(|a| a.capture)
            .map(|a| a.unit_path.clone())
            .collect();
        Self {
            user_id,
            roles,
            all_units,
            view,
            capture,
        }
    }

    #[must_use]
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The unit paths the user is assigned (view and capture).
    #[must_use]
    pub fn assigned_paths(&self) -> &[String] {
        &self.view
    }

    /// Where `action` reaches for this user: nowhere without a role that takes it.
    #[must_use]
    pub fn reach(&self, action: Action) -> Reach<'_> {
        if !action.roles().iter().any(|r| self.has_role(*r)) {
            return Reach::Nothing;
        }
        if self.all_units {
            return Reach::Everything;
        }
        let paths = if action.needs_capture() {
            &self.capture
        } else {
            &self.view
        };
        if paths.is_empty() {
            Reach::Nothing
        } else {
            Reach::Subtrees(paths)
        }
    }

    /// May the user take `action` on an object in the unit at `unit_path`?
    #[must_use]
    pub fn permits(&self, action: Action, unit_path: &str) -> bool {
        self.reach(action).contains(unit_path)
    }

    /// Delegated administration: may the user change `target`'s account? Only an admin, never
    /// on themselves, and only when every unit the target is assigned lies within the admin's
    /// capture scope. Accounts reaching everything, or no unit at all (departments, the
    /// platform), belong to the installation's administrators.
    #[must_use]
    pub fn may_manage(&self, target: &Scope) -> bool {
        if target.user_id == self.user_id {
            return false;
        }
        let reach = self.reach(Action::ManageUser);
        if target.all_units || target.view.is_empty() {
            return reach == Reach::Everything;
        }
        target.view.iter().all(|p| reach.contains(p))
    }

    /// May the user read `target`'s account? Admins see accounts with at least one assignment
    /// in their view scope (and their own).
    #[must_use]
    pub fn may_read_user(&self, target: &Scope) -> bool {
        if target.user_id == self.user_id {
            return true;
        }
        let reach = self.reach(Action::ReadUser);
        if target.all_units || target.view.is_empty() {
            return reach == Reach::Everything;
        }
        target.view.iter().any(|p| reach.contains(p))
    }

    /// May the user give an account these roles, assignments and reach? What an admin grants
    /// must lie within what they could manage afterwards; `all_units` and `platform` only come
    /// from an administrator who reaches everything.
    #[must_use]
    pub fn may_grant(&self, roles: &[Role], all_units: bool, assignments: &[Assignment]) -> bool {
        let reach = self.reach(Action::ManageUser);
        let everything = reach == Reach::Everything;
        if (all_units || roles.contains(&Role::Platform) || assignments.is_empty()) && !everything {
            return false;
        }
        assignments.iter().all(|a| reach.contains(&a.unit_path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DISTRICT: &str = "/d/";
    const WEST: &str = "/d/w/";
    const WEST_GROUP: &str = "/d/w/c/g/";
    const EAST: &str = "/d/e/";

    fn user(n: u128, roles: &[Role], all: bool, a: &[(&str, bool)]) -> Scope {
        let a: Vec<Assignment> = a
            .iter()
            .map(|(p, c)| Assignment {
                unit_path: (*p).to_owned(),
                capture: *c,
            })
            .collect();
        Scope::new(Uuid::from_u128(n), roles.to_vec(), all, &a)
    }

    #[test]
    fn scope_is_the_assigned_subtrees_and_closed_by_default() {
        let w = user(1, &[Role::GridWorker], false, &[(WEST, true)]);
        assert!(w.permits(Action::ReadHousehold, WEST_GROUP));
        assert!(w.permits(Action::WriteHousehold, WEST));
        assert!(!w.permits(Action::ReadHousehold, EAST));
        assert!(!w.permits(Action::ReadHousehold, DISTRICT));
        let nobody = user(2, &[Role::GridWorker], false, &[]);
        assert_eq!(nobody.reach(Action::ReadHousehold), Reach::Nothing);
    }

    #[test]
    fn view_assignments_do_not_grant_capture() {
        let c = user(
            1,
            &[Role::CommunityStaff],
            false,
            &[(DISTRICT, false), (WEST, true)],
        );
        assert!(c.permits(Action::ReadHousehold, EAST));
        assert!(!c.permits(Action::WriteHousehold, EAST));
        assert!(c.permits(Action::WriteHousehold, WEST_GROUP));
    }

    #[test]
    fn roles_decide_the_kind_of_action() {
        let admin = user(1, &[Role::Admin], true, &[]);
        assert!(!admin.permits(Action::ReadHousehold, WEST));
        assert!(admin.permits(Action::ManageUser, WEST));
        let leader = user(2, &[Role::GroupLeader], false, &[(WEST_GROUP, true)]);
        assert!(leader.permits(Action::ReadHousehold, WEST_GROUP));
        assert!(!leader.permits(Action::RevealPersonalData, WEST_GROUP));
        assert!(!leader.permits(Action::DeleteHousehold, WEST_GROUP));
    }

    #[test]
    fn grid_changes_need_an_admin_with_capture_scope() {
        let west_admin = user(1, &[Role::Admin], false, &[(WEST, true)]);
        assert!(west_admin.permits(Action::ManageGrid, WEST_GROUP));
        assert!(!west_admin.permits(Action::ManageGrid, EAST));
        assert_ne!(west_admin.reach(Action::ManageGrid), Reach::Everything);
        let viewer = user(2, &[Role::Admin], false, &[(DISTRICT, false)]);
        assert!(!viewer.permits(Action::ManageGrid, WEST));
        let staff = user(3, &[Role::CommunityStaff], false, &[(DISTRICT, true)]);
        assert!(!staff.permits(Action::ManageGrid, WEST));
    }

    #[test]
    fn delegated_admins_manage_only_beneath_them() {
        let west_admin = user(1, &[Role::Admin], false, &[(WEST, true)]);
        let west_worker = user(2, &[Role::GridWorker], false, &[(WEST_GROUP, true)]);
        let east_worker = user(3, &[Role::GridWorker], false, &[(EAST, true)]);
        let both = user(
            4,
            &[Role::GridWorker],
            false,
            &[(WEST_GROUP, true), (EAST, true)],
        );
        let department = user(5, &[Role::Department], false, &[]);
        assert!(west_admin.may_manage(&west_worker));
        assert!(!west_admin.may_manage(&east_worker));
        assert!(!west_admin.may_manage(&both));
        assert!(west_admin.may_read_user(&both));
        assert!(!west_admin.may_manage(&department));
        assert!(
            !west_admin.may_manage(&west_admin),
            "nobody manages themselves"
        );
        let root = user(6, &[Role::Admin], true, &[]);
        assert!(root.may_manage(&department) && root.may_manage(&west_admin));
    }

    #[test]
    fn grants_stay_within_the_granting_admins_scope() {
        let west_admin = user(1, &[Role::Admin], false, &[(WEST, true)]);
        let inside = [Assignment {
            unit_path: WEST_GROUP.into(),
            capture: true,
        }];
        let outside = [Assignment {
            unit_path: EAST.into(),
            capture: false,
        }];
        assert!(west_admin.may_grant(&[Role::GridWorker], false, &inside));
        assert!(!west_admin.may_grant(&[Role::GridWorker], false, &outside));
        assert!(!west_admin.may_grant(&[Role::GridWorker], true, &inside));
        assert!(!west_admin.may_grant(&[Role::Platform], false, &inside));
        assert!(!west_admin.may_grant(&[Role::Department], false, &[]));
    }
}
