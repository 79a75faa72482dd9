//! CloudTrail events as OCSF: the `ocsf_api_activity` view and `trailhouse export --format
//! ocsf` (Amazon Security Lake's custom-source layout) share one SELECT, [`select`].
//!
//! Mapped to OCSF [`OCSF_VERSION`] as OCSF's published CloudTrail examples do it
//! (github.com/ocsf/examples, `mappings/markdown/AWS/v1.1.0/CloudTrail/` and
//! `mappings/bloblang/AWS/CloudTrail/v1.1.0/`, commit 45c82e3; the rule-by-rule account with
//! citations is tests/data/ocsf/MAPPING.md):
//!
//! - **Class** by event name: sign-in and role assumption (`ConsoleLogin`, `AssumeRole*`,
//!   `CheckMfa`, ...) are Authentication (3002); IAM user, role, group, access key, login
//!   profile, MFA and policy changes from `iam.amazonaws.com`, and the account's own
//!   (`PasswordUpdated`, `EmailUpdated`, ...) are Account Change (3001); everything else is
//!   API Activity (6003). (The published rule looks at the name only; the event source is
//!   checked here because Transfer Family, MQ, Identity Store and others have a `CreateUser`
//!   too.)
//! - **activity_id** by the verbs in the event name, first match wins, as published (6003:
//!   Create/Run/Generate 1, Get/List/Describe/Search/Lookup 2, Update/Put/Modify/... 3,
//!   Delete/Terminate 4; 3001: Create 1, password 3, Attach/Put 7, Detach/Remove 8, Delete 6;
//!   3002: Logon 1), else 99 Other (`activity_name` then the event name, as OCSF asks);
//!   `type_uid` = class x 100 + activity.
//! - `api.operation` the event name, `api.service.name` the event source,
//!   `api.request.data` / `api.response.data` the JSON text, `api.response.error` the
//!   error code; `actor.user.uid` the ARN, `uid_alt` the principal id, `credential_uid` the
//!   access key; `actor.session.is_mfa` / `issuer`; `src_endpoint.ip` (or `domain` and
//!   `svc_name` when the source is an AWS service's name); `cloud.account.uid` the
//!   recipient account; `metadata.uid` the event id; `http_request.user_agent`.
//! - What OCSF has no attribute for goes to `unmapped` under its CloudTrail name.
//!
//! No event is dropped: one the rules cannot place is API Activity with `activity_id` 99
//! (Other), and [`count_sql`] counts those beside the classes.

/// The OCSF schema version of the mapping (as the Detection Findings of `detections::ocsf`).
pub const OCSF_VERSION: &str = "1.3.0";

/// The OCSF class definitions the mapping's records are checked against: each class's
/// required attributes and constraints, compiled from the OCSF schema (Apache-2.0, its
/// licence beside the file) by scripts/ocsf-classes.py.
pub const CLASSES_JSON: &str = include_str!("../ocsf/classes-1.3.0.json");

/// Event names of the Authentication class (3002).
const AUTHENTICATION: &str = "'ConsoleLogin', 'ExternalIdPDirectoryLogin', 'CheckMfa', 'CredentialChallenge', \
     'CredentialVerification', 'UserAuthentication', 'AssumeRole', 'AssumeRoleWithSAML', 'AssumeRoleWithWebIdentity'";

/// IAM event names of the Account Change class (3001), when `iam.amazonaws.com` records them.
const IAM_ACCOUNT_CHANGE: &str = "'AddRoleToInstanceProfile', 'AddUserToGroup', 'AttachGroupPolicy', \
     'AttachRolePolicy', 'AttachUserPolicy', 'ChangePassword', 'CreateAccessKey', 'CreateAccountAlias', \
     'CreateInstanceProfile', 'CreateLoginProfile', 'CreateRole', 'CreateServiceLinkedRole', 'CreateUser', \
     'CreateVirtualMFADevice', 'DeactivateMFADevice', 'DeleteAccessKey', 'DeleteAccountAlias', \
     'DeleteAccountPasswordPolicy', 'DeleteGroup', 'DeleteGroupPolicy', 'DeleteInstanceProfile', \
     'DeleteLoginProfile', 'DeletePolicy', 'DeleteRole', 'DeleteRolePermissionsBoundary', 'DeleteRolePolicy', \
     'DeleteServiceLinkedRole', 'DeleteUser', 'DeleteUserPermissionsBoundary', 'DeleteUserPolicy', \
     'DeleteVirtualMFADevice', 'DetachGroupPolicy', 'DetachRolePolicy', 'DetachUserPolicy', 'EnableMFADevice', \
     'PutGroupPolicy', 'PutRolePermissionsBoundary', 'PutRolePolicy', 'PutUserPermissionsBoundary', \
     'PutUserPolicy', 'RemoveRoleFromInstanceProfile', 'RemoveUserFromGroup', 'ResyncMFADevice', \
     'TagInstanceProfile', 'TagRole', 'TagUser', 'UntagInstanceProfile', 'UntagRole', 'UntagUser', \
     'UpdateAccessKey', 'UpdateAccountPasswordPolicy', 'UpdateAssumeRolePolicy', 'UpdateGroup', \
     'UpdateLoginProfile', 'UpdateRole', 'UpdateRoleDescription', 'UpdateUser'";

/// Account Change event names of other sources (sign-in, the account's own settings).
const ACCOUNT_ACCOUNT_CHANGE: &str = "'EmailUpdated', 'AccountNameUpdated', 'PasswordUpdated', \
     'UpdateAccountName', 'UpdateAccountEmailAddress', 'FinalizeSmsMfaRegistration', 'RequestSmsMfaRegistration'";

/// `eventname LIKE '%a%' OR eventname LIKE '%b%' ...` (case-sensitive, as published).
fn contains(words: &[&str]) -> String {
    words.iter().map(|w| format!("eventname LIKE '%{w}%'")).collect::<Vec<_>>().join(" OR ")
}

/// The OCSF records of the `cloudtrail` rows matching `filter` (a SQL condition, or empty
/// for all), one column per top-level OCSF attribute, followed by `extra` (select-list
/// items over the same rows, e.g. the export's partition columns; empty for none).
pub fn select(filter: &str, extra: &str) -> String {
    let filter = if filter.trim().is_empty() { String::new() } else { format!("WHERE {filter}") };
    let extra = if extra.trim().is_empty() { String::new() } else { format!(",\n  {extra}") };
    let api_create = contains(&["Create", "Run", "Generate"]);
    let api_read = contains(&["Get", "List", "Describe", "Search", "Lookup"]);
    let api_update = contains(&[
        "Update",
        "Put",
        "Modify",
        "Add",
        "Remove",
        "Start",
        "Stop",
        "Attach",
        "Detach",
        "Associate",
        "Tag",
        "Enable",
        "Disable",
        "Register",
    ]);
    let api_delete = contains(&["Delete", "Terminate"]);
    let ac_attach = contains(&["Attach", "Put"]);
    let ac_detach = contains(&["Detach", "Remove"]);
    let ac_other =
        contains(&["DeleteSSH", "DeleteServer", "DeleteSign", "DeleteAccount", "DeleteCloudFront", "DeleteService"]);
    format!(
        "WITH ocsf_classed AS (
  SELECT *,
    CASE
      WHEN eventname IN ({AUTHENTICATION}) THEN 3002
      WHEN (eventsource = 'iam.amazonaws.com' AND eventname IN ({IAM_ACCOUNT_CHANGE}))
        OR eventname IN ({ACCOUNT_ACCOUNT_CHANGE}) THEN 3001
      ELSE 6003
    END AS ocsf_class,
    regexp_like(sourceipaddress, '^[0-9]{{1,3}}(\\.[0-9]{{1,3}}){{3}}$|^[0-9A-Fa-f]*:[0-9A-Fa-f:.]*$') AS ocsf_is_ip,
    coalesce(json_get_str(requestparameters, 'userName'), json_get_str(responseelements, 'user', 'userName'),
             json_get_str(requestparameters, 'roleName'), json_get_str(responseelements, 'role', 'roleName'))
      AS ocsf_target
  FROM cloudtrail {filter}
), ocsf_placed AS (
  SELECT *,
    CASE ocsf_class
      WHEN 3002 THEN
        CASE WHEN eventname IN ('ConsoleLogin', 'ExternalIdPDirectoryLogin') OR eventname LIKE '%AssumeRole%' THEN 1
             ELSE 99 END
      WHEN 3001 THEN
        CASE WHEN eventname LIKE '%Create%' OR eventname IN ('ResyncMFADevice', 'EnableMFADevice') THEN 1
             WHEN eventname IN ('ChangePassword', 'PasswordUpdated') THEN 3
             WHEN {ac_attach} OR eventname = 'AddUserToGroup' THEN 7
             WHEN {ac_detach} THEN 8
             WHEN {ac_other} THEN 99
             WHEN eventname LIKE '%Delete%' THEN 6
             ELSE 99 END
      ELSE
        CASE WHEN eventname IS NULL THEN 0
             WHEN {api_create} THEN 1
             WHEN {api_read} THEN 2
             WHEN {api_update} THEN 3
             WHEN {api_delete} THEN 4
             ELSE 99 END
    END AS ocsf_activity,
    CASE WHEN ocsf_class = 3002 AND eventname = 'ConsoleLogin'
           THEN json_get_str(responseelements, 'ConsoleLogin')
         WHEN ocsf_class = 3002
           THEN coalesce(json_get_str(serviceeventdetails, 'CredentialChallenge'),
                         json_get_str(serviceeventdetails, 'CredentialVerification'),
                         json_get_str(serviceeventdetails, 'UserAuthentication'))
    END AS ocsf_signin_status
  FROM ocsf_classed
), ocsf_named AS (
  SELECT *,
    CASE ocsf_class WHEN 3002 THEN 'Authentication' WHEN 3001 THEN 'Account Change' ELSE 'API Activity' END
      AS ocsf_class_name,
    CASE
      WHEN ocsf_activity = 0 THEN 'Unknown'
      WHEN ocsf_activity = 99 THEN coalesce(eventname, 'Other')
      WHEN ocsf_class = 3002 THEN 'Logon'
      WHEN ocsf_class = 3001 THEN
        CASE ocsf_activity WHEN 1 THEN 'Create' WHEN 3 THEN 'Password Change' WHEN 6 THEN 'Delete'
                           WHEN 7 THEN 'Attach Policy' ELSE 'Detach Policy' END
      ELSE CASE ocsf_activity WHEN 1 THEN 'Create' WHEN 2 THEN 'Read' WHEN 3 THEN 'Update' ELSE 'Delete' END
    END AS ocsf_activity_name,
    CASE WHEN ocsf_signin_status IN ('Success', 'Failure') THEN ocsf_signin_status
         WHEN errorcode IS NULL THEN 'Success' ELSE 'Failure' END AS ocsf_status
  FROM ocsf_placed
)
SELECT
  ocsf_activity AS activity_id,
  ocsf_activity_name AS activity_name,
  CASE ocsf_class WHEN 6003 THEN 6 ELSE 3 END AS category_uid,
  CASE ocsf_class WHEN 6003 THEN 'Application Activity' ELSE 'Identity & Access Management' END AS category_name,
  ocsf_class AS class_uid,
  ocsf_class_name AS class_name,
  CAST(ocsf_class AS BIGINT) * 100 + ocsf_activity AS type_uid,
  ocsf_class_name || ': ' || CASE WHEN ocsf_activity = 99 THEN 'Other' ELSE ocsf_activity_name END AS type_name,
  1 AS severity_id,
  'Informational' AS severity,
  CAST(eventtime AS BIGINT) / 1000 AS \"time\",
  eventtime AS time_dt,
  CASE ocsf_status WHEN 'Success' THEN 1 ELSE 2 END AS status_id,
  ocsf_status AS status,
  errorcode AS status_code,
  errormessage AS status_detail,
  named_struct(
    'version', '{OCSF_VERSION}',
    'uid', eventid,
    'event_code', eventtype,
    'profiles', make_array('cloud', 'datetime'),
    'product', named_struct('name', 'CloudTrail', 'vendor_name', 'AWS', 'version', eventversion,
                            'feature', named_struct('name', coalesce(eventcategory, 'Management')))
  ) AS metadata,
  named_struct(
    'provider', 'AWS',
    'region', awsregion,
    'account', CASE WHEN recipientaccountid IS NOT NULL
                    THEN named_struct('uid', recipientaccountid, 'type_id', 10, 'type', 'AWS Account') END
  ) AS cloud,
  named_struct(
    'operation', coalesce(eventname, 'Unknown'),
    'version', apiversion,
    'service', named_struct('name', eventsource),
    'request', CASE WHEN requestid IS NOT NULL THEN named_struct('uid', requestid, 'data', requestparameters) END,
    'response', named_struct('error', errorcode, 'message', errormessage, 'data', responseelements)
  ) AS api,
  named_struct(
    'user', CASE WHEN coalesce(useridentity.arn, useridentity.accountid, useridentity.username) IS NOT NULL
                 THEN named_struct(
                   'uid', useridentity.arn,
                   'uid_alt', coalesce(useridentity.principalid, useridentity.onbehalfof.userid),
                   'name', coalesce(useridentity.username, json_get_str(additionaleventdata, 'UserName')),
                   'type', useridentity.type,
                   'credential_uid', coalesce(useridentity.accesskeyid, useridentity.credentialid),
                   'account', CASE WHEN useridentity.accountid IS NOT NULL
                                   THEN named_struct('uid', useridentity.accountid) END) END,
    'session', CASE WHEN useridentity.sessioncontext IS NOT NULL
                    THEN named_struct(
                      'is_mfa', useridentity.sessioncontext.attributes.mfaauthenticated = 'true',
                      'issuer', useridentity.sessioncontext.sessionissuer.arn,
                      'created_time_dt', useridentity.sessioncontext.attributes.creationdate,
                      'credential_uid', useridentity.accesskeyid) END,
    'invoked_by', useridentity.invokedby,
    'idp', CASE WHEN coalesce(useridentity.sessioncontext.webidfederationdata.federatedprovider,
                              useridentity.onbehalfof.identitystorearn) IS NOT NULL
                THEN named_struct('name', useridentity.sessioncontext.webidfederationdata.federatedprovider,
                                  'uid', useridentity.onbehalfof.identitystorearn) END,
    'app_name', CASE WHEN coalesce(useridentity.arn, useridentity.accountid, useridentity.username,
                                   useridentity.invokedby) IS NULL AND useridentity.sessioncontext IS NULL
                     THEN coalesce(useridentity.type, 'Unknown') END
  ) AS actor,
  named_struct(
    'ip', CASE WHEN ocsf_is_ip THEN sourceipaddress END,
    'domain', CASE WHEN NOT ocsf_is_ip THEN sourceipaddress END,
    'svc_name', CASE WHEN sourceipaddress IS NULL THEN coalesce(useridentity.invokedby, eventsource, 'Unknown')
                     WHEN NOT ocsf_is_ip THEN sourceipaddress END,
    'uid', vpcendpointid
  ) AS src_endpoint,
  named_struct('user_agent', useragent) AS http_request,
  CASE ocsf_class
    WHEN 3002 THEN named_struct(
      'uid', coalesce(json_get_str(requestparameters, 'roleArn'), useridentity.arn),
      'uid_alt', coalesce(useridentity.principalid, useridentity.onbehalfof.userid),
      'name', coalesce(json_get_str(requestparameters, 'roleSessionName'), useridentity.username,
                       json_get_str(additionaleventdata, 'UserName')),
      'account', named_struct('uid', coalesce(useridentity.accountid, recipientaccountid)))
    WHEN 3001 THEN named_struct(
      'uid', CASE WHEN ocsf_target IS NULL THEN useridentity.arn
                  ELSE coalesce(json_get_str(responseelements, 'user', 'arn'),
                                json_get_str(responseelements, 'role', 'arn')) END,
      'uid_alt', coalesce(json_get_str(responseelements, 'user', 'userId'),
                          json_get_str(responseelements, 'role', 'roleId')),
      'name', coalesce(ocsf_target, useridentity.username),
      'account', named_struct('uid', recipientaccountid))
  END AS \"user\",
  CASE WHEN ocsf_class = 3002 THEN
    CASE json_get_str(additionaleventdata, 'MFAUsed') WHEN 'Yes' THEN true WHEN 'No' THEN false END
  END AS is_mfa,
  CASE WHEN ocsf_class = 3002 THEN named_struct('name', eventsource) END AS service,
  CASE WHEN ocsf_class = 3002 AND json_get_str(additionaleventdata, 'LoginTo') IS NOT NULL
       THEN named_struct('svc_name', json_get_str(additionaleventdata, 'LoginTo')) END AS dst_endpoint,
  CASE WHEN ocsf_class = 3001 AND json_get_str(requestparameters, 'policyArn') IS NOT NULL
       THEN named_struct('uid', json_get_str(requestparameters, 'policyArn')) END AS policy,
  named_struct(
    'readOnly', readonly,
    'managementEvent', managementevent,
    'sessionCredentialFromConsole', sessioncredentialfromconsole,
    'sharedEventID', sharedeventid,
    'vpcEndpointAccountId', vpcendpointaccountid,
    'tlsDetails', tlsdetails,
    'resources', resources,
    'sessionIssuer', useridentity.sessioncontext.sessionissuer,
    'sourceIdentity', useridentity.sessioncontext.sourceidentity,
    'webIdFederationAttributes', useridentity.sessioncontext.webidfederationdata.attributes,
    'additionalEventData', additionaleventdata,
    'serviceEventDetails', serviceeventdetails,
    'addendum', addendum,
    'edgeDeviceDetails', edgedevicedetails,
    'insightDetails', insightdetails,
    'annotation', annotation,
    'eventContext', eventcontext,
    'identityProvider', useridentity.identityprovider,
    'ec2IssuedInVPC', useridentity.sessioncontext.ec2issuedinvpc,
    'other', unmapped
  ) AS unmapped{extra}
FROM ocsf_named"
    )
}

/// Records per class and activity of the same rows as [`select`]: `class_uid`,
/// `activity_id`, `records`.
pub fn count_sql(filter: &str) -> String {
    format!(
        "SELECT class_uid, activity_id, count(*) AS records FROM ({}) GROUP BY class_uid, activity_id \
         ORDER BY class_uid, activity_id",
        select(filter, "")
    )
}

/// Why an OCSF record (as JSON, nulls omitted or null) does not validate against its class
/// in [`CLASSES_JSON`]: each required attribute missing (a nested one only where its parent
/// object is present; a profile's only where `metadata.profiles` names it), and each object
/// holding none of the attributes it needs at least one of. Empty: valid.
pub fn violations(record: &serde_json::Value, classes: &serde_json::Value) -> Vec<String> {
    use serde_json::Value;
    let mut out = Vec::new();
    let uid = record.get("class_uid").and_then(Value::as_u64);
    let Some(class) = classes["classes"].as_object().and_then(|c| c.values().find(|c| c["uid"].as_u64() == uid)) else {
        return vec![format!("class_uid {uid:?} is not one of the known classes")];
    };
    let profiles: Vec<&str> = record
        .pointer("/metadata/profiles")
        .and_then(Value::as_array)
        .map_or(vec![], |p| p.iter().filter_map(Value::as_str).collect());
    // Every value at a dotted path (arrays fan out); `None` entries where a step is absent.
    fn at<'a>(v: &'a Value, path: &[&str], out: &mut Vec<Option<&'a Value>>) {
        match v {
            Value::Array(items) => items.iter().for_each(|i| at(i, path, out)),
            _ if path.is_empty() => out.push(if v.is_null() { None } else { Some(v) }),
            Value::Object(o) => match o.get(path[0]) {
                Some(child) if !child.is_null() => at(child, &path[1..], out),
                _ => out.push(None),
            },
            _ => out.push(None),
        }
    }
    for req in class["required_paths"].as_array().into_iter().flatten() {
        if let Some(p) = req["profile"].as_str()
            && !profiles.contains(&p)
        {
            continue;
        }
        let Some(path) = req["path"].as_str() else { continue };
        let steps: Vec<&str> = path.split('.').collect();
        // Required where the parent object is there (the parent's own requirement, if any,
        // is a path of its own).
        let mut parents = Vec::new();
        at(record, &steps[..steps.len() - 1], &mut parents);
        for parent in parents.into_iter().flatten() {
            let mut leaf = Vec::new();
            at(parent, &steps[steps.len() - 1..], &mut leaf);
            if leaf.iter().any(Option::is_none) {
                out.push(format!("{path} is required"));
            }
        }
    }
    for (path, c) in class["constraint_paths"].as_object().into_iter().flatten() {
        let Some(any) = c["at_least_one"].as_array() else { continue };
        let steps: Vec<&str> = path.split('.').collect();
        let mut objects = Vec::new();
        at(record, &steps, &mut objects);
        for o in objects.into_iter().flatten() {
            if !any.iter().filter_map(Value::as_str).any(|a| o.get(a).is_some_and(|v| !v.is_null())) {
                out.push(format!("{path} needs at least one of {}", c["at_least_one"]));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes() -> serde_json::Value {
        serde_json::from_str(CLASSES_JSON).unwrap()
    }

    #[test]
    fn a_record_missing_a_required_attribute_or_constraint_is_named() {
        let ok = serde_json::json!({
            "class_uid": 6003, "activity_id": 2, "category_uid": 6, "type_uid": 600302, "severity_id": 1,
            "time": 1, "metadata": {"version": "1.3.0", "profiles": ["cloud"], "product": {"name": "CloudTrail", "vendor_name": "AWS"}},
            "cloud": {"provider": "AWS"}, "api": {"operation": "GetObject"},
            "actor": {"user": {"uid": "arn:aws:iam::1:user/a"}}, "src_endpoint": {"ip": "192.0.2.1"},
        });
        assert_eq!(violations(&ok, &classes()), Vec::<String>::new());
        let mut bad = ok.clone();
        bad["cloud"] = serde_json::json!({"region": "us-east-1"});
        bad["actor"] = serde_json::json!({"user": {"type": "IAMUser"}});
        bad.as_object_mut().unwrap().remove("time");
        let v = violations(&bad, &classes());
        assert!(v.contains(&"cloud.provider is required".to_string()), "{v:?}");
        assert!(v.contains(&"time is required".to_string()), "{v:?}");
        assert!(v.iter().any(|m| m.starts_with("actor.user needs at least one of")), "{v:?}");
        // Without the cloud profile, cloud's requirement does not apply.
        bad["metadata"]["profiles"] = serde_json::json!([]);
        assert!(!violations(&bad, &classes()).contains(&"cloud.provider is required".to_string()));
    }
}
