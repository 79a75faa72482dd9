//! Result column names as Athena and DuckDB show them, not as DataFusion spells its
//! expressions: a struct field is named by its leaf (`useridentity.arn` is `arn`, not
//! `cloudtrail.useridentity[arn]`), an expression without an alias loses its table
//! qualifiers (`min(eventtime)`, not `min(cloudtrail.eventtime)`), and a name that would
//! repeat gets a suffix (`arn`, `arn_2`), so every output format (table, CSV, JSON,
//! Parquet) has one column per name. Aliases are kept as written.

use std::collections::HashSet;

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::dataframe::DataFrame;
use datafusion::error::Result;
use datafusion::logical_expr::{LogicalPlan, col};
use datafusion::prelude::Expr;

/// `df` with its output columns renamed as the module says (unchanged if none needs it).
pub fn readable(df: DataFrame) -> Result<DataFrame> {
    let qualifiers = qualifiers(df.logical_plan());
    let names = readable_names(df.schema().fields().iter().map(|f| f.name().as_str()), &qualifiers);
    let unchanged = df.schema().fields().iter().zip(&names).all(|(f, n)| f.name() == n);
    if unchanged {
        return Ok(df);
    }
    let exprs: Vec<Expr> = df
        .schema()
        .iter()
        .zip(names)
        .map(|((qualifier, field), name)| {
            let column = datafusion::common::Column::new(qualifier.cloned(), field.name());
            let e = col(column);
            if field.name() == &name { e } else { e.alias(name) }
        })
        .collect();
    df.select(exprs)
}

/// The table names and aliases a plan reads under: the qualifiers its expressions' names
/// may carry.
fn qualifiers(plan: &LogicalPlan) -> HashSet<String> {
    let mut out = HashSet::new();
    let _ = plan.apply(|node| {
        match node {
            LogicalPlan::TableScan(scan) => {
                out.insert(scan.table_name.to_string());
                out.insert(scan.table_name.table().to_string());
            }
            LogicalPlan::SubqueryAlias(alias) => {
                out.insert(alias.alias.to_string());
            }
            _ => {}
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out
}

/// The readable names of `names`, in order, each unique.
pub fn readable_names<'a>(names: impl Iterator<Item = &'a str>, qualifiers: &HashSet<String>) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut out = vec![];
    for name in names {
        let base = leaf(&unqualified(name, qualifiers));
        let mut unique = base.clone();
        let mut n = 1;
        while !seen.insert(unique.clone()) {
            n += 1;
            unique = format!("{base}_{n}");
        }
        out.push(unique);
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `name` without `qualifier.` where a qualifier starts an identifier path.
fn unqualified(name: &str, qualifiers: &HashSet<String>) -> String {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while !rest.is_empty() {
        let at_start = out.chars().last().is_none_or(|c| !is_ident(c) && c != '.' && c != '"');
        let stripped = at_start
            .then(|| {
                qualifiers.iter().filter(|q| !q.is_empty()).find_map(|q| {
                    rest.strip_prefix(q.as_str())
                        .and_then(|r| r.strip_prefix('.'))
                        .filter(|r| r.starts_with(|c: char| is_ident(c) || c == '"'))
                })
            })
            .flatten();
        match stripped {
            Some(r) => rest = r,
            None => {
                let c = rest.chars().next().unwrap_or_default();
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

/// A field access (`useridentity[sessioncontext][attributes]`) as its last leaf.
fn leaf(name: &str) -> String {
    let Some(open) = name.find('[') else { return name.to_string() };
    let (base, mut path) = name.split_at(open);
    if base.is_empty() || !base.chars().all(is_ident) {
        return name.to_string();
    }
    let mut last = None;
    while let Some(inner) = path.strip_prefix('[') {
        let Some(close) = inner.find(']') else { return name.to_string() };
        let key = inner[..close].trim_matches(|c| c == '\'' || c == '"');
        if key.is_empty() || !key.chars().all(is_ident) {
            return name.to_string();
        }
        last = Some(key);
        path = &inner[close + 1..];
    }
    match (path.is_empty(), last) {
        (true, Some(key)) => key.to_string(),
        _ => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(names: &[&str]) -> Vec<String> {
        let q: HashSet<String> = ["cloudtrail".to_string(), "a".to_string()].into();
        readable_names(names.iter().copied(), &q)
    }

    #[test]
    fn struct_fields_are_named_by_their_leaf_and_aggregates_lose_their_qualifier() {
        assert_eq!(
            names(&[
                "cloudtrail.useridentity[arn]",
                "useridentity[sessioncontext][sessionissuer][type]",
                "min(cloudtrail.eventtime)",
                "count(DISTINCT a.eventname)",
                "eventname",
                "count(*)",
            ]),
            ["arn", "type", "min(eventtime)", "count(DISTINCT eventname)", "eventname", "count(*)"]
        );
    }

    #[test]
    fn names_that_would_repeat_get_a_suffix_and_lookalikes_stay() {
        assert_eq!(names(&["arn", "cloudtrail.useridentity[arn]", "arn_2"]), ["arn", "arn_2", "arn_2_2"]);
        // Not a qualifier: part of a longer identifier, or not a known table.
        assert_eq!(names(&["data.x", "cloudtrails.x", "f(xa.b)"]), ["data.x", "cloudtrails.x", "f(xa.b)"]);
        assert_eq!(names(&["map_col[a b]", "f(x)[a]"]), ["map_col[a b]", "f(x)[a]"]);
    }
}
