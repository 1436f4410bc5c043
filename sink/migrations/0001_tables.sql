-- lap analytics store, PostgreSQL: the indicator tables and the event table.
-- Applied by lap-sink at start (in the schema of sink.postgres.schema),
-- recorded in lap_migrations. Never edit an applied migration: add one.

CREATE FUNCTION micros_to_timestamptz(micros bigint) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT timestamptz 'epoch' + micros * interval '1 microsecond' $$;
COMMENT ON FUNCTION micros_to_timestamptz(bigint) IS
    'Microseconds since the Unix epoch (the Avro timestamp-micros of lap''s topics) as a timestamp.';

-- One table per indicator table of lap-aggregate, all of the same shape.
-- Key: (window_start, entity_id, class_id); lap-sink keeps the row with the
-- highest revision, so replays and out-of-order deliveries change nothing.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['learner_daily', 'learner_weekly', 'class_daily', 'class_weekly'] LOOP
        EXECUTE format($sql$
            CREATE TABLE %I (
                window_start timestamptz NOT NULL,
                window_end timestamptz NOT NULL,
                window_kind text NOT NULL,
                time_zone text NOT NULL,
                entity_kind text NOT NULL,
                entity_id text NOT NULL,
                class_id text,
                school_id text,
                revision bigint NOT NULL,
                is_final boolean NOT NULL,
                emitted_time timestamptz NOT NULL,
                contributors integer NOT NULL,
                suppressed boolean NOT NULL,
                indicators jsonb NOT NULL,
                flags jsonb NOT NULL
            )$sql$, t);
        EXECUTE format('CREATE UNIQUE INDEX %I ON %I (window_start, entity_id, (coalesce(class_id, %L)))',
                       t || '_key', t, '');
        EXECUTE format('CREATE INDEX %I ON %I (entity_id)', t || '_entity', t);
        EXECUTE format('CREATE INDEX %I ON %I (class_id, window_start)', t || '_class', t);
        EXECUTE format($sql$
            COMMENT ON TABLE %I IS 'Indicators per entity and window from lap-aggregate (see README, Indicators); one row per window_start, entity_id, class_id, at its highest revision.';
            COMMENT ON COLUMN %I.entity_id IS 'Learner pseudonym (person_key; pseudonymous) or class sourcedId.';
            COMMENT ON COLUMN %I.revision IS 'Emission number of the window; only the highest is kept.';
            COMMENT ON COLUMN %I.is_final IS 'True once the window is closed for good (watermark past end plus allowed lateness).';
            COMMENT ON COLUMN %I.contributors IS 'Distinct learners whose events contributed.';
            COMMENT ON COLUMN %I.suppressed IS 'True when a group row had fewer than k contributors; its indicators are then null.';
            COMMENT ON COLUMN %I.indicators IS 'Indicator name to value, e.g. indicators->>''mean_score''.';
            COMMENT ON COLUMN %I.flags IS 'Early-warning flags: [{code, reason, evidence}].'
            $sql$, t, t, t, t, t, t, t, t);
    END LOOP;
END
$$;

-- Event-level rows from lap.enriched (pseudonymised; one row per event).
CREATE TABLE events (
    tenant text NOT NULL,
    event_id text NOT NULL,
    source text NOT NULL,
    spec_version text NOT NULL,
    event_time timestamptz NOT NULL,
    stored_time timestamptz NOT NULL,
    person_key text NOT NULL,
    role text NOT NULL,
    school_id text,
    class_id text,
    course_id text,
    term_id text,
    subject_codes text[] NOT NULL,
    grades text[] NOT NULL,
    action text NOT NULL,
    verb text NOT NULL,
    object_id text NOT NULL,
    object_type text,
    object_name text,
    score_scaled double precision,
    score_raw double precision,
    score_min double precision,
    score_max double precision,
    success boolean,
    completion boolean,
    duration_ms bigint,
    response_value double precision,
    response_text text,
    registration text,
    session_id text,
    objective_ids text[] NOT NULL,
    due_time timestamptz,
    voids text,
    PRIMARY KEY (tenant, event_id)
);
CREATE INDEX events_person_key ON events (person_key);
CREATE INDEX events_class_time ON events (class_id, event_time);
CREATE INDEX events_event_time ON events (event_time);
COMMENT ON TABLE events IS 'Pseudonymised learning events from lap.enriched, one row per (tenant, event_id).';
COMMENT ON COLUMN events.person_key IS 'Learner pseudonym (HMAC of tenant and roster sourcedId; pseudonymous).';
COMMENT ON COLUMN events.voids IS 'For a voiding event: the event_id it retracts.';
