-- Assignments are objects whose events carry a due time; `assignments`
-- lists each class's (known from events of final weeks, or of the open
-- week starting at `known_from`), `submitted` each learner's first
-- submission of each, `members` the class's learners from the roster.
-- submissions_on_time / submissions_late: submitted events in the window at
--   or before / after their due time.
-- submissions_missing: assignments of the learner's class due in the window
--   and already past (before settings.watermark), known by the end of the
--   window's week, that the learner has not submitted by then. Every
--   learner of the class counts, with or without activity; a late
--   submission is late, not missing.
WITH class_windows AS (
  SELECT DISTINCT window_start, window_end, week_end, event_class_id
  FROM events
  WHERE event_class_id IS NOT NULL
),
due AS (
  SELECT DISTINCT w.window_start, w.week_end, w.event_class_id, a.object_id
  FROM class_windows w
  JOIN assignments a ON a.class_id = w.event_class_id
  CROSS JOIN settings s
  WHERE a.due_time >= w.window_start AND a.due_time < w.window_end
    AND a.due_time < s.watermark
    AND (a.known_from IS NULL OR a.known_from < w.week_end)
),
learners AS (
  SELECT DISTINCT window_start, class_id, entity, event_class_id, person_key
  FROM events
  WHERE event_class_id IS NOT NULL
  UNION
  SELECT w.window_start, m.class_id, m.entity, m.event_class_id, m.person_key
  FROM class_windows w
  JOIN members m ON m.event_class_id = w.event_class_id
),
missing AS (
  SELECT l.window_start, l.class_id, l.entity, COUNT(*) AS n
  FROM learners l
  JOIN due d ON d.window_start = l.window_start AND d.event_class_id = l.event_class_id
  LEFT JOIN submitted s
    ON s.class_id = d.event_class_id AND s.person_key = l.person_key
   AND s.object_id = d.object_id AND s.submitted_time < d.week_end
  WHERE s.object_id IS NULL
  GROUP BY l.window_start, l.class_id, l.entity
),
handed_in AS (
  SELECT window_start, class_id, entity,
         SUM(CASE WHEN event_time <= due_time THEN 1 ELSE 0 END) AS on_time,
         SUM(CASE WHEN event_time > due_time THEN 1 ELSE 0 END) AS late
  FROM events
  WHERE action = 'submitted' AND due_time IS NOT NULL
  GROUP BY window_start, class_id, entity
),
keys AS (
  SELECT DISTINCT window_start, class_id, entity FROM events
  UNION
  SELECT DISTINCT window_start, class_id, entity FROM learners
)
SELECT k.window_start, k.class_id, k.entity,
       COALESCE(h.on_time, 0) AS submissions_on_time,
       COALESCE(h.late, 0) AS submissions_late,
       COALESCE(m.n, 0) AS submissions_missing
FROM keys k
LEFT JOIN handed_in h
  ON h.window_start = k.window_start AND (h.class_id IS NOT DISTINCT FROM k.class_id)
 AND h.entity = k.entity
LEFT JOIN missing m
  ON m.window_start = k.window_start AND (m.class_id IS NOT DISTINCT FROM k.class_id)
 AND m.entity = k.entity
