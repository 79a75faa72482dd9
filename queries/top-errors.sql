-- The principals with the most failed calls (AccessDenied and the like) in a recent window.
-- param since = 7d
-- param top = 20
SELECT principal(useridentity) AS principal, errorcode, count(*) AS errors,
       count(DISTINCT eventname) AS actions, min(eventtime) AS first_seen, max(eventtime) AS last_seen
FROM cloudtrail
WHERE errorcode IS NOT NULL AND eventtime > now() - ${since}
GROUP BY 1, 2
ORDER BY errors DESC
LIMIT ${top}
