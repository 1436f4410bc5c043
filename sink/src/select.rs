//! Which indicator rows a reader asks for, as one filter both stores
//! translate: `lap backfill` reads windows of a time range, the views
//! service reads a class's, a school's or a few learners' rows.

/// A set of indicator rows: windows starting in `since..until` (UTC µs),
/// narrowed to a class, a school or a list of entities when given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// Earliest window start, inclusive.
    pub since: i64,
    /// Latest window start, exclusive.
    pub until: i64,
    /// Only rows of this class (`class_id`).
    pub class: Option<String>,
    /// Only rows of this school (`school_id`).
    pub school: Option<String>,
    /// Only rows of these entities (`entity_id`: pseudonyms, class or
    /// school ids); an empty list selects nothing.
    pub entities: Option<Vec<String>>,
}

/// The end of the calendar both stores can hold (9999-12-31, UTC µs):
/// "until forever" without overflowing PostgreSQL's timestamps.
pub const END_OF_TIME: i64 = 253_402_300_800_000_000;

impl Selection {
    /// Every row, whatever its window.
    pub fn ever() -> Self {
        Selection::windows(0, END_OF_TIME)
    }

    /// Every row whose window starts in `since..until`.
    pub fn windows(since: i64, until: i64) -> Self {
        Selection {
            since,
            until,
            ..Selection::default()
        }
    }

    /// The same, of class `class` only.
    pub fn of_class(mut self, class: impl Into<String>) -> Self {
        self.class = Some(class.into());
        self
    }

    /// The same, of school `school` only.
    pub fn of_school(mut self, school: impl Into<String>) -> Self {
        self.school = Some(school.into());
        self
    }

    /// The same, of these entities only.
    pub fn of_entities(mut self, entities: Vec<String>) -> Self {
        self.entities = Some(entities);
        self
    }

    /// The condition as SQL with literal values, for engines without bind
    /// parameters (DataFusion over the lake); `start` is the expression of
    /// the window start in µs.
    pub fn sql_literal(&self, start: &str) -> String {
        let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
        let mut conds = vec![
            format!("{start} >= {}", self.since),
            format!("{start} < {}", self.until),
        ];
        if let Some(c) = &self.class {
            conds.push(format!("class_id = {}", quote(c)));
        }
        if let Some(s) = &self.school {
            conds.push(format!("school_id = {}", quote(s)));
        }
        if let Some(e) = &self.entities {
            if e.is_empty() {
                conds.push("FALSE".into());
            } else {
                let list: Vec<String> = e.iter().map(|x| quote(x)).collect();
                conds.push(format!("entity_id IN ({})", list.join(", ")));
            }
        }
        conds.join(" AND ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_conditions_quote_values_and_an_empty_list_selects_nothing() {
        let s = Selection::windows(10, 20)
            .of_class("c'1")
            .of_entities(vec!["a".into(), "b".into()]);
        assert_eq!(
            s.sql_literal("w"),
            "w >= 10 AND w < 20 AND class_id = 'c''1' AND entity_id IN ('a', 'b')"
        );
        let none = Selection::windows(0, 1).of_school("s").of_entities(vec![]);
        assert_eq!(
            none.sql_literal("w"),
            "w >= 0 AND w < 1 AND school_id = 's' AND FALSE"
        );
    }
}
