//! Whether a unit path lies in a scope, asked by unit ids rather than by path prefix.
//!
//! A change row keeps the paths of its time. When a unit above the caller's moved since, the
//! prefix of today's scope no longer matches those paths, though the same units are meant:
//! a path lies in the scope when one of its units is one the scope is assigned.

use std::collections::HashSet;
use wangge_domain::Reach;

/// Where a unit stands to a scope: outside it, above it (a name in its owner chains), or in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Standing {
    Outside,
    Above,
    Inside,
}

/// A scope's units, by id.
#[derive(Debug, Clone, Default)]
pub(super) struct Sight {
    everything: bool,
    /// The units the scope is assigned.
    roots: HashSet<String>,
    /// Their ancestors.
    ancestors: HashSet<String>,
}

fn ids(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

impl Sight {
    pub(super) fn of(reach: Reach<'_>) -> Self {
        let mut s = Self::default();
        match reach {
            Reach::Nothing => {}
            Reach::Everything => s.everything = true,
            Reach::Subtrees(paths) => {
                for p in paths {
                    let mut chain: Vec<&str> = ids(p).collect();
                    if let Some(own) = chain.pop() {
                        s.roots.insert(own.to_owned());
                    }
                    s.ancestors.extend(chain.into_iter().map(str::to_owned));
                }
            }
        }
        s
    }

    /// Whether the scope hangs below the unit `id` (it is assigned, or above one that is).
    #[must_use]
    pub(super) fn anchors(&self, id: &str) -> bool {
        self.roots.contains(id) || self.ancestors.contains(id)
    }

    /// Whether a record in the unit at `path` is in the scope.
    #[must_use]
    pub(super) fn contains(&self, path: &str) -> bool {
        self.everything || ids(path).any(|id| self.roots.contains(id))
    }

    /// [`Self::contains`] for a path a change row may lack.
    #[must_use]
    pub(super) fn holds(&self, path: Option<&String>) -> bool {
        path.is_some_and(|p| self.contains(p))
    }

    /// Where the unit at `path` stands.
    #[must_use]
    pub(super) fn standing(&self, path: &str) -> Standing {
        if self.contains(path) {
            Standing::Inside
        } else if ids(path)
            .last()
            .is_some_and(|id| self.ancestors.contains(id))
        {
            Standing::Above
        } else {
            Standing::Outside
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_inside_when_it_passes_through_an_assigned_unit_wherever_that_unit_is_now() {
        let paths = vec!["/d/s2/c/".to_owned()];
        let s = Sight::of(Reach::Subtrees(&paths));
        assert!(s.contains("/d/s2/c/g/"));
        // The same community before it moved to another subdistrict.
        assert!(s.contains("/d/s1/c/g/"));
        assert!(!s.contains("/d/s2/c2/g/"));
        assert_eq!(s.standing("/d/s2/"), Standing::Above);
        assert_eq!(s.standing("/d/"), Standing::Above);
        assert_eq!(s.standing("/d/s1/"), Standing::Outside);
        assert_eq!(s.standing("/d/s1/c/"), Standing::Inside);
        assert!(Sight::of(Reach::Everything).contains("/x/"));
        assert!(!Sight::of(Reach::Nothing).holds(Some(&"/d/".to_owned())));
    }
}
