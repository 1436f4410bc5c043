//! Indicator and flag names in words, how their values read, and what
//! data about a learner feeds them (the transparency page). Indicators
//! an operator added with their own SQL keep their column name.

/// How a value reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// A whole number of things.
    Count,
    /// Minutes.
    Minutes,
    /// A share 0..1, shown as a percentage.
    Percent,
    /// Anything else, with two decimals.
    Number,
}

/// An indicator the pages know.
#[derive(Clone, Copy, Debug)]
pub struct Indicator {
    /// Column name in `indicators`.
    pub name: &'static str,
    /// What a page calls it.
    pub label: &'static str,
    /// How its value reads.
    pub unit: Unit,
}

const fn ind(name: &'static str, label: &'static str, unit: Unit) -> Indicator {
    Indicator { name, label, unit }
}

/// The built-in indicators, in the order the pages show them.
pub const INDICATORS: &[Indicator] = &[
    ind("activity_events", "Learning activities", Unit::Count),
    ind("active_minutes", "Active minutes", Unit::Minutes),
    ind("resources_used", "Resources used", Unit::Count),
    ind("attempts", "Assessed attempts", Unit::Count),
    ind("mean_score", "Mean score", Unit::Percent),
    ind("pass_rate", "Pass rate", Unit::Percent),
    ind(
        "growth_mean_score",
        "Score change since last window",
        Unit::Percent,
    ),
    ind("objectives_completed", "Objectives completed", Unit::Count),
    ind("curriculum_coverage", "Curriculum covered", Unit::Percent),
    ind("submissions_on_time", "Submitted on time", Unit::Count),
    ind("submissions_late", "Submitted late", Unit::Count),
    ind("submissions_missing", "Missing submissions", Unit::Count),
    ind("attendance_rate", "Attendance", Unit::Percent),
    ind("absences", "Absences", Unit::Count),
    ind("tardies", "Late arrivals", Unit::Count),
    ind("wellbeing_index", "Well-being", Unit::Percent),
    ind("growth_wellbeing", "Well-being change", Unit::Percent),
    ind(
        "wellbeing_respondents",
        "Answered the well-being questions",
        Unit::Count,
    ),
];

/// The label and unit of the indicator `name`; well-being dimensions
/// (`wellbeing_<dimension>`) read as "Well-being: <dimension>".
pub fn indicator(name: &str) -> (String, Unit) {
    if let Some(i) = INDICATORS.iter().find(|i| i.name == name) {
        return (i.label.to_string(), i.unit);
    }
    if let Some(dim) = name.strip_prefix("wellbeing_") {
        return (
            format!("Well-being: {}", dim.replace('_', " ")),
            Unit::Percent,
        );
    }
    (name.replace('_', " "), Unit::Number)
}

/// Whether `name` is a well-being value (suppressed below k whatever the
/// table says, and never compared across learners).
pub fn is_wellbeing(name: &str) -> bool {
    name.starts_with("wellbeing_") || name == "growth_wellbeing"
}

/// `value` of indicator `name` as a page shows it; `–` when there is none.
pub fn value(name: &str, value: Option<f64>) -> String {
    let Some(v) = value else {
        return "–".into();
    };
    match indicator(name).1 {
        Unit::Count => format!("{v:.0}"),
        Unit::Minutes => format!("{v:.0} min"),
        Unit::Percent => format!("{:.0} %", v * 100.0),
        Unit::Number => format!("{v:.2}"),
    }
}

/// A flag code in words.
pub fn flag(code: &str) -> String {
    match code {
        "chronic_absence" => "Often absent".into(),
        "inactive" => "No recent activity".into(),
        "low_wellbeing" => "Low well-being".into(),
        "wellbeing_drop" => "Well-being dropped".into(),
        "falling_scores" => "Scores falling".into(),
        "missing_submissions" => "Missing submissions".into(),
        other => other.replace('_', " "),
    }
}

/// What data about a learner the indicators use, where it comes from,
/// and what it feeds: (data, source, used for).
pub const DATA_USED: &[(&str, &str, &str)] = &[
    (
        "Which learning resources you opened, watched, completed or were assessed on, and when",
        "The learning platforms your school uses, which report each activity as it happens",
        "Learning activities, active minutes, resources used, objectives completed",
    ),
    (
        "Scores and pass or fail results of quizzes and assessments",
        "The learning platforms, when an assessment is scored",
        "Mean score, pass rate, score change, the 'scores falling' flag",
    ),
    (
        "When assignments were due and when you handed them in",
        "The learning platforms",
        "Submitted on time, late or missing, the 'missing submissions' flag",
    ),
    (
        "Attendance records: present, absent or late",
        "The school's attendance or learning platform",
        "Attendance, absences, late arrivals, the 'often absent' flag",
    ),
    (
        "Your answers to the well-being questions",
        "The questionnaire in the learning platform",
        "Well-being and its dimensions, the well-being flags; never shown for groups smaller than the minimum group size",
    ),
    (
        "Your classes, school and grade",
        "The school's student information system (roster)",
        "Which class and school rows your activity counts in, and who may see your rows",
    ),
];

/// Where the names come from and where they do not go, for the same page.
pub const NAMES_NOTE: &str = "The analytics tables never hold your name: they use a code that only this service and the roster import can connect to you. Names are added when a page is shown, and only for people entitled to see your rows.";
