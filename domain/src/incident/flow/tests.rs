use super::*;
use crate::incident::Action as A;
use Status as S;

fn dept(n: u128) -> DepartmentId {
    DepartmentId::from_uuid(uuid::Uuid::from_u128(n))
}

fn case(status: Status) -> Case<'static> {
    Case {
        status,
        held_from: None,
        owner_level: Level::Community,
        department: None,
        summoned: &[],
        extension_pending: false,
        has_result_photo: true,
    }
}

/// Every role there is, with capture scope at the owner: only the state decides.
const EVERYONE: &[Role] = &[
    CommunityStaff,
    SubdistrictOfficer,
    CommandCentre,
    GridWorker,
    GroupLeader,
];

fn all_powerful() -> Actor<'static> {
    Actor {
        roles: EVERYONE,
        captures_owner: true,
        department: None,
        clock: false,
    }
}

/// The legal (state, action) pairs, written out by hand from the loop in domain.md, with
/// the state each leads to (extension and report-in need more than a state; see below).
const LEGAL: &[(Status, Action, Status)] = &[
    (S::Reported, A::Register, S::Registered),
    (S::Reported, A::Reject, S::Rejected),
    (S::Reported, A::MergeInto, S::Closed),
    (S::Reported, A::Escalate, S::Reported),
    (S::Registered, A::Reject, S::Rejected),
    (S::Registered, A::Dispatch, S::Dispatched),
    (S::Registered, A::MergeInto, S::Closed),
    (S::Registered, A::Hold, S::OnHold),
    (S::Registered, A::Escalate, S::Registered),
    (S::Registered, A::Summon, S::Registered),
    (S::Dispatched, A::Sign, S::Signed),
    (S::Dispatched, A::MergeInto, S::Closed),
    (S::Dispatched, A::Hold, S::OnHold),
    (S::Dispatched, A::Escalate, S::Registered),
    (S::Dispatched, A::RequestExtension, S::Dispatched),
    (S::Dispatched, A::Summon, S::Dispatched),
    (S::Signed, A::Start, S::InProgress),
    (S::Signed, A::MergeInto, S::Closed),
    (S::Signed, A::Hold, S::OnHold),
    (S::Signed, A::Escalate, S::Registered),
    (S::Signed, A::RequestExtension, S::Signed),
    (S::Signed, A::Summon, S::Signed),
    (S::InProgress, A::Resolve, S::Resolved),
    (S::InProgress, A::MergeInto, S::Closed),
    (S::InProgress, A::Hold, S::OnHold),
    (S::InProgress, A::Escalate, S::Registered),
    (S::InProgress, A::RequestExtension, S::InProgress),
    (S::InProgress, A::Summon, S::InProgress),
    (S::Resolved, A::Verify, S::Verified),
    (S::Resolved, A::SendBack, S::InProgress),
    (S::Resolved, A::Summon, S::Resolved),
    (S::Verified, A::Close, S::Closed),
    (S::Verified, A::Reopen, S::InProgress),
    (S::Verified, A::Summon, S::Verified),
    (S::Closed, A::Callback, S::Closed),
    (S::Closed, A::Reopen, S::InProgress),
    (S::OnHold, A::Resume, S::Registered),
    (S::OnHold, A::MergeInto, S::Closed),
    (S::OnHold, A::Escalate, S::OnHold),
    (S::OnHold, A::Summon, S::OnHold),
];

#[test]
fn every_state_and_action_is_legal_exactly_as_the_table_says() {
    let actor = all_powerful();
    for status in Status::ALL {
        for action in A::ALL {
            if matches!(action, A::ReportIn | A::GrantExtension | A::RefuseExtension) {
                continue; // they need a summons or a pending request: tested apart
            }
            let expected = LEGAL
                .iter()
                .find(|(s, a, _)| s == status && a == action)
                .map(|(_, _, to)| *to);
            let got = decide(&case(*status), &actor, *action);
            match expected {
                Some(to) => assert_eq!(got, Ok(Outcome { to }), "{status} × {action}"),
                None => match got {
                    Err(Refusal::NotAllowed { allowed }) => {
                        assert!(!allowed.contains(action), "{status} × {action}");
                        let listed: Vec<Action> = LEGAL
                            .iter()
                            .filter(|(s, _, _)| s == status)
                            .map(|(_, a, _)| *a)
                            .collect();
                        let mut allowed = allowed;
                        allowed.sort();
                        let mut listed = listed;
                        listed.sort();
                        assert_eq!(allowed, listed, "what {status} allows");
                    }
                    other => panic!("{status} × {action}: {other:?}"),
                },
            }
        }
    }
}

#[test]
fn the_whole_loop_walks_from_report_to_callback() {
    let actor = all_powerful();
    let mut status = S::Reported;
    for action in [
        A::Register,
        A::Dispatch,
        A::Sign,
        A::Start,
        A::Resolve,
        A::SendBack,
        A::Resolve,
        A::Verify,
        A::Close,
        A::Callback,
        A::Reopen,
        A::Resolve,
        A::Verify,
        A::Close,
    ] {
        status = decide(&case(status), &actor, action)
            .unwrap_or_else(|e| panic!("{status} × {action}: {e:?}"))
            .to;
    }
    assert_eq!(status, S::Closed);
    assert_eq!(after_callback(false), S::InProgress);
    assert_eq!(after_callback(true), S::Closed);
}

#[test]
fn a_held_case_resumes_where_it_was() {
    let actor = all_powerful();
    let held = Case {
        held_from: Some(S::InProgress),
        ..case(S::OnHold)
    };
    assert_eq!(
        decide(&held, &actor, A::Resume),
        Ok(Outcome { to: S::InProgress })
    );
}

#[test]
fn nothing_escalates_past_the_district() {
    let actor = all_powerful();
    for status in [
        S::Reported,
        S::Registered,
        S::Dispatched,
        S::InProgress,
        S::OnHold,
    ] {
        let top = Case {
            owner_level: Level::District,
            ..case(status)
        };
        assert!(
            matches!(
                decide(&top, &actor, A::Escalate),
                Err(Refusal::NotAllowed { .. })
            ),
            "{status}"
        );
    }
    let clock = Actor {
        roles: &[],
        captures_owner: false,
        department: None,
        clock: true,
    };
    assert!(decide(&case(S::Dispatched), &clock, A::Escalate).is_ok());
    assert!(matches!(
        decide(&case(S::Dispatched), &clock, A::Sign),
        Err(Refusal::Forbidden(_))
    ));
}

#[test]
fn reporting_back_needs_a_photo_of_the_result() {
    let no_photo = Case {
        has_result_photo: false,
        ..case(S::InProgress)
    };
    assert!(matches!(
        decide(&no_photo, &all_powerful(), A::Resolve),
        Err(Refusal::Missing {
            field: "attachments",
            ..
        })
    ));
}

#[test]
fn extensions_are_asked_once_then_granted_or_refused() {
    let actor = all_powerful();
    let asked = Case {
        extension_pending: true,
        ..case(S::InProgress)
    };
    assert!(matches!(
        decide(&asked, &actor, A::RequestExtension),
        Err(Refusal::NotAllowed { .. })
    ));
    assert!(decide(&asked, &actor, A::GrantExtension).is_ok());
    assert!(decide(&asked, &actor, A::RefuseExtension).is_ok());
    assert!(matches!(
        decide(&case(S::InProgress), &actor, A::GrantExtension),
        Err(Refusal::NotAllowed { .. })
    ));
}

#[test]
fn departments_handle_what_was_dispatched_to_them_and_report_in_once_when_summoned() {
    let (d, o) = (dept(1), dept(2));
    let summoned = [(d, false)];
    let dispatched = Case {
        department: Some(d),
        summoned: &summoned,
        ..case(S::Dispatched)
    };
    let dept = Actor {
        roles: &[Dept],
        captures_owner: false,
        department: Some(d),
        clock: false,
    };
    let other = Actor {
        department: Some(o),
        ..dept
    };
    assert!(decide(&dispatched, &dept, A::Sign).is_ok());
    assert!(decide(&dispatched, &dept, A::ReportIn).is_ok());
    assert!(matches!(
        decide(&dispatched, &other, A::Sign),
        Err(Refusal::Forbidden(_))
    ));
    assert!(matches!(
        decide(&dispatched, &other, A::ReportIn),
        Err(Refusal::Forbidden(_))
    ));
    assert!(matches!(
        decide(&dispatched, &dept, A::Register),
        Err(Refusal::Forbidden(_))
    ));
    let done = [(d, true)];
    let reported_in = Case {
        summoned: &done,
        ..dispatched
    };
    assert!(matches!(
        decide(&reported_in, &dept, A::ReportIn),
        Err(Refusal::NotAllowed { .. })
    ));
    assert_eq!(allowed(&reported_in, &dept), [A::Sign, A::RequestExtension]);
}

/// The table, cell by cell: for each action, the roles that take it with capture
/// scope at the owner. Everything not listed is refused, also with capture scope; nothing
/// is allowed without it; admins and the platform act on no case.
#[test]
fn the_role_matrix_holds_in_every_cell() {
    use Role::{Admin, Platform};
    let table: &[(&[Action], &[Role])] = &[
        (
            &[A::Register, A::Reject, A::Dispatch, A::MergeInto],
            &[CommunityStaff, SubdistrictOfficer, CommandCentre],
        ),
        (
            &[A::Sign, A::Start, A::Resolve, A::RequestExtension],
            &[GridWorker, GroupLeader, CommunityStaff],
        ),
        (
            &[A::Verify, A::SendBack, A::Close, A::Callback, A::Reopen],
            &[
                GridWorker,
                CommunityStaff,
                SubdistrictOfficer,
                CommandCentre,
            ],
        ),
        (
            &[A::Escalate, A::Hold, A::Resume],
            &[CommunityStaff, SubdistrictOfficer, CommandCentre],
        ),
        (
            &[A::GrantExtension, A::RefuseExtension, A::Summon],
            &[SubdistrictOfficer, CommandCentre],
        ),
        (&[A::ReportIn], &[]),
    ];
    let c = case(S::Dispatched);
    let mut cells = 0;
    for (actions, roles) in table {
        for action in *actions {
            for role in Role::ALL {
                let with = Actor {
                    roles: std::slice::from_ref(&role),
                    captures_owner: true,
                    department: None,
                    clock: false,
                };
                let without = Actor {
                    captures_owner: false,
                    ..with
                };
                assert_eq!(
                    may(&c, &with, *action),
                    roles.contains(&role),
                    "{role:?} × {action}"
                );
                assert!(
                    !may(&c, &without, *action),
                    "{role:?} × {action} outside scope"
                );
                if matches!(role, Admin | Platform) {
                    assert!(!may(&c, &with, *action));
                }
                cells += 1;
            }
        }
    }
    assert_eq!(cells, A::ALL.len() * Role::ALL.len(), "every cell");
}
