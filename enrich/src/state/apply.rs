//! Applying roster records and tombstones to the [`Roster`]: each entity
//! updates its compact form and the indexes in place.

use std::collections::HashMap;
use std::sync::Arc;

use lap_schemas::{Role, RosterEntity, RosterRecord, RosterStatus};
use sha1::{Digest, Sha1};

use super::index::{Hash128, ID_DOMAIN, KEY_DOMAIN, hash};
use super::{ClassInfo, CourseInfo, IdKind, RoleRow, Roster, Session, UserSlot};
use crate::roster::parse_key;

/// lap's role for a OneRoster role name.
pub fn role(oneroster: &str) -> Role {
    match oneroster {
        "student" => Role::Learner,
        "teacher" => Role::Teacher,
        "parent" | "guardian" | "relative" => Role::Guardian,
        "administrator"
        | "aide"
        | "proctor"
        | "districtAdministrator"
        | "siteAdministrator"
        | "systemAdministrator"
        | "principal"
        | "counselor" => Role::Administrator,
        _ => Role::Other,
    }
}

/// Values of a comma-separated OneRoster list column.
pub fn list(r: &RosterRecord, field: &str) -> Vec<String> {
    r.fields
        .get(field)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// Values of a user field for identity matching; `userIds` entries are
/// `{type:value}` and contribute their value.
fn identity_values(user: &RosterRecord, field: &str) -> Vec<String> {
    match field {
        "sourcedId" => vec![user.sourced_id.clone()],
        "userIds" => list(user, "userIds")
            .into_iter()
            .map(|e| {
                let inner = e.trim_start_matches('{').trim_end_matches('}');
                inner.split_once(':').map_or(inner, |(_, v)| v).to_string()
            })
            .collect(),
        f => user.fields.get(f).cloned().into_iter().collect(),
    }
}

fn day(r: &RosterRecord, field: &str) -> Option<i64> {
    let d = chrono::NaiveDate::parse_from_str(r.fields.get(field)?, "%Y-%m-%d").ok()?;
    Some(
        d.signed_duration_since(chrono::NaiveDate::default())
            .num_days(),
    )
}

impl Roster {
    /// Applies a record (an upsert, or a delete when `tobedeleted`).
    pub fn apply(&mut self, record: RosterRecord) {
        // Class memberships are derived from this roster for the
        // aggregate: the join has them already.
        if *record.tenant != *self.tenant || record.entity == RosterEntity::ClassMember {
            return;
        }
        if record.status == RosterStatus::Tobedeleted {
            self.remove(record.entity, &record.sourced_id);
            return;
        }
        self.version += 1;
        let id = record.sourced_id.as_str();
        let added = match record.entity {
            RosterEntity::User => self.put_user(&record),
            RosterEntity::Class => self.put_class(&record),
            RosterEntity::Course => {
                let old = self.remove_course(id);
                let id: Arc<str> = Arc::from(id);
                let code = record
                    .fields
                    .get("courseCode")
                    .map(|c| Box::<str>::from(c.as_str()));
                if let Some(code) = &code {
                    self.course_codes
                        .entry(code.clone())
                        .or_insert_with(|| id.clone());
                }
                let info = CourseInfo {
                    code,
                    subject_codes: list(&record, "subjectCodes"),
                    grades: list(&record, "grades"),
                };
                self.courses.insert(id, info);
                !old
            }
            RosterEntity::AcademicSession => {
                let session = Session {
                    start_day: day(&record, "startDate").unwrap_or(i64::MAX),
                    end_day: day(&record, "endDate").unwrap_or(i64::MIN),
                };
                self.sessions.insert(Arc::from(id), session).is_none()
            }
            RosterEntity::Enrollment => self.put_enrollment(&record),
            RosterEntity::Role => self.put_role(&record),
            RosterEntity::Consent => {
                let u = self.intern_user(id);
                let opted_out = record.fields.get("optedOut").is_some_and(|v| v == "true");
                self.user_slots[u as usize].opted_out = opted_out;
                self.others.insert(self.key_hash(record.entity, id))
            }
            _ => self.others.insert(self.key_hash(record.entity, id)),
        };
        self.records += usize::from(added);
    }

    /// Applies a change planned for the roster topic.
    pub fn apply_change(&mut self, change: &crate::roster::Change) {
        match change {
            crate::roster::Change::Upsert(r) => self.apply(r.clone()),
            crate::roster::Change::Delete(key) => self.delete(key),
        }
    }

    /// Applies a tombstone for `key` (a compacted-topic delete).
    pub fn delete(&mut self, key: &str) {
        if let Some((tenant, entity, id)) = parse_key(key)
            && *tenant == *self.tenant
        {
            self.remove(entity, id);
        }
    }

    fn key_hash(&self, entity: RosterEntity, id: &str) -> Hash128 {
        hash(
            KEY_DOMAIN,
            &crate::roster::record_key(&self.tenant, entity, id),
        )
    }

    fn intern_user(&mut self, id: &str) -> u32 {
        let u = self.users.intern(id);
        if u as usize == self.user_slots.len() {
            self.user_slots.push(UserSlot::default());
        }
        u
    }

    fn intern_class(&mut self, id: &str) -> u32 {
        let c = self.classes.intern(id);
        if c as usize == self.class_slots.len() {
            self.class_slots.push(ClassInfo::default());
        }
        c
    }

    fn remove(&mut self, entity: RosterEntity, id: &str) {
        let removed = match entity {
            RosterEntity::User => self.users.get(id).is_some_and(|u| {
                self.unindex_user(u);
                let slot = &mut self.user_slots[u as usize];
                let was = slot.present;
                (slot.present, slot.role, slot.school) = (false, None, None);
                was
            }),
            RosterEntity::Class => self.classes.get(id).is_some_and(|c| {
                let info = std::mem::take(&mut self.class_slots[c as usize]);
                if let Some(code) = &info.code
                    && self.class_codes.get(code) == Some(&c)
                {
                    self.class_codes.remove(code);
                }
                info.present
            }),
            RosterEntity::Course => self.remove_course(id),
            RosterEntity::AcademicSession => self.sessions.remove(id).is_some(),
            RosterEntity::Enrollment => {
                let key = self.key_hash(entity, id);
                self.enrollments.remove(&key).is_some_and(|(u, c)| {
                    self.unenroll(u, c);
                    true
                })
            }
            RosterEntity::Role => {
                let key = self.key_hash(entity, id);
                self.role_rows.remove(&key).is_some_and(|u| {
                    self.unrole(u, key);
                    true
                })
            }
            _ => {
                if entity == RosterEntity::Consent
                    && let Some(u) = self.users.get(id)
                {
                    self.user_slots[u as usize].opted_out = false;
                }
                let key = self.key_hash(entity, id);
                self.others.remove(&key)
            }
        };
        if removed {
            self.version += 1;
            self.records -= 1;
        }
    }

    /// Removes a course and its code; whether it was there.
    fn remove_course(&mut self, id: &str) -> bool {
        let Some(old) = self.courses.remove(id) else {
            return false;
        };
        if let Some(code) = &old.code
            && self.course_codes.get(code).is_some_and(|c| **c == *id)
        {
            self.course_codes.remove(code);
        }
        true
    }

    fn put_user(&mut self, r: &RosterRecord) -> bool {
        let u = self.intern_user(&r.sourced_id);
        self.unindex_user(u);
        let mut ids: HashMap<Hash128, u8> = HashMap::new();
        let mut add = |kind: IdKind, value: &str| {
            *ids.entry(hash(ID_DOMAIN, value)).or_default() |= kind.bit();
        };
        for f in &self.rules.account_fields {
            identity_values(r, f)
                .iter()
                .for_each(|v| add(IdKind::Account, v));
        }
        for f in &self.rules.iri_fields {
            identity_values(r, f)
                .iter()
                .for_each(|v| add(IdKind::IriSegment, v));
        }
        if let Some(email) = r.fields.get("email") {
            let email = email.trim().to_ascii_lowercase();
            let sha = hex::encode(Sha1::digest(format!("mailto:{email}").as_bytes()));
            add(IdKind::EmailSha1, &sha);
            add(IdKind::Email, &email);
        }
        for (&h, &kinds) in &ids {
            self.identities.insert(h, u, kinds);
        }
        let school = r
            .fields
            .get("primaryOrgSourcedId")
            .cloned()
            .or_else(|| list(r, "orgSourcedIds").into_iter().next())
            .map(|s| self.schools.intern(&s));
        let slot = &mut self.user_slots[u as usize];
        slot.identities = ids.into_keys().collect();
        slot.role = r.fields.get("role").map(|n| role(n));
        slot.school = school;
        !std::mem::replace(&mut slot.present, true)
    }

    fn unindex_user(&mut self, u: u32) {
        for h in std::mem::take(&mut self.user_slots[u as usize].identities) {
            self.identities.remove(h, u);
        }
    }

    fn put_class(&mut self, r: &RosterRecord) -> bool {
        let c = self.intern_class(&r.sourced_id);
        if let Some(code) = self.class_slots[c as usize].code.take()
            && self.class_codes.get(&code) == Some(&c)
        {
            self.class_codes.remove(&code);
        }
        let code = r
            .fields
            .get("classCode")
            .map(|s| Box::<str>::from(s.as_str()));
        if let Some(code) = &code {
            self.class_codes.entry(code.clone()).or_insert(c);
        }
        let arc = |f: &str| r.fields.get(f).map(|s| Arc::<str>::from(s.as_str()));
        let info = ClassInfo {
            present: true,
            code,
            course_id: arc("courseSourcedId"),
            school_id: arc("schoolSourcedId"),
            term_ids: list(r, "termSourcedIds")
                .iter()
                .map(|t| Arc::from(t.as_str()))
                .collect(),
            subject_codes: list(r, "subjectCodes"),
            grades: list(r, "grades"),
        };
        !std::mem::replace(&mut self.class_slots[c as usize], info).present
    }

    fn put_enrollment(&mut self, r: &RosterRecord) -> bool {
        let key = self.key_hash(RosterEntity::Enrollment, &r.sourced_id);
        let was = self.enrollments.remove(&key);
        if let Some((u, c)) = was {
            self.unenroll(u, c);
        }
        if let (Some(user), Some(class), Some(name)) = (
            r.fields.get("userSourcedId"),
            r.fields.get("classSourcedId"),
            r.fields.get("role"),
        ) {
            let (u, c) = (self.intern_user(user), self.intern_class(class));
            self.user_slots[u as usize].classes.push((c, role(name)));
            self.enrollments.insert(key, (u, c));
        }
        was.is_none()
    }

    /// Removes one enrollment of user `u` in class `c`.
    /// Removes the 1.2 role row with key hash `key` from user `u`.
    fn unrole(&mut self, u: u32, key: Hash128) {
        if let Some(rows) = self.roles.get_mut(&u) {
            rows.retain(|r| r.key != key);
            if rows.is_empty() {
                self.roles.remove(&u);
            }
        }
    }

    fn unenroll(&mut self, u: u32, c: u32) {
        let classes = &mut self.user_slots[u as usize].classes;
        if let Some(i) = classes.iter().position(|e| e.0 == c) {
            classes.swap_remove(i);
        }
    }

    fn put_role(&mut self, r: &RosterRecord) -> bool {
        let key = self.key_hash(RosterEntity::Role, &r.sourced_id);
        let was = self.role_rows.remove(&key);
        if let Some(u) = was {
            self.unrole(u, key);
        }
        if let (Some(user), Some(name)) = (r.fields.get("userSourcedId"), r.fields.get("role")) {
            let u = self.intern_user(user);
            let org = r.fields.get("orgSourcedId").map(|o| self.schools.intern(o));
            self.roles.entry(u).or_default().push(RoleRow {
                key,
                role: role(name),
                org,
                primary: r.fields.get("roleType").is_none_or(|t| t == "primary"),
            });
            self.role_rows.insert(key, u);
        }
        was.is_none()
    }
}
