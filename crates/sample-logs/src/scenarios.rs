//! The planted suspicious events: one [`Scenario`] per thing planted, each at a fixed time
//! of the first day, in a fixed account and region, listed in `planted.tsv`.

use std::fmt;

use crate::events::{ApiCall, EventWriter, Login};
use crate::spec::Account;

/// The address planted calls, and most planted logins, come from.
const ATTACKER: &str = "198.51.100.23";
/// The address of [`Scenario::ConsoleLoginNewIp`], none of the account's own.
const NEW_IP: &str = "203.0.113.77";

/// A suspicious thing the generator plants (each a detection should find). Its name, as
/// written to `planted.tsv`, is [`Scenario::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// The root user signs in to the console without MFA, from the attacker's address.
    RootConsoleLoginWithoutMfa,
    /// The root user creates an access key.
    RootCreateAccessKey,
    /// An IAM user (`carol`) signs in to the console without MFA.
    IamUserConsoleLoginWithoutMfa,
    /// `StopLogging` on the organization trail.
    StopLogging,
    /// `DeleteTrail` of the organization trail.
    DeleteTrail,
    /// A security group opens SSH (22/tcp) to `0.0.0.0/0`.
    SecurityGroupOpenSshToWorld,
    /// Twelve failed console logins of one user, four seconds apart.
    ConsoleBruteForce,
    /// A user (`bob`) creates an access key for another user.
    AccessKeyForOtherUser,
    /// A GuardDuty detector is deleted.
    GuardDutyDetectorDeleted,
    /// A bucket policy grants `s3:GetObject` to everyone.
    S3BucketPolicyPublic,
    /// A KMS key is scheduled for deletion.
    KmsKeyScheduledDeletion,
    /// `GetPasswordData` of an EC2 instance.
    GetPasswordData,
    /// An MFA device is deactivated.
    MfaDeviceDeactivated,
    /// A console login (with MFA) from an address the account has not used.
    ConsoleLoginNewIp,
}

impl Scenario {
    /// Every scenario, in the order they are planted (their time of day).
    pub const ALL: [Scenario; 14] = [
        Scenario::RootConsoleLoginWithoutMfa,
        Scenario::RootCreateAccessKey,
        Scenario::IamUserConsoleLoginWithoutMfa,
        Scenario::StopLogging,
        Scenario::DeleteTrail,
        Scenario::SecurityGroupOpenSshToWorld,
        Scenario::ConsoleBruteForce,
        Scenario::AccessKeyForOtherUser,
        Scenario::GuardDutyDetectorDeleted,
        Scenario::S3BucketPolicyPublic,
        Scenario::KmsKeyScheduledDeletion,
        Scenario::GetPasswordData,
        Scenario::MfaDeviceDeactivated,
        Scenario::ConsoleLoginNewIp,
    ];

    /// The name in `planted.tsv`'s `scenario` column.
    pub const fn name(self) -> &'static str {
        match self {
            Scenario::RootConsoleLoginWithoutMfa => "root-console-login-without-mfa",
            Scenario::RootCreateAccessKey => "root-create-access-key",
            Scenario::IamUserConsoleLoginWithoutMfa => "iam-user-console-login-without-mfa",
            Scenario::StopLogging => "stop-logging",
            Scenario::DeleteTrail => "delete-trail",
            Scenario::SecurityGroupOpenSshToWorld => "security-group-open-ssh-to-world",
            Scenario::ConsoleBruteForce => "console-brute-force",
            Scenario::AccessKeyForOtherUser => "access-key-for-other-user",
            Scenario::GuardDutyDetectorDeleted => "guardduty-detector-deleted",
            Scenario::S3BucketPolicyPublic => "s3-bucket-policy-public",
            Scenario::KmsKeyScheduledDeletion => "kms-key-scheduled-deletion",
            Scenario::GetPasswordData => "get-password-data",
            Scenario::MfaDeviceDeactivated => "mfa-device-deactivated",
            Scenario::ConsoleLoginNewIp => "console-login-new-ip",
        }
    }

    /// Who does it: an IAM user's name, or `root`.
    pub fn actor(self) -> &'static str {
        match self.action() {
            Action::Logins { who, .. } | Action::Call { who, .. } => who,
        }
    }

    /// When and where it is planted: the second of the first day (UTC), the account (an
    /// index, modulo the number of accounts) and the region.
    const fn schedule(self) -> (i64, usize, &'static str) {
        match self {
            Scenario::RootConsoleLoginWithoutMfa => (3 * 3600 + 17 * 60, 0, "us-east-1"),
            Scenario::RootCreateAccessKey => (3 * 3600 + 21 * 60, 0, "us-east-1"),
            Scenario::IamUserConsoleLoginWithoutMfa => (9 * 3600 + 2 * 60, 1, "us-east-1"),
            Scenario::StopLogging => (9 * 3600 + 40 * 60, 0, "us-east-1"),
            Scenario::DeleteTrail => (9 * 3600 + 41 * 60, 0, "us-east-1"),
            Scenario::SecurityGroupOpenSshToWorld => (11 * 3600 + 5 * 60, 1, "eu-west-1"),
            Scenario::ConsoleBruteForce => (13 * 3600, 0, "us-east-1"),
            Scenario::AccessKeyForOtherUser => (14 * 3600 + 30 * 60, 1, "us-east-1"),
            Scenario::GuardDutyDetectorDeleted => (15 * 3600 + 12 * 60, 0, "us-west-2"),
            Scenario::S3BucketPolicyPublic => (16 * 3600, 1, "us-east-1"),
            Scenario::KmsKeyScheduledDeletion => (17 * 3600 + 45 * 60, 0, "us-east-1"),
            Scenario::GetPasswordData => (18 * 3600 + 3 * 60, 1, "eu-west-1"),
            Scenario::MfaDeviceDeactivated => (19 * 3600 + 30 * 60, 0, "us-east-1"),
            Scenario::ConsoleLoginNewIp => (20 * 3600 + 10 * 60, 1, "us-east-1"),
        }
    }

    /// The records it writes.
    fn action(self) -> Action {
        use Origin::{AccountIp, Attacker, NewIp};
        match self {
            Scenario::RootConsoleLoginWithoutMfa => logins(1, "root", false, true, Attacker),
            Scenario::IamUserConsoleLoginWithoutMfa => logins(1, "carol", false, true, AccountIp),
            Scenario::ConsoleLoginNewIp => logins(1, "alice", true, true, NewIp),
            Scenario::ConsoleBruteForce => logins(12, "bob", false, false, Attacker),
            Scenario::RootCreateAccessKey => call("iam.amazonaws.com", "CreateAccessKey", "{}", "root"),
            Scenario::StopLogging => call(
                "cloudtrail.amazonaws.com",
                "StopLogging",
                r#"{"name":"arn:aws:cloudtrail:us-east-1:ACCT:trail/org-trail"}"#,
                "ci-deployer",
            ),
            Scenario::DeleteTrail => {
                call("cloudtrail.amazonaws.com", "DeleteTrail", r#"{"name":"org-trail"}"#, "ci-deployer")
            }
            Scenario::SecurityGroupOpenSshToWorld => call(
                "ec2.amazonaws.com",
                "AuthorizeSecurityGroupIngress",
                r#"{"groupId":"sg-0123456789abcdef0","ipPermissions":{"items":[{"ipProtocol":"tcp","fromPort":22,"toPort":22,"groups":{},"ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]},"ipv6Ranges":{},"prefixListIds":{}}]}}"#,
                "bob",
            ),
            Scenario::AccessKeyForOtherUser => {
                call("iam.amazonaws.com", "CreateAccessKey", r#"{"userName":"backup-bot"}"#, "bob")
            }
            Scenario::GuardDutyDetectorDeleted => call(
                "guardduty.amazonaws.com",
                "DeleteDetector",
                r#"{"detectorId":"12abc34d567e8fa901bc2d34e56789f0"}"#,
                "alice",
            ),
            Scenario::S3BucketPolicyPublic => call(
                "s3.amazonaws.com",
                "PutBucketPolicy",
                r#"{"bucketName":"public-share","bucketPolicy":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::public-share/*"}]},"policy":""}"#,
                "carol",
            ),
            Scenario::KmsKeyScheduledDeletion => call(
                "kms.amazonaws.com",
                "ScheduleKeyDeletion",
                r#"{"keyId":"arn:aws:kms:us-east-1:ACCT:key/1234abcd-12ab-34cd-56ef-1234567890ab","pendingWindowInDays":7}"#,
                "alice",
            ),
            Scenario::GetPasswordData => {
                call("ec2.amazonaws.com", "GetPasswordData", r#"{"instanceId":"i-0123456789abcdef0"}"#, "bob")
            }
            Scenario::MfaDeviceDeactivated => call(
                "iam.amazonaws.com",
                "DeactivateMFADevice",
                r#"{"userName":"alice","serialNumber":"arn:aws:iam::ACCT:mfa/alice"}"#,
                "bob",
            ),
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a scenario writes.
enum Action {
    /// `count` console logins, four seconds apart.
    Logins { count: u32, who: &'static str, mfa: bool, success: bool, origin: Origin },
    /// One management call from the attacker's address, with an access key; `ACCT` in
    /// `params` stands for the account's id.
    Call { source: &'static str, name: &'static str, params: &'static str, who: &'static str },
}

fn logins(count: u32, who: &'static str, mfa: bool, success: bool, origin: Origin) -> Action {
    Action::Logins { count, who, mfa, success, origin }
}

fn call(source: &'static str, name: &'static str, params: &'static str, who: &'static str) -> Action {
    Action::Call { source, name, params, who }
}

/// Where planted console logins come from.
enum Origin {
    Attacker,
    /// The account's first IPv4 address: a login that looks like its people's.
    AccountIp,
    NewIp,
}

/// A scenario placed in the corpus.
pub(crate) struct Plant {
    /// Seconds since the epoch.
    pub(crate) at: i64,
    /// Index of the account.
    pub(crate) account: usize,
    pub(crate) region: &'static str,
    pub(crate) scenario: Scenario,
}

impl Plant {
    /// Appends the scenario's records to a file's `Records` array (after a comma unless the
    /// array is empty); returns how many were written.
    pub(crate) fn write(&self, w: &mut EventWriter, out: &mut String, acct: &Account) -> u64 {
        match self.scenario.action() {
            Action::Logins { count, who, mfa, success, origin } => {
                let ip = match origin {
                    Origin::Attacker => ATTACKER,
                    Origin::AccountIp => acct.ips[0].as_str(),
                    Origin::NewIp => NEW_IP,
                };
                let login = Login { who, mfa, success, ip };
                for i in 0..count {
                    next_record(out);
                    w.console_login(out, acct, self.at + i64::from(i) * 4, &login);
                }
                u64::from(count)
            }
            Action::Call { source, name, params, who } => {
                let params = params.replace("ACCT", &acct.id);
                next_record(out);
                w.call(out, acct, self.region, self.at, &ApiCall { source, name, params: &params, who }, ATTACKER);
                1
            }
        }
    }
}

/// Separates the next record from the one before it, if any.
fn next_record(out: &mut String) {
    if !out.ends_with('[') {
        out.push(',');
    }
}

/// Every scenario placed in a corpus starting at `start_secs` with `accounts` accounts,
/// sorted by time.
pub(crate) fn planted(start_secs: i64, accounts: usize) -> Vec<Plant> {
    let mut plants: Vec<Plant> = Scenario::ALL
        .iter()
        .map(|&scenario| {
            let (second, account, region) = scenario.schedule();
            Plant { at: start_secs + second, account: account % accounts.max(1), region, scenario }
        })
        .collect();
    // A stable sort: scenarios planted at the same second keep their order.
    plants.sort_by_key(|p| p.at);
    plants
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names are the corpus's contract with `planted.tsv` readers (tests, detections).
    #[test]
    fn names_and_order_are_those_of_planted_tsv() {
        let names: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(
            names,
            [
                "root-console-login-without-mfa",
                "root-create-access-key",
                "iam-user-console-login-without-mfa",
                "stop-logging",
                "delete-trail",
                "security-group-open-ssh-to-world",
                "console-brute-force",
                "access-key-for-other-user",
                "guardduty-detector-deleted",
                "s3-bucket-policy-public",
                "kms-key-scheduled-deletion",
                "get-password-data",
                "mfa-device-deactivated",
                "console-login-new-ip",
            ]
        );
        let plants = planted(0, 2);
        assert!(plants.windows(2).all(|w| w[0].at < w[1].at));
        assert!(plants.iter().map(|p| p.scenario).eq(Scenario::ALL));
        assert!(planted(0, 1).iter().all(|p| p.account == 0));
    }
}
