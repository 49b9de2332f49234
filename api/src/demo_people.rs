//! The demo's people: synthetic households and residents at Dianbai's real scale (about
//! 200,000 households), and about 10,000 grid workers assigned to resident groups. Every name
//! is clearly fake (`陈某12`: 某 is how Chinese documents anonymise a name); identity numbers
//! carry a valid GB 11643 check character (so the product's validation accepts them) but are
//! synthetic; phones are in the 170 virtual-operator range. Personal data is sealed exactly as
//! the API seals it. Generation is deterministic: the same demo every time.

use crate::pii::{PiiKeys, PiiKind};
use wangge_domain::{IdCardNumber, PhoneNumber, Role, Tag, Username};
use wangge_geo::{CellIndex, Coverage, LatLng, Resolution};
use wangge_persistence::households::{self, NewHousehold, NewResident};
use wangge_persistence::{AnyConnection, Sealed, StoreError, users, uuid_v7};

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
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// True with probability `per_mille / 1000`.
    fn chance(&mut self, per_mille: u64) -> bool {
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

fn tag_text(tags: &[Tag]) -> String {
    let names: Vec<&str> = tags.iter().map(|t| t.as_str()).collect();
    households::join_tags(&names)
}

struct HouseholdRow {
    id: String,
    address: String,
    lon: f64,
    lat: f64,
    cell: i64,
    tags: String,
}

struct PersonRow {
    id: String,
    household_id: String,
    name: String,
    gender: &'static str,
    birth_date: Option<String>,
    relation: &'static str,
    id_card: Option<Sealed>,
    phone: Option<Sealed>,
    tags: String,
}

/// What the people seed needs of one unit: id, code, and the coverage to place people in.
pub struct PlaceUnit {
    pub id: String,
    pub code: String,
    pub coverage: Coverage,
}

/// What was seeded.
#[derive(Debug, Default)]
pub struct PeopleReport {
    pub households: usize,
    pub residents: usize,
    pub workers: usize,
}

/// Seeds `households` households spread over the household groups (in proportion to their
/// area would crowd the countryside's big groups; the local rule of 200 to 500 households per
/// grid is closer to an even spread), with one to five residents each, and `WORKERS` grid
/// workers over the resident groups. Runs in the caller's transaction.
///
/// # Errors
/// Database errors.
pub fn seed(
    conn: &mut AnyConnection,
    pii: &PiiKeys,
    leaf: Resolution,
    household_groups: &[PlaceUnit],
    resident_groups: &[PlaceUnit],
    households: usize,
    mut progress: impl FnMut(usize),
) -> Result<PeopleReport, StoreError> {
    let mut rng = Rng(0x5EED_440904);
    let mut report = PeopleReport::default();
    let mut used = std::collections::HashSet::new();
    let groups = household_groups.len().max(1);
    let mut phone_seq = 1_000_000u64;
    for (gi, group) in household_groups.iter().enumerate() {
        // An even share, give or take the remainder.
        let n = households / groups + usize::from(gi < households % groups);
        let mut hh: Vec<HouseholdRow> = Vec::with_capacity(n);
        let mut people: Vec<PersonRow> = Vec::new();
        for k in 0..n {
            let Some(cell) = random_leaf(&mut rng, &group.coverage, leaf) else {
                continue;
            };
            let ll = LatLng::from(cell);
            let hid = uuid_v7();
            let street = STREETS[usize::try_from(rng.below(STREETS.len() as u64)).unwrap_or(0)];
            let address = format!("{}{}号（演示）", street, k + 1);
            let tags = household_tags(&mut rng);
            let size = 1 + rng.below(5);
            let surname = SURNAMES[usize::try_from(rng.below(SURNAMES.len() as u64)).unwrap_or(0)];
            for m in 0..size {
                let relation = match m {
                    0 => "head",
                    1 => "spouse",
                    _ => "child",
                };
                let male = rng.chance(500);
                let year = match relation {
                    "child" => 1985 + u32::try_from(rng.below(35)).unwrap_or(0),
                    _ => 1940 + u32::try_from(rng.below(50)).unwrap_or(0),
                };
                let id_card = id_number(&mut rng, year, male, &mut used);
                let birth = id_card.as_ref().map(IdCardNumber::birth_date);
                let sealed_id = id_card
                    .as_ref()
                    .map(|n| pii.seal(PiiKind::IdCard, n.expose(), n.masked()));
                phone_seq += 1;
                let sealed_phone = (m < 2)
                    .then(|| phone(phone_seq))
                    .flatten()
                    .map(|p| pii.seal(PiiKind::Phone, p.expose(), p.masked()));
                let mut rtags = Vec::new();
                if m == 0 && tags.contains(&Tag::ElderlyAlone) {
                    rtags.push(Tag::ElderlyAlone);
                }
                if relation == "child" && tags.contains(&Tag::LeftBehindChild) {
                    rtags.push(Tag::LeftBehindChild);
                }
                people.push(PersonRow {
                    id: uuid_v7(),
                    household_id: hid.clone(),
                    name: format!("{surname}某{}", report.residents + people.len() + 1),
                    gender: if male { "male" } else { "female" },
                    birth_date: birth,
                    relation,
                    id_card: sealed_id,
                    phone: sealed_phone,
                    tags: tag_text(&rtags),
                });
            }
            hh.push(HouseholdRow {
                id: hid,
                address,
                lon: ll.lng(),
                lat: ll.lat(),
                cell: i64::try_from(u64::from(cell)).unwrap_or_default(),
                tags: tag_text(&tags),
            });
        }
        let rows: Vec<NewHousehold<'_>> = hh
            .iter()
            .map(|h| NewHousehold {
                id: &h.id,
                unit_id: &group.id,
                address: &h.address,
                lon: h.lon,
                lat: h.lat,
                cell: h.cell,
                unit_reason: None,
                tags: &h.tags,
                notes: None,
                created_by: None,
            })
            .collect();
        households::insert_rows(conn, &rows)?;
        let rows: Vec<NewResident<'_>> = people
            .iter()
            .map(|p| NewResident {
                id: &p.id,
                household_id: &p.household_id,
                name: &p.name,
                gender: Some(p.gender),
                birth_date: p.birth_date.as_deref(),
                relation: p.relation,
                id_card: p.id_card.as_ref(),
                phone: p.phone.as_ref(),
                tags: &p.tags,
            })
            .collect();
        households::insert_residents(conn, &rows)?;
        report.households += hh.len();
        report.residents += people.len();
        progress(report.households);
    }
    report.workers = seed_workers(conn, pii, resident_groups, &mut rng)?;
    Ok(report)
}

/// About `WORKERS` grid workers, two or three per resident group, with capture assignments.
/// They cannot log in (no usable password): an administrator resets one to try it, as in
/// production.
fn seed_workers(
    conn: &mut AnyConnection,
    pii: &PiiKeys,
    resident_groups: &[PlaceUnit],
    rng: &mut Rng,
) -> Result<usize, StoreError> {
    let groups = resident_groups.len().max(1);
    let mut made = 0;
    for (gi, g) in resident_groups.iter().enumerate() {
        let n = WORKERS / groups + usize::from(gi < WORKERS % groups);
        for k in 0..n {
            let name = format!("gw{}-{}", g.code, k + 1);
            let Ok(username) = Username::parse(&name) else {
                continue;
            };
            let surname = SURNAMES[usize::try_from(rng.below(SURNAMES.len() as u64)).unwrap_or(0)];
            let sealed = phone(50_000_000 + made as u64)
                .map(|p| pii.seal(PiiKind::Phone, p.expose(), p.masked()));
            let rec = users::create_user(
                conn,
                &users::NewUser {
                    username: &username,
                    // Not an Argon2 hash: no password opens it until an administrator resets it.
                    password_hash: "!locked",
                    roles: &[Role::GridWorker],
                    must_change_password: true,
                    display_name: &format!("{surname}某（网格员）"),
                    phone: sealed.as_ref(),
                    department_id: None,
                    all_units: false,
                },
            )?;
            users::insert_assignments(conn, &rec.id, &[(g.id.clone(), true)])?;
            made += 1;
        }
    }
    Ok(made)
}
