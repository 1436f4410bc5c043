//! Reference data the indicator SQL joins with, from the roster topic:
//! lap's own roster files (`lap-curriculum.csv`, `lap-questionnaire.csv`,
//! published by `lap roster load`) give the learning objectives per course
//! or class (the denominator of curriculum coverage) and the well-being
//! questionnaire's items (dimension, answer scale, reverse scoring); the
//! class lists by pseudonym that `lap roster load` derives give every
//! learner of a class, active or not.

use std::collections::{BTreeMap, BTreeSet};

use lap_schemas::{RosterEntity, RosterRecord, RosterStatus};

/// Roster-topic key segment of curriculum objectives.
const OBJECTIVE: &str = "curriculum_objective";
/// Roster-topic key segment of questionnaire items.
const ITEM: &str = "questionnaire_item";
/// Roster-topic key segment of class memberships.
const MEMBER: &str = "class_member";

/// A learning objective and the courses and classes it belongs to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Objective {
    /// Course sourcedIds.
    pub courses: Vec<String>,
    /// Class sourcedIds.
    pub classes: Vec<String>,
}

/// A questionnaire item: which well-being dimension it measures and how.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// Dimension, e.g. `social`.
    pub dimension: String,
    /// Lowest answer on the scale.
    pub scale_min: f64,
    /// Highest answer on the scale.
    pub scale_max: f64,
    /// Higher answers mean lower well-being.
    pub reverse_scored: bool,
}

/// The current curriculum, questionnaire and class lists of one tenant.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reference {
    /// Objectives by objectiveId.
    pub objectives: BTreeMap<String, Objective>,
    /// Items by itemId (the object id answers carry).
    pub items: BTreeMap<String, Item>,
    /// Learners (pseudonyms) of each class, with the class's school.
    pub members: BTreeMap<String, Members>,
}

/// The learners of one class.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Members {
    /// The class's school.
    pub school: Option<String>,
    /// Learner pseudonyms.
    pub learners: BTreeSet<String>,
    /// Learners whose membership was deleted while this stage ran (they
    /// moved, or were erased): the class's history forgets them.
    pub departed: BTreeSet<String>,
}

impl Reference {
    /// Removes a membership named `class/person_key`.
    fn remove_member(&mut self, id: &str) -> bool {
        let Some((class, person)) = id.split_once('/') else {
            return false;
        };
        let Some(m) = self.members.get_mut(class) else {
            return false;
        };
        let removed = m.learners.remove(person);
        if removed {
            m.departed.insert(person.to_string());
        }
        removed
    }
}

fn list(fields: &BTreeMap<String, String>, name: &str) -> Vec<String> {
    fields
        .get(name)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

impl Reference {
    /// Applies a roster record of `tenant`; returns false for records this
    /// stage does not use (other tenants, other entities, unusable rows).
    pub fn apply(&mut self, tenant: &str, r: &RosterRecord) -> bool {
        if r.tenant != tenant {
            return false;
        }
        let deleted = r.status == RosterStatus::Tobedeleted;
        match r.entity {
            RosterEntity::CurriculumObjective if deleted => {
                self.objectives.remove(&r.sourced_id);
            }
            RosterEntity::CurriculumObjective => {
                let o = Objective {
                    courses: list(&r.fields, "courseSourcedIds"),
                    classes: list(&r.fields, "classSourcedIds"),
                };
                self.objectives.insert(r.sourced_id.clone(), o);
            }
            RosterEntity::QuestionnaireItem if deleted => {
                self.items.remove(&r.sourced_id);
            }
            RosterEntity::ClassMember if deleted => {
                self.remove_member(&r.sourced_id);
            }
            RosterEntity::ClassMember => {
                let (Some(class), Some(person)) =
                    (r.fields.get("classSourcedId"), r.fields.get("personKey"))
                else {
                    return false;
                };
                let m = self.members.entry(class.clone()).or_default();
                m.school = r.fields.get("schoolSourcedId").cloned();
                m.departed.remove(person);
                m.learners.insert(person.clone());
            }
            RosterEntity::QuestionnaireItem => {
                let num = |k: &str| r.fields.get(k).and_then(|v| v.trim().parse::<f64>().ok());
                let (Some(scale_min), Some(scale_max)) = (num("scaleMin"), num("scaleMax")) else {
                    return false;
                };
                if scale_min >= scale_max {
                    return false;
                }
                let item = Item {
                    dimension: r.fields.get("dimension").cloned().unwrap_or_default(),
                    scale_min,
                    scale_max,
                    reverse_scored: r
                        .fields
                        .get("reverseScored")
                        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
                };
                self.items.insert(r.sourced_id.clone(), item);
            }
            _ => return false,
        }
        true
    }

    /// Applies a tombstone of the roster topic (key `tenant/entity/id`).
    pub fn delete_key(&mut self, tenant: &str, key: &str) -> bool {
        let mut parts = key.splitn(3, '/');
        let (Some(t), Some(entity), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
            return false;
        };
        match entity {
            _ if t != tenant => false,
            OBJECTIVE => self.objectives.remove(id).is_some(),
            ITEM => self.items.remove(id).is_some(),
            MEMBER => self.remove_member(id),
            _ => false,
        }
    }
}
