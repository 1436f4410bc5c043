//! Synthetic enriched events for the aggregate benchmarks: learners in
//! classes of 25, school days Monday to Friday from Monday 2026-03-02,
//! a deterministic mix of views, scored attempts, attendance and
//! questionnaire answers.

use lap_schemas::{Action, EnrichedEvent, Role, SourceStandard};

/// Monday 2026-03-02 00:00 UTC, µs.
const START: i64 = 1_772_409_600_000_000;
const DAY: i64 = 86_400_000_000;

const ACTIONS: [Action; 8] = [
    Action::Viewed,
    Action::Viewed,
    Action::Launched,
    Action::Completed,
    Action::Scored,
    Action::Attended,
    Action::Answered,
    Action::Submitted,
];

/// `per_learner_per_day` events of each of `learners` on each of `days`
/// school days, in time order.
pub fn events(
    learners: usize,
    per_learner_per_day: usize,
    days: usize,
) -> impl Iterator<Item = EnrichedEvent> {
    (0..days).flat_map(move |d| {
        let week = d / 5;
        let date = START + (week * 7 + d % 5) as i64 * DAY;
        (0..per_learner_per_day).flat_map(move |k| {
            (0..learners).map(move |l| {
                let n = (d * per_learner_per_day + k) * learners + l;
                // School hours 08:00–15:00, spread by learner and slot.
                let time =
                    date + 8 * 3_600_000_000 + ((k * 997 + l * 131) % 25_200) as i64 * 1_000_000;
                event(n, l, time)
            })
        })
    })
}

fn event(n: usize, learner: usize, time: i64) -> EnrichedEvent {
    let action = ACTIONS[n % ACTIONS.len()];
    let class = format!("class-{}", learner / 25);
    EnrichedEvent {
        event_id: format!("00000000-0000-4000-8000-{n:012}"),
        source: SourceStandard::Xapi,
        spec_version: "1.0.3".into(),
        event_time: time,
        stored_time: time,
        tenant: "bench".into(),
        person_key: format!("{:064x}", learner.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        role: Role::Learner,
        school_id: Some(format!("school-{}", learner / 1000)),
        class_id: Some(class),
        course_id: Some("math-7".into()),
        term_id: Some("2026-spring".into()),
        subject_codes: vec![],
        grades: vec![],
        action,
        verb: format!("http://adlnet.gov/expapi/verbs/{}", action.as_str()),
        object_id: match action {
            Action::Answered => "https://survey.example/items/q1".into(),
            _ => format!("https://lms.example/activities/{}", n % 40),
        },
        object_type: None,
        object_name: None,
        score_scaled: (action == Action::Scored).then(|| (n % 100) as f64 / 100.0),
        score_raw: None,
        score_min: None,
        score_max: None,
        success: None,
        completion: None,
        duration_ms: n.is_multiple_of(3).then_some(90_000),
        response_value: (action == Action::Answered).then(|| (1 + n % 5) as f64),
        response_text: None,
        registration: None,
        session_id: None,
        objective_ids: vec![],
        due_time: None,
        voids: None,
    }
}
