//! A resident as the registry holds one, and the rule that ties an identity-card number to the
//! birth date and sex it encodes (GB 11643): on create and on every change, including a
//! change of only one of the three.

use crate::person::{BirthDate, Gender, IdCardNumber, PhoneNumber, Relation, Tag};
use crate::text::PersonName;
use crate::unit::ValidationError;

/// Gender, birth date and identity-card number, which must agree with each other.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    gender: Option<Gender>,
    birth_date: Option<BirthDate>,
    id_card: Option<IdCardNumber>,
}

/// A change of a resident's identity: for each field, `None` leaves it, `Some(None)` clears
/// it, `Some(Some(v))` sets it.
#[derive(Debug, Clone, Default)]
pub struct IdentityPatch {
    pub gender: Option<Option<Gender>>,
    pub birth_date: Option<Option<BirthDate>>,
    pub id_card: Option<Option<IdCardNumber>>,
}

impl IdentityPatch {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.gender.is_none() && self.birth_date.is_none() && self.id_card.is_none()
    }
}

fn contradicts(field: &'static str) -> ValidationError {
    ValidationError::new(field, "does not match the identity-card number")
}

impl Identity {
    /// The identity of a new resident: what the number encodes fills a birth date or gender
    /// left out, and contradicts one given otherwise.
    ///
    /// # Errors
    /// `birth_date` or `gender` when they disagree with the number.
    pub fn new(
        gender: Option<Gender>,
        birth_date: Option<BirthDate>,
        id_card: Option<IdCardNumber>,
    ) -> Result<Self, ValidationError> {
        Self::default().patched(&IdentityPatch {
            gender: Some(gender),
            birth_date: Some(birth_date),
            id_card: Some(id_card),
        })
    }

    /// The identity as stored, read back without checks (old rows may predate the rule; a
    /// change to them is checked).
    #[must_use]
    pub fn stored(
        gender: Option<Gender>,
        birth_date: Option<BirthDate>,
        id_card: Option<IdCardNumber>,
    ) -> Self {
        Self {
            gender,
            birth_date,
            id_card,
        }
    }

    /// The identity after `patch`. While a number is registered (kept or newly set), the
    /// birth date and gender are the ones it encodes: a field the patch leaves alone follows
    /// the number, one it sets must agree, and one it clears is refused.
    ///
    /// # Errors
    /// `birth_date` or `gender` when the result would contradict the number.
    pub fn patched(&self, patch: &IdentityPatch) -> Result<Self, ValidationError> {
        let id_card = patch
            .id_card
            .clone()
            .unwrap_or_else(|| self.id_card.clone());
        let Some(card) = id_card else {
            return Ok(Self {
                gender: patch.gender.unwrap_or(self.gender),
                birth_date: patch.birth_date.unwrap_or(self.birth_date),
                id_card: None,
            });
        };
        let birth_date = match patch.birth_date {
            Some(Some(b)) if b != card.birth() => return Err(contradicts("birth_date")),
            Some(None) if patch.id_card.is_none() => {
                return Err(ValidationError::new(
                    "birth_date",
                    "is given by the identity-card number and cannot be cleared while it is registered",
                ));
            }
            _ => card.birth(),
        };
        let gender = match patch.gender {
            Some(Some(g)) if g != card.gender() => return Err(contradicts("gender")),
            Some(None) if patch.id_card.is_none() => {
                return Err(ValidationError::new(
                    "gender",
                    "is given by the identity-card number and cannot be cleared while it is registered",
                ));
            }
            _ => card.gender(),
        };
        Ok(Self {
            gender: Some(gender),
            birth_date: Some(birth_date),
            id_card: Some(card),
        })
    }

    #[must_use]
    pub fn gender(&self) -> Option<Gender> {
        self.gender
    }

    #[must_use]
    pub fn birth_date(&self) -> Option<BirthDate> {
        self.birth_date
    }

    #[must_use]
    pub fn id_card(&self) -> Option<&IdCardNumber> {
        self.id_card.as_ref()
    }
}

/// A resident to register, every field checked.
#[derive(Debug, Clone)]
pub struct NewResident {
    pub name: PersonName,
    pub relation: Relation,
    pub identity: Identity,
    pub phone: Option<PhoneNumber>,
    pub tags: Vec<Tag>,
}

impl NewResident {
    /// Parses a resident as requests and import files give one; blank optional fields are
    /// absent.
    ///
    /// # Errors
    /// The first field that breaks a rule.
    pub fn parse(
        name: &str,
        relation: &str,
        gender: Option<&str>,
        birth_date: Option<&str>,
        id_card: Option<&str>,
        phone: Option<&str>,
        tags: &[String],
    ) -> Result<Self, ValidationError> {
        let blank = |s: &&str| !s.trim().is_empty();
        let name = PersonName::parse(name)?;
        let relation: Relation = relation.parse()?;
        let gender = gender.map(str::parse::<Gender>).transpose()?;
        let birth_date = birth_date.map(BirthDate::parse).transpose()?;
        let id_card = id_card.filter(blank).map(IdCardNumber::parse).transpose()?;
        let identity = Identity::new(gender, birth_date, id_card)?;
        let phone = phone.filter(blank).map(PhoneNumber::parse).transpose()?;
        let tags = Tag::parse_list(tags.iter().map(String::as_str))?;
        Ok(Self {
            name,
            relation,
            identity,
            phone,
            tags,
        })
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    fn card(d17: &str) -> IdCardNumber {
        let c = IdCardNumber::check_char(d17.as_bytes());
        IdCardNumber::parse(&format!("{d17}{}", char::from(c))).expect("valid")
    }

    fn date(s: &str) -> BirthDate {
        BirthDate::parse(s).expect("date")
    }

    // 1985-06-15, 17th digit 3: male.
    const MALE_1985: &str = "44090419850615123";

    #[test]
    fn a_new_identity_takes_what_the_number_encodes() {
        let id = Identity::new(None, None, Some(card(MALE_1985))).expect("ok");
        assert_eq!(id.birth_date(), Some(date("1985-06-15")));
        assert_eq!(id.gender(), Some(Gender::Male));
        assert_eq!(
            Identity::new(Some(Gender::Female), None, Some(card(MALE_1985))).map_err(|e| e.field),
            Err("gender")
        );
        assert_eq!(
            Identity::new(None, Some(date("1985-06-16")), Some(card(MALE_1985)))
                .map_err(|e| e.field),
            Err("birth_date")
        );
        let plain = Identity::new(Some(Gender::Female), Some(date("1990-01-01")), None);
        assert_eq!(plain.map(|i| i.gender()), Ok(Some(Gender::Female)));
    }

    #[test]
    fn a_change_of_one_field_must_still_agree_with_the_number() {
        let id = Identity::new(None, None, Some(card(MALE_1985))).expect("ok");
        let only_birth = IdentityPatch {
            birth_date: Some(Some(date("2001-01-01"))),
            ..IdentityPatch::default()
        };
        assert_eq!(
            id.patched(&only_birth).map_err(|e| e.field),
            Err("birth_date")
        );
        let only_gender = IdentityPatch {
            gender: Some(Some(Gender::Female)),
            ..IdentityPatch::default()
        };
        assert_eq!(id.patched(&only_gender).map_err(|e| e.field), Err("gender"));
        let clear_birth = IdentityPatch {
            birth_date: Some(None),
            ..IdentityPatch::default()
        };
        assert_eq!(
            id.patched(&clear_birth).map_err(|e| e.field),
            Err("birth_date")
        );
        // The same values again are fine.
        let same = IdentityPatch {
            gender: Some(Some(Gender::Male)),
            birth_date: Some(Some(date("1985-06-15"))),
            ..IdentityPatch::default()
        };
        assert_eq!(id.patched(&same), Ok(id.clone()));
    }

    #[test]
    fn a_new_number_brings_its_birth_date_and_gender() {
        let old = Identity::new(Some(Gender::Female), Some(date("1990-01-01")), None).expect("ok");
        let patch = IdentityPatch {
            id_card: Some(Some(card(MALE_1985))),
            ..IdentityPatch::default()
        };
        let new = old.patched(&patch).expect("ok");
        assert_eq!(new.gender(), Some(Gender::Male));
        assert_eq!(new.birth_date(), Some(date("1985-06-15")));
        // A stored number that contradicts a birth date set without it is refused too.
        let with_number = Identity::new(None, None, Some(card(MALE_1985))).expect("ok");
        let clear_number = IdentityPatch {
            id_card: Some(None),
            birth_date: Some(Some(date("1970-01-01"))),
            ..IdentityPatch::default()
        };
        let cleared = with_number
            .patched(&clear_number)
            .expect("no number, no rule");
        assert_eq!(cleared.birth_date(), Some(date("1970-01-01")));
        assert_eq!(cleared.gender(), Some(Gender::Male), "the gender stays");
    }

    #[test]
    fn residents_parse_with_blank_optionals_absent() {
        let r = NewResident::parse("陈某", "head", None, None, Some(" "), Some(""), &[])
            .expect("blank optionals");
        assert!(r.identity.id_card().is_none() && r.phone.is_none());
        assert!(NewResident::parse("", "head", None, None, None, None, &[]).is_err());
        assert!(NewResident::parse("陈某", "boss", None, None, None, None, &[]).is_err());
    }
}
