//! People in the registry: residents' personal data and the households they belong to.
//! Identity-card numbers and phones are personal information under PIPL: they are validated
//! here, and their masked forms (what responses show by default) are computed here.

use crate::unit::ValidationError;
use serde::{Deserialize, Serialize};

/// A resident identity-card number (GB 11643-1999): 17 digits and a check character (a digit
/// or `X`) computed with ISO 7064 MOD 11-2. The embedded birth date must be a real date.
#[derive(Clone, PartialEq, Eq)]
pub struct IdCardNumber(String);

/// Weights of the 17 digits for the check character.
const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK: [u8; 11] = *b"10X98765432";

impl IdCardNumber {
    /// Accepts a lower-case `x` and surrounding spaces.
    ///
    /// # Errors
    /// Wrong length or characters, a wrong check character, or an impossible birth date.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let s = s.trim().to_ascii_uppercase();
        let err = |why: &str| ValidationError::new("id_card", why.to_owned());
        let b = s.as_bytes();
        if b.len() != 18
            || !b[..17].iter().all(u8::is_ascii_digit)
            || !(b[17].is_ascii_digit() || b[17] == b'X')
        {
            return Err(err("must be 18 characters: 17 digits and a digit or X"));
        }
        if b[17] != Self::check_char(&b[..17]) {
            return Err(err("the check character does not match (GB 11643)"));
        }
        let num = |r: std::ops::Range<usize>| -> u32 {
            b[r].iter().fold(0, |n, d| n * 10 + u32::from(d - b'0'))
        };
        BirthDate::from_parts(num(6..10), num(10..12), num(12..14))
            .map_err(|_| err("the birth date inside the number is not a real date"))?;
        Ok(Self(s))
    }

    /// The check character for 17 digits.
    #[must_use]
    pub fn check_char(digits: &[u8]) -> u8 {
        let sum: u32 = digits
            .iter()
            .zip(ID_WEIGHTS)
            .map(|(d, w)| u32::from(d - b'0') * w)
            .sum();
        ID_CHECK[(sum % 11) as usize]
    }

    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The birth date the number encodes, `YYYY-MM-DD`.
    #[must_use]
    pub fn birth_date(&self) -> String {
        format!("{}-{}-{}", &self.0[6..10], &self.0[10..12], &self.0[12..14])
    }

    /// The birth date the number encodes (checked real when the number was parsed).
    #[must_use]
    pub fn birth(&self) -> BirthDate {
        let num = |r: std::ops::Range<usize>| -> u32 {
            self.0.as_bytes()[r]
                .iter()
                .fold(0, |n, d| n * 10 + u32::from(d - b'0'))
        };
        BirthDate {
            year: num(6..10),
            month: num(10..12),
            day: num(12..14),
        }
    }

    /// The sex the 17th digit encodes: odd for male, even for female.
    #[must_use]
    pub fn gender(&self) -> Gender {
        if (self.0.as_bytes()[16] - b'0') % 2 == 1 {
            Gender::Male
        } else {
            Gender::Female
        }
    }

    /// `440904********1234`: the region of issue and the last four stay visible.
    #[must_use]
    pub fn masked(&self) -> String {
        format!("{}********{}", &self.0[..6], &self.0[14..])
    }
}

impl std::fmt::Debug for IdCardNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdCardNumber({})", self.masked())
    }
}

/// A phone number: a mainland mobile (11 digits starting 1) or a landline with its area code
/// (`0668-1234567`). Stored as digits only.
#[derive(Clone, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Spaces and hyphens are ignored; a leading `+86` is dropped.
    ///
    /// # Errors
    /// Anything else.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let t = s.trim();
        let t = t.strip_prefix("+86").unwrap_or(t);
        let digits: String = t.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        let all_digits = digits.bytes().all(|b| b.is_ascii_digit());
        let mobile = digits.len() == 11
            && digits.starts_with('1')
            && digits
                .as_bytes()
                .get(1)
                .is_some_and(|d| (b'3'..=b'9').contains(d));
        let landline = digits.starts_with('0') && (10..=12).contains(&digits.len());
        if all_digits && (mobile || landline) {
            Ok(Self(digits))
        } else {
            Err(ValidationError::new(
                "phone",
                "must be a mobile number (11 digits) or a landline with its area code",
            ))
        }
    }

    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `138****5678`: the first three and the last four stay visible.
    #[must_use]
    pub fn masked(&self) -> String {
        let n = self.0.len();
        format!("{}{}{}", &self.0[..3], "*".repeat(n - 7), &self.0[n - 4..])
    }
}

impl std::fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

/// A calendar date, `YYYY-MM-DD`, from 1900 on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct BirthDate {
    year: u32,
    month: u32,
    day: u32,
}

impl BirthDate {
    /// # Errors
    /// Not of the form `YYYY-MM-DD`, or not a real date.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let err = || ValidationError::new("birth_date", "must be a real date, YYYY-MM-DD");
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(err());
        }
        let num = |r: std::ops::Range<usize>| s.get(r).and_then(|p| p.parse::<u32>().ok());
        match (num(0..4), num(5..7), num(8..10)) {
            (Some(y), Some(m), Some(d)) => Self::from_parts(y, m, d).map_err(|_| err()),
            _ => Err(err()),
        }
    }

    /// # Errors
    /// Not a real date from 1900 on.
    pub fn from_parts(year: u32, month: u32, day: u32) -> Result<Self, ValidationError> {
        let leap =
            (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => 0,
        };
        if (1900..=9999).contains(&year) && (1..=days).contains(&day) {
            Ok(Self { year, month, day })
        } else {
            Err(ValidationError::new("birth_date", "is not a real date"))
        }
    }
}

impl std::fmt::Display for BirthDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

macro_rules! word_enum {
    ($(#[$m:meta])* $name:ident, $field:literal { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $v),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v),+];

            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $s),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = ValidationError;

            fn from_str(s: &str) -> Result<Self, ValidationError> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| {
                    let all: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                    ValidationError::new($field, format!("{s:?} is not one of {}", all.join(", ")))
                })
            }
        }
    };
}

word_enum!(
    /// Gender as the identity card records it.
    Gender, "gender" { Female = "female", Male = "male" }
);

word_enum!(
    /// A resident's relation to the head of the household (户主).
    Relation, "relation" {
        Head = "head",
        Spouse = "spouse",
        Child = "child",
        Parent = "parent",
        Grandchild = "grandchild",
        Grandparent = "grandparent",
        Sibling = "sibling",
        ChildInLaw = "child_in_law",
        Other = "other",
    }
);

word_enum!(
    /// The fixed list of people a grid worker must look after (docs/domain.md).
    Tag, "tags" {
        /// 独居老人
        ElderlyAlone = "elderly_alone",
        /// 残疾
        Disabled = "disabled",
        /// 低保
        MinimumIncome = "minimum_income",
        /// 留守儿童
        LeftBehindChild = "left_behind_child",
        /// 退役军人
        Veteran = "veteran",
        /// 党员
        PartyMember = "party_member",
        /// 重点人员
        SpecialAttention = "special_attention",
    }
);

impl Tag {
    /// The Chinese label the command centre uses.
    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::ElderlyAlone => "独居老人",
            Self::Disabled => "残疾",
            Self::MinimumIncome => "低保",
            Self::LeftBehindChild => "留守儿童",
            Self::Veteran => "退役军人",
            Self::PartyMember => "党员",
            Self::SpecialAttention => "重点人员",
        }
    }

    /// Parses a list, dropping duplicates and sorting, so the stored form is canonical.
    ///
    /// # Errors
    /// An unknown tag.
    pub fn parse_list<'a>(
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Vec<Tag>, ValidationError> {
        let mut tags = names
            .into_iter()
            .map(str::parse)
            .collect::<Result<Vec<Tag>, _>>()?;
        tags.sort_unstable();
        tags.dedup();
        Ok(tags)
    }
}

pub use crate::text::text;

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    /// Builds a valid number from 17 digits (as the demo seed does).
    fn with_check(d17: &str) -> String {
        let c = IdCardNumber::check_char(d17.as_bytes());
        format!("{d17}{}", char::from(c))
    }

    #[test]
    fn identity_numbers_need_the_gb11643_check_character() {
        // The standard's own example.
        assert!(IdCardNumber::parse("11010519491231002X").is_ok());
        assert!(IdCardNumber::parse("11010519491231002x").is_ok());
        assert!(IdCardNumber::parse("110105194912310021").is_err());
        assert!(IdCardNumber::parse("1101051949123100").is_err());
        let n = with_check("44090419850230123");
        assert!(IdCardNumber::parse(&n).is_err(), "30 February");
        let n = IdCardNumber::parse(&with_check("44090419850615123")).expect("valid");
        assert_eq!(n.birth_date(), "1985-06-15");
        assert_eq!(&n.masked()[..14], "440904********");
        assert_eq!(n.masked().len(), 18);
        assert!(!format!("{n:?}").contains("19850615"));
    }

    #[test]
    fn phones_are_validated_and_masked() {
        assert_eq!(
            PhoneNumber::parse("+86 138-1234-5678").map(|p| p.masked()),
            Ok("138****5678".to_owned())
        );
        assert_eq!(
            PhoneNumber::parse("0668-1234567").map(|p| p.masked()),
            Ok("066****4567".to_owned())
        );
        assert!(PhoneNumber::parse("12345").is_err());
        assert!(PhoneNumber::parse("12812345678").is_err());
    }

    #[test]
    fn dates_and_tags() {
        assert!(BirthDate::parse("2000-02-29").is_ok());
        assert!(BirthDate::parse("1900-02-29").is_err());
        assert!(BirthDate::parse("2024-13-01").is_err());
        assert_eq!(
            Tag::parse_list(["veteran", "disabled", "veteran"]),
            Ok(vec![Tag::Disabled, Tag::Veteran])
        );
        assert!(Tag::parse_list(["rich"]).is_err());
        assert!(text("notes", "  a\nb ", 10, true).is_ok());
        assert!(text("name", "a\nb", 10, false).is_err());
        assert!(
            text("name", "\u{a0}\n*********", 10, false).is_err(),
            "11 sent, 9 kept"
        );
    }
}
