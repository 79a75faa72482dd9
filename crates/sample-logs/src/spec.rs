//! What the corpus is made of: the options, the accounts, the regions and their weights,
//! the people, roles and user agents, the API catalogue, and the identity types.

use std::path::PathBuf;

use lake::time::days_from_civil;

use crate::rng::Rng;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// The folder the logs and `planted.tsv` are written under.
    pub out: PathBuf,
    /// Routine events; the planted ones come on top.
    pub events: u64,
    /// Accounts (at least one is generated).
    pub accounts: u32,
    /// Days of logs, from `start_day`.
    pub days: u32,
    pub seed: u64,
    /// First day (UTC), as days since 1970-01-01.
    pub start_day: i64,
    /// Minute of the first day the logs start at (rounded down to CloudTrail's 5-minute
    /// delivery slots).
    pub start_minute: u32,
    /// Only this many minutes of logs (rounded up to 5-minute slots) instead of `days`:
    /// the new data of one scheduled run. Planted scenarios outside them are left out.
    pub minutes: Option<u32>,
    /// Organization trail layout (`AWSLogs/o-.../<account>/...`).
    pub org_trail: bool,
    /// Also write CloudTrail's hourly digest files, signed with a key made for the run
    /// (its public half in `public-keys.json`, each signature in a `.signature` sidecar).
    /// The logs stay byte-identical for a seed; the digests do not (a new key each run).
    pub digests: bool,
    /// The bucket the digests name as theirs and their log files' (`digestS3Bucket`).
    pub bucket: String,
    /// With `digests`: then edit, delete and add a log file and delete a digest, each in its
    /// own chain, listed in `planted.tsv` (scenario `tamper-*`, the key in `key`).
    pub tamper: bool,
    /// Plant the suspicious scenarios ([`crate::Scenario`]) among the routine events (the
    /// default). Without them the corpus is routine traffic only: what a detection pack
    /// should stay quiet on.
    pub planted: bool,
    /// Traffic as an organization's is, a few carrying most of it: account `k`'s share
    /// falls as 1/k, and each account's routine calls come from 100 personas (a role
    /// session or a user, with its identity type and four habitual APIs), drawn
    /// log-uniformly, so the first few make most calls. Off by default: the corpora the
    /// tests pin stay byte-identical.
    pub skew: bool,
    /// The seed the accounts (their ids and addresses) and the organization id are drawn
    /// from, when not `seed`: a corpus generated in parts, each with its own seed, then
    /// has one set of accounts.
    pub accounts_seed: Option<u64>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            out: PathBuf::from("sample-logs/generated"),
            events: 10_000,
            accounts: 2,
            days: 1,
            seed: 1,
            start_day: days_from_civil(2026, 11, 2),
            start_minute: 0,
            minutes: None,
            org_trail: true,
            digests: false,
            bucket: "trailhouse-generated".into(),
            tamper: false,
            planted: true,
            skew: false,
            accounts_seed: None,
        }
    }
}

/// The regions every account logs in, and their weights (share of its events).
pub(crate) const REGIONS: &[(&str, u32)] = &[
    ("us-east-1", 40),
    ("us-west-2", 20),
    ("eu-west-1", 15),
    ("ap-southeast-2", 10),
    ("eu-central-1", 10),
    ("ap-northeast-1", 5),
];

pub(crate) const USERS: &[&str] = &["alice", "bob", "carol", "ci-deployer", "backup-bot"];
pub(crate) const ROLES: &[&str] = &["Admin", "ReadOnly", "DataPipeline", "lambda-exec", "ec2-app"];
pub(crate) const AGENTS: &[&str] = &[
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.1 exe/x86_64.amzn.2023",
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.1 lang/python#3.11.8",
    "aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Safari/605.1.15",
    "console.amazonaws.com",
    "Terraform/1.7.5 aws-sdk-go-v2/1.25.3",
];

/// One API in the catalogue.
pub(crate) struct Api {
    /// `eventSource`, e.g. `s3.amazonaws.com`.
    pub(crate) source: &'static str,
    /// `eventName`.
    pub(crate) name: &'static str,
    pub(crate) read_only: bool,
    /// A data event (with `resources`, `managementEvent: false`).
    pub(crate) data: bool,
    /// How often it is called, relative to the others.
    pub(crate) weight: u32,
}

const fn api(source: &'static str, name: &'static str, read_only: bool, data: bool, weight: u32) -> Api {
    Api { source, name, read_only, data, weight }
}

/// The APIs routine events call, weighted as in a real account (S3/KMS/STS/EC2 heavy).
pub(crate) const APIS: &[Api] = &[
    api("s3.amazonaws.com", "GetObject", true, true, 120),
    api("s3.amazonaws.com", "PutObject", false, true, 50),
    api("s3.amazonaws.com", "ListBucket", true, true, 20),
    api("s3.amazonaws.com", "ListBuckets", true, false, 6),
    api("s3.amazonaws.com", "GetBucketAcl", true, false, 8),
    api("s3.amazonaws.com", "GetBucketPolicy", true, false, 5),
    api("ec2.amazonaws.com", "DescribeInstances", true, false, 60),
    api("ec2.amazonaws.com", "DescribeSecurityGroups", true, false, 20),
    api("ec2.amazonaws.com", "DescribeVolumes", true, false, 15),
    api("ec2.amazonaws.com", "RunInstances", false, false, 3),
    api("ec2.amazonaws.com", "TerminateInstances", false, false, 2),
    api("ec2.amazonaws.com", "CreateTags", false, false, 5),
    api("iam.amazonaws.com", "ListUsers", true, false, 6),
    api("iam.amazonaws.com", "GetUser", true, false, 6),
    api("iam.amazonaws.com", "ListRoles", true, false, 6),
    api("iam.amazonaws.com", "GetRole", true, false, 8),
    api("iam.amazonaws.com", "ListAttachedRolePolicies", true, false, 5),
    api("sts.amazonaws.com", "AssumeRole", false, false, 60),
    api("sts.amazonaws.com", "GetCallerIdentity", true, false, 25),
    api("kms.amazonaws.com", "Decrypt", true, false, 70),
    api("kms.amazonaws.com", "GenerateDataKey", true, false, 30),
    api("kms.amazonaws.com", "Encrypt", true, false, 10),
    api("lambda.amazonaws.com", "Invoke", false, true, 30),
    api("lambda.amazonaws.com", "ListFunctions20150331", true, false, 6),
    api("dynamodb.amazonaws.com", "GetItem", true, true, 25),
    api("dynamodb.amazonaws.com", "DescribeTable", true, false, 10),
    api("logs.amazonaws.com", "CreateLogStream", false, false, 20),
    api("logs.amazonaws.com", "DescribeLogGroups", true, false, 8),
    api("monitoring.amazonaws.com", "GetMetricData", true, false, 15),
    api("monitoring.amazonaws.com", "DescribeAlarms", true, false, 10),
    api("secretsmanager.amazonaws.com", "GetSecretValue", true, false, 12),
    api("ssm.amazonaws.com", "GetParameter", true, false, 15),
    api("ssm.amazonaws.com", "UpdateInstanceInformation", false, false, 20),
    api("rds.amazonaws.com", "DescribeDBInstances", true, false, 6),
    api("sqs.amazonaws.com", "ReceiveMessage", true, true, 8),
    api("sns.amazonaws.com", "Publish", false, true, 6),
    api("ecr.amazonaws.com", "GetAuthorizationToken", true, false, 8),
    api("ecr.amazonaws.com", "BatchGetImage", true, false, 8),
    api("cloudtrail.amazonaws.com", "DescribeTrails", true, false, 3),
    api("cloudtrail.amazonaws.com", "LookupEvents", true, false, 3),
    api("config.amazonaws.com", "DescribeConfigRules", true, false, 3),
    api("config.amazonaws.com", "PutEvaluations", false, false, 4),
    api("guardduty.amazonaws.com", "ListDetectors", true, false, 2),
    api("organizations.amazonaws.com", "DescribeOrganization", true, false, 2),
    api("route53.amazonaws.com", "ListHostedZones", true, false, 2),
    api("elasticloadbalancing.amazonaws.com", "DescribeLoadBalancers", true, false, 4),
    api("autoscaling.amazonaws.com", "DescribeAutoScalingGroups", true, false, 4),
    api("cloudformation.amazonaws.com", "DescribeStacks", true, false, 5),
    api("ecs.amazonaws.com", "DescribeTasks", true, false, 4),
    api("eks.amazonaws.com", "DescribeCluster", true, false, 3),
    api("athena.amazonaws.com", "StartQueryExecution", false, false, 2),
    api("glue.amazonaws.com", "GetTable", true, false, 3),
    api("sso.amazonaws.com", "GetRoleCredentials", true, false, 3),
    api("securityhub.amazonaws.com", "GetFindings", true, false, 2),
];

/// An account: its id and the IPv4 addresses its people and machines call from.
pub(crate) struct Account {
    pub(crate) id: String,
    pub(crate) ips: Vec<String>,
}

impl Account {
    /// The `i`th account: its id is drawn first, then its six addresses.
    pub(crate) fn new(i: usize, rng: &mut Rng) -> Self {
        let id = format!("{:012}", 100_000_000_000u64 + (i as u64) * 111_111_111 + rng.below(1000));
        let ips = (0..6).map(|_| ipv4(rng)).collect();
        Account { id, ips }
    }

    /// The address person `user` (an index into `USERS`) works from: always the same one,
    /// as people sign in from their own desk, not from the account's every address. One
    /// draw is made and ignored, so the stream of the rest stays as it was.
    pub(crate) fn person_ip(&self, user: usize, rng: &mut Rng) -> &str {
        let _ = rng.below(self.ips.len() as u64);
        &self.ips[user % self.ips.len()]
    }
}

/// A public IPv4 address in one of the blocks AWS and ISPs hand out.
fn ipv4(rng: &mut Rng) -> String {
    let first = *rng.pick(&[3u64, 18, 34, 52, 54, 63, 81, 92, 101, 185, 203]);
    format!("{first}.{}.{}.{}", rng.below(256), rng.below(256), 1 + rng.below(254))
}

/// The id of the organization (`o-` and ten letters) an organization trail's keys carry.
pub(crate) fn org_id(rng: &mut Rng) -> String {
    let mut s = String::from("o-");
    for _ in 0..10 {
        s.push((b'a' + rng.below(26) as u8) as char);
    }
    s
}

/// The `userIdentity` of a routine event: the type, drawn by weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdentityType {
    /// 40%: a role session, with its session issuer and MFA attribute.
    AssumedRole,
    /// 20%.
    IamUser,
    /// 20%: a service acting for the account (`invokedBy`).
    AwsService,
    /// 5%: a service event with no `type` (only `accountId` and `invokedBy`).
    ServiceWithoutType,
    /// 5%.
    IdentityCenterUser,
    /// 4%.
    FederatedUser,
    /// 4%: another account.
    AwsAccount,
    // No root user: a well-run organization does not use it day to day, and every root
    // call is worth an alert (CIS 1.7), so the 2% once drawn for it are IAM users; root
    // appears in the planted scenarios only.
}

impl IdentityType {
    /// The identity type of a draw in `0..100`.
    pub(crate) fn from_draw(draw: u64) -> Self {
        match draw {
            0..=39 => IdentityType::AssumedRole,
            40..=59 => IdentityType::IamUser,
            60..=79 => IdentityType::AwsService,
            80..=84 => IdentityType::ServiceWithoutType,
            85..=89 => IdentityType::IdentityCenterUser,
            90..=93 => IdentityType::FederatedUser,
            94..=97 => IdentityType::AwsAccount,
            // 98..=99: once the root user, see above.
            _ => IdentityType::IamUser,
        }
    }

    /// An event by an AWS service: its source address and user agent are the service's,
    /// and it is an `AwsServiceEvent` without TLS details.
    pub(crate) fn is_service(self) -> bool {
        matches!(self, IdentityType::AwsService | IdentityType::ServiceWithoutType)
    }
}
