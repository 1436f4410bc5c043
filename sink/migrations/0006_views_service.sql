-- The tables of the views service (lap views): who looked at which
-- learner's rows, and what teachers did with flags. They live beside the
-- indicator tables so that one backup and one erasure cover both; no
-- name is stored here, only the viewer's roster sourcedId and the
-- learner's pseudonym.

CREATE TABLE views_access (
    at timestamptz NOT NULL,
    viewer text NOT NULL,
    role text NOT NULL,
    person_key text NOT NULL,
    view text NOT NULL
);
CREATE INDEX views_access_person_key ON views_access (person_key, at);
COMMENT ON TABLE views_access IS 'One record per page of the views service that showed a learner''s rows: who (roster sourcedId and role), whose (pseudonym), when and which view.';

CREATE TABLE views_flag_actions (
    at timestamptz NOT NULL,
    viewer text NOT NULL,
    person_key text NOT NULL,
    class_id text,
    code text NOT NULL,
    action text NOT NULL CHECK (action IN ('acknowledged', 'resolved', 'not_useful')),
    window_start timestamptz NOT NULL,
    note text NOT NULL DEFAULT ''
);
CREATE INDEX views_flag_actions_person_key ON views_flag_actions (person_key, code);
COMMENT ON TABLE views_flag_actions IS 'What teachers did with early-warning flags: acknowledged, resolved (with a short note) or marked not useful, as of the flagged row''s window. The note never leaves this table.';
