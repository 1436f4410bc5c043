//! The roster as enrich sees it: the latest record per key, applied from
//! the compacted roster topic (or straight from a load in embedded mode),
//! and the lookup indexes the join needs.
//!
//! Records arrive in any order and change rarely, so the indexes are
//! rebuilt as a whole on the first lookup after a change rather than kept
//! incrementally: simpler to get right under deletes and re-keyed users,
//! and a rebuild of 100k users takes well under a second.

use std::collections::{BTreeMap, HashMap, HashSet};

use lap_runtime::config::IdentityConfig;
use lap_schemas::{RosterEntity, RosterRecord, RosterStatus};
use sha1::{Digest, Sha1};

use crate::roster::{parse_key, record_key};

/// How an identifier is compared: which index it is looked up in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdKind {
    /// An account name.
    Account,
    /// An email address (lower case, no `mailto:`).
    Email,
    /// SHA-1 of `mailto:<email>`, hex.
    EmailSha1,
    /// Last segment of an actor IRI.
    IriSegment,
}

/// A class with what the join reports about it.
#[derive(Clone, Debug, Default)]
pub struct ClassInfo {
    /// sourcedId.
    pub id: String,
    /// The course it is an offering of.
    pub course_id: Option<String>,
    /// The school (org).
    pub school_id: Option<String>,
    /// Its terms.
    pub term_ids: Vec<String>,
    /// Subject codes (the class's, else the course's).
    pub subject_codes: Vec<String>,
    /// Grades (the class's, else the course's).
    pub grades: Vec<String>,
}

/// A term (or other academic session) with its dates, in days since the epoch.
#[derive(Clone, Debug)]
pub struct Session {
    /// sourcedId.
    pub id: String,
    /// First day.
    pub start_day: i64,
    /// Last day (OneRoster's endDate, inclusive).
    pub end_day: i64,
}

/// Lookup indexes derived from the records.
#[derive(Debug, Default)]
pub struct Indexes {
    /// Identifier → user sourcedIds holding it.
    pub identities: HashMap<(IdKind, String), Vec<String>>,
    /// Class by sourcedId, by classCode and by IRI-safe id.
    pub classes: HashMap<String, ClassInfo>,
    /// Class sourcedId by classCode.
    pub class_codes: HashMap<String, String>,
    /// Course sourcedId by courseCode and by sourcedId.
    pub courses: HashMap<String, String>,
    /// (user, class) → OneRoster enrollment role.
    pub enrollments: HashMap<(String, String), String>,
    /// User → classes they are enrolled in.
    pub user_classes: HashMap<String, Vec<String>>,
    /// User → OneRoster role and school outside any class.
    pub user_roles: HashMap<String, (Option<String>, Option<String>)>,
    /// Sessions by sourcedId.
    pub sessions: HashMap<String, Session>,
    /// Users who opted out.
    pub opted_out: HashSet<String>,
}

/// The tenant's roster.
#[derive(Debug)]
pub struct Roster {
    tenant: String,
    rules: IdentityConfig,
    records: BTreeMap<String, RosterRecord>,
    version: u64,
    built: Option<(u64, Indexes)>,
}

impl Roster {
    /// An empty roster for `tenant`; records of other tenants are ignored.
    pub fn new(tenant: impl Into<String>, rules: IdentityConfig) -> Self {
        Roster {
            tenant: tenant.into(),
            rules,
            records: BTreeMap::new(),
            version: 0,
            built: None,
        }
    }

    /// The tenant this roster belongs to.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// Grows whenever the roster changes; lets held events know when a retry
    /// can succeed.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Number of records held.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Applies a record (an upsert, or a delete when `tobedeleted`).
    pub fn apply(&mut self, record: RosterRecord) {
        if record.tenant != self.tenant {
            return;
        }
        let key = record_key(&record.tenant, record.entity, &record.sourced_id);
        let changed = match record.status {
            RosterStatus::Tobedeleted => self.records.remove(&key).is_some(),
            RosterStatus::Active => {
                self.records.insert(key, record.clone()).as_ref() != Some(&record)
            }
        };
        if changed {
            self.version += 1;
        }
    }

    /// Applies a tombstone for `key` (a compacted-topic delete).
    pub fn delete(&mut self, key: &str) {
        if parse_key(key).is_some_and(|(t, _, _)| t == self.tenant)
            && self.records.remove(key).is_some()
        {
            self.version += 1;
        }
    }

    /// The records, by key (what `lap roster load` diffs against).
    pub fn records(&self) -> &BTreeMap<String, RosterRecord> {
        &self.records
    }

    /// A record by entity and sourcedId.
    pub fn get(&self, entity: RosterEntity, sourced_id: &str) -> Option<&RosterRecord> {
        self.records
            .get(&record_key(&self.tenant, entity, sourced_id))
    }

    /// The indexes, rebuilt first if the roster changed since the last call.
    pub fn indexes(&mut self) -> &Indexes {
        if self.built.as_ref().is_none_or(|(v, _)| *v != self.version) {
            self.built = Some((self.version, build(&self.records, &self.rules)));
        }
        &self.built.as_ref().expect("just built").1
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

fn build(records: &BTreeMap<String, RosterRecord>, rules: &IdentityConfig) -> Indexes {
    let mut ix = Indexes::default();
    let of = |e: RosterEntity| records.values().filter(move |r| r.entity == e);
    let add_id = |ix: &mut Indexes, kind, value: String, user: &str| {
        let users = ix.identities.entry((kind, value)).or_default();
        if !users.iter().any(|u| u == user) {
            users.push(user.to_string());
        }
    };
    for u in of(RosterEntity::User) {
        for f in &rules.account_fields {
            for v in identity_values(u, f) {
                add_id(&mut ix, IdKind::Account, v, &u.sourced_id);
            }
        }
        for f in &rules.iri_fields {
            for v in identity_values(u, f) {
                add_id(&mut ix, IdKind::IriSegment, v, &u.sourced_id);
            }
        }
        if let Some(email) = u.fields.get("email") {
            let email = email.trim().to_ascii_lowercase();
            let sha = hex::encode(Sha1::digest(format!("mailto:{email}").as_bytes()));
            add_id(&mut ix, IdKind::EmailSha1, sha, &u.sourced_id);
            add_id(&mut ix, IdKind::Email, email, &u.sourced_id);
        }
        let school = u
            .fields
            .get("primaryOrgSourcedId")
            .cloned()
            .or_else(|| list(u, "orgSourcedIds").into_iter().next());
        ix.user_roles.insert(
            u.sourced_id.clone(),
            (u.fields.get("role").cloned(), school),
        );
    }
    // OneRoster 1.2: roles.csv holds the user's roles per org; the primary one wins.
    for r in of(RosterEntity::Role) {
        let (Some(user), Some(role)) = (r.fields.get("userSourcedId"), r.fields.get("role")) else {
            continue;
        };
        let primary = r.fields.get("roleType").is_none_or(|t| t == "primary");
        let entry = ix.user_roles.entry(user.clone()).or_default();
        if primary || entry.0.is_none() {
            *entry = (
                Some(role.clone()),
                r.fields.get("orgSourcedId").cloned().or(entry.1.take()),
            );
        }
    }
    // Per course: [subject codes, grades], for classes that give none.
    let mut course_facts: HashMap<String, [Vec<String>; 2]> = HashMap::new();
    for c in of(RosterEntity::Course) {
        ix.courses
            .insert(c.sourced_id.clone(), c.sourced_id.clone());
        if let Some(code) = c.fields.get("courseCode") {
            ix.courses
                .entry(code.clone())
                .or_insert_with(|| c.sourced_id.clone());
        }
        course_facts.insert(
            c.sourced_id.clone(),
            [list(c, "subjectCodes"), list(c, "grades")],
        );
    }
    for c in of(RosterEntity::Class) {
        let course_id = c.fields.get("courseSourcedId").cloned();
        let from_course = course_id.as_ref().and_then(|id| course_facts.get(id));
        let or_course = |own: Vec<String>, fact: usize| {
            if own.is_empty() {
                from_course.map(|f| f[fact].clone()).unwrap_or_default()
            } else {
                own
            }
        };
        let info = ClassInfo {
            id: c.sourced_id.clone(),
            school_id: c.fields.get("schoolSourcedId").cloned(),
            term_ids: list(c, "termSourcedIds"),
            subject_codes: or_course(list(c, "subjectCodes"), 0),
            grades: or_course(list(c, "grades"), 1),
            course_id,
        };
        if let Some(code) = c.fields.get("classCode") {
            ix.class_codes
                .entry(code.clone())
                .or_insert_with(|| c.sourced_id.clone());
        }
        ix.classes.insert(c.sourced_id.clone(), info);
    }
    for e in of(RosterEntity::Enrollment) {
        let (Some(user), Some(class), Some(role)) = (
            e.fields.get("userSourcedId"),
            e.fields.get("classSourcedId"),
            e.fields.get("role"),
        ) else {
            continue;
        };
        ix.enrollments
            .insert((user.clone(), class.clone()), role.clone());
        ix.user_classes
            .entry(user.clone())
            .or_default()
            .push(class.clone());
    }
    for s in of(RosterEntity::AcademicSession) {
        let day = |f: &str| {
            s.fields
                .get(f)
                .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                .map(|d| {
                    d.signed_duration_since(chrono::NaiveDate::default())
                        .num_days()
                })
        };
        if let (Some(start_day), Some(end_day)) = (day("startDate"), day("endDate")) {
            ix.sessions.insert(
                s.sourced_id.clone(),
                Session {
                    id: s.sourced_id.clone(),
                    start_day,
                    end_day,
                },
            );
        }
    }
    for c in of(RosterEntity::Consent) {
        if c.fields.get("optedOut").is_some_and(|v| v == "true") {
            ix.opted_out.insert(c.sourced_id.clone());
        }
    }
    ix
}
