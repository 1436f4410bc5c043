//! Caliper envelopes (1.1 and 1.2): validation of the envelope and of every
//! event in it, and normalisation of each event into a [`LearningEvent`].
//! One bad event rejects only itself; a bad envelope rejects the message.

mod entities;
mod event;
pub mod extensions;
mod normalise;
pub mod vocab;

use lap_schemas::LearningEvent;

use self::vocab::CaliperVersion;
use crate::check::{self, CALIPER, Keys, get};
use crate::json::{self, Json};
use crate::problem::{Path, Problems};
use crate::time::{TimeRules, parse_timestamp};

const ENVELOPE_KEYS: Keys = Keys::new(&["sensor", "sendTime", "dataVersion", "data"]);

/// A validated event, ready to be produced.
#[derive(Clone, Debug)]
pub struct ParsedEvent {
    /// The normalised event.
    pub event: LearningEvent,
    /// Content hash, for duplicate detection.
    pub fingerprint: u64,
}

/// One item of an envelope's `data`.
#[derive(Clone, Debug)]
pub enum Item<'b> {
    /// A valid event.
    Event(Box<ParsedEvent>),
    /// A valid entity "describe" (not an event: nothing to aggregate).
    Entity,
    /// An invalid item, with its own original bytes.
    Rejected {
        /// Position in `data`.
        index: usize,
        /// Its bytes, as sent.
        bytes: &'b [u8],
        /// Why.
        problems: Problems,
    },
}

/// A valid envelope and the outcome of each of its items.
#[derive(Clone, Debug)]
pub struct Envelope<'b> {
    /// Declared version.
    pub version: CaliperVersion,
    /// Outcome per data item.
    pub items: Vec<Item<'b>>,
}

/// Whether the problems mean "unsupported dataVersion" (HTTP 422).
pub fn is_unsupported_version(p: &Problems) -> bool {
    p.0.iter()
        .any(|p| p.code == "caliper.data_version.unsupported")
}

/// Parses and validates an envelope. `stored_us` is when it was received.
pub fn parse_envelope(
    bytes: &[u8],
    max_depth: usize,
    stored_us: i64,
) -> Result<Envelope<'_>, Problems> {
    let root = Path::Root;
    let arena = json::Arena::for_input(bytes.len());
    let tree = json::parse(bytes, max_depth, &arena).map_err(|e| crate::json_problem(&e))?;
    let mut probs = Problems::default();
    let Some(members) = check::object(
        &tree,
        &root,
        "a Caliper envelope",
        &ENVELOPE_KEYS,
        CALIPER,
        &mut probs,
    ) else {
        return Err(probs);
    };
    for key in ENVELOPE_KEYS.names() {
        check::required(
            members,
            key,
            &root,
            "a Caliper envelope",
            CALIPER,
            &mut probs,
        );
    }
    if let Some(s) = get(members, "sensor")
        .and_then(|s| check::string(s, &root.key("sensor"), CALIPER, &mut probs))
        && s.is_empty()
    {
        probs.add(
            "caliper.sensor",
            &root.key("sensor"),
            "sensor must identify the sending application",
        );
    }
    if let Some(t) = get(members, "sendTime") {
        caliper_time(t, &root.key("sendTime"), "caliper.send_time", &mut probs);
    }
    let version = get(members, "dataVersion").and_then(|d| {
        let p = root.key("dataVersion");
        let s = check::string(d, &p, CALIPER, &mut probs)?;
        let v = CaliperVersion::from_iri(s);
        if v.is_none() {
            probs.add(
                "caliper.data_version.unsupported",
                &p,
                format!(
                    "dataVersion `{s}` is not supported; use {} or {}",
                    vocab::V1P1,
                    vocab::V1P2
                ),
            );
        }
        v
    });
    let data =
        get(members, "data").and_then(|d| check::array(d, &root.key("data"), CALIPER, &mut probs));
    if data.is_some_and(<[Json<'_>]>::is_empty) {
        probs.add(
            "caliper.data.empty",
            &root.key("data"),
            "data must hold at least one event or entity",
        );
    }
    let (Some(version), Some(data), true) = (version, data, probs.is_empty()) else {
        return Err(probs);
    };
    let mut raw: Option<Vec<&[u8]>> = None;
    let data_path = root.key("data");
    let items = data
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let path = data_path.index(i);
            let mut probs = Problems::default();
            let outcome = if is_event(item) {
                event::event(item, &path, version, stored_us, &mut probs)
                    .map(|e| Item::Event(Box::new(e)))
            } else {
                entity(item, &path, &mut probs).map(|_| Item::Entity)
            };
            match outcome {
                Some(item) if probs.is_empty() => item,
                _ => {
                    let slices = raw.get_or_insert_with(|| data_slices(bytes));
                    Item::Rejected {
                        index: i,
                        bytes: slices.get(i).copied().unwrap_or(bytes),
                        problems: probs,
                    }
                }
            }
        })
        .collect();
    Ok(Envelope { version, items })
}

/// The original bytes of each `data` element (computed only when one is rejected).
fn data_slices(bytes: &[u8]) -> Vec<&[u8]> {
    #[derive(serde::Deserialize)]
    struct Raw<'a> {
        #[serde(borrow)]
        data: Vec<&'a serde_json::value::RawValue>,
    }
    serde_json::from_slice::<Raw<'_>>(bytes)
        .map(|r| r.data.into_iter().map(|v| v.get().as_bytes()).collect())
        .unwrap_or_default()
}

fn is_event(v: &Json<'_>) -> bool {
    v.get("action").is_some()
        || v.get("type")
            .and_then(Json::as_str)
            .is_some_and(|t| t.ends_with("Event"))
}

/// A Caliper date-time: `YYYY-MM-DDTHH:mm:ss.SSSZ`, UTC with milliseconds.
fn caliper_time(
    v: &Json<'_>,
    path: &Path<'_>,
    code: &'static str,
    probs: &mut Problems,
) -> Option<i64> {
    let s = check::string(v, path, CALIPER, probs)?;
    let shape_ok = s.len() == 24 && s.as_bytes()[19] == b'.' && s.ends_with('Z');
    match parse_timestamp(s, TimeRules::Caliper) {
        Ok(us) if shape_ok => Some(us),
        Ok(_) => {
            probs.add(
                code,
                path,
                format!("`{s}` must be UTC with milliseconds, like 2024-03-01T08:15:00.000Z"),
            );
            None
        }
        Err(e) => {
            probs.add(code, path, e.message);
            None
        }
    }
}

/// An entity: an IRI string, or an object with an IRI `id` and a `type`.
/// Returns (id, type).
fn entity_ref<'j>(
    v: &'j Json<'_>,
    path: &Path<'_>,
    probs: &mut Problems,
) -> Option<(&'j str, Option<&'j str>)> {
    match v {
        Json::Str(s) if check::is_iri(s) => Some((*s, None)),
        Json::Str(s) => {
            probs.add(
                "caliper.entity.id",
                path,
                format!("`{s}` is not an IRI identifying an entity"),
            );
            None
        }
        Json::Object(_) => {
            let (id, ty) = entity(v, path, probs)?;
            Some((id, Some(ty)))
        }
        other => {
            probs.add(
                CALIPER.type_,
                path,
                format!("must be an entity object or an IRI, not {}", other.kind()),
            );
            None
        }
    }
}

/// An entity object (also a data item that is not an event).
fn entity<'j>(
    v: &'j Json<'_>,
    path: &Path<'_>,
    probs: &mut Problems,
) -> Option<(&'j str, &'j str)> {
    let Json::Object(members) = v else {
        probs.add(
            CALIPER.type_,
            path,
            format!("an entity must be an object, not {}", v.kind()),
        );
        return None;
    };
    let id = check::required(members, "id", path, "an entity", CALIPER, probs)
        .and_then(|id| check::string(id, &path.key("id"), CALIPER, probs));
    if let Some(id) = id
        && !check::is_iri(id)
    {
        probs.add(
            "caliper.entity.id",
            &path.key("id"),
            format!("entity id `{id}` must be an IRI"),
        );
    }
    let ty = check::required(members, "type", path, "an entity", CALIPER, probs)
        .and_then(|t| check::string(t, &path.key("type"), CALIPER, probs));
    Some((id?, ty?))
}
