//! Hand-written Avro binary encoding of the two records every event passes
//! through (`LearningEvent`, `EnrichedEvent`), in their current schema
//! version only.
//!
//! The generic serde path of `apache-avro` costs about 3 µs per record each
//! way, as much as the enrich join itself; these are ~10x faster. They are
//! not a second source of truth: `tests/fast_codec.rs` checks on random
//! records that they write exactly the bytes the generic writer writes and
//! read back what it reads, so a schema change that forgets them fails the
//! build's tests. Older writer versions always take the generic path.

use crate::records::{
    Action, Actor, ActorKind, EnrichedEvent, EventContext, EventObject, EventResult, LearningEvent,
    Role, SourceStandard,
};

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FastError {
    /// The body ended inside a value.
    #[error("truncated at byte {0}")]
    Truncated(usize),
    /// A value is not valid for its type.
    #[error("invalid {what} at byte {at}")]
    Invalid {
        /// What was being read.
        what: &'static str,
        /// Where.
        at: usize,
    },
    /// Bytes follow the record.
    #[error("{0} bytes after the record")]
    Trailing(usize),
}

/// A record with a hand-written codec for its current schema version.
pub trait Fast: Sized {
    /// Appends the Avro binary body.
    fn write(&self, w: &mut Vec<u8>);
    /// Reads the Avro binary body.
    fn read(r: &mut Input<'_>) -> Result<Self, FastError>;
}

/// Reads `body` as a whole record.
pub fn read_all<T: Fast>(body: &[u8]) -> Result<T, FastError> {
    let mut r = Input { bytes: body, at: 0 };
    let v = T::read(&mut r)?;
    match body.len() - r.at {
        0 => Ok(v),
        n => Err(FastError::Trailing(n)),
    }
}

fn long(w: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        w.push((z as u8) | 0x80);
        z >>= 7;
    }
    w.push(z as u8);
}

fn string(w: &mut Vec<u8>, s: &str) {
    long(w, s.len() as i64);
    w.extend_from_slice(s.as_bytes());
}

fn strings(w: &mut Vec<u8>, items: &[String]) {
    if !items.is_empty() {
        long(w, items.len() as i64);
        items.iter().for_each(|s| string(w, s));
    }
    w.push(0);
}

fn opt<T>(w: &mut Vec<u8>, v: &Option<T>, f: impl FnOnce(&mut Vec<u8>, &T)) {
    match v {
        None => w.push(0),
        Some(x) => {
            w.push(2); // union branch 1, zigzag
            f(w, x);
        }
    }
}

fn opt_str(w: &mut Vec<u8>, v: &Option<String>) {
    opt(w, v, |w, s| string(w, s));
}

fn opt_f64(w: &mut Vec<u8>, v: &Option<f64>) {
    opt(w, v, |w, x| w.extend_from_slice(&x.to_le_bytes()));
}

fn opt_bool(w: &mut Vec<u8>, v: &Option<bool>) {
    opt(w, v, |w, b| w.push(u8::from(*b)));
}

fn opt_long(w: &mut Vec<u8>, v: &Option<i64>) {
    opt(w, v, |w, x| long(w, *x));
}

/// The fields both events start with, in schema order.
fn head(w: &mut Vec<u8>, id: &str, source: SourceStandard, version: &str, times: [i64; 2]) {
    string(w, id);
    long(w, source as i64);
    string(w, version);
    long(w, times[0]);
    long(w, times[1]);
}

/// The outcome fields both events share, in schema order.
fn outcome(
    w: &mut Vec<u8>,
    scores: [&Option<f64>; 4],
    flags: [&Option<bool>; 2],
    ms: &Option<i64>,
) {
    scores.into_iter().for_each(|x| opt_f64(w, x));
    flags.into_iter().for_each(|x| opt_bool(w, x));
    opt_long(w, ms);
}

/// The fields both events start with: id, source, spec version, event and
/// stored time.
type Head = (String, SourceStandard, String, i64, i64);

/// A cursor over a record body.
pub struct Input<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Input<'_> {
    fn byte(&mut self) -> Result<u8, FastError> {
        let b = *self
            .bytes
            .get(self.at)
            .ok_or(FastError::Truncated(self.at))?;
        self.at += 1;
        Ok(b)
    }

    fn long(&mut self) -> Result<i64, FastError> {
        let (mut z, mut shift) = (0u64, 0);
        loop {
            let b = self.byte()?;
            if shift > 63 {
                return Err(self.invalid("varint"));
            }
            z |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(((z >> 1) as i64) ^ -((z & 1) as i64));
            }
            shift += 7;
        }
    }

    fn invalid(&self, what: &'static str) -> FastError {
        FastError::Invalid { what, at: self.at }
    }

    fn take(&mut self, n: usize) -> Result<&[u8], FastError> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.bytes.len());
        let end = end.ok_or(FastError::Truncated(self.bytes.len()))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn string(&mut self) -> Result<String, FastError> {
        let n = usize::try_from(self.long()?).map_err(|_| self.invalid("string length"))?;
        let bytes = self.take(n)?.to_vec();
        String::from_utf8(bytes).map_err(|_| self.invalid("UTF-8 string"))
    }

    fn strings(&mut self) -> Result<Vec<String>, FastError> {
        let mut out = Vec::new();
        loop {
            let n = self.long()?;
            if n == 0 {
                return Ok(out);
            }
            if n < 0 {
                self.long()?; // a negative count is followed by the block's size
            }
            for _ in 0..n.unsigned_abs() {
                out.push(self.string()?);
            }
        }
    }

    fn present(&mut self) -> Result<bool, FastError> {
        match self.long()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(self.invalid("union branch")),
        }
    }

    fn opt<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, FastError>,
    ) -> Result<Option<T>, FastError> {
        if self.present()? {
            f(self).map(Some)
        } else {
            Ok(None)
        }
    }

    fn opt_str(&mut self) -> Result<Option<String>, FastError> {
        self.opt(Self::string)
    }

    fn f64(&mut self) -> Result<f64, FastError> {
        Ok(f64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn opt_f64(&mut self) -> Result<Option<f64>, FastError> {
        self.opt(Self::f64)
    }

    fn opt_bool(&mut self) -> Result<Option<bool>, FastError> {
        self.opt(|r| match r.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(r.invalid("boolean")),
        })
    }

    fn opt_long(&mut self) -> Result<Option<i64>, FastError> {
        self.opt(Self::long)
    }

    fn head(&mut self) -> Result<Head, FastError> {
        Ok((
            self.string()?,
            self.symbol(&SOURCES, "source")?,
            self.string()?,
            self.long()?,
            self.long()?,
        ))
    }

    /// The shared outcome fields, as an `EventResult` without response.
    fn outcome(&mut self) -> Result<EventResult, FastError> {
        Ok(EventResult {
            score_scaled: self.opt_f64()?,
            score_raw: self.opt_f64()?,
            score_min: self.opt_f64()?,
            score_max: self.opt_f64()?,
            success: self.opt_bool()?,
            completion: self.opt_bool()?,
            duration_ms: self.opt_long()?,
            response: None,
        })
    }

    fn symbol<T: Copy>(&mut self, all: &[T], what: &'static str) -> Result<T, FastError> {
        let i = self.long()?;
        usize::try_from(i)
            .ok()
            .and_then(|i| all.get(i).copied())
            .ok_or_else(|| self.invalid(what))
    }
}

const SOURCES: [SourceStandard; 2] = [SourceStandard::Xapi, SourceStandard::Caliper];
const ACTOR_KINDS: [ActorKind; 5] = [
    ActorKind::Account,
    ActorKind::Mbox,
    ActorKind::MboxSha1sum,
    ActorKind::Openid,
    ActorKind::Iri,
];

impl Fast for Actor {
    fn write(&self, w: &mut Vec<u8>) {
        long(w, self.kind as i64);
        string(w, &self.id);
        opt_str(w, &self.home_page);
        opt_str(w, &self.actor_type);
    }

    fn read(r: &mut Input<'_>) -> Result<Self, FastError> {
        Ok(Actor {
            kind: r.symbol(&ACTOR_KINDS, "actor kind")?,
            id: r.string()?,
            home_page: r.opt_str()?,
            actor_type: r.opt_str()?,
        })
    }
}

impl Fast for LearningEvent {
    fn write(&self, w: &mut Vec<u8>) {
        let times = [self.event_time, self.stored_time];
        head(w, &self.event_id, self.source, &self.spec_version, times);
        self.actor.write(w);
        long(w, self.action as i64);
        string(w, &self.verb);
        string(w, &self.object.id);
        opt_str(w, &self.object.object_type);
        opt_str(w, &self.object.name);
        opt(w, &self.result, |w, x| {
            let scores = [&x.score_scaled, &x.score_raw, &x.score_min, &x.score_max];
            outcome(w, scores, [&x.success, &x.completion], &x.duration_ms);
            opt_str(w, &x.response);
        });
        let c = &self.context;
        opt_str(w, &c.registration);
        opt_str(w, &c.platform);
        opt(w, &c.instructor, |w, a| a.write(w));
        strings(w, &c.class_refs);
        strings(w, &c.category_ids);
        strings(w, &c.objective_ids);
        opt_str(w, &c.session_id);
        strings(w, &c.roles);
        opt_long(w, &self.due_time);
        opt_str(w, &self.voids);
        opt_str(w, &self.extensions);
    }

    fn read(r: &mut Input<'_>) -> Result<Self, FastError> {
        let (event_id, source, spec_version, event_time, stored_time) = r.head()?;
        Ok(LearningEvent {
            event_id,
            source,
            spec_version,
            event_time,
            stored_time,
            actor: Actor::read(r)?,
            action: r.symbol(&Action::ALL, "action")?,
            verb: r.string()?,
            object: EventObject {
                id: r.string()?,
                object_type: r.opt_str()?,
                name: r.opt_str()?,
            },
            result: r.opt(|r| {
                let outcome = r.outcome()?;
                Ok(EventResult {
                    response: r.opt_str()?,
                    ..outcome
                })
            })?,
            context: EventContext {
                registration: r.opt_str()?,
                platform: r.opt_str()?,
                instructor: r.opt(Actor::read)?,
                class_refs: r.strings()?,
                category_ids: r.strings()?,
                objective_ids: r.strings()?,
                session_id: r.opt_str()?,
                roles: r.strings()?,
            },
            due_time: r.opt_long()?,
            voids: r.opt_str()?,
            extensions: r.opt_str()?,
        })
    }
}

impl Fast for EnrichedEvent {
    fn write(&self, w: &mut Vec<u8>) {
        let times = [self.event_time, self.stored_time];
        head(w, &self.event_id, self.source, &self.spec_version, times);
        string(w, &self.tenant);
        string(w, &self.person_key);
        long(w, self.role as i64);
        for id in [
            &self.school_id,
            &self.class_id,
            &self.course_id,
            &self.term_id,
        ] {
            opt_str(w, id);
        }
        strings(w, &self.subject_codes);
        strings(w, &self.grades);
        long(w, self.action as i64);
        string(w, &self.verb);
        string(w, &self.object_id);
        opt_str(w, &self.object_type);
        opt_str(w, &self.object_name);
        let scores = [
            &self.score_scaled,
            &self.score_raw,
            &self.score_min,
            &self.score_max,
        ];
        outcome(
            w,
            scores,
            [&self.success, &self.completion],
            &self.duration_ms,
        );
        opt_f64(w, &self.response_value);
        opt_str(w, &self.response_text);
        opt_str(w, &self.registration);
        opt_str(w, &self.session_id);
        strings(w, &self.objective_ids);
        opt_long(w, &self.due_time);
        opt_str(w, &self.voids);
    }

    fn read(r: &mut Input<'_>) -> Result<Self, FastError> {
        let (event_id, source, spec_version, event_time, stored_time) = r.head()?;
        let (tenant, person_key) = (r.string()?, r.string()?);
        let role = r.symbol(&Role::ALL, "role")?;
        let ids = [r.opt_str()?, r.opt_str()?, r.opt_str()?, r.opt_str()?];
        let [school_id, class_id, course_id, term_id] = ids;
        let (subject_codes, grades) = (r.strings()?, r.strings()?);
        let action = r.symbol(&Action::ALL, "action")?;
        let (verb, object_id) = (r.string()?, r.string()?);
        let (object_type, object_name) = (r.opt_str()?, r.opt_str()?);
        let o = r.outcome()?;
        Ok(EnrichedEvent {
            event_id,
            source,
            spec_version,
            event_time,
            stored_time,
            tenant,
            person_key,
            role,
            school_id,
            class_id,
            course_id,
            term_id,
            subject_codes,
            grades,
            action,
            verb,
            object_id,
            object_type,
            object_name,
            score_scaled: o.score_scaled,
            score_raw: o.score_raw,
            score_min: o.score_min,
            score_max: o.score_max,
            success: o.success,
            completion: o.completion,
            duration_ms: o.duration_ms,
            response_value: r.opt_f64()?,
            response_text: r.opt_str()?,
            registration: r.opt_str()?,
            session_id: r.opt_str()?,
            objective_ids: r.strings()?,
            due_time: r.opt_long()?,
            voids: r.opt_str()?,
        })
    }
}
