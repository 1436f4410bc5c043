-- Groups of learners a teacher saved in the views service, and who they
-- shared each with. Members are pseudonyms; lap erase removes a learner
-- from every group.

CREATE TABLE views_groups (
    id text PRIMARY KEY,
    created_at timestamptz NOT NULL,
    owner text NOT NULL,
    class_id text NOT NULL,
    name text NOT NULL,
    members text[] NOT NULL,
    shared_with text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX views_groups_owner ON views_groups (owner);
COMMENT ON TABLE views_groups IS 'Groups of learners of one class saved by a teacher in the views service (members by pseudonym), and the colleagues (roster sourcedIds) they are shared with.';
