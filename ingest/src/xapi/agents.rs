//! Agents and Groups (xAPI Data 2.4.2): inverse functional identifiers,
//! anonymous and identified groups, and the Agent or Group an `authority`
//! may be (2.4.9).

use lap_schemas::{Actor, ActorKind};

use super::Walk;
use crate::check::{self, Keys, XAPI, get};
use crate::json::Json;
use crate::problem::Path;

const ACCOUNT_KEYS: Keys = Keys::new(&["homePage", "name"]);
const AGENT_KEYS: Keys = Keys::new(&[
    "objectType",
    "name",
    "mbox",
    "mbox_sha1sum",
    "openid",
    "account",
]);
const GROUP_KEYS: Keys = Keys::new(&[
    "objectType",
    "name",
    "member",
    "mbox",
    "mbox_sha1sum",
    "openid",
    "account",
]);
const IFIS: [&str; 4] = ["mbox", "mbox_sha1sum", "openid", "account"];

/// Validates an Agent or Group and returns its identity. `object_type_required`
/// is true where the spec requires `objectType` (an Agent used as a
/// statement's object). Anonymous groups get a synthetic IRI derived from
/// their members, since they have no identifier of their own.
pub fn agent_or_group(
    v: &Json<'_>,
    path: &Path<'_>,
    object_type_required: bool,
    w: &mut Walk<'_>,
) -> Option<Actor> {
    // A number or an object here names no type; read as "absent" it let an
    // Agent through with any objectType at all.
    let object_type = match v.get("objectType") {
        None => None,
        Some(Json::Str(s)) => Some(*s),
        Some(other) => {
            w.probs.add(
                "xapi.agent.object_type",
                &path.key("objectType"),
                format!(
                    "objectType must be the string \"Agent\" or \"Group\", not {}",
                    other.kind()
                ),
            );
            return None;
        }
    };
    match object_type {
        Some("Group") => group(v, path, w),
        Some("Agent") => agent(v, path, w),
        None if object_type_required => {
            w.probs.add(
                "xapi.property.missing",
                &path.key("objectType"),
                "objectType is required here (\"Agent\" or \"Group\")",
            );
            None
        }
        None => agent(v, path, w),
        Some(other) => {
            w.probs.add(
                "xapi.agent.object_type",
                &path.key("objectType"),
                format!("`{other}` is not allowed here; use \"Agent\" or \"Group\""),
            );
            None
        }
    }
}

/// Validates an Agent (never a Group): also where only an Agent may stand,
/// as a Group's member, whose `objectType` is then absent or "Agent".
pub fn agent(v: &Json<'_>, path: &Path<'_>, w: &mut Walk<'_>) -> Option<Actor> {
    let members = check::object(v, path, "an Agent", &AGENT_KEYS, XAPI, w.probs)?;
    match get(members, "objectType") {
        None | Some(Json::Str("Agent")) => {}
        Some(Json::Str(other)) => w.probs.add(
            "xapi.agent.object_type",
            &path.key("objectType"),
            format!("an Agent's objectType must be \"Agent\", not `{other}`"),
        ),
        Some(other) => w.probs.add(
            "xapi.agent.object_type",
            &path.key("objectType"),
            format!(
                "an Agent's objectType must be the string \"Agent\", not {}",
                other.kind()
            ),
        ),
    }
    if let Some(n) = get(members, "name") {
        check::string(n, &path.key("name"), XAPI, w.probs);
    }
    let mut found = identifiers(members);
    match (found.next(), found.next()) {
        (Some(one), None) => ifi(members, one, path, "Agent", w),
        (None, _) => {
            w.probs.add(
                "xapi.agent.ifi",
                path,
                "an Agent needs exactly one identifier: mbox, mbox_sha1sum, openid or account",
            );
            None
        }
        _ => {
            let many: Vec<&str> = identifiers(members).collect();
            w.probs.add(
                "xapi.agent.ifi",
                path,
                format!(
                    "an Agent must have exactly one identifier, found {}",
                    many.join(", ")
                ),
            );
            None
        }
    }
}

fn group(v: &Json<'_>, path: &Path<'_>, w: &mut Walk<'_>) -> Option<Actor> {
    let members = check::object(v, path, "a Group", &GROUP_KEYS, XAPI, w.probs)?;
    if let Some(n) = get(members, "name") {
        check::string(n, &path.key("name"), XAPI, w.probs);
    }
    let mut member_ids = Vec::new();
    let member_path = path.key("member");
    if let Some(list) =
        get(members, "member").and_then(|m| check::array(m, &member_path, XAPI, w.probs))
    {
        for (i, m) in list.iter().enumerate() {
            let p = member_path.index(i);
            if m.get("objectType").and_then(Json::as_str) == Some("Group") {
                w.probs.add(
                    "xapi.group.member",
                    &p,
                    "a Group's members must be Agents, not Groups",
                );
            } else if let Some(a) = agent(m, &p, w) {
                member_ids.push(a.id);
            }
        }
    }
    let mut found = identifiers(members);
    match (found.next(), found.next()) {
        (Some(one), None) => ifi(members, one, path, "Group", w),
        (None, _) => {
            if member_ids.is_empty() && get(members, "member").is_none() {
                w.probs.add(
                    "xapi.group.member",
                    path,
                    "an anonymous Group (no identifier) must list its members in `member`",
                );
                return None;
            }
            member_ids.sort();
            let digest = super::compare::short_hash(member_ids.join("\n").as_bytes());
            Some(Actor {
                kind: ActorKind::Iri,
                id: format!("urn:lap:anonymous-group:{digest:016x}"),
                home_page: None,
                actor_type: Some("Group".into()),
            })
        }
        _ => {
            let many: Vec<&str> = identifiers(members).collect();
            w.probs.add(
                "xapi.agent.ifi",
                path,
                format!(
                    "an identified Group must have exactly one identifier, found {}",
                    many.join(", ")
                ),
            );
            None
        }
    }
}

/// A statement's `authority`: an Agent, or the Group an OAuth consumer and
/// its user form, which the spec requires to be anonymous with exactly two
/// Agents. Any other Group (identified, or of another size) would leave it
/// unclear who vouches for the statement.
pub fn authority(v: &Json<'_>, path: &Path<'_>, w: &mut Walk<'_>) {
    let is_group = matches!(v.get("objectType"), Some(Json::Str("Group")));
    if agent_or_group(v, path, false, w).is_none() || !is_group {
        return;
    }
    let Some(members) = v.as_object() else {
        return;
    };
    if let Some(found) = identifiers(members).next() {
        w.probs.add(
            "xapi.authority",
            &path.key(found),
            format!(
                "an authority Group must be anonymous (the OAuth consumer and its user); remove `{found}`, or use an Agent as authority"
            ),
        );
    }
    let count = match get(members, "member") {
        Some(Json::Array(list)) => list.len(),
        _ => 0,
    };
    if count != 2 {
        w.probs.add(
            "xapi.authority",
            &path.key("member"),
            format!(
                "an authority Group must have exactly two Agents (the OAuth consumer and its user), not {count}"
            ),
        );
    }
}

/// The inverse functional identifiers `members` has, in [`IFIS`] order
/// (an iterator: every statement has an actor, and a Vec per actor was an
/// allocation).
fn identifiers<'m, 'a>(
    members: check::Members<'m, 'a>,
) -> impl Iterator<Item = &'static str> + use<'m, 'a> {
    IFIS.iter()
        .copied()
        .filter(move |k| get(members, k).is_some())
}

fn ifi(
    members: check::Members<'_, '_>,
    key: &str,
    path: &Path<'_>,
    actor_type: &str,
    w: &mut Walk<'_>,
) -> Option<Actor> {
    let value = get(members, key)?;
    let p = path.key(key);
    let (kind, id, home_page) = match key {
        "mbox" => {
            let s = check::string(value, &p, XAPI, w.probs)?;
            let address = s.strip_prefix("mailto:");
            if !address.is_some_and(|a| a.contains('@') && !a.starts_with('@') && !a.ends_with('@'))
            {
                w.probs.add(
                    "xapi.agent.mbox",
                    &p,
                    format!("`{s}` must be a mailto: IRI such as mailto:learner@example.org"),
                );
                return None;
            }
            (ActorKind::Mbox, s.to_string(), None)
        }
        "mbox_sha1sum" => {
            let s = check::string(value, &p, XAPI, w.probs)?;
            if s.len() != 40 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                w.probs.add(
                    "xapi.agent.mbox_sha1sum",
                    &p,
                    format!("`{s}` must be the 40 hex digits of a SHA-1"),
                );
                return None;
            }
            (ActorKind::MboxSha1sum, s.to_ascii_lowercase(), None)
        }
        "openid" => {
            let s = check::iri(value, &p, XAPI, w.probs)?;
            (ActorKind::Openid, s.to_string(), None)
        }
        _ => {
            let acc = check::object(value, &p, "an account", &ACCOUNT_KEYS, XAPI, w.probs)?;
            let home = check::required(acc, "homePage", &p, "an account", XAPI, w.probs)
                .and_then(|h| check::iri(h, &p.key("homePage"), XAPI, w.probs));
            let name = check::required(acc, "name", &p, "an account", XAPI, w.probs)
                .and_then(|n| check::string(n, &p.key("name"), XAPI, w.probs));
            (
                ActorKind::Account,
                name?.to_string(),
                Some(home?.to_string()),
            )
        }
    };
    Some(Actor {
        kind,
        id,
        home_page,
        actor_type: Some(actor_type.to_string()),
    })
}
