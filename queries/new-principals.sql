-- Principals first seen within a window before the lake's newest event, newest first.
-- param within = 1d
SELECT *
FROM actors
WHERE first_seen > (SELECT max(eventtime) FROM cloudtrail) - ${within}
ORDER BY first_seen DESC
