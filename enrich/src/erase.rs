//! Who `lap erase` erases (transport-free): the learner an operator names —
//! by roster sourcedId or by an actor identifier (email, account name,
//! mbox_sha1sum, actor IRI) under the same identity rules the join uses —
//! and the roster-topic keys that hold their records, which get tombstones.

use std::collections::BTreeMap;

use lap_runtime::config::IdentityConfig;
use lap_schemas::{RosterEntity, RosterRecord, RosterStatus};

use crate::join::last_segment;
use crate::roster::record_key;
use crate::state::{IdKind, Lookup, Roster};

/// The learner to erase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    /// Their roster sourcedId: what the pseudonym is computed from.
    pub sourced_id: String,
    /// How they were found (for the audit record): `roster sourcedId`,
    /// `roster identity` or `sourcedId (not in the roster)`.
    pub resolved_by: &'static str,
    /// Roster-topic keys of their records (user, enrollments, roles,
    /// demographics, consent), in key order.
    pub roster_keys: Vec<String>,
}

/// Why the learner cannot be determined.
#[derive(Debug, thiserror::Error)]
pub enum EraseError {
    /// The identifier belongs to several roster users.
    #[error(
        "the identifier matches {0} roster users under the identity rules; give the learner's roster sourcedId instead"
    )]
    Ambiguous(usize),
    /// The identifier is empty.
    #[error("the learner identifier is empty")]
    Empty,
}

/// The roster of one tenant as erasure needs it: the join's indexes plus,
/// per record key, the user the record belongs to.
pub struct Directory {
    roster: Roster,
    owners: BTreeMap<String, String>,
}

impl Directory {
    /// An empty directory for `tenant` with the deployment's identity rules.
    pub fn new(tenant: &str, rules: IdentityConfig) -> Self {
        Directory {
            roster: Roster::new(tenant, rules),
            owners: BTreeMap::new(),
        }
    }

    /// Adds (or, when `tobedeleted`, removes) a record.
    pub fn apply(&mut self, record: RosterRecord) {
        if record.tenant != **self.roster.tenant() {
            return;
        }
        let key = record_key(&record.tenant, record.entity, &record.sourced_id);
        let owner = match record.entity {
            RosterEntity::User | RosterEntity::Demographics | RosterEntity::Consent => {
                Some(record.sourced_id.clone())
            }
            // Owned by the pseudonym: see `membership_keys`.
            RosterEntity::ClassMember => record.fields.get(crate::members::PERSON).cloned(),
            _ => record.fields.get("userSourcedId").cloned(),
        };
        match owner {
            Some(user) if record.status == RosterStatus::Active => {
                self.owners.insert(key, user);
            }
            _ => {
                self.owners.remove(&key);
            }
        }
        self.roster.apply(record);
    }

    /// Applies a tombstone of the roster topic.
    pub fn delete(&mut self, key: &str) {
        self.owners.remove(key);
        self.roster.delete(key);
    }

    /// The learner `learner` names: a user with that sourcedId; else the
    /// one user holding it as an identifier; else, when nobody does, the
    /// sourcedId of a learner already removed from the roster (their rows
    /// may still be stored).
    pub fn resolve(&self, learner: &str) -> Result<Subject, EraseError> {
        let learner = learner.trim();
        if learner.is_empty() {
            return Err(EraseError::Empty);
        }
        let tenant = self.roster.tenant();
        let user_key = record_key(tenant, RosterEntity::User, learner);
        let (sourced_id, resolved_by) = if self.owners.contains_key(&user_key) {
            (learner.to_string(), "roster sourcedId")
        } else {
            match self.lookup(learner) {
                Lookup::One(u) => (self.roster.user_id(u).to_string(), "roster identity"),
                Lookup::Ambiguous(n) => return Err(EraseError::Ambiguous(n)),
                Lookup::None => (learner.to_string(), "sourcedId (not in the roster)"),
            }
        };
        let roster_keys = self
            .owners
            .iter()
            .filter(|(_, user)| **user == sourced_id)
            .map(|(key, _)| key.clone())
            .collect();
        Ok(Subject {
            sourced_id,
            resolved_by,
            roster_keys,
        })
    }

    /// Roster-topic keys of the class memberships (derived records, see
    /// [`crate::members`]) of the learner with pseudonym `person_key`.
    pub fn membership_keys(&self, person_key: &str) -> Vec<String> {
        let tenant = self.roster.tenant();
        let prefix = record_key(tenant, RosterEntity::ClassMember, "");
        self.owners
            .iter()
            .filter(|(key, owner)| **owner == person_key && key.starts_with(&prefix))
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// Looks `value` up the way the join looks up an actor of that shape.
    fn lookup(&self, value: &str) -> Lookup {
        let sha1 = value.len() == 40 && value.bytes().all(|b| b.is_ascii_hexdigit());
        if let Some(email) = value
            .strip_prefix("mailto:")
            .or(value.contains('@').then_some(value))
        {
            self.roster
                .find_user(IdKind::Email, &email.to_ascii_lowercase())
        } else if sha1 {
            self.roster
                .find_user(IdKind::EmailSha1, &value.to_ascii_lowercase())
        } else if value.contains("://") {
            self.roster
                .find_user(IdKind::IriSegment, last_segment(value))
        } else {
            self.roster.find_user(IdKind::Account, value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(entity: RosterEntity, id: &str, fields: &[(&str, &str)]) -> RosterRecord {
        RosterRecord::active("t", entity, id, fields)
    }

    fn directory() -> Directory {
        let mut d = Directory::new("t", IdentityConfig::default());
        for (id, name, email) in [("u1", "ada", "Ada@School.example"), ("u2", "bob", "b@s")] {
            d.apply(record(
                RosterEntity::User,
                id,
                &[("username", name), ("email", email), ("role", "student")],
            ));
        }
        d.apply(record(
            RosterEntity::Enrollment,
            "e1",
            &[
                ("userSourcedId", "u1"),
                ("classSourcedId", "c1"),
                ("role", "student"),
            ],
        ));
        d.apply(record(
            RosterEntity::Enrollment,
            "e2",
            &[
                ("userSourcedId", "u2"),
                ("classSourcedId", "c1"),
                ("role", "student"),
            ],
        ));
        d.apply(record(
            RosterEntity::Consent,
            "u1",
            &[("optedOut", "false")],
        ));
        d.apply(record(RosterEntity::Class, "c1", &[("title", "Maths")]));
        d
    }

    #[test]
    fn a_sourced_id_finds_the_user_and_every_record_of_theirs() {
        let s = directory().resolve("u1").unwrap();
        assert_eq!(s.sourced_id, "u1");
        assert_eq!(s.resolved_by, "roster sourcedId");
        assert_eq!(
            s.roster_keys,
            ["t/consent/u1", "t/enrollment/e1", "t/user/u1"]
        );
    }

    #[test]
    fn identifiers_resolve_by_the_identity_rules() {
        let d = directory();
        for id in [
            "mailto:ada@school.example",
            "ADA@school.example",
            "ada",
            "https://lms.example/users/ada",
        ] {
            let s = d.resolve(id).unwrap();
            assert_eq!(
                (s.sourced_id.as_str(), s.resolved_by),
                ("u1", "roster identity"),
                "{id}"
            );
        }
    }

    #[test]
    fn a_learner_gone_from_the_roster_is_erased_by_sourced_id() {
        let mut d = directory();
        d.delete("t/user/u2");
        d.delete("t/enrollment/e2");
        let s = d.resolve("u2").unwrap();
        assert_eq!(s.resolved_by, "sourcedId (not in the roster)");
        assert!(s.roster_keys.is_empty());
        assert!(matches!(d.resolve("  "), Err(EraseError::Empty)));
    }

    #[test]
    fn a_shared_identifier_is_refused() {
        let mut d = directory();
        d.apply(record(
            RosterEntity::User,
            "u3",
            &[("username", "ada"), ("role", "student")],
        ));
        assert!(matches!(d.resolve("ada"), Err(EraseError::Ambiguous(2))));
    }
}
