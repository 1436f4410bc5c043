//! The roster as enrich sees it: what the join needs from every record of
//! the compacted roster topic (or straight from a load in embedded mode),
//! kept small and indexed as records arrive.
//!
//! Memory is the constraint: a large authority has a million learners and
//! several million enrollments, and each enrich replica holds all of them.
//! So no record is kept whole. Users and classes are interned to `u32`s;
//! enrollments live in their user's class list; identifiers (usernames,
//! emails, ...) and the keys of records that only need to be found again
//! for a delete are held as 128-bit hashes, never as text. Indexes are
//! updated record by record, so a roster change during the day costs
//! microseconds, not a rebuild.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use lap_runtime::config::IdentityConfig;
use lap_schemas::Role;

mod apply;
mod index;

pub use apply::{list, role};

use index::{FastMap, Hash128, ID_DOMAIN, Identities, Interner, PreHashed, hash};

/// How an actor identifier is compared with the roster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdKind {
    /// An account name (`enrich.identity.account_fields`).
    Account,
    /// An email address (lower case, no `mailto:`).
    Email,
    /// SHA-1 of `mailto:<email>`, hex.
    EmailSha1,
    /// Last segment of an actor IRI (`enrich.identity.iri_fields`).
    IriSegment,
}

impl IdKind {
    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A OneRoster 1.2 `roles.csv` row, kept on its user.
#[derive(Debug)]
struct RoleRow {
    key: Hash128,
    role: Role,
    org: Option<u32>,
    primary: bool,
}

/// A user: a slot exists as soon as any record names the sourcedId, and
/// `present` once its own users.csv record has arrived.
#[derive(Debug, Default)]
struct UserSlot {
    present: bool,
    opted_out: bool,
    role: Option<Role>,
    school: Option<u32>,
    /// Hashes of the identifiers indexed for this user, to unindex them.
    identities: Box<[Hash128]>,
    /// Classes with the enrollment role.
    classes: Vec<(u32, Role)>,
}

/// A class and what the join reports about it.
#[derive(Clone, Debug, Default)]
pub struct ClassInfo {
    /// Whether its own record has arrived.
    present: bool,
    /// classCode, to unindex it.
    code: Option<Box<str>>,
    /// The course it is an offering of.
    pub course_id: Option<Arc<str>>,
    /// The school (org).
    pub school_id: Option<Arc<str>>,
    /// Its terms.
    pub term_ids: Vec<Arc<str>>,
    /// Its own subject codes (the course's apply when empty).
    pub subject_codes: Vec<String>,
    /// Its own grades (the course's apply when empty).
    pub grades: Vec<String>,
}

/// A course's code and the facts its classes inherit.
#[derive(Clone, Debug, Default)]
pub struct CourseInfo {
    code: Option<Box<str>>,
    /// Subject codes.
    pub subject_codes: Vec<String>,
    /// Grades.
    pub grades: Vec<String>,
}

/// A term (or other academic session) with its dates, in days since the
/// epoch; an academic session without valid dates contains no day.
#[derive(Clone, Debug)]
pub struct Session {
    /// First day.
    pub start_day: i64,
    /// Last day (OneRoster's endDate, inclusive).
    pub end_day: i64,
}

/// A roster user found for an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserRef(u32);

/// A roster class found for an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClassRef(u32);

/// What looking an identifier up found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Exactly this user.
    One(UserRef),
    /// This many users hold it.
    Ambiguous(usize),
    /// Nobody.
    None,
}

/// The tenant's roster.
#[derive(Debug)]
pub struct Roster {
    tenant: Arc<str>,
    rules: IdentityConfig,
    version: u64,
    records: usize,
    users: Interner,
    user_slots: Vec<UserSlot>,
    classes: Interner,
    class_slots: Vec<ClassInfo>,
    class_codes: FastMap<Box<str>, u32>,
    courses: FastMap<Arc<str>, CourseInfo>,
    course_codes: FastMap<Box<str>, Arc<str>>,
    schools: Interner,
    sessions: FastMap<Arc<str>, Session>,
    /// Who holds which identifier.
    identities: Identities,
    /// Enrollment key hash → (user, class).
    enrollments: HashMap<Hash128, (u32, u32), PreHashed>,
    /// 1.2 role key hash → user.
    role_rows: HashMap<Hash128, u32, PreHashed>,
    /// 1.2 roles by user (few users have any).
    roles: FastMap<u32, Vec<RoleRow>>,
    /// Key hashes of records the join does not use (orgs, demographics, ...).
    others: HashSet<Hash128, PreHashed>,
}

impl Roster {
    /// An empty roster for `tenant`; records of other tenants are ignored.
    pub fn new(tenant: impl Into<String>, rules: IdentityConfig) -> Self {
        Roster {
            tenant: Arc::from(tenant.into()),
            rules,
            version: 0,
            records: 0,
            users: Interner::default(),
            user_slots: Vec::new(),
            classes: Interner::default(),
            class_slots: Vec::new(),
            class_codes: FastMap::default(),
            courses: FastMap::default(),
            course_codes: FastMap::default(),
            schools: Interner::default(),
            sessions: FastMap::default(),
            identities: Identities::default(),
            enrollments: HashMap::default(),
            role_rows: HashMap::default(),
            roles: FastMap::default(),
            others: HashSet::default(),
        }
    }

    /// The tenant this roster belongs to.
    pub fn tenant(&self) -> &Arc<str> {
        &self.tenant
    }

    /// Grows whenever a record is applied or deleted; lets held events know
    /// when a retry can succeed.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Number of records held.
    pub fn len(&self) -> usize {
        self.records
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// The users holding identifier `value` under `kind` (already normalised:
    /// emails lower case without `mailto:`, SHA-1 lower-case hex).
    pub fn find_user(&self, kind: IdKind, value: &str) -> Lookup {
        let live = |&&(u, kinds): &&(u32, u8)| {
            kinds & kind.bit() != 0 && self.user_slots[u as usize].present
        };
        let holders = self.identities.holders(hash(ID_DOMAIN, value));
        let mut found = holders.iter().filter(live);
        match (found.next(), found.count()) {
            (Some(&(u, _)), 0) => Lookup::One(UserRef(u)),
            (Some(_), more) => Lookup::Ambiguous(more + 1),
            (None, _) => Lookup::None,
        }
    }

    /// The user's roster sourcedId.
    pub fn user_id(&self, u: UserRef) -> &str {
        self.users.name(u.0)
    }

    /// Whether the user opted out.
    pub fn opted_out(&self, u: UserRef) -> bool {
        self.user_slots[u.0 as usize].opted_out
    }

    /// The user's role and school outside any class: a 1.2 primary role
    /// (its org as school) first, else users.csv's role and primary org.
    pub fn user_role(&self, u: UserRef) -> (Option<Role>, Option<&str>) {
        let slot = &self.user_slots[u.0 as usize];
        let rows = self.roles.get(&u.0).map_or(&[][..], Vec::as_slice);
        let row = rows.iter().find(|r| r.primary).or(rows.first());
        let role = row.map(|r| r.role).or(slot.role);
        let school = row.and_then(|r| r.org).or(slot.school);
        (role, school.map(|s| self.schools.name(s)))
    }

    /// The user's role in class `c`, if enrolled.
    pub fn enrollment_role(&self, u: UserRef, c: ClassRef) -> Option<Role> {
        let slot = &self.user_slots[u.0 as usize];
        slot.classes.iter().find(|e| e.0 == c.0).map(|e| e.1)
    }

    /// A class by sourcedId or classCode.
    pub fn find_class(&self, name: &str) -> Option<ClassRef> {
        let c = self
            .class_codes
            .get(name)
            .copied()
            .or_else(|| self.classes.get(name))?;
        self.class_slots[c as usize].present.then_some(ClassRef(c))
    }

    /// The user's classes of the course with this sourcedId or courseCode.
    pub fn classes_of_course(&self, u: UserRef, course: &str) -> Vec<ClassRef> {
        let Some(course) = self
            .course_codes
            .get(course)
            .cloned()
            .or_else(|| self.courses.get_key_value(course).map(|(k, _)| k.clone()))
        else {
            return Vec::new();
        };
        self.user_slots[u.0 as usize]
            .classes
            .iter()
            .map(|e| e.0)
            .filter(|&c| {
                let info = &self.class_slots[c as usize];
                info.present && info.course_id.as_ref() == Some(&course)
            })
            .map(ClassRef)
            .collect()
    }

    /// The class's sourcedId and facts.
    pub fn class(&self, c: ClassRef) -> (&str, &ClassInfo) {
        (self.classes.name(c.0), &self.class_slots[c.0 as usize])
    }

    /// A course by sourcedId.
    pub fn course(&self, id: &str) -> Option<&CourseInfo> {
        self.courses.get(id)
    }

    /// An academic session by sourcedId.
    pub fn session(&self, id: &str) -> Option<&Session> {
        self.sessions.get(id)
    }

    /// Every learner of every class, as (class sourcedId, the class's
    /// school, the learner's sourcedId): users present and not opted out,
    /// enrolled as learners in a class that is present.
    pub fn class_learners(&self) -> impl Iterator<Item = (&str, Option<&str>, &str)> + '_ {
        self.user_slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| slot.present && !slot.opted_out)
            .flat_map(move |(u, slot)| {
                slot.classes
                    .iter()
                    .filter(|(_, role)| *role == Role::Learner)
                    .filter_map(move |&(c, _)| {
                        let info = &self.class_slots[c as usize];
                        info.present.then(|| {
                            (
                                self.classes.name(c),
                                info.school_id.as_deref(),
                                self.users.name(u as u32),
                            )
                        })
                    })
            })
    }
}
