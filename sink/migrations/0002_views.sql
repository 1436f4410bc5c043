-- Analyst views over the indicator tables (README, "PostgreSQL").

-- The newest weekly row of every class.
CREATE VIEW class_weekly_latest AS
SELECT DISTINCT ON (entity_id) *
FROM class_weekly
ORDER BY entity_id, window_start DESC;
COMMENT ON VIEW class_weekly_latest IS 'Each class''s most recent weekly indicators.';

-- Flags raised in each class's latest daily and weekly window.
CREATE VIEW open_flags AS
SELECT r.window_kind, r.window_start, r.window_end, r.class_id, r.school_id,
       r.entity_id AS person_key, f ->> 'code' AS code, f ->> 'reason' AS reason,
       f -> 'evidence' AS evidence, r.is_final
FROM (
    SELECT * FROM learner_daily d
    WHERE d.window_start = (SELECT max(x.window_start) FROM learner_daily x
                            WHERE x.class_id IS NOT DISTINCT FROM d.class_id)
    UNION ALL
    SELECT * FROM learner_weekly w
    WHERE w.window_start = (SELECT max(x.window_start) FROM learner_weekly x
                            WHERE x.class_id IS NOT DISTINCT FROM w.class_id)
) r
CROSS JOIN LATERAL jsonb_array_elements(r.flags) f;
COMMENT ON VIEW open_flags IS 'Early-warning flags of each class''s latest day and week, one row per flag.';

-- Every indicator value as a row, for BI tools that want long data.
CREATE VIEW indicator_values AS
SELECT t.table_name, t.window_kind, t.window_start, t.window_end, t.entity_kind,
       t.entity_id, t.class_id, t.school_id, t.is_final, t.suppressed,
       i.key AS indicator,
       CASE WHEN jsonb_typeof(i.value) = 'number' THEN i.value::double precision END AS value
FROM (
    SELECT 'learner_daily' AS table_name, * FROM learner_daily
    UNION ALL SELECT 'learner_weekly', * FROM learner_weekly
    UNION ALL SELECT 'class_daily', * FROM class_daily
    UNION ALL SELECT 'class_weekly', * FROM class_weekly
) t
CROSS JOIN LATERAL jsonb_each(t.indicators) i;
COMMENT ON VIEW indicator_values IS 'All indicator tables in long form: one row per entity, window and indicator.';
