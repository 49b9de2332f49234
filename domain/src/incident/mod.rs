//! Incidents (事件) and the closed loop they go through: report → register → dispatch → sign
//! for → handle → report back → verify → close → callback, with rejection, holding (挂账),
//! reopening (返工), escalation up the grid (上报), extensions (延期) and the whistle
//! (吹哨报到) around it. Everything here is pure: categories and their policies, routing,
//! the state machine with who may take which action, and deadlines (through `calendar`).

pub mod category;
pub mod flow;
pub mod media;
pub mod routing;

pub use category::{
    CategoryCode, CategoryKey, CategoryPolicy, RoutingRule, StageLimits, TimeLimits,
};
pub use flow::{Actor, Case, Outcome, Refusal, decide};
pub use routing::{Routed, route};

use crate::unit::ValidationError;
use serde::{Deserialize, Serialize};

macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident, $field:literal { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// # Errors
            /// For a name that is not one of [`Self::ALL`].
            pub fn parse(s: &str) -> Result<Self, ValidationError> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| {
                    let names: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                    ValidationError::new($field, format!("{s:?} is not one of {}", names.join(", ")))
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum!(
    /// Where a case is in the loop.
    Status, "status" {
        Reported => "reported",
        Registered => "registered",
        Dispatched => "dispatched",
        Signed => "signed",
        InProgress => "in_progress",
        Resolved => "resolved",
        Verified => "verified",
        Closed => "closed",
        Rejected => "rejected",
        OnHold => "on_hold",
    }
);

impl Status {
    /// Still to be worked on: not closed, not rejected.
    #[must_use]
    pub fn is_open(self) -> bool {
        !matches!(self, Self::Closed | Self::Rejected)
    }
}

named_enum!(
    /// How soon a case must be handled; each category sets limits per priority.
    Priority, "priority" {
        Urgent => "urgent",
        Normal => "normal",
        Complex => "complex",
    }
);

named_enum!(
    /// What can be done to a case (`POST /incidents/{id}/transitions`). `report` is the
    /// creation itself.
    Action, "action" {
        Register => "register",
        Reject => "reject",
        Dispatch => "dispatch",
        Sign => "sign",
        Start => "start",
        Resolve => "resolve",
        Verify => "verify",
        SendBack => "send_back",
        Close => "close",
        Hold => "hold",
        Resume => "resume",
        Escalate => "escalate",
        RequestExtension => "request_extension",
        GrantExtension => "grant_extension",
        RefuseExtension => "refuse_extension",
        Summon => "summon",
        ReportIn => "report_in",
        Callback => "callback",
        Reopen => "reopen",
        MergeInto => "merge_into",
    }
);

named_enum!(
    /// The deadlines a case runs against: registering it, signing for it, closing it.
    Stage, "stage" {
        Register => "register",
        Sign => "sign",
        Close => "close",
    }
);

named_enum!(
    /// What an attachment shows: evidence of the reported problem, or the handled result
    /// (a case is reported back with a photo of it).
    AttachmentKind, "kind" {
        Evidence => "evidence",
        Result => "result",
    }
);

named_enum!(
    /// Why a case moved up the grid.
    EscalationReason, "reason" {
        Manual => "manual",
        BeyondCompetence => "beyond_competence",
        MissedDeadline => "missed_deadline",
        MissedReportIn => "missed_report_in",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_say_what_is_allowed() {
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Ok(*a));
        }
        assert_eq!(Action::ALL.len(), 20);
        let e = Status::parse("done")
            .err()
            .map(|e| e.reason)
            .unwrap_or_default();
        assert!(e.contains("reported, registered"), "{e}");
        assert!(Status::InProgress.is_open());
        assert!(!Status::Rejected.is_open());
        assert_eq!(Priority::parse("urgent"), Ok(Priority::Urgent));
    }
}
