-- Digests of the views service (lap digest): how often each teacher wants
-- one, which digests went out, and the flags each one reported, so that
-- the next one tells only what is new or worse. Flags are kept by the
-- learner's pseudonym; lap erase removes a learner's.

CREATE TABLE views_digest_prefs (
    person text PRIMARY KEY,
    frequency text NOT NULL CHECK (frequency IN ('none', 'daily', 'weekly')),
    updated_at timestamptz NOT NULL
);
COMMENT ON TABLE views_digest_prefs IS 'How often each teacher (roster sourcedId) wants a digest of new and worsening flags: none, daily or weekly.';

CREATE TABLE views_digests (
    person text NOT NULL,
    period text NOT NULL,
    sent_at timestamptz NOT NULL,
    channels text[] NOT NULL,
    PRIMARY KEY (person, period)
);
COMMENT ON TABLE views_digests IS 'One record per digest period and teacher (a date, or an ISO week): when it went out and over which channels (none when there was nothing new).';

CREATE TABLE views_digest_flags (
    person text NOT NULL,
    period text NOT NULL,
    person_key text NOT NULL,
    class_id text,
    code text NOT NULL,
    window_kind text NOT NULL,
    value double precision
);
CREATE INDEX views_digest_flags_digest ON views_digest_flags (person, period);
CREATE INDEX views_digest_flags_person_key ON views_digest_flags (person_key);
COMMENT ON TABLE views_digest_flags IS 'The open flags a digest period found for a teacher (learner by pseudonym), the baseline the next digest compares with.';
