//! Class lists by pseudonym, for the aggregate: which learners a class
//! has, so that a learner with no activity at all still gets a row (and
//! the flags a teacher needs for exactly that learner: missing work,
//! inactivity).
//!
//! They are derived from the roster with the pseudonymisation key by
//! `lap roster load` (and by `lap run` in one process) and published as
//! `class_member` records on the roster topic, keyed
//! `tenant/class_member/<class>/<person_key>`: the aggregate learns who is
//! in a class without ever seeing a name, an identifier or the key.
//! Opted-out learners are left out, so nothing of theirs reaches a store.

use std::collections::BTreeMap;

use lap_schemas::{RosterEntity, RosterRecord, RosterStatus};

use crate::pseudonym::Pseudonymiser;
use crate::state::Roster;

/// Field naming the class of a membership record.
pub const CLASS: &str = "classSourcedId";
/// Field naming the class's school.
pub const SCHOOL: &str = "schoolSourcedId";
/// Field holding the learner's pseudonym.
pub const PERSON: &str = "personKey";

/// The `class_member` records of every learner of every class of `roster`.
pub fn class_members(roster: &Roster, keys: &Pseudonymiser) -> Vec<RosterRecord> {
    let tenant = roster.tenant();
    let mut out: Vec<RosterRecord> = roster
        .class_learners()
        .map(|(class, school, user)| {
            let person = keys.key(tenant, user);
            let mut fields = BTreeMap::from([
                (CLASS.to_string(), class.to_string()),
                (PERSON.to_string(), person.clone()),
            ]);
            if let Some(school) = school {
                fields.insert(SCHOOL.to_string(), school.to_string());
            }
            RosterRecord {
                tenant: tenant.to_string(),
                entity: RosterEntity::ClassMember,
                sourced_id: format!("{class}/{person}"),
                status: RosterStatus::Active,
                date_last_modified: None,
                fields,
                metadata: BTreeMap::new(),
                spec_version: "lap".into(),
            }
        })
        .collect();
    out.sort_by(|a, b| a.sourced_id.cmp(&b.sourced_id));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use lap_runtime::config::{IdentityConfig, Secret};

    fn record(entity: RosterEntity, id: &str, fields: &[(&str, &str)]) -> RosterRecord {
        RosterRecord::active("t", entity, id, fields)
    }

    #[test]
    fn learners_of_present_classes_by_pseudonym_without_opted_out_ones() {
        let mut roster = Roster::new("t", IdentityConfig::default());
        roster.apply(record(
            RosterEntity::Class,
            "c1",
            &[("schoolSourcedId", "s1")],
        ));
        for (id, role) in [("u1", "student"), ("u2", "student"), ("t1", "teacher")] {
            roster.apply(record(RosterEntity::User, id, &[("role", role)]));
            roster.apply(record(
                RosterEntity::Enrollment,
                &format!("e-{id}"),
                &[
                    ("classSourcedId", "c1"),
                    ("userSourcedId", id),
                    ("role", role),
                ],
            ));
        }
        roster.apply(record(RosterEntity::Consent, "u2", &[("optedOut", "true")]));
        let keys = Pseudonymiser::new(&Secret::new("0123456789abcdef0123")).unwrap();
        let members = class_members(&roster, &keys);
        assert_eq!(members.len(), 1, "{members:?}");
        let m = &members[0];
        assert_eq!(m.fields[PERSON], keys.key("t", "u1"));
        assert_eq!(m.fields[SCHOOL], "s1");
        assert_eq!(m.sourced_id, format!("c1/{}", keys.key("t", "u1")));
        assert!(
            !format!("{m:?}").contains("u1"),
            "no roster identifier in a membership"
        );
    }
}
