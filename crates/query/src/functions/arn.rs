//! ARN and identity helpers: `arn_account(arn)`, `arn_resource(arn)`,
//! `principal(useridentity)`, one readable actor name for every identity type, and
//! `aws_service_call(useridentity, sourceipaddress, eventtype)`, whether AWS itself made a
//! call.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanBuilder, StringBuilder};
use arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{ScalarUDF, Signature, Volatility};

use super::{Udf, strings};

pub fn arn_account() -> ScalarUDF {
    Udf::strings("arn_account", 1, DataType::Utf8, |args| map_strings(&args[0], |arn| arn_field(arn, 4)))
}

pub fn arn_resource() -> ScalarUDF {
    Udf::strings("arn_resource", 1, DataType::Utf8, |args| map_strings(&args[0], |arn| arn_field(arn, 5)))
}

fn map_strings(a: &ArrayRef, f: impl Fn(&str) -> Option<&str>) -> Result<ArrayRef> {
    let mut out = StringBuilder::with_capacity(a.len(), 0);
    for s in strings(a)? {
        out.append_option(s.and_then(&f));
    }
    Ok(Arc::new(out.finish()))
}

/// Field `n` of `arn:partition:service:region:account:resource` (the resource keeps its
/// own colons); `None` for text that is not an ARN or an empty field.
fn arn_field(arn: &str, n: usize) -> Option<&str> {
    if !arn.starts_with("arn:") {
        return None;
    }
    arn.splitn(6, ':').nth(n).filter(|s| !s.is_empty())
}

pub fn principal() -> ScalarUDF {
    Udf::udf("principal", Signature::any(1, Volatility::Immutable), DataType::Utf8, |args| {
        let DataType::Struct(_) = args[0].data_type() else {
            return exec_err!("principal() takes the useridentity column, got {}", args[0].data_type());
        };
        let ui = Identity::new(&args[0]);
        let mut out = StringBuilder::with_capacity(args[0].len(), 0);
        let mut buf = String::new();
        for row in 0..args[0].len() {
            if args[0].is_null(row) {
                out.append_null();
                continue;
            }
            buf.clear();
            if ui.name(row, &mut buf) {
                out.append_value(&buf);
            } else {
                out.append_null();
            }
        }
        Ok(Arc::new(out.finish()))
    })
}

/// `aws_service_call(useridentity, sourceipaddress, eventtype)`: true when AWS itself made
/// the call, not a person or a workload of the customer's: the one definition every rule
/// uses to keep AWS's own activity out of an actor's counts (bursts, new addresses, new
/// regions, denied calls, discovery, baselines). True when any of:
/// - `useridentity.type = 'AWSService'` (a service principal, `delivery.logs.amazonaws.com`);
/// - `useridentity.invokedby` is set: a service made the call, with its own credentials or
///   forwarding a person's (CloudFormation, a console's service call); the person's own
///   address is not in the event;
/// - the identity is a service-linked role (`role/aws-service-role/...`, or a session of an
///   `AWSServiceRoleFor...` role);
/// - the source address is a service (`*.amazonaws.com`) or `AWS Internal`;
/// - `eventtype = 'AwsServiceEvent'` (AWS recording something it did itself).
///
/// Never NULL: a row with none of these (or no identity at all) is false, so
/// `NOT aws_service_call(...)` keeps it.
pub fn aws_service_call() -> ScalarUDF {
    Udf::udf("aws_service_call", Signature::any(3, Volatility::Immutable), DataType::Boolean, |args| {
        let DataType::Struct(_) = args[0].data_type() else {
            return exec_err!("aws_service_call() takes the useridentity column first, got {}", args[0].data_type());
        };
        let ui = Identity::new(&args[0]);
        let ips: Vec<Option<&str>> = strings(&args[1])?.collect();
        let event_types: Vec<Option<&str>> = strings(&args[2])?.collect();
        let mut out = BooleanBuilder::with_capacity(args[0].len());
        for row in 0..args[0].len() {
            let identity_is_service = !args[0].is_null(row)
                && (ui.get(TYPE, row) == Some("AWSService")
                    || ui.get(INVOKED_BY, row).is_some()
                    || ui.get(ISSUER_ARN, row).is_some_and(|s| s.contains(":role/aws-service-role/"))
                    || ui.get(ARN, row).is_some_and(|s| s.contains(":assumed-role/AWSServiceRoleFor")));
            out.append_value(
                identity_is_service
                    || ips[row].is_some_and(is_service_address)
                    || event_types[row] == Some("AwsServiceEvent"),
            );
        }
        Ok(Arc::new(out.finish()))
    })
}

/// A source address that names an AWS service instead of an IP address.
fn is_service_address(ip: &str) -> bool {
    ip == "AWS Internal" || ip.ends_with(".amazonaws.com") || ip.ends_with(".amazonaws.com.cn")
}

/// The string columns of a `useridentity` struct that `principal` and `aws_service_call`
/// read (read in place, row by row: nothing is copied per event).
struct Identity {
    cols: [Option<ArrayRef>; 9],
}

const ARN: usize = 0;
const ACCOUNT: usize = 1;
const INVOKED_BY: usize = 2;
const USER_NAME: usize = 3;
const PRINCIPAL_ID: usize = 4;
const ON_BEHALF_OF: usize = 5;
const ISSUER_NAME: usize = 6;
const TYPE: usize = 7;
const ISSUER_ARN: usize = 8;

impl Identity {
    fn new(a: &ArrayRef) -> Identity {
        let cols = [
            child(a, &["arn"]),
            child(a, &["accountid"]),
            child(a, &["invokedby"]),
            child(a, &["username"]),
            child(a, &["principalid"]),
            child(a, &["onbehalfof", "userid"]),
            child(a, &["sessioncontext", "sessionissuer", "username"]),
            child(a, &["type"]),
            child(a, &["sessioncontext", "sessionissuer", "arn"]),
        ];
        Identity { cols }
    }

    fn get(&self, col: usize, row: usize) -> Option<&str> {
        let a = self.cols[col].as_ref()?;
        if a.is_null(row) {
            return None;
        }
        let s = match a.data_type() {
            DataType::Utf8 => a.as_string::<i32>().value(row),
            DataType::LargeUtf8 => a.as_string::<i64>().value(row),
            DataType::Utf8View => a.as_string_view().value(row),
            _ => return None,
        };
        (!s.is_empty()).then_some(s)
    }

    /// Writes the actor's name into `out`; false if there is nothing to name it by.
    fn name(&self, row: usize, out: &mut String) -> bool {
        use std::fmt::Write;
        let arn_tail =
            |prefix: &str| self.get(ARN, row).and_then(|a| arn_field(a, 5)).and_then(|r| r.strip_prefix(prefix));
        let account = self.get(ACCOUNT, row).or_else(|| self.get(ARN, row).and_then(|a| arn_field(a, 4)));
        let written = match self.get(TYPE, row) {
            Some("Root") => write!(out, "root@{}", account.unwrap_or("?")),
            Some("IAMUser") => match self.get(USER_NAME, row).or_else(|| arn_tail("user/")) {
                Some(n) => write!(out, "{n}"),
                None => return self.fallback(row, out),
            },
            Some("AssumedRole") => match arn_tail("assumed-role/") {
                Some(role_session) => write!(out, "{role_session}"),
                None => match (self.get(ISSUER_NAME, row), self.get(PRINCIPAL_ID, row)) {
                    (Some(role), Some(pid)) => write!(out, "{role}/{}", pid.split_once(':').map_or(pid, |(_, s)| s)),
                    _ => return self.fallback(row, out),
                },
            },
            Some("FederatedUser") => match arn_tail("federated-user/") {
                Some(n) => write!(out, "federated:{n}"),
                None => return self.fallback(row, out),
            },
            Some("AWSService") => match self.get(INVOKED_BY, row) {
                Some(s) => write!(out, "{s}"),
                None => return self.fallback(row, out),
            },
            Some("AWSAccount") => match account {
                Some(acct) => write!(out, "account:{acct}"),
                None => return self.fallback(row, out),
            },
            Some("IdentityCenterUser") => match self.get(USER_NAME, row).or_else(|| self.get(ON_BEHALF_OF, row)) {
                Some(u) => write!(out, "identitycenter:{u}"),
                None => return self.fallback(row, out),
            },
            Some(k @ ("SAMLUser" | "WebIdentityUser")) => {
                match self.get(USER_NAME, row).or_else(|| self.get(PRINCIPAL_ID, row)) {
                    Some(u) => write!(out, "{}:{u}", if k == "SAMLUser" { "saml" } else { "webidentity" }),
                    None => return self.fallback(row, out),
                }
            }
            // No type: a service acting on the account's behalf.
            None => match self.get(INVOKED_BY, row) {
                Some(s) => write!(out, "{s}"),
                None => return self.fallback(row, out),
            },
            Some(_) => return self.fallback(row, out),
        };
        written.is_ok()
    }

    fn fallback(&self, row: usize, out: &mut String) -> bool {
        match [USER_NAME, ARN, PRINCIPAL_ID, INVOKED_BY, ACCOUNT].iter().find_map(|&c| self.get(c, row)) {
            Some(s) => {
                out.push_str(s);
                true
            }
            None => false,
        }
    }
}

/// The child array at `path` inside a struct array, if the struct has it.
fn child(a: &ArrayRef, path: &[&str]) -> Option<ArrayRef> {
    let mut cur = a.clone();
    for name in path {
        let s = cur.as_struct_opt()?;
        cur = s.column_by_name(name)?.clone();
    }
    Some(cur)
}
