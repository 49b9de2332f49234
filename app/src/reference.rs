//! Reference data every installation starts with: the standard incident categories (GB/T
//! 30428.2's event classes, the grid's own classes, and city components) and the State
//! Council's 2026 holiday arrangement. Loaded through the use cases by `system:reference`, on
//! an empty table only, so an administrator's later edits are never overwritten.

use crate::calendar;
use crate::caller::Who;
use crate::categories::{self, NewCategory};
use crate::error::AppError;
use crate::services::Services;
use crate::tx;
use wangge_domain::calendar::{CHINA_2026, TimeLimit};
use wangge_domain::incident::{
    CategoryCode, CategoryKey, CategoryPolicy, RoutingRule, StageLimits, TimeLimits,
};
use wangge_domain::unit::Level;
use wangge_domain::{DepartmentId, UnitName};
use wangge_persistence::AnyConnection;
use wangge_persistence::calendar as calendar_store;
use wangge_persistence::categories as category_store;
use wangge_persistence::departments;

const H: fn(u32) -> TimeLimit = TimeLimit::Hours;
const WD: fn(u32) -> TimeLimit = TimeLimit::WorkingDays;

fn stage(register: TimeLimit, sign: TimeLimit, close: TimeLimit) -> StageLimits {
    StageLimits {
        register,
        sign,
        close,
    }
}

/// Time limits by kind of case (domain.md: urgent the same day, consultations 2–3 working
/// days, complaints 10–15).
#[derive(Debug, Clone, Copy)]
enum Profile {
    /// Street and city-appearance cases a worker or a crew clears quickly.
    Quick,
    /// Cases that need another body or a decision.
    Standard,
    /// Danger to people or property.
    Emergency,
    /// Requests for help or information.
    Service,
}

impl Profile {
    fn limits(self) -> TimeLimits {
        let (urgent, normal, complex) = match self {
            Self::Quick => (
                stage(H(1), H(1), H(4)),
                stage(H(2), H(4), WD(2)),
                stage(H(4), WD(1), WD(10)),
            ),
            Self::Standard => (
                stage(H(1), H(2), WD(1)),
                stage(H(4), WD(1), WD(5)),
                stage(WD(1), WD(2), WD(15)),
            ),
            Self::Emergency => (
                stage(H(1), H(1), H(2)),
                stage(H(1), H(2), WD(1)),
                stage(H(2), H(4), WD(5)),
            ),
            Self::Service => (
                stage(H(2), H(4), WD(1)),
                stage(H(4), WD(1), WD(3)),
                stage(WD(1), WD(2), WD(15)),
            ),
        };
        TimeLimits {
            urgent,
            normal,
            complex,
        }
    }
}

use Level::{Community as C, ResidentGroup as G, Subdistrict as S};
use Profile::{Emergency as E, Quick as Q, Service as V, Standard as D};

/// `(code, name, key, lowest level, limits, department code)`. A class's code has two digits;
/// its leaves extend it. The department is linked when a department with that code exists;
/// a component (部件) then routes to it (属主).
type Row = (
    &'static str,
    &'static str,
    &'static str,
    Level,
    Profile,
    Option<&'static str>,
);

#[rustfmt::skip]
const CATEGORIES: &[Row] = &[
    ("01", "市容环境", "city_appearance", C, Q, Some("urban_management")),
    ("0101", "私搭乱建", "illegal_structure", C, D, Some("urban_management")),
    ("0102", "暴露垃圾", "exposed_garbage", C, Q, Some("urban_management")),
    ("0103", "积存渣土", "accumulated_debris", C, Q, Some("urban_management")),
    ("0104", "道路不洁", "dirty_road", C, Q, Some("urban_management")),
    ("0105", "水域不洁", "dirty_water", C, Q, Some("ecology_environment")),
    ("0106", "绿地脏乱", "untidy_green_space", C, Q, Some("urban_management")),
    ("02", "宣传广告", "advertising", C, Q, Some("urban_management")),
    ("0201", "非法小广告", "illegal_flyers", C, Q, Some("urban_management")),
    ("0202", "街头散发广告", "street_leafleting", C, Q, Some("urban_management")),
    ("0203", "违规户外广告", "illegal_outdoor_ad", C, D, Some("urban_management")),
    ("03", "施工管理", "construction", C, D, Some("housing")),
    ("0301", "施工扰民", "construction_noise", C, D, Some("ecology_environment")),
    ("0302", "施工占道", "construction_road_occupation", C, D, Some("urban_management")),
    ("0303", "工地扬尘", "construction_dust", C, D, Some("ecology_environment")),
    ("0304", "施工废弃料", "construction_waste", C, Q, Some("urban_management")),
    ("04", "突发事件", "emergencies", S, E, Some("emergency")),
    ("0401", "管道破裂", "burst_pipe", S, E, Some("water")),
    ("0402", "路面塌陷", "road_collapse", S, E, Some("transport")),
    ("0403", "道路积水", "road_flooding", S, E, Some("water")),
    ("0404", "火灾", "fire_outbreak", S, E, Some("emergency")),
    ("05", "街面秩序", "street_order", C, Q, Some("urban_management")),
    ("0501", "无照经营", "unlicensed_business", C, D, Some("market_regulation")),
    ("0502", "占道经营", "street_vending", C, Q, Some("urban_management")),
    ("0503", "流浪乞讨", "vagrancy_begging", C, V, Some("civil_affairs")),
    ("0504", "黑车拉客", "illegal_taxi", S, D, Some("transport")),
    ("0505", "机动车乱停放", "illegal_parking", C, Q, Some("public_security")),
    ("06", "其他", "other", C, D, None),
    ("0601", "其他事件", "other_event", C, D, None),
    ("07", "矛盾纠纷", "disputes", G, D, None),
    ("0701", "邻里纠纷", "neighbour_dispute", G, D, None),
    ("0702", "婚姻家庭纠纷", "family_dispute", G, D, None),
    ("0703", "土地山林纠纷", "land_dispute", C, D, Some("natural_resources")),
    ("0704", "劳资纠纷", "wage_dispute", C, D, Some("human_resources")),
    ("08", "安全隐患", "safety_hazards", C, E, Some("emergency")),
    ("0801", "危房", "unsafe_building", C, E, Some("housing")),
    ("0802", "燃气隐患", "gas_hazard", C, E, Some("urban_management")),
    ("0803", "地质灾害隐患", "geological_hazard", S, E, Some("natural_resources")),
    ("0804", "电动车违规充电", "ebike_charging", C, Q, Some("emergency")),
    ("09", "治安", "public_order", S, D, Some("public_security")),
    ("0901", "治安隐患", "public_order_risk", S, D, Some("public_security")),
    ("0902", "涉黄涉赌", "vice_gambling", S, E, Some("public_security")),
    ("0903", "电信诈骗线索", "telecom_fraud_lead", S, E, Some("public_security")),
    ("10", "消防", "fire_safety", C, E, Some("emergency")),
    ("1001", "消防通道堵塞", "blocked_fire_lane", C, E, Some("emergency")),
    ("1002", "消防设施损坏", "damaged_fire_equipment", C, D, Some("emergency")),
    ("1003", "违规用火", "unsafe_fire_use", C, E, Some("emergency")),
    ("11", "民生服务", "livelihood", C, V, Some("civil_affairs")),
    ("1101", "政策咨询", "policy_enquiry", C, V, None),
    ("1102", "就业求助", "employment_help", C, V, Some("human_resources")),
    ("1103", "医疗救助", "medical_aid", C, V, Some("health")),
    ("1104", "养老服务", "elderly_care_request", C, V, Some("civil_affairs")),
    ("12", "特殊人群", "special_groups", G, V, Some("civil_affairs")),
    ("1201", "独居老人关爱", "elderly_alone_care", G, V, Some("civil_affairs")),
    ("1202", "精神障碍患者管理", "mental_health_care", C, D, Some("health")),
    ("1203", "社区矫正对象", "community_correction", C, D, Some("public_security")),
    ("1204", "留守儿童", "left_behind_children", G, V, Some("civil_affairs")),
    ("13", "城市部件", "components", C, D, Some("urban_management")),
    ("1301", "井盖缺损", "damaged_manhole_cover", C, E, Some("urban_management")),
    ("1302", "路灯损坏", "broken_street_light", C, D, Some("urban_management")),
    ("1303", "公交站亭损坏", "damaged_bus_shelter", C, D, Some("transport")),
    ("1304", "行道树倒伏", "fallen_street_tree", C, E, Some("urban_management")),
    ("1305", "供水设施损坏", "damaged_water_facility", C, E, Some("water")),
];

/// What [`seed`] loaded (zero where the table had rows already).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReferenceReport {
    pub categories: usize,
    pub calendar_days: usize,
}

/// Loads the standard categories into an empty category table and the 2026 arrangement into
/// an empty calendar, in one transaction, as `system:reference`.
///
/// # Errors
/// As the use cases.
pub fn seed(conn: &mut AnyConnection, svc: &Services) -> Result<ReferenceReport, AppError> {
    let who = Who::System { name: "reference" };
    tx::write(conn, svc, &who, |tx| {
        let mut report = ReferenceReport::default();
        if category_store::count(tx.conn)? == 0 {
            for new in standard_categories(tx.conn)? {
                categories::create(tx, &new)?;
                report.categories += 1;
            }
        }
        if calendar_store::count(tx.conn)? == 0 {
            for period in CHINA_2026 {
                let name = UnitName::parse(period.name)?;
                for (date, kind) in period.days() {
                    calendar::set(tx, date, kind, &name, None)?;
                    report.calendar_days += 1;
                }
            }
        }
        Ok(report)
    })
}

/// The standard categories, each linked to its department where one with that code exists.
fn standard_categories(conn: &mut AnyConnection) -> Result<Vec<NewCategory>, AppError> {
    let mut out = Vec::with_capacity(CATEGORIES.len());
    for &(code, name, key, level, profile, department) in CATEGORIES {
        let code = CategoryCode::parse(code)?;
        let parent = (code.as_str().len() > 2)
            .then(|| CategoryCode::parse(&code.as_str()[..2]))
            .transpose()?;
        let department = match department {
            Some(d) => departments::by_code(conn, d)?
                .map(|r| DepartmentId::parse(&r.id))
                .transpose()?,
            None => None,
        };
        // Components answer to their owner (属主) when the owner is known.
        let leaf_component = code.as_str().starts_with("13") && parent.is_some();
        let routing = if leaf_component && department.is_some() {
            RoutingRule::Owner
        } else {
            RoutingRule::Locality
        };
        out.push(NewCategory {
            code,
            parent_code: parent,
            name: UnitName::parse(name)?,
            key: CategoryKey::parse(key)?,
            policy: CategoryPolicy::new(level, routing, department, profile.limits())?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_standard_tree_has_its_classes_and_leaves_each_in_its_place() {
        let classes: Vec<_> = CATEGORIES.iter().filter(|r| r.0.len() == 2).collect();
        let leaves: Vec<_> = CATEGORIES.iter().filter(|r| r.0.len() > 2).collect();
        assert_eq!(classes.len(), 13);
        assert_eq!(leaves.len(), 50);
        let codes: HashSet<_> = CATEGORIES.iter().map(|r| r.0).collect();
        let keys: HashSet<_> = CATEGORIES.iter().map(|r| r.2).collect();
        assert_eq!(codes.len(), CATEGORIES.len(), "codes are unique");
        assert_eq!(keys.len(), CATEGORIES.len(), "keys are unique");
        for r in &leaves {
            let code = CategoryCode::parse(r.0).map_err(|e| e.to_string());
            let parent = CategoryCode::parse(&r.0[..2]).map_err(|e| e.to_string());
            assert!(codes.contains(&r.0[..2]), "{} has its class", r.0);
            assert_eq!(
                code.and_then(|c| parent.map(|p| c.check_place(Some(&p)).is_ok())),
                Ok(true)
            );
        }
        for r in CATEGORIES {
            assert!(CategoryKey::parse(r.2).is_ok(), "{}", r.2);
            assert!(UnitName::parse(r.1).is_ok(), "{}", r.1);
            assert!(r.4.limits().checked().is_ok());
        }
    }
}
