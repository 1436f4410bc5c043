-- attempts: assessment outcomes (completed, submitted, graded, passed,
--   failed, scored) that carry a score or a pass/fail result.
-- mean_score: mean scaled score (0..1) of those attempts.
-- pass_rate: passed / (passed + failed), from `success` or the
--   passed/failed action.
WITH attempts AS (
  SELECT window_start, class_id, entity, score_scaled,
         CASE WHEN action = 'passed' OR success = true THEN 1.0
              WHEN action = 'failed' OR success = false THEN 0.0 END AS passed
  FROM events
  WHERE action IN ('completed', 'submitted', 'graded', 'passed', 'failed', 'scored')
    AND (score_scaled IS NOT NULL OR success IS NOT NULL OR action IN ('passed', 'failed'))
)
SELECT window_start, class_id, entity,
       COUNT(*) AS attempts,
       AVG(score_scaled) AS mean_score,
       AVG(passed) AS pass_rate
FROM attempts
GROUP BY window_start, class_id, entity
