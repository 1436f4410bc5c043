//! Who may see what, from the OneRoster roster alone: nothing is
//! configured per person. Teachers see the classes they teach and their
//! learners, school leaders (administrators of a school or of a district
//! above it) the class and school rows of their schools, guardians their
//! own children, learners themselves. Opted-out learners are nobody's.
//!
//! The directory holds names because it is the edge where pseudonyms meet
//! people: it derives, with the deployment's key, the pseudonym of each
//! learner a viewer is entitled to, and the pages put names on exactly
//! those rows. Nothing here is written anywhere.

use std::collections::{BTreeMap, BTreeSet};

use lap_enrich::pseudonym::Pseudonymiser;
use lap_schemas::{RosterEntity, RosterRecord, RosterStatus};

/// What a signed-in person is to the views.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Teaches classes (enrollment role `teacher`).
    Teacher,
    /// Administers a school or a district (OneRoster administrator roles).
    Leader,
    /// A learner's parent, guardian or relative (OneRoster agents).
    Guardian,
    /// A learner.
    Learner,
}

impl Role {
    /// Lower-case name, as the access records store it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Teacher => "teacher",
            Role::Leader => "leader",
            Role::Guardian => "guardian",
            Role::Learner => "learner",
        }
    }
}

/// A person of the roster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    /// OneRoster `sourcedId`.
    pub id: String,
    /// `givenName familyName`.
    pub name: String,
    /// OneRoster `role` column as exported.
    pub roster_role: String,
    /// `username`, `email` and `identifier`, for matching a sign-in.
    pub username: String,
    /// E-mail address.
    pub email: String,
    /// Institutional identifier.
    pub identifier: String,
    orgs: Vec<String>,
    agents: Vec<String>,
}

/// A class as the pages name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Class {
    /// `sourcedId`, as the indicator rows carry it.
    pub id: String,
    /// Title from `classes.csv`.
    pub title: String,
    /// The class's school.
    pub school: Option<String>,
}

/// A school or another organisation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Org {
    /// `sourcedId`.
    pub id: String,
    /// Name from `orgs.csv`.
    pub name: String,
    /// `school`, `district`, …
    pub kind: String,
    parent: Option<String>,
}

/// A learner a viewer may see, with the pseudonym their rows carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Learner {
    /// Pseudonym (the rows' `entity_id`).
    pub pseudonym: String,
    /// Name, for the page only.
    pub name: String,
    /// Classes of the learner that the viewer may see the learner in.
    pub classes: BTreeSet<String>,
}

/// Which roster field identifies a person who signs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// `sourcedId`.
    SourcedId,
    /// `username`.
    Username,
    /// `email` (compared without regard to case).
    Email,
    /// `identifier`.
    Identifier,
}

impl std::str::FromStr for Claim {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "sourcedId" => Claim::SourcedId,
            "username" => Claim::Username,
            "email" => Claim::Email,
            "identifier" => Claim::Identifier,
            other => {
                return Err(format!(
                    "`{other}` is not a roster field a sign-in can match; use sourcedId, username, email or identifier"
                ));
            }
        })
    }
}

/// Everything one signed-in person may see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Viewer {
    /// Their `sourcedId` (access records name it).
    pub person: String,
    /// Their name, for the page header.
    pub name: String,
    /// What they are to the views.
    pub role: Role,
    /// Classes whose class rows (and, for teachers, learner rows) they see.
    pub classes: BTreeSet<String>,
    /// Schools whose school rows they see (leaders).
    pub schools: BTreeSet<String>,
    /// Learners whose own rows they see, by pseudonym.
    pub learners: BTreeMap<String, Learner>,
}

impl Viewer {
    /// The learner with `pseudonym`, if this viewer may see them.
    pub fn learner(&self, pseudonym: &str) -> Option<&Learner> {
        self.learners.get(pseudonym)
    }

    /// Whether the class's own rows are theirs to see: teachers of the
    /// class, and leaders of its school.
    pub fn sees_class(&self, class: &Class) -> bool {
        match self.role {
            Role::Teacher => self.classes.contains(&class.id),
            Role::Leader => class
                .school
                .as_ref()
                .is_some_and(|s| self.schools.contains(s)),
            Role::Guardian | Role::Learner => false,
        }
    }
}

/// The roster as the views need it.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    people: BTreeMap<String, Person>,
    classes: BTreeMap<String, Class>,
    orgs: BTreeMap<String, Org>,
    /// Teacher → classes taught.
    teaching: BTreeMap<String, BTreeSet<String>>,
    /// Learner → classes (student enrollments).
    learning: BTreeMap<String, BTreeSet<String>>,
    /// Class → its learners (the same enrollments, the other way round).
    class_learners: BTreeMap<String, BTreeSet<String>>,
    /// Guardian → the learners listing them in `agentSourcedIds`.
    listed_by: BTreeMap<String, BTreeSet<String>>,
    opted_out: BTreeSet<String>,
    /// Learner sourcedId → pseudonym.
    pseudonyms: BTreeMap<String, String>,
}

fn field<'a>(r: &'a RosterRecord, name: &str) -> &'a str {
    r.fields.get(name).map_or("", |v| v.trim())
}

fn list(r: &RosterRecord, name: &str) -> Vec<String> {
    field(r, name)
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

const LEADER_ROLES: [&str; 5] = [
    "administrator",
    "districtAdministrator",
    "siteAdministrator",
    "systemAdministrator",
    "principal",
];
const GUARDIAN_ROLES: [&str; 3] = ["parent", "guardian", "relative"];

impl Directory {
    /// The directory of `records` (a loaded export of `tenant`), with
    /// learners' pseudonyms derived by `keys` exactly as enrich derives
    /// them. Deleted records are left out.
    pub fn build(
        tenant: &str,
        records: impl IntoIterator<Item = RosterRecord>,
        keys: &Pseudonymiser,
    ) -> Directory {
        let mut d = Directory::default();
        let mut enrollments = Vec::new();
        for r in records {
            if r.status == RosterStatus::Tobedeleted {
                continue;
            }
            match r.entity {
                RosterEntity::User => {
                    let name = format!("{} {}", field(&r, "givenName"), field(&r, "familyName"));
                    d.people.insert(
                        r.sourced_id.clone(),
                        Person {
                            id: r.sourced_id.clone(),
                            name: name.trim().to_string(),
                            roster_role: field(&r, "role").to_string(),
                            username: field(&r, "username").to_string(),
                            email: field(&r, "email").to_string(),
                            identifier: field(&r, "identifier").to_string(),
                            orgs: list(&r, "orgSourcedIds"),
                            agents: list(&r, "agentSourcedIds"),
                        },
                    );
                }
                RosterEntity::Class => {
                    let school = Some(field(&r, "schoolSourcedId"))
                        .filter(|s| !s.is_empty())
                        .map(String::from);
                    d.classes.insert(
                        r.sourced_id.clone(),
                        Class {
                            id: r.sourced_id.clone(),
                            title: field(&r, "title").to_string(),
                            school,
                        },
                    );
                }
                RosterEntity::Org => {
                    let parent = Some(field(&r, "parentSourcedId"))
                        .filter(|s| !s.is_empty())
                        .map(String::from);
                    d.orgs.insert(
                        r.sourced_id.clone(),
                        Org {
                            id: r.sourced_id.clone(),
                            name: field(&r, "name").to_string(),
                            kind: field(&r, "type").to_string(),
                            parent,
                        },
                    );
                }
                RosterEntity::Enrollment => enrollments.push(r),
                RosterEntity::Consent if field(&r, "optedOut") == "true" => {
                    d.opted_out.insert(r.sourced_id.clone());
                }
                _ => {}
            }
        }
        for e in enrollments {
            let (class, user) = (field(&e, "classSourcedId"), field(&e, "userSourcedId"));
            let into = match field(&e, "role") {
                "teacher" => &mut d.teaching,
                "student" => {
                    d.class_learners
                        .entry(class.to_string())
                        .or_default()
                        .insert(user.to_string());
                    &mut d.learning
                }
                _ => continue,
            };
            into.entry(user.to_string())
                .or_default()
                .insert(class.to_string());
        }
        for (id, person) in &d.people {
            if person.roster_role == "student" || d.learning.contains_key(id) {
                d.pseudonyms.insert(id.clone(), keys.key(tenant, id));
                for agent in &person.agents {
                    d.listed_by
                        .entry(agent.clone())
                        .or_default()
                        .insert(id.clone());
                }
            }
        }
        d
    }

    /// The person whose `claim` field is `value`; `None` when nobody's is,
    /// or when several people's are (a shared value names nobody).
    pub fn find(&self, claim: Claim, value: &str) -> Option<&Person> {
        if value.is_empty() {
            return None;
        }
        let mut found = self.people.values().filter(|p| match claim {
            Claim::SourcedId => p.id == value,
            Claim::Username => p.username == value,
            Claim::Email => p.email.eq_ignore_ascii_case(value),
            Claim::Identifier => p.identifier == value,
        });
        let one = found.next()?;
        found.next().is_none().then_some(one)
    }

    /// Everyone in the roster, for the demo's sign-in list.
    pub fn people(&self) -> impl Iterator<Item = &Person> {
        self.people.values()
    }

    /// The person with `sourcedId` `id`.
    pub fn person(&self, id: &str) -> Option<&Person> {
        self.people.get(id)
    }

    /// The class with `id`.
    pub fn class(&self, id: &str) -> Option<&Class> {
        self.classes.get(id)
    }

    /// The people a teacher of `class` may share a group of it with: its
    /// teachers and the leaders of its school.
    pub fn colleagues(&self, class: &Class) -> Vec<&Person> {
        self.people
            .values()
            .filter(|p| match self.role(p) {
                Some(Role::Teacher) => self
                    .teaching
                    .get(&p.id)
                    .is_some_and(|c| c.contains(&class.id)),
                Some(Role::Leader) => class
                    .school
                    .as_ref()
                    .is_some_and(|s| self.schools_under(&p.orgs).contains(s)),
                _ => false,
            })
            .collect()
    }

    /// The organisation with `id`.
    pub fn org(&self, id: &str) -> Option<&Org> {
        self.orgs.get(id)
    }

    /// What the person with `id` may see, or `None` if they have no role
    /// the views serve (or are an opted-out learner).
    pub fn viewer(&self, id: &str) -> Option<Viewer> {
        let person = self.people.get(id)?;
        let role = self.role(person)?;
        let mut viewer = Viewer {
            person: person.id.clone(),
            name: person.name.clone(),
            role,
            classes: BTreeSet::new(),
            schools: BTreeSet::new(),
            learners: BTreeMap::new(),
        };
        match role {
            Role::Teacher => {
                viewer.classes = self.teaching.get(id).cloned().unwrap_or_default();
                for class in viewer.classes.clone() {
                    for learner in self.class_learners.get(&class).into_iter().flatten() {
                        self.entitle(&mut viewer, learner, [class.clone()]);
                    }
                }
            }
            Role::Leader => {
                viewer.schools = self.schools_under(&person.orgs);
                viewer.classes = self
                    .classes
                    .values()
                    .filter(|c| {
                        c.school
                            .as_ref()
                            .is_some_and(|s| viewer.schools.contains(s))
                    })
                    .map(|c| c.id.clone())
                    .collect();
            }
            Role::Guardian => {
                for child in self.children(person) {
                    let classes = self.learning.get(&child).cloned().unwrap_or_default();
                    self.entitle(&mut viewer, &child, classes);
                }
            }
            Role::Learner => {
                let classes = self.learning.get(id).cloned().unwrap_or_default();
                self.entitle(&mut viewer, id, classes);
                if viewer.learners.is_empty() {
                    return None;
                }
            }
        }
        Some(viewer)
    }

    fn role(&self, person: &Person) -> Option<Role> {
        let r = person.roster_role.as_str();
        if r == "teacher" || self.teaching.contains_key(&person.id) {
            Some(Role::Teacher)
        } else if LEADER_ROLES.contains(&r) {
            Some(Role::Leader)
        } else if GUARDIAN_ROLES.contains(&r) {
            Some(Role::Guardian)
        } else if self.pseudonyms.contains_key(&person.id) {
            Some(Role::Learner)
        } else {
            None
        }
    }

    /// Adds `learner` (unless opted out) with `classes` to what `viewer` sees.
    fn entitle(
        &self,
        viewer: &mut Viewer,
        learner: &str,
        classes: impl IntoIterator<Item = String>,
    ) {
        if self.opted_out.contains(learner) {
            return;
        }
        let (Some(pseudonym), Some(person)) =
            (self.pseudonyms.get(learner), self.people.get(learner))
        else {
            return;
        };
        viewer
            .learners
            .entry(pseudonym.clone())
            .or_insert_with(|| Learner {
                pseudonym: pseudonym.clone(),
                name: person.name.clone(),
                classes: BTreeSet::new(),
            })
            .classes
            .extend(classes);
    }

    /// A guardian's children: the learners the guardian lists as agents,
    /// and the learners listing the guardian as theirs.
    fn children(&self, guardian: &Person) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = guardian
            .agents
            .iter()
            .filter(|a| self.pseudonyms.contains_key(*a))
            .cloned()
            .collect();
        out.extend(
            self.listed_by
                .get(&guardian.id)
                .into_iter()
                .flatten()
                .cloned(),
        );
        out
    }

    /// The schools among `orgs` and below them (a district administrator
    /// leads every school of the district).
    fn schools_under(&self, orgs: &[String]) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for org in self.orgs.values().filter(|o| o.kind == "school") {
            let mut at = Some(org.id.as_str());
            // Bounded walk up the tree, in case a roster has a cycle.
            for _ in 0..16 {
                let Some(id) = at else { break };
                if orgs.iter().any(|o| o == id) {
                    out.insert(org.id.clone());
                    break;
                }
                at = self.orgs.get(id).and_then(|o| o.parent.as_deref());
            }
        }
        out
    }
}
