//! CloudTrail records: a routine API call (identity, source address, errors, request
//! parameters, resources, TLS details), a console login, and a management call with given
//! parameters (for the planted scenarios).

use crate::identity::{person, write_identity};
use crate::json::{Json, timestamp};
use crate::rng::Rng;
use crate::spec::{AGENTS, APIS, Account, Api, IdentityType, ROLES};

/// A console login (`signin.amazonaws.com`, `ConsoleLogin`).
pub(crate) struct Login<'a> {
    /// `"root"` or an IAM user's name.
    pub(crate) who: &'a str,
    pub(crate) mfa: bool,
    pub(crate) success: bool,
    /// The source address.
    pub(crate) ip: &'a str,
}

/// A management API call by a person, with its request parameters as JSON text.
pub(crate) struct ApiCall<'a> {
    pub(crate) source: &'a str,
    pub(crate) name: &'a str,
    pub(crate) params: &'a str,
    /// `"root"` or an IAM user's name.
    pub(crate) who: &'a str,
}

/// The personas of an account with [`crate::GenerateOptions::skew`]: who makes its routine
/// calls, each with its identity and habits.
const PERSONAS: u64 = 100;

/// Writes records, drawing from the corpus's one random stream.
pub(crate) struct EventWriter {
    pub(crate) rng: Rng,
    /// The sum of the catalogue's weights.
    weights_total: u32,
    /// [`crate::GenerateOptions::skew`].
    pub(crate) skew: bool,
}

impl EventWriter {
    pub(crate) fn new(rng: Rng) -> Self {
        EventWriter { rng, weights_total: APIS.iter().map(|a| a.weight).sum(), skew: false }
    }

    fn pick_api(&mut self) -> &'static Api {
        let r = self.rng.below(u64::from(self.weights_total)) as u32;
        self.api_at(r)
    }

    /// The catalogue's API at `r` in `0..weights_total` (each API's share its weight).
    fn api_at(&self, mut r: u32) -> &'static Api {
        for a in APIS {
            if r < a.weight {
                return a;
            }
            r -= a.weight;
        }
        &APIS[0]
    }

    /// Appends a routine event: an API from the catalogue, by an identity drawn by weight.
    /// With `skew`, by one of the account's personas instead (drawn log-uniformly), calling
    /// one of its few habitual APIs.
    pub(crate) fn event(&mut self, out: &mut String, acct: &Account, region: &str, time: i64) {
        let (api, kind, persona) = if self.skew {
            let p = self.rng.skewed(PERSONAS);
            // A persona's identity type and its four APIs (picked by the catalogue's weights)
            // are its own: drawn from a stream of its own, the same in every file.
            let mut own = Rng::new(p ^ 0x5eed_0f9e_250a_4545);
            let kind = IdentityType::from_draw(own.below(100));
            let habits: [u32; 4] = std::array::from_fn(|_| own.below(u64::from(self.weights_total)) as u32);
            let habit = habits[self.rng.skewed(4) as usize];
            (self.api_at(habit), kind, Some(p))
        } else {
            (self.pick_api(), IdentityType::from_draw(self.rng.below(100)), None)
        };
        let mut j = Json::new(out);
        j.begin_obj();
        let version = *self.rng.pick(&["1.08", "1.09", "1.10", "1.11"]);
        j.ks("eventVersion", version);
        let person = write_identity(&mut j, &mut self.rng, acct, kind, time, persona);
        j.ks("eventTime", &timestamp(time));
        j.ks("eventSource", api.source);
        j.ks("eventName", api.name);
        j.ks("awsRegion", region);
        let ip = self.source_ip(acct, kind, api, person);
        j.ks("sourceIPAddress", &ip);
        let agent = if kind.is_service() { api.source } else { *self.rng.pick(AGENTS) };
        j.ks("userAgent", agent);
        let mut error = self.rng.below(100);
        // People and their workloads are refused or throttled on about 0.4% of calls (a
        // console page its user may not read, a tool asking for more than it needs), AWS's
        // own services on 4% (log delivery to a bucket whose policy lacks it, Config
        // reading what it may not).
        if error < 4 && !kind.is_service() && self.rng.below(10) != 0 {
            error = 99;
        }
        if error < 4 {
            let (code, msg) = match api.source {
                "ec2.amazonaws.com" => {
                    ("Client.UnauthorizedOperation", "You are not authorized to perform this operation.")
                }
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
        j.ks("eventType", if kind.is_service() { "AwsServiceEvent" } else { "AwsApiCall" });
        if api.data {
            j.kraw("managementEvent", "false");
        } else {
            j.kraw("managementEvent", "true");
        }
        j.ks("recipientAccountId", &acct.id);
        if kind == IdentityType::AwsService {
            j.ks("sharedEventID", &self.rng.uuid());
        }
        if self.rng.chance(0.03) {
            j.ks("vpcEndpointId", &format!("vpce-{:017x}", self.rng.below(1 << 60)));
            j.ks("vpcEndpointAccountId", &acct.id);
        }
        j.ks("eventCategory", if api.data { "Data" } else { "Management" });
        if version >= "1.08" && !kind.is_service() {
            j.key("tlsDetails").begin_obj();
            j.ks("tlsVersion", if self.rng.chance(0.9) { "TLSv1.3" } else { "TLSv1.2" });
            j.ks("cipherSuite", "TLS_AES_128_GCM_SHA256");
            j.ks(
                "clientProvidedHostHeader",
                &format!("{}.{region}.amazonaws.com", api.source.trim_end_matches(".amazonaws.com")),
            );
            j.end_obj();
        }
        if agent.starts_with("Mozilla") || agent == "console.amazonaws.com" {
            j.ks("sessionCredentialFromConsole", "true");
        }
        j.end_obj();
    }

    /// `sourceIPAddress`: the service for a service's event, else `AWS Internal`, an IPv6
    /// or private address now and then, mostly one of the account's IPv4 addresses.
    /// Where a call comes from: a service's name, AWS Internal, the account's IPv6 egress,
    /// a private address, or the public address of the person behind it (or one of the
    /// account's for the callers without one).
    fn source_ip(&mut self, acct: &Account, kind: IdentityType, api: &Api, person: Option<usize>) -> String {
        if kind.is_service() {
            api.source.to_string()
        } else if self.rng.chance(0.05) {
            "AWS Internal".to_string()
        } else if self.rng.chance(0.03) {
            // A few fixed IPv6 addresses per account (a VPC's egress), like its IPv4 ones;
            // the first draw is kept so the rest of the stream stays as it was.
            let _ = self.rng.below(65536);
            // A person's (or an instance's) calls leave from its own address.
            let host = self.rng.below(4);
            format!("2600:1f18:{}::{:x}", &acct.id[8..], 1 + person.map_or(host, |u| u as u64 % 4))
        } else if self.rng.chance(0.1) {
            format!("10.{}.{}.{}", self.rng.below(256), self.rng.below(256), 1 + self.rng.below(254))
        } else if let Some(user) = person {
            acct.person_ip(user, &mut self.rng).to_string()
        } else {
            self.rng.pick(&acct.ips).clone()
        }
    }

    fn request_parameters(&mut self, j: &mut Json<'_>, api: &Api, acct: &Account, region: &str) {
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
                j.ks(
                    if api.source.starts_with("ssm") { "name" } else { "secretId" },
                    &format!("prod/app-{}/db", rng.below(20)),
                );
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

    fn resources(&mut self, j: &mut Json<'_>, api: &Api, acct: &Account, region: &str) {
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
            "kms.amazonaws.com" => {
                res(&format!("arn:aws:kms:{region}:{id}:key/{}", self.rng.uuid()), "AWS::KMS::Key", true)
            }
            "sts.amazonaws.com" => {
                res(&format!("arn:aws:iam::{id}:role/{}", self.rng.pick(ROLES)), "AWS::IAM::Role", true)
            }
            "lambda.amazonaws.com" => res(
                &format!("arn:aws:lambda:{region}:{id}:function:service-{}", self.rng.below(50)),
                "AWS::Lambda::Function",
                true,
            ),
            "dynamodb.amazonaws.com" => {
                res(&format!("arn:aws:dynamodb:{region}:{id}:table/orders"), "AWS::DynamoDB::Table", true)
            }
            "sqs.amazonaws.com" => res(&format!("arn:aws:sqs:{region}:{id}:jobs"), "AWS::SQS::Queue", true),
            _ => res(&format!("arn:aws:sns:{region}:{id}:alerts"), "AWS::SNS::Topic", true),
        }
        j.end_arr();
    }

    /// Appends a console login at `time`.
    pub(crate) fn console_login(&mut self, out: &mut String, acct: &Account, time: i64, login: &Login<'_>) {
        let mut j = Json::new(out);
        j.begin_obj();
        j.ks("eventVersion", "1.09");
        let id = &acct.id;
        person(&mut j, id, login.who, Some(""));
        j.ks("eventTime", &timestamp(time));
        j.ks("eventSource", "signin.amazonaws.com");
        j.ks("eventName", "ConsoleLogin");
        j.ks("awsRegion", "us-east-1");
        j.ks("sourceIPAddress", login.ip);
        j.ks("userAgent", AGENTS[3]);
        if !login.success {
            j.ks("errorMessage", "Failed authentication");
        }
        j.kraw("requestParameters", "null");
        j.key("responseElements").begin_obj();
        j.ks("ConsoleLogin", if login.success { "Success" } else { "Failure" });
        j.end_obj();
        j.key("additionalEventData").begin_obj();
        j.ks("LoginTo", "https://console.aws.amazon.com/console/home");
        j.ks("MobileVersion", "No");
        j.ks("MFAUsed", if login.mfa { "Yes" } else { "No" });
        j.end_obj();
        j.ks("eventID", &self.rng.uuid());
        j.kraw("readOnly", "false");
        j.ks("eventType", "AwsConsoleSignIn");
        j.kraw("managementEvent", "true");
        j.ks("recipientAccountId", id);
        j.ks("eventCategory", "Management");
        j.end_obj();
    }

    /// Appends a management call at `time` from `ip`, with an access key.
    pub(crate) fn call(
        &mut self,
        out: &mut String,
        acct: &Account,
        region: &str,
        time: i64,
        call: &ApiCall<'_>,
        ip: &str,
    ) {
        let mut j = Json::new(out);
        j.begin_obj();
        j.ks("eventVersion", "1.09");
        let id = &acct.id;
        let key = format!("AKIA{}", self.rng.below(1 << 40));
        person(&mut j, id, call.who, Some(&key));
        j.ks("eventTime", &timestamp(time));
        j.ks("eventSource", call.source);
        j.ks("eventName", call.name);
        j.ks("awsRegion", region);
        j.ks("sourceIPAddress", ip);
        j.ks("userAgent", AGENTS[0]);
        j.kraw("requestParameters", call.params);
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
