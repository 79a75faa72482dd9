-- Console sign-ins without MFA in a recent window, by principal, address and result.
-- param since = 30d
SELECT principal, sourceipaddress, result, count(*) AS logins, max(eventtime) AS last_login
FROM console_logins
WHERE mfa_used = 'No' AND eventtime > now() - ${since}
GROUP BY 1, 2, 3
ORDER BY logins DESC
