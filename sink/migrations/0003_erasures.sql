-- The erasure audit log: one row per `lap erase`, proof that a learner's
-- rows were deleted and where, without any personal data (no identifier,
-- no pseudonym). Written after the deletions; erasing again is harmless.

CREATE TABLE erasures (
    erasure_id uuid PRIMARY KEY,
    erased_at timestamptz NOT NULL,
    tenant text NOT NULL,
    reference text NOT NULL,
    resolved_by text NOT NULL,
    rows_deleted jsonb NOT NULL,
    tombstones jsonb NOT NULL
);
COMMENT ON TABLE erasures IS 'One row per lap erase: what was deleted where; holds no personal data.';
COMMENT ON COLUMN erasures.reference IS 'The request''s reference given by the operator, e.g. a ticket number.';
COMMENT ON COLUMN erasures.resolved_by IS 'How the learner was found: roster sourcedId, roster identity, or sourcedId (not in the roster).';
COMMENT ON COLUMN erasures.rows_deleted IS 'Rows deleted per store and table, e.g. {"postgres": {"events": 212}}.';
COMMENT ON COLUMN erasures.tombstones IS 'Tombstones published per topic.';
