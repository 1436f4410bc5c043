-- School rows, how fresh each row is, and flags a later revision cleared.
--
-- school_daily / school_weekly: the same shape as the other indicator
-- tables, one row per school and window (class_id NULL), suppressed below
-- k contributing learners like class rows.
-- newest_event_time: the event time of the newest event behind the row
-- (NULL for a learner of the roster without activity in the window).
-- cleared_flags: flags an earlier revision of the row raised that this one
-- no longer does, because the data behind them changed (e.g. activity
-- synced late).
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['school_daily', 'school_weekly'] LOOP
        EXECUTE format('CREATE TABLE %I (LIKE class_daily INCLUDING COMMENTS)', t);
        EXECUTE format('CREATE UNIQUE INDEX %I ON %I (window_start, entity_id, (coalesce(class_id, %L)))',
                       t || '_key', t, '');
        EXECUTE format('CREATE INDEX %I ON %I (entity_id)', t || '_entity', t);
        EXECUTE format('COMMENT ON TABLE %I IS %L', t,
                       'Indicators per school and window from lap-aggregate; one row per window_start and school (entity_id), at its highest revision.');
    END LOOP;
    FOREACH t IN ARRAY ARRAY['learner_daily', 'learner_weekly', 'class_daily', 'class_weekly',
                             'school_daily', 'school_weekly'] LOOP
        IF t NOT LIKE 'school%' THEN
            EXECUTE format('COMMENT ON TABLE %I IS %L', t,
                           'Indicators per entity and window from lap-aggregate (docs/indicators.md); one row per window_start, entity_id, class_id, at its highest revision.');
        END IF;
        EXECUTE format('ALTER TABLE %I ADD COLUMN newest_event_time timestamptz', t);
        EXECUTE format($sql$ALTER TABLE %I ADD COLUMN cleared_flags jsonb NOT NULL DEFAULT '[]'$sql$, t);
        EXECUTE format($sql$
            COMMENT ON COLUMN %I.newest_event_time IS 'Event time of the newest event behind the row (NULL when none): how fresh it is.';
            COMMENT ON COLUMN %I.cleared_flags IS 'Flags an earlier revision raised that no longer hold (the data behind them changed): [{code, reason, evidence}].'
            $sql$, t, t);
    END LOOP;
END
$$;

CREATE OR REPLACE VIEW indicator_values AS
SELECT t.table_name, t.window_kind, t.window_start, t.window_end, t.entity_kind,
       t.entity_id, t.class_id, t.school_id, t.is_final, t.suppressed,
       i.key AS indicator,
       CASE WHEN jsonb_typeof(i.value) = 'number' THEN i.value::double precision END AS value
FROM (
    SELECT 'learner_daily' AS table_name, * FROM learner_daily
    UNION ALL SELECT 'learner_weekly', * FROM learner_weekly
    UNION ALL SELECT 'class_daily', * FROM class_daily
    UNION ALL SELECT 'class_weekly', * FROM class_weekly
    UNION ALL SELECT 'school_daily', * FROM school_daily
    UNION ALL SELECT 'school_weekly', * FROM school_weekly
) t
CROSS JOIN LATERAL jsonb_each(t.indicators) i;
COMMENT ON VIEW indicator_values IS 'All indicator tables in long form: one row per entity, window and indicator.';
