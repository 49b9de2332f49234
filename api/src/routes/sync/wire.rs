//! Changes as the sync sends them, serialised straight from the records. A first sync's page
//! is hundreds of households and residents; building a value tree of each to drop its nulls
//! cost more than reading them.

use super::super::households::UnitRefBody;
use serde::Serialize;
use serde::ser::{Error as _, SerializeMap, SerializeStruct, Serializer};
use serde_json::{Value, json};
use wangge_app::sync::Item;
use wangge_persistence::households::{Household, split_tags};
use wangge_persistence::residents::ResidentRecord;

/// One change: `{entity, id, op, version, data}`, `data` without null members.
pub(crate) struct Wire<'a>(pub &'a Item);

impl Serialize for Wire<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (entity, id, version) = self.0.key();
        let gone = matches!(self.0, Item::Gone { .. });
        let mut m = s.serialize_struct("Change", if gone { 4 } else { 5 })?;
        m.serialize_field("entity", entity)?;
        m.serialize_field("id", &id)?;
        m.serialize_field("op", if gone { "delete" } else { "upsert" })?;
        m.serialize_field("version", &version)?;
        let value = |v: Result<Value, serde_json::Error>| v.map_err(S::Error::custom);
        match self.0 {
            Item::Gone { .. } => {}
            Item::Resident(r) => m.serialize_field("data", &ResidentWire::from(r))?,
            Item::Household(h) => m.serialize_field("data", &HouseholdWire::from(h))?,
            Item::Incident(v) => m.serialize_field("data", &NoNulls(v))?,
            Item::Category(c) => {
                m.serialize_field("data", &NoNulls(&value(serde_json::to_value(c))?))?
            }
            Item::CalendarDay(d) => {
                m.serialize_field("data", &NoNulls(&value(serde_json::to_value(d))?))?;
            }
            Item::Visit(v) => {
                m.serialize_field("data", &NoNulls(&super::super::visits::body(v)))?
            }
            Item::Patrol(p) => {
                m.serialize_field("data", &NoNulls(&super::super::patrols::body(p)))?;
            }
            Item::Tasks { items, .. } => {
                #[derive(Serialize)]
                struct Tasks<'a> {
                    items: &'a [Value],
                }
                m.serialize_field("data", &Tasks { items })?;
            }
            Item::Unit { record, coverage } => {
                let body = super::super::units::UnitBody::from(record.clone());
                let mut data = value(serde_json::to_value(body))?;
                if let (Some(cells), Some(o)) = (coverage, data.as_object_mut()) {
                    o.insert("coverage".into(), json!({ "cells": cells }));
                }
                m.serialize_field("data", &NoNulls(&data))?;
            }
        }
        m.end()
    }
}

/// A value with its null members left out, at every depth, without copying it.
pub(crate) struct NoNulls<'a>(pub &'a Value);

impl Serialize for NoNulls<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(o) => {
                let mut m = s.serialize_map(None)?;
                for (k, v) in o.iter().filter(|(_, v)| !v.is_null()) {
                    m.serialize_entry(k, &NoNulls(v))?;
                }
                m.end()
            }
            Value::Array(a) => s.collect_seq(a.iter().map(NoNulls)),
            v => v.serialize(s),
        }
    }
}

/// A resident as lists show it (masked), less its absent members: the same members as
/// `residents::body(r, None)`, which the tests below hold it to.
#[derive(Serialize)]
struct ResidentWire<'a> {
    id: &'a str,
    household_id: &'a str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    gender: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    birth_date: Option<&'a str>,
    relation: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_card: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<&'a str>,
    revealed: bool,
    tags: Vec<&'a str>,
    created_at: &'a str,
    updated_at: &'a str,
    version: i64,
}

impl<'a> From<&'a ResidentRecord> for ResidentWire<'a> {
    fn from(r: &'a ResidentRecord) -> Self {
        Self {
            id: &r.id,
            household_id: &r.household_id,
            name: &r.name,
            gender: r.gender.as_deref(),
            birth_date: r.birth_date.as_deref(),
            relation: &r.relation,
            id_card: r.id_card_masked.as_deref(),
            phone: r.phone_masked.as_deref(),
            revealed: false,
            tags: split_tags(&r.tags),
            created_at: &r.created_at,
            updated_at: &r.updated_at,
            version: r.version,
        }
    }
}

/// A household as `households::household_body` shows it, less its absent members (the tests
/// below hold the two to the same members).
#[derive(Serialize)]
struct HouseholdWire<'a> {
    id: &'a str,
    unit: UnitRefBody<'a>,
    address: &'a str,
    location: LatLng,
    cell: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit_reason: Option<&'a str>,
    tags: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    notes: Option<&'a str>,
    created_at: &'a str,
    updated_at: &'a str,
    version: i64,
}

#[derive(Serialize)]
struct LatLng {
    lat: f64,
    lng: f64,
}

impl<'a> From<&'a Household> for HouseholdWire<'a> {
    fn from(h: &'a Household) -> Self {
        let r = &h.record;
        Self {
            id: &r.id,
            unit: UnitRefBody {
                id: &h.unit.id,
                code: &h.unit.code,
                name: &h.unit.name,
            },
            address: &r.address,
            location: LatLng {
                lat: r.lat,
                lng: r.lon,
            },
            cell: format!("{:x}", r.cell),
            unit_reason: r.unit_reason.as_deref(),
            tags: r.tag_names(),
            notes: r.notes.as_deref(),
            created_at: &r.created_at,
            updated_at: &r.updated_at,
            version: r.version,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use wangge_persistence::households::{HouseholdRecord, UnitBrief};

    /// What the bodies of the other routes show, with their nulls dropped.
    fn without_nulls(mut v: Value) -> Value {
        if let Some(o) = v.as_object_mut() {
            o.retain(|_, x| !x.is_null());
            for x in o.values_mut() {
                *x = without_nulls(x.take());
            }
        }
        v
    }

    fn data(item: &Item) -> Value {
        serde_json::to_value(Wire(item)).unwrap()["data"].clone()
    }

    fn resident(present: bool) -> ResidentRecord {
        let some = |s: &str| present.then(|| s.to_owned());
        ResidentRecord {
            id: "r1".into(),
            household_id: "h1".into(),
            name: "张三".into(),
            gender: some("male"),
            birth_date: some("1950-01-02"),
            relation: "head".into(),
            id_card_cipher: None,
            id_card_key_id: None,
            id_card_hash: None,
            id_card_masked: some("4409**********1234"),
            phone_cipher: None,
            phone_key_id: None,
            phone_hash: None,
            phone_masked: some("138****0000"),
            tags: if present {
                ",elderly,alone,".into()
            } else {
                String::new()
            },
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-02T00:00:00Z".into(),
            version: 3,
        }
    }

    fn household(present: bool) -> Household {
        Household {
            record: HouseholdRecord {
                id: "h1".into(),
                unit_id: "u1".into(),
                address: "电白区某村 1 号".into(),
                lon: 111.0,
                lat: 21.5,
                cell: 0x08b4_1c8c_8c8c_8fff,
                unit_reason: present.then(|| "staff placed it".into()),
                tags: if present {
                    ",poor,".into()
                } else {
                    String::new()
                },
                notes: present.then(|| "a note".into()),
                created_by: None,
                created_at: "2026-01-01T00:00:00Z".into(),
                updated_at: "2026-01-02T00:00:00Z".into(),
                version: 2,
            },
            unit: UnitBrief {
                id: "u1".into(),
                code: "440904101203001".into(),
                name: "一组".into(),
                path: "/d/u1/".into(),
            },
        }
    }

    #[test]
    fn a_resident_is_what_lists_show_less_its_nulls() {
        for present in [true, false] {
            let r = resident(present);
            let want = without_nulls(super::super::super::residents::body(&r, None));
            assert_eq!(data(&Item::Resident(r)), want, "present: {present}");
        }
    }

    #[test]
    fn a_household_is_what_lists_show_less_its_nulls() {
        for present in [true, false] {
            let h = household(present);
            let body = super::super::super::households::household_body(&h);
            let want = without_nulls(serde_json::to_value(body).unwrap());
            assert_eq!(data(&Item::Household(h)), want, "present: {present}");
        }
    }

    #[test]
    fn values_lose_their_nulls_at_every_depth_and_tombstones_carry_no_data() {
        let v = json!({"id": "c1", "version": 4, "a": null, "b": {"c": null, "d": [1, {"e": null, "f": 2}]}});
        assert_eq!(
            data(&Item::Incident(v)),
            json!({"id": "c1", "version": 4, "b": {"d": [1, {"f": 2}]}})
        );
        let gone = Item::Gone {
            entity: wangge_app::tx::Entity::Household,
            id: "h1".into(),
            version: 5,
        };
        assert_eq!(
            serde_json::to_value(Wire(&gone)).unwrap(),
            json!({"entity": "household", "id": "h1", "op": "delete", "version": 5})
        );
    }
}
