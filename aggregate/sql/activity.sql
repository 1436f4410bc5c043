-- activity_events: number of events.
-- active_minutes: reported durations; an event without one counts the gap
--   to the learner's next event, capped at settings.session_gap_cap_ms
--   (the last event of a window counts 0).
-- resources_used: distinct objects viewed, launched or completed.
WITH ordered AS (
  SELECT window_start, class_id, entity, object_id, action, duration_ms,
         CAST(event_time AS BIGINT) AS t,
         LEAD(CAST(event_time AS BIGINT)) OVER (
           PARTITION BY window_start, class_id, entity, person_key
           ORDER BY event_time, event_hash) AS next_t
  FROM events
)
SELECT o.window_start, o.class_id, o.entity,
       COUNT(*) AS activity_events,
       SUM(COALESCE(o.duration_ms,
                    CASE WHEN o.next_t IS NULL THEN 0
                         ELSE LEAST((o.next_t - o.t) / 1000, s.session_gap_cap_ms) END))
         / 60000.0 AS active_minutes,
       COUNT(DISTINCT CASE WHEN o.action IN ('viewed', 'launched', 'completed')
                           THEN o.object_id END) AS resources_used
FROM ordered o CROSS JOIN settings s
GROUP BY o.window_start, o.class_id, o.entity
