//! The demo's people: synthetic households and residents at Dianbai's real scale (about
//! 200,000 households), and about 10,000 grid workers assigned to resident groups. Every name
//! is clearly fake (`陈某12`: 某 is how Chinese documents anonymise a name); identity numbers
//! carry a valid GB 11643 check character (so the product's validation accepts them) but are
//! synthetic; phones are in the 170 virtual-operator range. Personal data is sealed exactly as
//! the API seals it. Generation is deterministic: the same demo every time.

use crate::error::AppError;
use crate::households::import::ParsedHousehold;
use crate::tx::Tx;
use crate::users::{AssignmentIn, InitialPassword, NewAccount};
use wangge_domain::{
    Address, DisplayName, Gender, IdCardNumber, Identity, NewResident, PersonName, PhoneNumber,
    Relation, Role, Tag, UnitId, Username,
};
use wangge_geo::{CellIndex, Coverage, LatLng, Resolution};

/// Dianbai's reported figures (domain.md): 200,000+ households, about 10,000 grid workers.
pub const HOUSEHOLDS: usize = 200_000;
pub const WORKERS: usize = 10_000;

const SURNAMES: [&str; 20] = [
    "陈", "李", "黄", "张", "梁", "林", "吴", "杨", "邓", "王", "刘", "何", "罗", "周", "郑", "谢",
    "冯", "许", "蔡", "钟",
];
const STREETS: [&str; 8] = [
    "幸福路",
    "建设路",
    "人民路",
    "海滨路",
    "新村",
    "东街",
    "西街",
    "中山路",
];

/// A small deterministic generator (splitmix64): the demo is the same on every machine.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// True with probability `per_mille / 1000`.
    pub(super) fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

/// A random leaf cell of a coverage: a random stored cell, then random children down to the
/// leaf.
fn random_leaf(rng: &mut Rng, cov: &Coverage, leaf: Resolution) -> Option<CellIndex> {
    let cells = cov.cells();
    let mut cell = *cells.get(usize::try_from(rng.below(cells.len() as u64)).ok()?)?;
    while cell.resolution() < leaf {
        let next = cell.resolution().succ()?;
        let n = cell.children_count(next);
        let pick = usize::try_from(rng.below(n)).ok()?;
        cell = cell.children(next).nth(pick)?;
    }
    Some(cell)
}

/// A synthetic identity number: region 440904, a birth date, a sequence from 900 (odd for
/// men), and its check character.
fn id_number(
    rng: &mut Rng,
    year: u32,
    male: bool,
    used: &mut std::collections::HashSet<String>,
) -> Option<IdCardNumber> {
    for _ in 0..50 {
        let month = 1 + rng.below(12);
        let day = 1 + rng.below(28);
        let mut seq = 900 + rng.below(100);
        if (seq % 2 == 1) != male {
            seq = if seq == 999 { 998 } else { seq + 1 };
        }
        let d17 = format!("440904{year:04}{month:02}{day:02}{seq:03}");
        let n = format!(
            "{d17}{}",
            char::from(IdCardNumber::check_char(d17.as_bytes()))
        );
        if used.insert(n.clone()) {
            return IdCardNumber::parse(&n).ok();
        }
    }
    None
}

fn phone(seq: u64) -> Option<PhoneNumber> {
    PhoneNumber::parse(&format!("170{:08}", seq % 100_000_000)).ok()
}

/// Household-level tags at rough real-life rates.
fn household_tags(rng: &mut Rng) -> Vec<Tag> {
    let mut t = Vec::new();
    for (tag, per_mille) in [
        (Tag::ElderlyAlone, 50),
        (Tag::Disabled, 20),
        (Tag::MinimumIncome, 30),
        (Tag::LeftBehindChild, 20),
        (Tag::Veteran, 10),
        (Tag::PartyMember, 40),
        (Tag::SpecialAttention, 5),
    ] {
        if rng.chance(per_mille) {
            t.push(tag);
        }
    }
    t
}

/// What the people seed needs of one unit: id, code, and the coverage to place people in.
pub struct PlaceUnit {
    pub id: String,
    pub code: String,
    pub coverage: Coverage,
}

/// `households` households spread over the household groups (in proportion to their area
/// would crowd the countryside's big groups; the local rule of 200 to 500 households per grid
/// is closer to an even spread), with one to five residents each, located at a random cell of
/// their group.
#[must_use]
pub fn households(
    leaf: Resolution,
    groups: &[PlaceUnit],
    households: usize,
) -> Vec<ParsedHousehold> {
    let mut rng = Rng(0x5EED_440904);
    let mut used = std::collections::HashSet::new();
    let count = groups.len().max(1);
    let mut phone_seq = 1_000_000u64;
    let mut residents = 0usize;
    let mut out = Vec::with_capacity(households);
    for (gi, group) in groups.iter().enumerate() {
        // An even share, give or take the remainder.
        let n = households / count + usize::from(gi < households % count);
        for k in 0..n {
            let Some(cell) = random_leaf(&mut rng, &group.coverage, leaf) else {
                continue;
            };
            let ll = LatLng::from(cell);
            let street = STREETS[usize::try_from(rng.below(STREETS.len() as u64)).unwrap_or(0)];
            let Ok(address) = Address::parse(&format!("{}{}号（演示）", street, k + 1)) else {
                continue;
            };
            let tags = household_tags(&mut rng);
            let size = 1 + rng.below(5);
            let surname = SURNAMES[usize::try_from(rng.below(SURNAMES.len() as u64)).unwrap_or(0)];
            let mut people = Vec::new();
            for m in 0..size {
                let relation = match m {
                    0 => Relation::Head,
                    1 => Relation::Spouse,
                    _ => Relation::Child,
                };
                let male = rng.chance(500);
                let year = match relation {
                    Relation::Child => 1985 + u32::try_from(rng.below(35)).unwrap_or(0),
                    _ => 1940 + u32::try_from(rng.below(50)).unwrap_or(0),
                };
                let id_card = id_number(&mut rng, year, male, &mut used);
                phone_seq += 1;
                let phone = (m < 2).then(|| phone(phone_seq)).flatten();
                let mut rtags = Vec::new();
                if m == 0 && tags.contains(&Tag::ElderlyAlone) {
                    rtags.push(Tag::ElderlyAlone);
                }
                if relation == Relation::Child && tags.contains(&Tag::LeftBehindChild) {
                    rtags.push(Tag::LeftBehindChild);
                }
                residents += 1;
                let gender = if male { Gender::Male } else { Gender::Female };
                let (Ok(name), Ok(identity)) = (
                    PersonName::parse(&format!("{surname}某{residents}")),
                    Identity::new(Some(gender), None, id_card),
                ) else {
                    continue;
                };
                people.push((
                    0,
                    NewResident {
                        name,
                        relation,
                        identity,
                        phone,
                        tags: rtags,
                    },
                ));
            }
            out.push(ParsedHousehold {
                line: out.len() + 1,
                reference: format!("demo-{}", out.len() + 1),
                address,
                lon: ll.lng(),
                lat: ll.lat(),
                cell: i64::try_from(u64::from(cell)).unwrap_or_default(),
                unit_code: None,
                unit_reason: None,
                tags,
                notes: None,
                residents: people,
            });
        }
    }
    out
}

/// About `WORKERS` grid workers, two or three per resident group, with capture assignments,
/// created one by one through the account use case. They cannot log in (no usable
/// password): an administrator resets one to try it, as in production.
///
/// # Errors
/// As the use case.
pub fn workers(
    tx: &mut Tx<'_>,
    resident_groups: &[PlaceUnit],
    progress: &mut dyn FnMut(usize),
) -> Result<usize, AppError> {
    let mut rng = Rng(0x5EED_0000_6077);
    let groups = resident_groups.len().max(1);
    let mut made = 0;
    for (gi, g) in resident_groups.iter().enumerate() {
        let n = WORKERS / groups + usize::from(gi < WORKERS % groups);
        for k in 0..n {
            let Ok(username) = Username::parse(&format!("gw{}-{}", g.code, k + 1)) else {
                continue;
            };
            let surname = SURNAMES[usize::try_from(rng.below(SURNAMES.len() as u64)).unwrap_or(0)];
            let new = NewAccount {
                id: None,
                username,
                display_name: DisplayName::parse(&format!("{surname}某（网格员）"))?,
                roles: vec![Role::GridWorker],
                phone: phone(50_000_000 + made as u64),
                department_id: None,
                all_units: false,
                assignments: vec![AssignmentIn {
                    unit: UnitId::parse(&g.id)?,
                    capture: true,
                }],
                password: InitialPassword::Unusable,
            };
            let plan =
                crate::users::authorize_create(tx.conn, tx.caller, new)?.hash(&tx.svc.passwords)?;
            crate::users::create(tx, &plan)?;
            made += 1;
            if made % 500 == 0 {
                progress(made);
            }
        }
    }
    progress(made);
    Ok(made)
}
