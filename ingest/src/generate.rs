//! Synthetic CloudTrail logs in the real key layout and file naming, deterministic for a
//! seed: every identity type, dozens of services, errors, data events with resources,
//! console logins with and without MFA, and a few planted suspicious events (listed in
//! `planted.tsv` in the output folder).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::decode::time::{civil_from_days, days_from_civil};
use crate::{IngestError, Result};

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub out: PathBuf,
    pub events: u64,
    pub accounts: u32,
    pub days: u32,
    pub seed: u64,
    /// First day (UTC), as days since 1970-01-01.
    pub start_day: i64,
    /// Organization trail layout (`AWSLogs/o-.../<account>/...`).
    pub org_trail: bool,
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
            org_trail: true,
        }
    }
}

/// What was generated.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct GenerateSummary {
    pub files: u64,
    pub events: u64,
    pub bytes: u64,
    pub planted: u64,
}

/// SplitMix64: small, fast, and stable forever (the corpus must not change with a crate
/// upgrade).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn alnum(&mut self, n: usize, out: &mut String) {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        for _ in 0..n {
            out.push(A[self.below(A.len() as u64) as usize] as char);
        }
    }
    fn uuid(&mut self) -> String {
        let (a, b) = (self.next_u64(), self.next_u64());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            (b >> 48) & 0x3fff | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }
}

const REGIONS: &[(&str, u32)] = &[
    ("us-east-1", 40),
    ("us-west-2", 20),
    ("eu-west-1", 15),
    ("ap-southeast-2", 10),
    ("eu-central-1", 10),
    ("ap-northeast-1", 5),
];

const USERS: &[&str] = &["alice", "bob", "carol", "ci-deployer", "backup-bot"];
const ROLES: &[&str] = &["Admin", "ReadOnly", "DataPipeline", "lambda-exec", "ec2-app"];
const AGENTS: &[&str] = &[
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.1 exe/x86_64.amzn.2023",
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.1 lang/python#3.11.8",
    "aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Safari/605.1.15",
    "console.amazonaws.com",
    "Terraform/1.7.5 aws-sdk-go-v2/1.25.3",
];

/// One API in the catalogue: source, name, read-only, data event, weight.
struct Api {
    source: &'static str,
    name: &'static str,
    read_only: bool,
    data: bool,
    weight: u32,
}

const fn api(source: &'static str, name: &'static str, read_only: bool, data: bool, weight: u32) -> Api {
    Api { source, name, read_only, data, weight }
}

const APIS: &[Api] = &[
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

/// A tiny JSON writer: keys in the order CloudTrail writes them.
struct Json<'a> {
    out: &'a mut String,
    /// Per open object/array: no member written yet.
    first: Vec<bool>,
    /// A key was written; the next value follows it without a comma.
    pending: bool,
}

impl<'a> Json<'a> {
    fn new(out: &'a mut String) -> Self {
        Json { out, first: vec![], pending: false }
    }
    fn sep(&mut self) {
        if let Some(f) = self.first.last_mut() {
            if !*f {
                self.out.push(',');
            }
            *f = false;
        }
    }
    fn key(&mut self, k: &str) -> &mut Self {
        self.sep();
        self.out.push('"');
        self.out.push_str(k);
        self.out.push_str("\":");
        self.pending = true;
        self
    }
    fn begin_obj(&mut self) {
        self.value_sep();
        self.out.push('{');
        self.first.push(true);
    }
    fn end_obj(&mut self) {
        self.out.push('}');
        self.first.pop();
    }
    fn begin_arr(&mut self) {
        self.value_sep();
        self.out.push('[');
        self.first.push(true);
    }
    fn end_arr(&mut self) {
        self.out.push(']');
        self.first.pop();
    }
    fn value_sep(&mut self) {
        if self.pending {
            self.pending = false;
        } else {
            self.sep();
        }
    }
    fn s(&mut self, v: &str) {
        self.value_sep();
        crate::decode::json_text::write_str(self.out, v);
    }
    fn raw(&mut self, v: &str) {
        self.value_sep();
        self.out.push_str(v);
    }
    fn ks(&mut self, k: &str, v: &str) {
        self.key(k).s(v);
    }
    fn kraw(&mut self, k: &str, v: &str) {
        self.key(k).raw(v);
    }
}

fn session_issuer(j: &mut Json, kind: &str, principal: &str, arn: &str, account: &str, name: &str) {
    j.key("sessionIssuer").begin_obj();
    j.ks("type", kind);
    j.ks("principalId", principal);
    j.ks("arn", arn);
    j.ks("accountId", account);
    j.ks("userName", name);
    j.end_obj();
}

/// `userIdentity` of the root user (`who == "root"`) or an IAM user. A console login by
/// root carries an empty access key id, an IAM user's none; API calls carry one.
fn person(j: &mut Json, id: &str, who: &str, access_key: Option<&str>) {
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

struct Account {
    id: String,
    ips: Vec<String>,
}

struct Ctx<'a> {
    rng: Rng,
    accounts: &'a [Account],
    org: String,
    weights_total: u32,
}

fn fmt_time(secs: i64) -> String {
    crate::decode::time::format_canonical(secs * 1_000_000)
}

fn ipv4(rng: &mut Rng) -> String {
    let first = *rng.pick(&[3u64, 18, 34, 52, 54, 63, 81, 92, 101, 185, 203]);
    format!("{first}.{}.{}.{}", rng.below(256), rng.below(256), 1 + rng.below(254))
}

impl Ctx<'_> {
    fn pick_api(&mut self) -> &'static Api {
        let mut r = self.rng.below(u64::from(self.weights_total)) as u32;
        for a in APIS {
            if r < a.weight {
                return a;
            }
            r -= a.weight;
        }
        &APIS[0]
    }

    /// Writes `userIdentity` and returns the kind written.
    fn identity(&mut self, j: &mut Json, acct: &Account, kind: u64, time: i64) -> &'static str {
        let rng = &mut self.rng;
        let id = &acct.id;
        j.key("userIdentity").begin_obj();
        let kind = match kind {
            0..=39 => {
                let role = *rng.pick(ROLES);
                let session = format!("{}-{}", rng.pick(USERS), rng.below(1000));
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
                j.ks("creationDate", &fmt_time(time - 600 - rng.below(3000) as i64));
                j.ks("mfaAuthenticated", if rng.chance(0.3) { "true" } else { "false" });
                j.end_obj();
                if rng.chance(0.05) {
                    j.ks("ec2RoleDelivery", "2.0");
                }
                j.end_obj();
                "AssumedRole"
            }
            40..=59 => {
                let user = *rng.pick(USERS);
                j.ks("type", "IAMUser");
                j.ks("principalId", &format!("AIDA{id}{}", user.len()));
                j.ks("arn", &format!("arn:aws:iam::{id}:user/{user}"));
                j.ks("accountId", id);
                j.ks("accessKeyId", &format!("AKIA{}", rng.below(1 << 40)));
                j.ks("userName", user);
                if rng.chance(0.2) {
                    j.key("sessionContext").begin_obj();
                    j.key("attributes").begin_obj();
                    j.ks("creationDate", &fmt_time(time - 3600));
                    j.ks("mfaAuthenticated", if rng.chance(0.5) { "true" } else { "false" });
                    j.end_obj();
                    j.end_obj();
                }
                "IAMUser"
            }
            60..=79 => {
                let svc = *rng.pick(&["lambda.amazonaws.com", "ec2.amazonaws.com", "config.amazonaws.com", "ssm.amazonaws.com"]);
                j.ks("type", "AWSService");
                j.ks("invokedBy", svc);
                "AWSService"
            }
            80..=84 => {
                j.ks("accountId", id);
                j.ks("invokedBy", "cloudtrail.amazonaws.com");
                "None"
            }
            85..=89 => {
                let user = *rng.pick(USERS);
                j.ks("type", "IdentityCenterUser");
                j.ks("accountId", id);
                j.key("onBehalfOf").begin_obj();
                j.ks("userId", &rng.uuid());
                j.ks("identityStoreArn", "arn:aws:identitystore::111111111111:identitystore/d-9067abcdef");
                j.end_obj();
                j.ks("credentialId", &format!("{user}-{}", rng.below(100_000)));
                "IdentityCenterUser"
            }
            90..=93 => {
                let user = *rng.pick(USERS);
                j.ks("type", "FederatedUser");
                j.ks("principalId", &format!("{id}:{user}"));
                j.ks("arn", &format!("arn:aws:sts::{id}:federated-user/{user}"));
                j.ks("accountId", id);
                j.ks("accessKeyId", &format!("ASIA{}", rng.below(1 << 40)));
                j.key("sessionContext").begin_obj();
                session_issuer(j, "IAMUser", &format!("AIDA{id}"), &format!("arn:aws:iam::{id}:user/{user}"), id, user);
                j.key("attributes").begin_obj();
                j.ks("creationDate", &fmt_time(time - 900));
                j.ks("mfaAuthenticated", "false");
                j.end_obj();
                j.end_obj();
                "FederatedUser"
            }
            94..=97 => {
                let other = format!("{:012}", 900_000_000_000u64 + rng.below(1000));
                j.ks("type", "AWSAccount");
                j.ks("principalId", &format!("AIDA{other}"));
                j.ks("accountId", &other);
                "AWSAccount"
            }
            _ => {
                j.ks("type", "Root");
                j.ks("principalId", id);
                j.ks("arn", &format!("arn:aws:iam::{id}:root"));
                j.ks("accountId", id);
                j.ks("accessKeyId", &format!("ASIA{}", rng.below(1 << 40)));
                "Root"
            }
        };
        j.end_obj();
        kind
    }

    fn source_ip(&mut self, acct: &Account, kind: &str, api: &Api) -> String {
        match kind {
            "AWSService" | "None" => api.source.to_string(),
            _ if self.rng.chance(0.05) => "AWS Internal".to_string(),
            _ if self.rng.chance(0.03) => {
                // A few fixed IPv6 addresses per account (a VPC's egress), like its IPv4 ones;
                // the first draw is kept so the rest of the stream stays as it was.
                let _ = self.rng.below(65536);
                format!("2600:1f18:{}::{:x}", &acct.id[8..], 1 + self.rng.below(4))
            }
            _ if self.rng.chance(0.1) => format!("10.{}.{}.{}", self.rng.below(256), self.rng.below(256), 1 + self.rng.below(254)),
            _ => self.rng.pick(&acct.ips).clone(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn event(&mut self, out: &mut String, acct: &Account, region: &str, time: i64) {
        let api = self.pick_api();
        let kind_draw = self.rng.below(100);
        let mut j = Json::new(out);
        j.begin_obj();
        let version = *self.rng.pick(&["1.08", "1.09", "1.10", "1.11"]);
        j.ks("eventVersion", version);
        let kind = self.identity(&mut j, acct, kind_draw, time);
        j.ks("eventTime", &fmt_time(time));
        j.ks("eventSource", api.source);
        j.ks("eventName", api.name);
        j.ks("awsRegion", region);
        let ip = self.source_ip(acct, kind, api);
        j.ks("sourceIPAddress", &ip);
        let agent = if kind == "AWSService" || kind == "None" { api.source } else { *self.rng.pick(AGENTS) };
        j.ks("userAgent", agent);
        let error = self.rng.below(100);
        if error < 4 {
            let (code, msg) = match api.source {
                "ec2.amazonaws.com" => ("Client.UnauthorizedOperation", "You are not authorized to perform this operation."),
                _ if error < 3 => ("AccessDenied", "User is not authorized to perform this action"),
                _ => ("ThrottlingException", "Rate exceeded"),
            };
            j.ks("errorCode", code);
            j.ks("errorMessage", msg);
        }
        self.request_parameters(&mut j, api, acct, region);
        if api.read_only || error < 4 {
            j.kraw("responseElements", "null");
        } else {
            j.key("responseElements").begin_obj();
            j.ks("requestId", &self.rng.uuid());
            j.end_obj();
        }
        j.ks("requestID", &self.rng.uuid());
        j.ks("eventID", &self.rng.uuid());
        j.kraw("readOnly", if api.read_only { "true" } else { "false" });
        if api.data || api.source == "kms.amazonaws.com" || api.name == "AssumeRole" {
            self.resources(&mut j, api, acct, region);
        }
        j.ks("eventType", if kind == "AWSService" || kind == "None" { "AwsServiceEvent" } else { "AwsApiCall" });
        if api.data {
            j.kraw("managementEvent", "false");
        } else {
            j.kraw("managementEvent", "true");
        }
        j.ks("recipientAccountId", &acct.id);
        if kind == "AWSService" {
            j.ks("sharedEventID", &self.rng.uuid());
        }
        if self.rng.chance(0.03) {
            j.ks("vpcEndpointId", &format!("vpce-{:017x}", self.rng.below(1 << 60)));
            j.ks("vpcEndpointAccountId", &acct.id);
        }
        j.ks("eventCategory", if api.data { "Data" } else { "Management" });
        if version >= "1.08" && kind != "AWSService" && kind != "None" {
            j.key("tlsDetails").begin_obj();
            j.ks("tlsVersion", if self.rng.chance(0.9) { "TLSv1.3" } else { "TLSv1.2" });
            j.ks("cipherSuite", "TLS_AES_128_GCM_SHA256");
            j.ks("clientProvidedHostHeader", &format!("{}.{region}.amazonaws.com", api.source.trim_end_matches(".amazonaws.com")));
            j.end_obj();
        }
        if agent.starts_with("Mozilla") || agent == "console.amazonaws.com" {
            j.ks("sessionCredentialFromConsole", "true");
        }
        j.end_obj();
    }

    fn request_parameters(&mut self, j: &mut Json, api: &Api, acct: &Account, region: &str) {
        let rng = &mut self.rng;
        match (api.source, api.name) {
            ("s3.amazonaws.com", "GetObject" | "PutObject") => {
                j.key("requestParameters").begin_obj();
                j.ks("bucketName", &format!("data-{}-{region}", acct.id));
                j.ks("Host", &format!("data-{}-{region}.s3.{region}.amazonaws.com", acct.id));
                j.ks("key", &format!("events/2026/{:02}/part-{:05}.parquet", rng.below(12) + 1, rng.below(99_999)));
                j.end_obj();
            }
            ("ec2.amazonaws.com", "DescribeInstances") => {
                j.key("requestParameters").begin_obj();
                j.key("instancesSet").begin_obj();
                j.end_obj();
                j.key("filterSet").begin_obj();
                j.key("items").begin_arr();
                j.begin_obj();
                j.ks("name", "instance-state-name");
                j.key("valueSet").begin_obj();
                j.key("items").begin_arr();
                j.begin_obj();
                j.ks("value", "running");
                j.end_obj();
                j.end_arr();
                j.end_obj();
                j.end_obj();
                j.end_arr();
                j.end_obj();
                j.kraw("maxResults", &rng.below(1000).to_string());
                j.end_obj();
            }
            ("sts.amazonaws.com", "AssumeRole") => {
                j.key("requestParameters").begin_obj();
                j.ks("roleArn", &format!("arn:aws:iam::{}:role/{}", acct.id, rng.pick(ROLES)));
                j.ks("roleSessionName", &format!("session-{}", rng.below(100_000)));
                j.kraw("durationSeconds", "3600");
                j.end_obj();
            }
            ("kms.amazonaws.com", _) => {
                j.key("requestParameters").begin_obj();
                j.key("encryptionContext").begin_obj();
                j.ks("aws:s3:arn", &format!("arn:aws:s3:::data-{}-{region}", acct.id));
                j.end_obj();
                j.ks("encryptionAlgorithm", "SYMMETRIC_DEFAULT");
                j.end_obj();
            }
            ("secretsmanager.amazonaws.com", _) | ("ssm.amazonaws.com", "GetParameter") => {
                j.key("requestParameters").begin_obj();
                j.ks(if api.source.starts_with("ssm") { "name" } else { "secretId" }, &format!("prod/app-{}/db", rng.below(20)));
                j.end_obj();
            }
            ("lambda.amazonaws.com", "Invoke") | ("dynamodb.amazonaws.com", _) | ("logs.amazonaws.com", _) => {
                j.key("requestParameters").begin_obj();
                j.ks("name", &format!("service-{}", rng.below(50)));
                j.end_obj();
            }
            _ if api.read_only && rng.chance(0.5) => j.kraw("requestParameters", "null"),
            _ => {
                j.key("requestParameters").begin_obj();
                j.kraw("maxResults", &(rng.below(10) * 50).to_string());
                j.end_obj();
            }
        }
    }

    fn resources(&mut self, j: &mut Json, api: &Api, acct: &Account, region: &str) {
        j.key("resources").begin_arr();
        let id = &acct.id;
        let mut res = |arn: &str, ty: &str, with_account: bool| {
            j.begin_obj();
            if with_account {
                j.ks("accountId", id);
            }
            j.ks("type", ty);
            j.ks("ARN", arn);
            j.end_obj();
        };
        match api.source {
            "s3.amazonaws.com" => {
                res(&format!("arn:aws:s3:::data-{id}-{region}/events/part"), "AWS::S3::Object", false);
                res(&format!("arn:aws:s3:::data-{id}-{region}"), "AWS::S3::Bucket", true);
            }
            "kms.amazonaws.com" => res(&format!("arn:aws:kms:{region}:{id}:key/{}", self.rng.uuid()), "AWS::KMS::Key", true),
            "sts.amazonaws.com" => res(&format!("arn:aws:iam::{id}:role/{}", self.rng.pick(ROLES)), "AWS::IAM::Role", true),
            "lambda.amazonaws.com" => res(&format!("arn:aws:lambda:{region}:{id}:function:service-{}", self.rng.below(50)), "AWS::Lambda::Function", true),
            "dynamodb.amazonaws.com" => res(&format!("arn:aws:dynamodb:{region}:{id}:table/orders"), "AWS::DynamoDB::Table", true),
            "sqs.amazonaws.com" => res(&format!("arn:aws:sqs:{region}:{id}:jobs"), "AWS::SQS::Queue", true),
            _ => res(&format!("arn:aws:sns:{region}:{id}:alerts"), "AWS::SNS::Topic", true),
        }
        j.end_arr();
    }

    fn console_login(&mut self, out: &mut String, acct: &Account, time: i64, who: &str, mfa: bool, success: bool, ip: &str) {
        let mut j = Json::new(out);
        j.begin_obj();
        j.ks("eventVersion", "1.09");
        let id = &acct.id;
        person(&mut j, id, who, Some(""));
        j.ks("eventTime", &fmt_time(time));
        j.ks("eventSource", "signin.amazonaws.com");
        j.ks("eventName", "ConsoleLogin");
        j.ks("awsRegion", "us-east-1");
        j.ks("sourceIPAddress", ip);
        j.ks("userAgent", AGENTS[3]);
        if !success {
            j.ks("errorMessage", "Failed authentication");
        }
        j.kraw("requestParameters", "null");
        j.key("responseElements").begin_obj();
        j.ks("ConsoleLogin", if success { "Success" } else { "Failure" });
        j.end_obj();
        j.key("additionalEventData").begin_obj();
        j.ks("LoginTo", "https://console.aws.amazon.com/console/home");
        j.ks("MobileVersion", "No");
        j.ks("MFAUsed", if mfa { "Yes" } else { "No" });
        j.end_obj();
        j.ks("eventID", &self.rng.uuid());
        j.kraw("readOnly", "false");
        j.ks("eventType", "AwsConsoleSignIn");
        j.kraw("managementEvent", "true");
        j.ks("recipientAccountId", id);
        j.ks("eventCategory", "Management");
        j.end_obj();
    }

    /// A management call with custom request parameters (raw JSON), for planted events.
    #[allow(clippy::too_many_arguments)]
    fn call(&mut self, out: &mut String, acct: &Account, region: &str, time: i64, source: &str, name: &str, params: &str, who: &str, ip: &str) {
        let mut j = Json::new(out);
        j.begin_obj();
        j.ks("eventVersion", "1.09");
        let id = &acct.id;
        let key = format!("AKIA{}", self.rng.below(1 << 40));
        person(&mut j, id, who, Some(&key));
        j.ks("eventTime", &fmt_time(time));
        j.ks("eventSource", source);
        j.ks("eventName", name);
        j.ks("awsRegion", region);
        j.ks("sourceIPAddress", ip);
        j.ks("userAgent", AGENTS[0]);
        j.kraw("requestParameters", params);
        j.kraw("responseElements", "null");
        j.ks("requestID", &self.rng.uuid());
        j.ks("eventID", &self.rng.uuid());
        j.kraw("readOnly", "false");
        j.ks("eventType", "AwsApiCall");
        j.kraw("managementEvent", "true");
        j.ks("recipientAccountId", id);
        j.ks("eventCategory", "Management");
        j.end_obj();
    }
}

/// A planted scenario: (day offset, second of day, account index, description, writer).
struct Plant {
    at: i64,
    account: usize,
    region: &'static str,
    what: &'static str,
}

fn planted(start_secs: i64, days: u32, accounts: usize) -> Vec<Plant> {
    let mut p = vec![];
    let day = |d: u32| start_secs + i64::from(d.min(days.saturating_sub(1))) * 86_400;
    let a = |i: usize| i % accounts.max(1);
    let list: &[(u32, i64, usize, &'static str, &'static str)] = &[
        (0, 3 * 3600 + 17 * 60, 0, "us-east-1", "root-console-login-without-mfa"),
        (0, 3 * 3600 + 21 * 60, 0, "us-east-1", "root-create-access-key"),
        (0, 9 * 3600 + 2 * 60, 1, "us-east-1", "iam-user-console-login-without-mfa"),
        (0, 9 * 3600 + 40 * 60, 0, "us-east-1", "stop-logging"),
        (0, 9 * 3600 + 41 * 60, 0, "us-east-1", "delete-trail"),
        (0, 11 * 3600 + 5 * 60, 1, "eu-west-1", "security-group-open-ssh-to-world"),
        (0, 13 * 3600, 0, "us-east-1", "console-brute-force"),
        (0, 14 * 3600 + 30 * 60, 1, "us-east-1", "access-key-for-other-user"),
        (0, 15 * 3600 + 12 * 60, 0, "us-west-2", "guardduty-detector-deleted"),
        (0, 16 * 3600, 1, "us-east-1", "s3-bucket-policy-public"),
        (0, 17 * 3600 + 45 * 60, 0, "us-east-1", "kms-key-scheduled-deletion"),
        (0, 18 * 3600 + 3 * 60, 1, "eu-west-1", "get-password-data"),
        (0, 19 * 3600 + 30 * 60, 0, "us-east-1", "mfa-device-deactivated"),
        (0, 20 * 3600 + 10 * 60, 1, "us-east-1", "console-login-new-ip"),
    ];
    for &(d, s, acct, region, what) in list {
        p.push(Plant { at: day(d) + s, account: a(acct), region, what });
    }
    p
}

fn write_plant(ctx: &mut Ctx, out: &mut String, acct: &Account, plant: &Plant) -> u64 {
    let t = plant.at;
    let attacker = "198.51.100.23";
    let mut events = 0u64;
    let sep = |out: &mut String, n: &mut u64| {
        if !out.ends_with('[') {
            out.push(',');
        }
        *n += 1;
    };
    match plant.what {
        "root-console-login-without-mfa" => {
            sep(out, &mut events);
            ctx.console_login(out, acct, t, "root", false, true, attacker);
        }
        "iam-user-console-login-without-mfa" => {
            sep(out, &mut events);
            ctx.console_login(out, acct, t, "carol", false, true, &acct.ips[0].clone());
        }
        "console-login-new-ip" => {
            sep(out, &mut events);
            ctx.console_login(out, acct, t, "alice", true, true, "203.0.113.77");
        }
        "console-brute-force" => {
            for i in 0..12 {
                sep(out, &mut events);
                ctx.console_login(out, acct, t + i * 4, "bob", false, false, attacker);
            }
        }
        other => {
            let (source, name, params, who) = match other {
                "root-create-access-key" => ("iam.amazonaws.com", "CreateAccessKey", "{}", "root"),
                "stop-logging" => ("cloudtrail.amazonaws.com", "StopLogging", r#"{"name":"arn:aws:cloudtrail:us-east-1:ACCT:trail/org-trail"}"#, "ci-deployer"),
                "delete-trail" => ("cloudtrail.amazonaws.com", "DeleteTrail", r#"{"name":"org-trail"}"#, "ci-deployer"),
                "security-group-open-ssh-to-world" => ("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", r#"{"groupId":"sg-0123456789abcdef0","ipPermissions":{"items":[{"ipProtocol":"tcp","fromPort":22,"toPort":22,"groups":{},"ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]},"ipv6Ranges":{},"prefixListIds":{}}]}}"#, "bob"),
                "access-key-for-other-user" => ("iam.amazonaws.com", "CreateAccessKey", r#"{"userName":"backup-bot"}"#, "bob"),
                "guardduty-detector-deleted" => ("guardduty.amazonaws.com", "DeleteDetector", r#"{"detectorId":"12abc34d567e8fa901bc2d34e56789f0"}"#, "alice"),
                "s3-bucket-policy-public" => ("s3.amazonaws.com", "PutBucketPolicy", r#"{"bucketName":"public-share","bucketPolicy":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::public-share/*"}]},"policy":""}"#, "carol"),
                "kms-key-scheduled-deletion" => ("kms.amazonaws.com", "ScheduleKeyDeletion", r#"{"keyId":"arn:aws:kms:us-east-1:ACCT:key/1234abcd-12ab-34cd-56ef-1234567890ab","pendingWindowInDays":7}"#, "alice"),
                "get-password-data" => ("ec2.amazonaws.com", "GetPasswordData", r#"{"instanceId":"i-0123456789abcdef0"}"#, "bob"),
                "mfa-device-deactivated" => ("iam.amazonaws.com", "DeactivateMFADevice", r#"{"userName":"alice","serialNumber":"arn:aws:iam::ACCT:mfa/alice"}"#, "bob"),
                _ => return 0,
            };
            let params = params.replace("ACCT", &acct.id);
            sep(out, &mut events);
            ctx.call(out, acct, plant.region, t, source, name, &params, who, attacker);
        }
    }
    events
}

/// Generates the corpus.
pub fn generate(opts: &GenerateOptions) -> Result<GenerateSummary> {
    let io = |p: &Path, source| IngestError::Io { path: p.display().to_string(), source };
    let accounts_n = opts.accounts.max(1) as usize;
    let mut rng = Rng::new(opts.seed);
    let accounts: Vec<Account> = (0..accounts_n)
        .map(|i| Account {
            id: format!("{:012}", 100_000_000_000u64 + (i as u64) * 111_111_111 + rng.below(1000)),
            ips: (0..6).map(|_| ipv4(&mut rng)).collect(),
        })
        .collect();
    let org = {
        let mut s = String::from("o-");
        for _ in 0..10 {
            s.push((b'a' + rng.below(26) as u8) as char);
        }
        s
    };
    let weights_total = APIS.iter().map(|a| a.weight).sum();
    let mut ctx = Ctx { rng: rng.clone(), accounts: &accounts, org, weights_total };
    let _ = ctx.accounts;

    let start_secs = opts.start_day * 86_400;
    let slots_per_day = 288u64;
    let region_total: u32 = REGIONS.iter().map(|r| r.1).sum();
    let files_total = accounts_n as u64 * u64::from(opts.days) * slots_per_day * REGIONS.len() as u64;
    let mut plants = planted(start_secs, opts.days, accounts_n);
    plants.sort_by_key(|p| p.at);
    let mut summary = GenerateSummary::default();

    // Events per file: the region's weight with jitter, scaled so the total is exact.
    let mut remaining = opts.events;
    let mut remaining_weight: f64 = 0.0;
    let mut weights = Vec::with_capacity(files_total as usize);
    for _a in 0..accounts_n {
        for (_, w) in REGIONS {
            for _ in 0..(u64::from(opts.days) * slots_per_day) {
                let jitter = 0.25 + (ctx.rng.below(1000) as f64) / 666.0;
                let weight = f64::from(*w) / f64::from(region_total) * jitter;
                weights.push(weight);
                remaining_weight += weight;
            }
        }
    }

    let mut out = String::with_capacity(1 << 20);
    let mut gz = Vec::with_capacity(1 << 18);
    let mut file_idx = 0usize;
    for (ai, acct) in accounts.iter().enumerate() {
        for (region, _) in REGIONS {
            for slot in 0..(u64::from(opts.days) * slots_per_day) {
                let w = weights[file_idx];
                file_idx += 1;
                let share = if remaining_weight > 0.0 { w / remaining_weight } else { 1.0 };
                let exact = remaining as f64 * share;
                let mut n = exact.floor() as u64;
                if ctx.rng.chance(exact - exact.floor()) {
                    n += 1;
                }
                n = n.min(remaining);
                remaining -= n;
                remaining_weight -= w;
                let slot_start = start_secs + (slot as i64) * 300;
                let mine: Vec<&Plant> = plants
                    .iter()
                    .filter(|p| p.account == ai && p.region == *region && p.at >= slot_start && p.at < slot_start + 300)
                    .collect();
                if n == 0 && mine.is_empty() {
                    continue;
                }
                out.clear();
                out.push_str("{\"Records\":[");
                let mut times: Vec<i64> = (0..n).map(|_| slot_start + ctx.rng.below(300) as i64).collect();
                times.sort_unstable();
                for (k, t) in times.iter().enumerate() {
                    if k > 0 {
                        out.push(',');
                    }
                    if ctx.rng.chance(0.004) {
                        // Routine console logins, mostly with MFA.
                        let who = *ctx.rng.pick(USERS);
                        let mfa = ctx.rng.chance(0.97);
                        let ip = ctx.rng.pick(&acct.ips).clone();
                        ctx.console_login(&mut out, acct, *t, who, mfa, true, &ip);
                    } else {
                        ctx.event(&mut out, acct, region, *t);
                    }
                }
                for p in mine {
                    summary.planted += write_plant(&mut ctx, &mut out, acct, p);
                }
                out.push_str("]}");
                summary.events += n;
                let end = slot_start + 300;
                let days_since = end.div_euclid(86_400);
                let (y, m, d) = civil_from_days(days_since);
                let sod = end.rem_euclid(86_400);
                let mut name = format!(
                    "{}_CloudTrail_{region}_{y:04}{m:02}{d:02}T{:02}{:02}Z_",
                    acct.id,
                    sod / 3600,
                    (sod % 3600) / 60
                );
                ctx.rng.alnum(16, &mut name);
                name.push_str(".json.gz");
                let (dy, dm, dd) = civil_from_days(slot_start.div_euclid(86_400));
                let mut dir = opts.out.join("AWSLogs");
                if opts.org_trail {
                    dir = dir.join(&ctx.org);
                }
                let dir = dir
                    .join(&acct.id)
                    .join("CloudTrail")
                    .join(region)
                    .join(format!("{dy:04}"))
                    .join(format!("{dm:02}"))
                    .join(format!("{dd:02}"));
                std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
                gz.clear();
                let mut enc = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::new(6));
                enc.write_all(out.as_bytes()).map_err(|e| io(&dir, e))?;
                enc.finish().map_err(|e| io(&dir, e))?;
                let path = dir.join(&name);
                std::fs::write(&path, &gz).map_err(|e| io(&path, e))?;
                summary.files += 1;
                summary.bytes += gz.len() as u64;
            }
        }
    }
    summary.events += summary.planted;
    let mut tsv = String::from("time\taccount\tregion\tscenario\n");
    for p in &plants {
        let _ = writeln!(tsv, "{}\t{}\t{}\t{}", fmt_time(p.at), accounts[p.account].id, p.region, p.what);
    }
    let path = opts.out.join("planted.tsv");
    std::fs::create_dir_all(&opts.out).map_err(|e| io(&opts.out, e))?;
    std::fs::write(&path, tsv).map_err(|e| io(&path, e))?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let run = |sub: &str, seed| {
            let out = dir.path().join(sub);
            let s = generate(&GenerateOptions { out: out.clone(), events: 500, accounts: 2, days: 1, seed, ..Default::default() }).unwrap();
            let mut files: Vec<(String, Vec<u8>)> = vec![];
            let mut stack = vec![out.clone()];
            while let Some(d) = stack.pop() {
                for e in std::fs::read_dir(&d).unwrap() {
                    let p = e.unwrap().path();
                    if p.is_dir() { stack.push(p) } else { files.push((p.strip_prefix(&out).unwrap().display().to_string(), std::fs::read(&p).unwrap())) }
                }
            }
            files.sort();
            (s, files)
        };
        let (a, fa) = run("a", 7);
        let (_, fb) = run("b", 7);
        let (_, fc) = run("c", 8);
        assert_eq!(fa, fb);
        assert_ne!(fa, fc);
        assert_eq!(a.events, 500 + a.planted);
        assert!(a.planted >= 14);
    }
}
