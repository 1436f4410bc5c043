-- From attendance events (attended, absent, tardy); rows without any have
-- none of these indicators.
-- attendance_rate: (attended + tardy) / all attendance records.
-- absences, tardies: counts.
SELECT window_start, class_id, entity,
       CAST(SUM(CASE WHEN action IN ('attended', 'tardy') THEN 1 ELSE 0 END) AS DOUBLE)
         / SUM(CASE WHEN action IN ('attended', 'absent', 'tardy') THEN 1 ELSE 0 END)
         AS attendance_rate,
       SUM(CASE WHEN action = 'absent' THEN 1 ELSE 0 END) AS absences,
       SUM(CASE WHEN action = 'tardy' THEN 1 ELSE 0 END) AS tardies
FROM events
GROUP BY window_start, class_id, entity
HAVING SUM(CASE WHEN action IN ('attended', 'absent', 'tardy') THEN 1 ELSE 0 END) > 0
