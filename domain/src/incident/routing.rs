//! Routing: who owns a new case. The locality first (先属地): the deepest unit whose area holds
//! the place, raised to the category's lowest allowed level when that unit is deeper (beyond
//! its competence, recorded as an escalation). A category routed to its owner (先属主) is
//! dispatched to its department, with the place's unit as the locality that answers beside it.

use super::category::{CategoryPolicy, RoutingRule};
use crate::unit::Level;

/// Where a case goes and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    /// Index in the chain of the owning unit.
    pub owner: usize,
    /// Index in the chain of the deepest unit holding the place.
    pub locality: usize,
    /// `locality`, `lowest_level` (raised beyond the place's unit) or `owner`.
    pub rule: &'static str,
    /// For the reader: which unit and why, naming units by `name`.
    pub explanation: String,
}

impl Routed {
    /// The case was handed up at once: the place's unit may not own this category.
    #[must_use]
    pub fn raised(&self) -> bool {
        self.owner != self.locality
    }
}

/// Routes a case at the place whose unit chain (district first, each with its name and level)
/// is `chain`. `None` for an empty chain (nobody covers the place).
#[must_use]
pub fn route(
    chain: &[(&str, Level)],
    policy: &CategoryPolicy,
    category_name: &str,
) -> Option<Routed> {
    let locality = chain.len().checked_sub(1)?;
    let allowed = policy.lowest_level.number();
    // The deepest unit at the allowed level or above; the district always qualifies.
    let owner = chain
        .iter()
        .rposition(|(_, level)| level.number() <= allowed)
        .unwrap_or(0);
    let (place, place_level) = chain[locality];
    let (owner_name, owner_level) = chain[owner];
    let (rule, explanation) = match policy.routing {
        RoutingRule::Owner => (
            "owner",
            format!(
                "{category_name} answers to its department (属主); {owner_name} ({}) is the locality that owns the case beside it",
                owner_level.name()
            ),
        ),
        RoutingRule::Locality if owner == locality => (
            "locality",
            format!(
                "the place lies in {place} ({}), the deepest unit covering it (属地)",
                place_level.name()
            ),
        ),
        RoutingRule::Locality => (
            "lowest_level",
            format!(
                "the place lies in {place} ({}), but {category_name} is handled no lower than {}: raised to {owner_name}",
                place_level.name(),
                policy.lowest_level.name()
            ),
        ),
    };
    Some(Routed {
        owner,
        locality,
        rule,
        explanation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::TimeLimit;
    use crate::incident::category::{StageLimits, TimeLimits};

    fn policy(lowest: Level, routing: RoutingRule) -> CategoryPolicy {
        let s = StageLimits {
            register: TimeLimit::Hours(1),
            sign: TimeLimit::Hours(1),
            close: TimeLimit::Hours(1),
        };
        CategoryPolicy {
            lowest_level: lowest,
            routing,
            department: None,
            limits: TimeLimits {
                urgent: s,
                normal: s,
                complex: s,
            },
        }
    }

    const CHAIN: [(&str, Level); 5] = [
        ("电白区", Level::District),
        ("水东街道", Level::Subdistrict),
        ("一社区", Level::Community),
        ("一组", Level::ResidentGroup),
        ("一户组", Level::HouseholdGroup),
    ];

    #[test]
    fn the_deepest_unit_owns_what_it_may() {
        let r = route(
            &CHAIN,
            &policy(Level::HouseholdGroup, RoutingRule::Locality),
            "暴露垃圾",
        );
        let r = r.unwrap_or_else(|| unreachable!());
        assert_eq!(
            (r.owner, r.locality, r.rule, r.raised()),
            (4, 4, "locality", false)
        );
        assert!(r.explanation.contains("一户组"));
    }

    #[test]
    fn a_category_beyond_the_place_unit_is_raised_to_its_lowest_level() {
        let r = route(
            &CHAIN,
            &policy(Level::Community, RoutingRule::Locality),
            "施工扰民",
        );
        let r = r.unwrap_or_else(|| unreachable!());
        assert_eq!((r.owner, r.rule, r.raised()), (2, "lowest_level", true));
        assert!(
            r.explanation.contains("raised to 一社区"),
            "{}",
            r.explanation
        );
        // A place only known down to a community already sits at the allowed level.
        let r = route(
            &CHAIN[..3],
            &policy(Level::Community, RoutingRule::Locality),
            "x",
        );
        assert_eq!(r.map(|r| (r.owner, r.raised())), Some((2, false)));
        // Only the district may own it: every place raises to the district.
        let r = route(&CHAIN, &policy(Level::District, RoutingRule::Locality), "x");
        assert_eq!(r.map(|r| r.owner), Some(0));
    }

    #[test]
    fn an_owner_routed_category_keeps_the_locality_beside_its_department() {
        let r = route(
            &CHAIN,
            &policy(Level::Community, RoutingRule::Owner),
            "井盖",
        );
        let r = r.unwrap_or_else(|| unreachable!());
        assert_eq!((r.owner, r.locality, r.rule), (2, 4, "owner"));
        assert!(route(&[], &policy(Level::Community, RoutingRule::Owner), "x").is_none());
    }
}
