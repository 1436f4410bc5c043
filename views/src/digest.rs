//! Digests, worked out without any transport: which of a teacher's open
//! flags are new or worse since the teacher's previous digest, when a
//! digest is due, and what the e-mail and the webhook say. Neither carries
//! a name or a pseudonym: they count flags per class and link to the class
//! page, where the names are shown after sign-in (with an access record).

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::labels;
use crate::present::OpenFlag;

/// How often a teacher gets a digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frequency {
    /// Never.
    None,
    /// Each day (a run of `lap digest` on a day sends that day's once).
    Daily,
    /// Each week, from the configured weekday on.
    Weekly,
}

impl Frequency {
    /// The stored and configured name.
    pub fn as_str(self) -> &'static str {
        match self {
            Frequency::None => "none",
            Frequency::Daily => "daily",
            Frequency::Weekly => "weekly",
        }
    }

    /// The frequency named `s`.
    pub fn parse(s: &str) -> Option<Frequency> {
        [Frequency::None, Frequency::Daily, Frequency::Weekly]
            .into_iter()
            .find(|f| f.as_str() == s)
    }
}

/// The digest period `now` (UTC µs) falls in for `frequency`, in the
/// schools' time zone: the local date (`2026-12-08`) or ISO week
/// (`2026-W50`); none for [`Frequency::None`], nor for a weekly digest
/// before `weekly_day` of the week. A teacher gets at most one digest per
/// period, however often `lap digest` runs.
pub fn period(frequency: Frequency, now: i64, tz: Tz, weekly_day: Weekday) -> Option<String> {
    let local = DateTime::from_timestamp_micros(now)?.with_timezone(&tz);
    match frequency {
        Frequency::None => None,
        Frequency::Daily => Some(local.date_naive().to_string()),
        Frequency::Weekly => {
            let today = local.weekday().num_days_from_monday();
            (today >= weekly_day.num_days_from_monday()).then(|| {
                let week = local.iso_week();
                format!("{}-W{:02}", week.year(), week.week())
            })
        }
    }
}

/// An open flag as a digest notes it: the baseline the next digest of the
/// same teacher compares with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Noted {
    /// The teacher (roster sourcedId).
    pub person: String,
    /// The digest period that noted it.
    pub period: String,
    /// The learner's pseudonym.
    pub person_key: String,
    /// The class of the flagged row.
    pub class_id: Option<String>,
    /// Flag code.
    pub code: String,
    /// `daily` or `weekly`: the kind of the newest row carrying it.
    pub window_kind: String,
    /// The flag's measure (see [`measure`]), when the code has one.
    pub value: Option<f64>,
}

impl Noted {
    /// `flag` of learner `person_key`, noted for `person`'s `period`.
    pub fn of(person: &str, period: &str, person_key: &str, flag: &OpenFlag) -> Noted {
        Noted {
            person: person.into(),
            period: period.into(),
            person_key: person_key.into(),
            class_id: flag.class_id.clone(),
            code: flag.flag.code.clone(),
            window_kind: flag.window_kind.as_str().into(),
            value: measure(&flag.flag.code)
                .and_then(|(name, _)| flag.flag.evidence.get(name).copied()),
        }
    }

    /// One learner's flag of one code in one class: a flag on a daily and
    /// a weekly row is one flag to a teacher.
    fn key(&self) -> (&str, Option<&str>, &str) {
        (&self.person_key, self.class_id.as_deref(), &self.code)
    }
}

/// The evidence value that says how bad a flag of `code` is, and whether a
/// higher value is worse: a flag whose value moved that way since the last
/// digest is "worse". Codes without one are only ever new.
pub fn measure(code: &str) -> Option<(&'static str, bool)> {
    Some(match code {
        "chronic_absence" => ("absence_rate", true),
        "inactive" => ("days_inactive", true),
        "missing_submissions" => ("missing", true),
        "low_wellbeing" | "wellbeing_drop" => ("wellbeing_index", false),
        "falling_scores" => ("mean_score", false),
        _ => return None,
    })
}

/// What a digest says about one class: counts per flag code, never who.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ClassNews {
    /// Class sourcedId.
    pub class_id: String,
    /// The class's title.
    pub title: String,
    /// The class page.
    pub url: String,
    /// Flags not open at the previous digest, per code.
    pub new: BTreeMap<String, u32>,
    /// Flags open then and worse now, per code.
    pub worse: BTreeMap<String, u32>,
    /// Other flags still open.
    pub still_open: u32,
}

/// One teacher's digest for one period.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Digest {
    /// What this is, for receivers of several kinds of message.
    pub kind: &'static str,
    /// The teacher (roster sourcedId), so a receiver can route it.
    pub teacher: String,
    /// The period (a date or an ISO week).
    pub period: String,
    /// `daily` or `weekly`.
    pub frequency: &'static str,
    /// The classes with open flags, by class id.
    pub classes: Vec<ClassNews>,
    /// Where the teacher changes how often they get one.
    pub settings_url: String,
}

impl Digest {
    /// An empty digest of `teacher` for `period`.
    pub fn new(teacher: &str, period: &str, frequency: Frequency, base_url: &str) -> Digest {
        Digest {
            kind: "lap.digest",
            teacher: teacher.into(),
            period: period.into(),
            frequency: frequency.as_str(),
            classes: Vec::new(),
            settings_url: format!("{base_url}/digest"),
        }
    }

    /// Adds class `class_id`'s open flags `now`, compared with `before`
    /// (the teacher's previous digest; empty for a first one).
    pub fn add_class(
        &mut self,
        class_id: &str,
        title: &str,
        base_url: &str,
        before: &[Noted],
        now: &[Noted],
    ) {
        let before: BTreeMap<_, _> = before.iter().map(|n| (n.key(), n)).collect();
        let mut news = ClassNews {
            class_id: class_id.into(),
            title: title.into(),
            url: format!("{base_url}/classes/{class_id}"),
            ..ClassNews::default()
        };
        for n in now {
            let bucket = match before.get(&n.key()) {
                None => Some(&mut news.new),
                Some(old) if worse(&n.code, old.value, n.value) => Some(&mut news.worse),
                Some(_) => None,
            };
            match bucket {
                Some(b) => *b.entry(n.code.clone()).or_default() += 1,
                None => news.still_open += 1,
            }
        }
        if !now.is_empty() {
            self.classes.push(news);
        }
    }

    /// Whether anything is new or worse: a digest without news is not sent.
    pub fn has_news(&self) -> bool {
        self.classes
            .iter()
            .any(|c| !c.new.is_empty() || !c.worse.is_empty())
    }

    fn total(&self, pick: impl Fn(&ClassNews) -> &BTreeMap<String, u32>) -> u32 {
        self.classes.iter().flat_map(|c| pick(c).values()).sum()
    }

    /// The e-mail's subject line.
    pub fn subject(&self) -> String {
        let (new, worse) = (self.total(|c| &c.new), self.total(|c| &c.worse));
        format!(
            "lap: {new} new and {worse} worsening early-warning {} in your classes ({})",
            if new + worse == 1 { "flag" } else { "flags" },
            self.period
        )
    }

    /// The e-mail's plain-text body.
    pub fn text(&self) -> String {
        let mut out = String::from(
            "Hello,\n\nthese early-warning flags in your classes are new or have\nworsened since your last digest:\n",
        );
        let list = |out: &mut String, what: &str, counts: &BTreeMap<String, u32>| {
            for (code, n) in counts {
                out.push_str(&format!("  - {}: {n} {what}\n", labels::flag(code)));
            }
        };
        for c in &self.classes {
            out.push_str(&format!("\n{} ({})\n", c.title, c.class_id));
            list(&mut out, "new", &c.new);
            list(&mut out, "worse", &c.worse);
            if c.still_open > 0 {
                out.push_str(&format!("  {} other flags still open\n", c.still_open));
            }
            out.push_str(&format!("  See who and why: {}\n", c.url));
        }
        out.push_str(&format!(
            "\nThis message names nobody: the class pages show the learners\nafter you sign in. Choose how often you get it (daily, weekly\nor never): {}\n",
            self.settings_url
        ));
        out
    }
}

/// Whether a flag's measure moved the bad way from `before` to `now`.
fn worse(code: &str, before: Option<f64>, now: Option<f64>) -> bool {
    match (measure(code), before, now) {
        (Some((_, higher_is_worse)), Some(b), Some(n)) => {
            if higher_is_worse {
                n > b
            } else {
                n < b
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noted(key: &str, code: &str, value: Option<f64>) -> Noted {
        Noted {
            person: "t1".into(),
            period: "p".into(),
            person_key: format!("pk-{key}"),
            class_id: Some("c1".into()),
            code: code.into(),
            window_kind: "daily".into(),
            value,
        }
    }

    #[test]
    fn new_worse_and_unchanged_flags_are_told_apart() {
        let before = [
            noted("a", "inactive", Some(3.0)),
            noted("b", "inactive", Some(3.0)),
            noted("c", "low_wellbeing", Some(0.3)),
            noted("d", "chronic_absence", Some(0.2)),
        ];
        let now = [
            // Still 3 days: unchanged. One more day: worse. Well-being up:
            // better, so not worse. A new learner's flag: new.
            noted("a", "inactive", Some(3.0)),
            noted("b", "inactive", Some(4.0)),
            noted("c", "low_wellbeing", Some(0.35)),
            noted("e", "missing_submissions", Some(2.0)),
        ];
        let mut d = Digest::new("t1", "2026-12-08", Frequency::Daily, "https://v");
        d.add_class("c1", "Maths 7B", "https://v", &before, &now);
        let c = &d.classes[0];
        assert_eq!(c.new, BTreeMap::from([("missing_submissions".into(), 1)]));
        assert_eq!(c.worse, BTreeMap::from([("inactive".into(), 1)]));
        assert_eq!(c.still_open, 2);
        assert!(d.has_news());
        assert_eq!(
            d.subject(),
            "lap: 1 new and 1 worsening early-warning flags in your classes (2026-12-08)"
        );
        let text = d.text();
        assert!(text.contains("Maths 7B (c1)\n  - Missing submissions: 1 new\n  - No recent activity: 1 worse\n  2 other flags still open\n  See who and why: https://v/classes/c1\n"), "{text}");
        assert!(!text.contains("pk-"), "no pseudonyms: {text}");

        let mut quiet = Digest::new("t1", "2026-12-09", Frequency::Daily, "https://v");
        quiet.add_class("c1", "Maths 7B", "https://v", &now, &now);
        assert!(!quiet.has_news(), "nothing changed: nothing to send");
        let mut cleared = Digest::new("t1", "2026-12-09", Frequency::Daily, "https://v");
        cleared.add_class("c1", "Maths 7B", "https://v", &now, &[]);
        assert!(
            cleared.classes.is_empty(),
            "a class without open flags is left out"
        );
    }

    #[test]
    fn periods_follow_the_schools_calendar() {
        let tz: Tz = "Europe/Copenhagen".parse().unwrap();
        // Monday 2026-12-07 23:30 UTC is Tuesday 00:30 in Copenhagen.
        let late_monday = 1_796_686_200_000_000;
        assert_eq!(
            period(Frequency::Daily, late_monday, tz, Weekday::Mon).as_deref(),
            Some("2026-12-08")
        );
        assert_eq!(
            period(Frequency::Weekly, late_monday, tz, Weekday::Mon).as_deref(),
            Some("2026-W50")
        );
        assert_eq!(
            period(Frequency::Weekly, late_monday, tz, Weekday::Wed),
            None,
            "before the weekly day"
        );
        assert_eq!(period(Frequency::None, late_monday, tz, Weekday::Mon), None);
    }
}
