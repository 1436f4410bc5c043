//! Why an input was rejected: stable codes, JSON paths, human messages.

use std::fmt;

use lap_schemas::{DeadLetter, Origin, Problem as WireProblem};

/// A JSON path being walked. Building one costs nothing; it is only rendered
/// (`$.result.score.scaled`) when a problem is reported.
#[derive(Clone, Copy, Debug)]
pub enum Path<'p> {
    /// The document itself, `$`.
    Root,
    /// A member of an object.
    Key(&'p Path<'p>, &'p str),
    /// An element of an array.
    Index(&'p Path<'p>, usize),
}

impl<'p> Path<'p> {
    /// The path of member `key` below this one.
    pub fn key<'q>(&'q self, key: &'q str) -> Path<'q> {
        Path::Key(self, key)
    }

    /// The path of element `i` below this one.
    pub fn index(&'p self, i: usize) -> Path<'p> {
        Path::Index(self, i)
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => f.write_str("$"),
            Path::Key(parent, key) => {
                let plain = !key.is_empty()
                    && key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '@');
                if plain {
                    write!(f, "{parent}.{key}")
                } else {
                    write!(
                        f,
                        "{parent}[{}]",
                        serde_json::to_string(key).unwrap_or_default()
                    )
                }
            }
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// One reason an input is rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Stable machine-readable code, e.g. `xapi.score.scaled_range`.
    pub code: &'static str,
    /// JSON path of the offending value.
    pub path: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// The problems found in one input; empty means acceptable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    /// Records a problem at `path`.
    pub fn add(&mut self, code: &'static str, path: &Path<'_>, message: impl Into<String>) {
        self.0.push(Problem {
            code,
            path: path.to_string(),
            message: message.into(),
        });
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first problem (the one a dead letter leads with).
    pub fn first(&self) -> Option<&Problem> {
        self.0.first()
    }

    /// A single problem.
    pub fn one(code: &'static str, path: &Path<'_>, message: impl Into<String>) -> Problems {
        let mut p = Problems::default();
        p.add(code, path, message);
        p
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// Builds the dead letter for a rejected input: its original bytes, where
/// it came from and every problem found.
pub fn dead_letter(
    format: &str,
    origin: Origin,
    problems: &Problems,
    payload: &[u8],
    now_us: i64,
) -> DeadLetter {
    let first = problems.first();
    DeadLetter {
        id: uuid::Uuid::new_v4().to_string(),
        stage: "ingest".into(),
        received_time: now_us,
        origin,
        format: format.into(),
        error_code: first.map_or("unknown", |p| p.code).into(),
        message: first.map_or_else(|| "rejected".into(), |p| p.to_string()),
        problems: problems
            .0
            .iter()
            .map(|p| WireProblem {
                code: p.code.into(),
                path: p.path.clone(),
                message: p.message.clone(),
            })
            .collect(),
        payload: payload.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_render_like_jsonpath() {
        let root = Path::Root;
        let result = root.key("result");
        let score = result.key("score");
        assert_eq!(score.key("scaled").to_string(), "$.result.score.scaled");
        let ctx = root.key("context");
        let parent = ctx.key("contextActivities").key("parent").to_string();
        assert_eq!(parent, "$.context.contextActivities.parent");
        let ext = root.key("extensions");
        assert_eq!(
            ext.key("http://x.y/z").to_string(),
            "$.extensions[\"http://x.y/z\"]"
        );
        let arr = root.key("data");
        assert_eq!(arr.index(3).to_string(), "$.data[3]");
    }
}
