//! Free text as value types: each field's limits are stated once, here, and a value of one of
//! these types has passed them. The limits hold for what was sent, before trimming, as the
//! contract states them.

use crate::unit::ValidationError;
use serde::Serialize;

/// Free text of a record: trimmed, not empty, at most `max` characters as sent, no control
/// characters except line breaks and tabs where `multiline`.
///
/// # Errors
/// When the rule is broken.
pub fn text(
    field: &'static str,
    s: &str,
    max: usize,
    multiline: bool,
) -> Result<String, ValidationError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if s.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if t.chars()
        .any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\t')))
    {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(t.to_owned())
}

/// A stable machine key: 2 to `max` of `a-z`, `0-9`, `_`, starting with a letter
/// (department codes, category keys).
///
/// # Errors
/// `field` when the rule is broken.
pub(crate) fn snake_key(
    field: &'static str,
    s: &str,
    max: usize,
) -> Result<String, ValidationError> {
    let ok = (2..=max).contains(&s.len())
        && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(s.to_owned())
    } else {
        Err(ValidationError::new(
            field,
            format!("must be 2 to {max} of a-z, 0-9 and _, starting with a letter"),
        ))
    }
}

macro_rules! bounded_text {
    ($(#[$m:meta])* $name:ident, $field:literal, $max:expr, $multiline:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const MAX_CHARS: usize = $max;

            /// # Errors
            /// Empty, too long, or holding control characters.
            pub fn parse(s: &str) -> Result<Self, ValidationError> {
                text($field, s, Self::MAX_CHARS, $multiline).map(Self)
            }

            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }

            #[must_use]
            pub fn into_string(self) -> String {
                self.0
            }
        }
    };
}

bounded_text!(
    /// A household's address, one line.
    Address, "address", 200, false
);
bounded_text!(
    /// Notes on a household or a visit; line breaks allowed.
    Notes, "notes", 2000, true
);
bounded_text!(
    /// A resident's name.
    PersonName, "name", 64, false
);
impl PersonName {
    /// `张**`: the first character stays visible, unless it is the whole name.
    #[must_use]
    pub fn masked(&self) -> String {
        let n = self.as_str().chars().count();
        if n < 2 {
            return "*".to_owned();
        }
        let first = self
            .as_str()
            .chars()
            .next()
            .map(String::from)
            .unwrap_or_default();
        format!("{first}{}", "*".repeat(n - 1))
    }
}

bounded_text!(
    /// An account's display name.
    DisplayName, "display_name", 64, false
);
bounded_text!(
    /// Why staff placed a household in another unit than its location's.
    UnitReason, "unit_reason", 200, false
);

bounded_text!(
    /// What a reporter saw; line breaks allowed.
    Description, "description", 2000, true
);
bounded_text!(
    /// A note or reason given with an action on a case.
    CaseNote, "note", 1000, true
);

/// Text to search for in a list (`q=`): at most `max` characters, no control characters (a
/// NUL would fail on PostgreSQL and silently match everything on SQLite), trimmed; white
/// space only means no filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchText(String);

impl SearchText {
    /// # Errors
    /// Too long, or holding a control character.
    pub fn parse(s: &str, max: usize) -> Result<Option<Self>, ValidationError> {
        if s.chars().count() > max {
            return Err(ValidationError::new(
                "q",
                format!("must be at most {max} characters"),
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(ValidationError::new(
                "q",
                "must not contain control characters",
            ));
        }
        let t = s.trim();
        Ok((!t.is_empty()).then(|| Self(t.to_owned())))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_count_what_was_sent() {
        assert!(Address::parse(&"路".repeat(200)).is_ok());
        assert!(Address::parse(&"路".repeat(201)).is_err());
        assert!(
            PersonName::parse("陈\n某").is_err(),
            "a line break in a one-line field"
        );
        assert!(
            PersonName::parse(&format!("\u{a0}{}", "某".repeat(64))).is_err(),
            "65 sent, 64 kept"
        );
        assert!(Notes::parse("  a\nb ").is_ok());
        assert_eq!(Notes::parse(" a ").map(Notes::into_string), Ok("a".into()));
        assert_eq!(
            UnitReason::parse("").map_err(|e| e.field),
            Err("unit_reason")
        );
    }

    #[test]
    fn search_text_refuses_control_characters_and_ignores_blanks() {
        assert_eq!(SearchText::parse("  ", 64), Ok(None));
        assert!(SearchText::parse("a\u{0}", 64).is_err());
        assert!(SearchText::parse(&"x".repeat(65), 64).is_err());
        assert_eq!(
            SearchText::parse(" 陈 ", 64).map(|q| q.map(|q| q.as_str().to_owned())),
            Ok(Some("陈".into()))
        );
    }
}
