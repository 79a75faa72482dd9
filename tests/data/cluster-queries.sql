-- Queries run both locally and on a Ballista cluster by tests/cluster.rs, which compares
-- the results: Athena's CloudTrail queries as tutorials write them (cloudtrail_logs,
-- json_extract_scalar, from_iso8601_timestamp, text time comparisons), trailhouse's views
-- and functions, struct leaves, joins on identity fields, and aggregations that shuffle.
-- Each has an ORDER BY over all its columns, so equal results print equal.
SELECT eventtime, eventname, sourceipaddress, useridentity.arn
FROM cloudtrail_logs
WHERE useridentity.type = 'Root' AND useridentity.invokedby IS NULL AND eventtype != 'AwsServiceEvent'
ORDER BY 1, 2, 3, 4;

SELECT useridentity.username, sourceipaddress, eventtime, additionaleventdata
FROM cloudtrail_logs
WHERE eventname = 'ConsoleLogin' AND eventtime >= '2026-11-02T00:00:00Z' AND eventtime < '2026-11-03T00:00:00Z'
ORDER BY 1, 2, 3, 4;

SELECT useridentity.arn, errorcode, count(*) AS errors
FROM cloudtrail_logs
WHERE errorcode IS NOT NULL
GROUP BY useridentity.arn, errorcode
ORDER BY errors DESC, 1, 2;

SELECT eventname, count(*) AS n FROM cloudtrail_logs
WHERE json_extract_scalar(requestparameters, '$.bucketName') IS NOT NULL
GROUP BY eventname ORDER BY 1, 2;

SELECT useridentity.arn, sourceipaddress, eventtime FROM cloudtrail_logs
WHERE eventname = 'ConsoleLogin' AND json_extract_scalar(additionaleventdata, '$.MFAUsed') = 'No'
ORDER BY 1, 2, 3;

SELECT date_trunc('hour', from_iso8601_timestamp(eventtime)) AS hour, count(*) AS n
FROM cloudtrail_logs
GROUP BY 1 ORDER BY 1, 2;

SELECT useridentity.type, useridentity.sessioncontext.sessionissuer.arn, count(*) AS n,
       count(DISTINCT sourceipaddress) AS ips
FROM cloudtrail
GROUP BY 1, 2 ORDER BY 1, 2, 3, 4;

SELECT principal, identity_type, events FROM actors ORDER BY 1, 2, 3;

SELECT count(*) AS n FROM cloudtrail a
JOIN (SELECT DISTINCT recipientaccountid AS k FROM cloudtrail) b
ON coalesce(a.useridentity.accountid, a.recipientaccountid) = b.k;

SELECT recipientaccountid, awsregion, eventdate, count(*) AS n, min(eventtime) AS first, max(eventtime) AS last
FROM cloudtrail
WHERE eventdate >= DATE '2026-11-02'
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3, 4, 5, 6;

SELECT arn_account(useridentity.arn) AS account, is_private_ip(sourceipaddress) AS private, count(*) AS n
FROM cloudtrail
GROUP BY 1, 2 ORDER BY 1, 2, 3;

-- CloudTrail Lake's dialect: the event data store id as the table, Trino's functions (some
-- rewritten into DataFusion's, replace computed under DataFusion's own name), eventjson.
SELECT replace(eventSource, '.amazonaws.com') AS service, day_of_week(eventTime) AS dow,
       if(errorCode IS NULL, 'ok', 'error') AS outcome, count(*) AS n,
       max_by(eventName, eventID) AS by_largest_id
FROM 37382170-182d-42ed-9df9-5aaf0b4b9511
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3, 4, 5;

SELECT json_extract_scalar(eventJson, '$.eventID') AS id, element_at(requestParameters, 'roleArn') AS role
FROM 37382170-182d-42ed-9df9-5aaf0b4b9511
WHERE eventName = 'AssumeRole'
ORDER BY 1, 2;

SELECT date_format(eventTime, '%Y-%m-%d %H:%i') AS minute, count(*) AS n
FROM 37382170-182d-42ed-9df9-5aaf0b4b9511
GROUP BY 1
ORDER BY 1, 2;
