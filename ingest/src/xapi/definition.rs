//! Activity definitions (xAPI Data 2.4.4.1), with the rules of interaction
//! activities: a definition that describes an interaction (a correct
//! response pattern or interaction components) says which interaction it is,
//! and carries only the component lists that interaction type uses.

use super::objects::ObjectInfo;
use super::{Walk, lang_map};
use crate::check::{self, Keys, XAPI, get};
use crate::json::Json;
use crate::problem::Path;

const COMPONENT_KEYS: Keys = Keys::new(&["id", "description"]);
const DEFINITION_KEYS: Keys = Keys::new(&[
    "name",
    "description",
    "type",
    "moreInfo",
    "extensions",
    "interactionType",
    "correctResponsesPattern",
    "choices",
    "scale",
    "source",
    "target",
    "steps",
]);
const INTERACTION_TYPES: &[&str] = &[
    "true-false",
    "choice",
    "fill-in",
    "long-fill-in",
    "matching",
    "performance",
    "sequencing",
    "likert",
    "numeric",
    "other",
];
/// The interaction component lists, in the spec's order.
const COMPONENT_LISTS: [&str; 5] = ["choices", "scale", "source", "target", "steps"];

/// The component lists an interaction type uses (xAPI Data 2.4.4.1,
/// "Interaction Components"); the other types use none.
fn component_lists(interaction_type: &str) -> &'static [&'static str] {
    match interaction_type {
        "choice" | "sequencing" => &["choices"],
        "likert" => &["scale"],
        "matching" => &["source", "target"],
        "performance" => &["steps"],
        _ => &[],
    }
}

/// Validates an Activity definition and records its name, type and
/// extensions in `info`.
pub(super) fn definition<'j, 'a>(
    v: &'j Json<'a>,
    path: &Path<'_>,
    info: &mut ObjectInfo<'j, 'a>,
    w: &mut Walk<'_>,
) {
    let Some(members) = check::object(
        v,
        path,
        "an Activity definition",
        &DEFINITION_KEYS,
        XAPI,
        w.probs,
    ) else {
        return;
    };
    if let Some(name) = get(members, "name") {
        info.object.name = lang_map(name, &path.key("name"), w).map(str::to_string);
    }
    if let Some(d) = get(members, "description") {
        lang_map(d, &path.key("description"), w);
    }
    if let Some(t) = get(members, "type") {
        info.object.object_type =
            check::iri(t, &path.key("type"), XAPI, w.probs).map(str::to_string);
    }
    if let Some(m) = get(members, "moreInfo") {
        check::iri(m, &path.key("moreInfo"), XAPI, w.probs);
    }
    if let Some(e) = get(members, "extensions") {
        super::extensions(e, &path.key("extensions"), w);
        info.extensions = Some(e);
    }
    let interaction_type = get(members, "interactionType").and_then(|it| {
        let p = path.key("interactionType");
        let s = check::string(it, &p, XAPI, w.probs)?;
        if INTERACTION_TYPES.contains(&s) {
            return Some(s);
        }
        w.probs.add(
            "xapi.definition.interaction_type",
            &p,
            format!(
                "`{s}` is not an interaction type ({})",
                INTERACTION_TYPES.join(", ")
            ),
        );
        None
    });
    // An unknown interactionType was reported above; the lists are then
    // checked against no type rather than reported as undeclared.
    let declared = get(members, "interactionType").is_some();
    if let Some(c) = get(members, "correctResponsesPattern") {
        let p = path.key("correctResponsesPattern");
        if !declared {
            interaction_type_missing("correctResponsesPattern", &p, w);
        }
        if let Some(items) = check::array(c, &p, XAPI, w.probs) {
            for (i, item) in items.iter().enumerate() {
                check::string(item, &p.index(i), XAPI, w.probs);
            }
        }
    }
    for list in COMPONENT_LISTS {
        let Some(c) = get(members, list) else {
            continue;
        };
        let p = path.key(list);
        match interaction_type {
            None if !declared => interaction_type_missing(list, &p, w),
            Some(t) if !component_lists(t).contains(&list) => {
                let uses = match component_lists(t) {
                    [] => "no component lists".to_string(),
                    lists => lists.join(" and "),
                };
                w.probs.add(
                    "xapi.definition.components",
                    &p,
                    format!("a `{t}` interaction has no `{list}`; it uses {uses}"),
                );
            }
            _ => {}
        }
        if let Some(items) = check::array(c, &p, XAPI, w.probs) {
            components(items, &p, w);
        }
    }
}

fn interaction_type_missing(list: &str, path: &Path<'_>, w: &mut Walk<'_>) {
    w.probs.add(
        "xapi.definition.interaction_type_missing",
        path,
        format!(
            "`{list}` describes an interaction, so the definition needs `interactionType` ({})",
            INTERACTION_TYPES.join(", ")
        ),
    );
}

/// One component list: objects with a string `id`, distinct within the list.
fn components(items: &[Json<'_>], path: &Path<'_>, w: &mut Walk<'_>) {
    for (i, item) in items.iter().enumerate() {
        let ip = path.index(i);
        let Some(comp) = check::object(
            item,
            &ip,
            "an interaction component",
            &COMPONENT_KEYS,
            XAPI,
            w.probs,
        ) else {
            continue;
        };
        let id = check::required(comp, "id", &ip, "an interaction component", XAPI, w.probs)
            .and_then(|id| check::string(id, &ip.key("id"), XAPI, w.probs));
        if let Some(id) = id
            && items[..i]
                .iter()
                .any(|earlier| earlier.get("id").and_then(Json::as_str) == Some(id))
        {
            w.probs.add(
                "xapi.definition.component_id",
                &ip.key("id"),
                format!("component id `{id}` appears twice in this list; ids must be distinct"),
            );
        }
        if let Some(d) = get(comp, "description") {
            lang_map(d, &ip.key("description"), w);
        }
    }
}
