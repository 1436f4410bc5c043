-- Answers to questionnaire items (events whose object is an item of the
-- `questionnaire` table and that carry a numeric response), rescaled to
-- 0..1 on the item's scale, reversed for reverse-scored items.
-- wellbeing_index: mean of all answers; wellbeing_<dimension>: mean of
--   the dimension's answers.
-- wellbeing_respondents: learners who answered (a group's well-being is
--   suppressed below k of them).
WITH answers AS (
  SELECT e.window_start, e.class_id, e.entity, e.person_key, q.dimension,
         GREATEST(0.0, LEAST(1.0, CASE
           WHEN q.reverse_scored
             THEN 1.0 - (e.response_value - q.scale_min) / (q.scale_max - q.scale_min)
           ELSE (e.response_value - q.scale_min) / (q.scale_max - q.scale_min)
         END)) AS v
  FROM events e
  JOIN questionnaire q ON e.object_id = q.item_id
  WHERE e.response_value IS NOT NULL
)
SELECT window_start, class_id, entity, 'wellbeing_index' AS indicator, AVG(v) AS value
FROM answers
GROUP BY window_start, class_id, entity
UNION ALL
SELECT window_start, class_id, entity, 'wellbeing_respondents' AS indicator,
       CAST(COUNT(DISTINCT person_key) AS DOUBLE) AS value
FROM answers
GROUP BY window_start, class_id, entity
UNION ALL
SELECT window_start, class_id, entity, 'wellbeing_' || dimension AS indicator, AVG(v) AS value
FROM answers
GROUP BY window_start, class_id, entity, dimension
