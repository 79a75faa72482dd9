-- Everything one access key did: when, from where, what, and whether it failed.
SELECT eventtime, recipientaccountid AS account, principal(useridentity) AS principal,
       eventsource, eventname, awsregion, sourceipaddress, errorcode, eventid
FROM cloudtrail
WHERE useridentity.accesskeyid = ${key}
ORDER BY eventtime
