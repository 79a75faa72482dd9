//! What the on-call person calls an account: its name, its OU and tags, from a CSV the
//! user keeps (`id,name,ou,tags`) or from AWS Organizations (`ListAccounts`, and
//! `ListParents` up to the root for each account's OU path).

use std::collections::BTreeMap;
use std::path::Path;

use crate::{EnrichError, Result};

/// One account.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Account {
    pub id: String,
    pub name: String,
    /// The OU it is in: from Organizations, the path of ids from the root
    /// (`r-ab12/ou-ab12-11111111`); from a CSV, whatever the file says.
    pub ou: Option<String>,
    /// `key=value` pairs (a CSV's fourth column, `;`-separated).
    pub tags: Vec<(String, String)>,
}

/// Accounts by id.
#[derive(Debug, Clone, Default)]
pub struct Accounts(BTreeMap<String, Account>);

impl Accounts {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<&Account> {
        self.0.get(id.trim())
    }

    /// The account's name, `None` for one not listed.
    pub fn name(&self, id: &str) -> Option<&str> {
        self.get(id).map(|a| a.name.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Account> {
        self.0.values()
    }

    /// Reads a CSV of `id,name[,ou[,tags]]` (a header line is allowed; `#` starts a
    /// comment line; fields may be quoted). A line whose id is not 12 digits, or without
    /// a name, is an error naming its line.
    pub fn read_csv(path: &Path) -> Result<Accounts> {
        let bad = |what: String| EnrichError::File { path: path.to_path_buf(), what };
        let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
        Accounts::parse_csv(&text).map_err(bad)
    }

    pub fn parse_csv(text: &str) -> std::result::Result<Accounts, String> {
        let mut out = BTreeMap::new();
        let mut first = true;
        for (n, line) in text.trim_start_matches('\u{feff}').lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields = split_csv(line).map_err(|e| format!("line {}: {e}", n + 1))?;
            let id = fields.first().map(|s| s.trim()).unwrap_or_default();
            if std::mem::take(&mut first) && !id.bytes().all(|b| b.is_ascii_digit()) {
                continue; // the header
            }
            if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("line {}: {id:?} is not a 12-digit account id", n + 1));
            }
            let name = fields.get(1).map(|s| s.trim()).filter(|s| !s.is_empty());
            let Some(name) = name else { return Err(format!("line {}: account {id} has no name", n + 1)) };
            let ou = fields.get(2).map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
            let tags = fields
                .get(3)
                .map(|t| {
                    t.split(';')
                        .filter(|kv| !kv.trim().is_empty())
                        .map(|kv| {
                            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                            (k.trim().to_string(), v.trim().to_string())
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.insert(id.to_string(), Account { id: id.to_string(), name: name.to_string(), ou, tags });
        }
        Ok(Accounts(out))
    }

    /// Every account of the organization with its OU path (from the management account or a
    /// delegated administrator: `organizations:ListAccounts`, `ListParents`).
    pub async fn from_organizations(client: &aws_sdk_organizations::Client) -> Result<Accounts> {
        let refused = |call: &str, e: &dyn std::fmt::Display| {
            EnrichError::Organizations(format!(
                "cannot list the organization's accounts (organizations:{call}, from the management or a delegated \
                 administrator account): {e}"
            ))
        };
        let mut out = BTreeMap::new();
        let mut parents_of: BTreeMap<String, Option<String>> = BTreeMap::new();
        let mut pages = client.list_accounts().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| refused("ListAccounts", &aws_sdk_organizations::error::DisplayErrorContext(e)))?;
            for a in page.accounts() {
                let (Some(id), Some(name)) = (a.id(), a.name()) else { continue };
                out.insert(
                    id.to_string(),
                    Account { id: id.to_string(), name: name.to_string(), ou: None, tags: vec![] },
                );
            }
        }
        for (id, account) in out.iter_mut() {
            let mut path = vec![];
            let mut child = id.clone();
            // Up to the root (a few levels; Organizations allows five below it).
            for _ in 0..8 {
                let parent = match parents_of.get(&child) {
                    Some(p) => p.clone(),
                    None => {
                        let answer = client.list_parents().child_id(&child).send().await.map_err(|e| {
                            refused("ListParents", &aws_sdk_organizations::error::DisplayErrorContext(e))
                        })?;
                        let p = answer.parents().first().and_then(|p| p.id()).map(String::from);
                        parents_of.insert(child.clone(), p.clone());
                        p
                    }
                };
                let Some(parent) = parent else { break };
                path.push(parent.clone());
                if parent.starts_with("r-") {
                    break;
                }
                child = parent;
            }
            path.reverse();
            account.ou = (!path.is_empty()).then(|| path.join("/"));
        }
        Ok(Accounts(out))
    }
}

/// The fields of one CSV line (double quotes around a field, `""` inside one).
fn split_csv(line: &str) -> std::result::Result<Vec<String>, String> {
    let mut fields = vec![];
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', false) if cur.trim().is_empty() => {
                cur.clear();
                quoted = true;
            }
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            ('"', true) => quoted = false,
            (',', false) => fields.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    if quoted {
        return Err("a quoted field is not closed".into());
    }
    fields.push(cur);
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csv_of_accounts_reads_names_ous_and_tags_and_names_its_bad_lines() {
        let text = "id,name,ou,tags\n# production first\n111122223333,prod-payments,Production,\"team=payments;env=prod\"\n\
                    444455556666,\"sandbox, alice\",,\n";
        let a = Accounts::parse_csv(text).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a.name("111122223333"), Some("prod-payments"));
        assert_eq!(
            a.get("111122223333").unwrap().tags,
            [("team".into(), "payments".into()), ("env".into(), "prod".into())]
        );
        assert_eq!(a.get("444455556666").unwrap().name, "sandbox, alice");
        assert_eq!(a.get("444455556666").unwrap().ou, None);
        assert!(Accounts::parse_csv("1111,x\n").unwrap_err().contains("line 1"));
        // A comment before the header, and a byte-order mark, are no account.
        let a = Accounts::parse_csv("\u{feff}# exported 2026-12-01\nid,name\n111122223333,prod\n").unwrap();
        assert_eq!(a.name("111122223333"), Some("prod"));
        assert!(Accounts::parse_csv("id,name\n111122223333,\n").unwrap_err().contains("no name"));
    }
}
