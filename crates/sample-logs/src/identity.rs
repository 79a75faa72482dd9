//! `userIdentity`: who made a call, written as CloudTrail writes each identity type.

use crate::json::{Json, timestamp};
use crate::rng::Rng;
use crate::spec::{Account, IdentityType, ROLES, USERS};

/// Writes the `userIdentity` of a routine event of identity type `kind` at `time`.
/// Returns the person behind the identity (an index into `USERS`), if there is one.
pub(crate) fn write_identity(
    j: &mut Json<'_>,
    rng: &mut Rng,
    acct: &Account,
    kind: IdentityType,
    time: i64,
    persona: Option<u64>,
) -> Option<usize> {
    let id = &acct.id;
    let mut person_of = None;
    j.key("userIdentity").begin_obj();
    match kind {
        IdentityType::AssumedRole => {
            // A persona is one role session: its role, its person, its session name.
            let (role, user, session) = if let Some(p) = persona {
                let (roles, users) = (ROLES.len() as u64, USERS.len() as u64);
                (ROLES[(p % roles) as usize], ((p / roles) % users) as usize, p / (roles * users))
            } else {
                (*rng.pick(ROLES), rng.below(USERS.len() as u64) as usize, rng.below(1000))
            };
            person_of = Some(user);
            let session = format!("{}-{}", USERS[user], session);
            j.ks("type", "AssumedRole");
            j.ks("principalId", &format!("AROA{id}XYZ:{session}"));
            j.ks("arn", &format!("arn:aws:sts::{id}:assumed-role/{role}/{session}"));
            j.ks("accountId", id);
            j.ks("accessKeyId", &format!("ASIA{}", rng.below(1 << 40)));
            j.key("sessionContext").begin_obj();
            session_issuer(j, "Role", &format!("AROA{id}XYZ"), &format!("arn:aws:iam::{id}:role/{role}"), id, role);
            j.key("webIdFederationData").begin_obj();
            j.end_obj();
            j.key("attributes").begin_obj();
            j.ks("creationDate", &timestamp(time - 600 - rng.below(3000) as i64));
            j.ks("mfaAuthenticated", if rng.chance(0.3) { "true" } else { "false" });
            j.end_obj();
            if rng.chance(0.05) {
                j.ks("ec2RoleDelivery", "2.0");
            }
            j.end_obj();
        }
        IdentityType::IamUser => {
            let i = match persona {
                Some(p) => (p % USERS.len() as u64) as usize,
                None => rng.below(USERS.len() as u64) as usize,
            };
            person_of = Some(i);
            let user = USERS[i];
            j.ks("type", "IAMUser");
            j.ks("principalId", &format!("AIDA{id}{}", user.len()));
            j.ks("arn", &format!("arn:aws:iam::{id}:user/{user}"));
            j.ks("accountId", id);
            j.ks("accessKeyId", &format!("AKIA{}", rng.below(1 << 40)));
            j.ks("userName", user);
            if rng.chance(0.2) {
                j.key("sessionContext").begin_obj();
                j.key("attributes").begin_obj();
                j.ks("creationDate", &timestamp(time - 3600));
                j.ks("mfaAuthenticated", if rng.chance(0.5) { "true" } else { "false" });
                j.end_obj();
                j.end_obj();
            }
        }
        IdentityType::AwsService => {
            let svc =
                *rng.pick(&["lambda.amazonaws.com", "ec2.amazonaws.com", "config.amazonaws.com", "ssm.amazonaws.com"]);
            j.ks("type", "AWSService");
            j.ks("invokedBy", svc);
        }
        IdentityType::ServiceWithoutType => {
            j.ks("accountId", id);
            j.ks("invokedBy", "cloudtrail.amazonaws.com");
        }
        IdentityType::IdentityCenterUser => {
            let i = rng.below(USERS.len() as u64) as usize;
            person_of = Some(i);
            let user = USERS[i];
            j.ks("type", "IdentityCenterUser");
            j.ks("accountId", id);
            j.key("onBehalfOf").begin_obj();
            // One Identity Center user id per person (the draw is kept so the stream of
            // the rest stays as it was).
            let _ = rng.uuid();
            j.ks("userId", &format!("9067{:06x}-1111-2222-3333-{:012x}", i, i));
            j.ks("identityStoreArn", "arn:aws:identitystore::111111111111:identitystore/d-9067abcdef");
            j.end_obj();
            j.ks("credentialId", &format!("{user}-{}", rng.below(100_000)));
        }
        IdentityType::FederatedUser => {
            let i = rng.below(USERS.len() as u64) as usize;
            person_of = Some(i);
            let user = USERS[i];
            j.ks("type", "FederatedUser");
            j.ks("principalId", &format!("{id}:{user}"));
            j.ks("arn", &format!("arn:aws:sts::{id}:federated-user/{user}"));
            j.ks("accountId", id);
            j.ks("accessKeyId", &format!("ASIA{}", rng.below(1 << 40)));
            j.key("sessionContext").begin_obj();
            session_issuer(j, "IAMUser", &format!("AIDA{id}"), &format!("arn:aws:iam::{id}:user/{user}"), id, user);
            j.key("attributes").begin_obj();
            j.ks("creationDate", &timestamp(time - 900));
            j.ks("mfaAuthenticated", "false");
            j.end_obj();
            j.end_obj();
        }
        IdentityType::AwsAccount => {
            // A few partner accounts (a vendor, a central security account), not a new
            // account per call.
            let other = format!("{:012}", 900_000_000_000u64 + rng.below(1000) % 3);
            j.ks("type", "AWSAccount");
            j.ks("principalId", &format!("AIDA{other}"));
            j.ks("accountId", &other);
        }
    }
    j.end_obj();
    person_of
}

/// `userIdentity` of the root user (`who == "root"`) or an IAM user, for console logins
/// and planted calls. A console login by root carries an empty access key id, an IAM
/// user's none; API calls carry one.
pub(crate) fn person(j: &mut Json<'_>, id: &str, who: &str, access_key: Option<&str>) {
    j.key("userIdentity").begin_obj();
    if who == "root" {
        j.ks("type", "Root");
        j.ks("principalId", id);
        j.ks("arn", &format!("arn:aws:iam::{id}:root"));
        j.ks("accountId", id);
        if let Some(k) = access_key {
            j.ks("accessKeyId", k);
        }
    } else {
        j.ks("type", "IAMUser");
        j.ks("principalId", &format!("AIDA{id}{}", who.len()));
        j.ks("arn", &format!("arn:aws:iam::{id}:user/{who}"));
        j.ks("accountId", id);
        if let Some(k) = access_key.filter(|k| !k.is_empty()) {
            j.ks("accessKeyId", k);
        }
        j.ks("userName", who);
    }
    j.end_obj();
}

fn session_issuer(j: &mut Json<'_>, kind: &str, principal: &str, arn: &str, account: &str, name: &str) {
    j.key("sessionIssuer").begin_obj();
    j.ks("type", kind);
    j.ks("principalId", principal);
    j.ks("arn", arn);
    j.ks("accountId", account);
    j.ks("userName", name);
    j.end_obj();
}
