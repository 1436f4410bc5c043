-- Assignments are objects whose events carry a due time.
-- submissions_on_time / submissions_late: submitted events at or before /
--   after their due time.
-- submissions_missing: assignments of the class due inside the window that
--   a learner active in the window has no on-time submission for in the
--   window (a submission on an earlier day counts in the weekly row only).
WITH due AS (
  SELECT DISTINCT window_start, class_id, object_id
  FROM events
  WHERE class_id IS NOT NULL AND due_time >= window_start AND due_time < window_end
),
learners AS (
  SELECT DISTINCT window_start, class_id, entity, person_key FROM events
),
on_time AS (
  SELECT DISTINCT window_start, class_id, person_key, object_id
  FROM events
  WHERE action = 'submitted' AND event_time <= due_time
),
missing AS (
  SELECT l.window_start, l.class_id, l.entity, COUNT(*) AS n
  FROM learners l
  JOIN due d ON d.window_start = l.window_start AND d.class_id = l.class_id
  LEFT JOIN on_time s
    ON s.window_start = l.window_start AND s.class_id = l.class_id
   AND s.person_key = l.person_key AND s.object_id = d.object_id
  WHERE s.object_id IS NULL
  GROUP BY l.window_start, l.class_id, l.entity
),
submitted AS (
  SELECT window_start, class_id, entity,
         SUM(CASE WHEN event_time <= due_time THEN 1 ELSE 0 END) AS on_time,
         SUM(CASE WHEN event_time > due_time THEN 1 ELSE 0 END) AS late
  FROM events
  WHERE action = 'submitted' AND due_time IS NOT NULL
  GROUP BY window_start, class_id, entity
),
keys AS (
  SELECT DISTINCT window_start, class_id, entity FROM events
)
SELECT k.window_start, k.class_id, k.entity,
       COALESCE(s.on_time, 0) AS submissions_on_time,
       COALESCE(s.late, 0) AS submissions_late,
       COALESCE(m.n, 0) AS submissions_missing
FROM keys k
LEFT JOIN submitted s
  ON s.window_start = k.window_start AND (s.class_id IS NOT DISTINCT FROM k.class_id)
 AND s.entity = k.entity
LEFT JOIN missing m
  ON m.window_start = k.window_start AND (m.class_id IS NOT DISTINCT FROM k.class_id)
 AND m.entity = k.entity
