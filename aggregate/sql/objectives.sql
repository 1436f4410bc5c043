-- objectives_completed: distinct learning objectives of completed or
--   passed activities.
-- curriculum_coverage: of the objectives the `curriculum` defines for the
--   class or its course, the share completed (NULL without a curriculum,
--   and in school rows: a school has no one curriculum).
WITH done AS (
  SELECT DISTINCT window_start, class_id, entity, objective_id
  FROM (
    SELECT window_start, class_id, entity, unnest(objective_ids) AS objective_id
    FROM events
    WHERE action IN ('completed', 'passed', 'satisfied')
  ) t
),
plan AS (
  SELECT DISTINCT c.class_id, cu.objective_id
  FROM (SELECT DISTINCT class_id, course_id FROM events WHERE class_id IS NOT NULL) c
  JOIN curriculum cu ON cu.class_id = c.class_id OR cu.course_id = c.course_id
),
planned AS (
  SELECT class_id, COUNT(*) AS n FROM plan GROUP BY class_id
),
covered AS (
  SELECT d.window_start, d.class_id, d.entity, COUNT(*) AS n
  FROM done d JOIN plan p ON p.class_id = d.class_id AND p.objective_id = d.objective_id
  GROUP BY d.window_start, d.class_id, d.entity
),
completed AS (
  SELECT window_start, class_id, entity, COUNT(*) AS n
  FROM done
  GROUP BY window_start, class_id, entity
)
SELECT t.window_start, t.class_id, t.entity,
       t.n AS objectives_completed,
       CAST(COALESCE(c.n, 0) AS DOUBLE) / p.n AS curriculum_coverage
FROM completed t
LEFT JOIN covered c
  ON c.window_start = t.window_start AND c.class_id = t.class_id AND c.entity = t.entity
LEFT JOIN planned p ON p.class_id = t.class_id
