//! Athena's lateral `UNNEST`, rewritten into what DataFusion 55 plans.
//!
//! Athena (Trino) flattens an array column with a lateral join:
//!
//! ```sql
//! SELECT r.arn, count(*) FROM cloudtrail CROSS JOIN UNNEST(resources) AS t(r) GROUP BY 1
//! ```
//!
//! DataFusion 55 parses it but cannot run it: the array is an outer reference of a
//! subquery no rule decorrelates ("Physical plan does not support logical expression
//! OuterReferenceColumn", apache/datafusion#13659); `WITH ORDINALITY` is refused. It does
//! run `unnest()` in a select list. So, before planning, each UNNEST joined to a relation
//! is folded into that relation, keeping its alias:
//!
//! ```sql
//! FROM base AS b CROSS JOIN UNNEST(e) WITH ORDINALITY AS t(x, n)
//! -- becomes
//! FROM (SELECT b.*, unnest(e) AS x, unnest(generate_series(1, coalesce(CAST(array_length(e) AS BIGINT), 0))) AS n
//!       FROM base AS b) AS b
//! ```
//!
//! and the qualifier `t` becomes `b` in the rest of the query, so `b.col`, `col`, `x`,
//! `t.x`, `x.arn` (a struct element's field), `n` and `t.n` all resolve; `t.*` becomes the
//! UNNEST's columns. Forms:
//! - `CROSS JOIN UNNEST(...)`, `JOIN UNNEST(...) ON true`, `, UNNEST(...)` (comma), `CROSS
//!   APPLY`: rows whose array is empty or NULL drop out, as in Athena.
//! - `LEFT JOIN UNNEST(...) ON true`, `OUTER APPLY`: such rows stay, once, with NULLs
//!   (`unnest_outer`).
//! - `UNNEST(a, b) AS t(x, y)`: the arrays side by side, padded with NULLs to the longest.
//! - UNNESTs in a row: each over the rows of the ones before.
//!
//! Refused with a message: `WITH OFFSET`, a `LEFT JOIN UNNEST` whose `ON` is not `true`,
//! right and full joins to an UNNEST, and an UNNEST after an ordinary join (put the joined
//! tables in a subquery first).

use std::ops::ControlFlow;

use datafusion::sql::parser::{CopyToSource, DFParser, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{
    Expr, Ident, JoinConstraint, JoinOperator, ObjectNamePart, Query, Select, SelectItem,
    SelectItemQualifiedWildcardKind, SetExpr, Statement, TableFactor, Value, VisitMut, VisitorMut,
    visit_expressions_mut,
};

/// Rewrites every lateral UNNEST of `statement` (see the module); a form it cannot
/// express is an error saying what to write instead.
pub fn rewrite(statement: &mut DFStatement) -> Result<(), String> {
    let mut fold = Fold { renames: vec![] };
    let flow = match statement {
        DFStatement::Statement(s) => s.as_mut().visit(&mut fold),
        DFStatement::Explain(e) => return rewrite(&mut e.statement),
        DFStatement::CopyTo(c) => match &mut c.source {
            CopyToSource::Query(q) => q.as_mut().visit(&mut fold),
            CopyToSource::Relation(_) => ControlFlow::Continue(()),
        },
        _ => ControlFlow::Continue(()),
    };
    match flow {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

struct Fold {
    /// The qualifiers the last select folded away (`t` -> `b`): its query's `ORDER BY`
    /// may name them too.
    renames: Vec<(Ident, Ident)>,
}

impl VisitorMut for Fold {
    type Break = String;

    fn post_visit_select(&mut self, select: &mut Select) -> ControlFlow<String> {
        match fold_select(select) {
            Ok(renames) => {
                for (from, to) in &renames {
                    rename(select, from, to);
                }
                self.renames = renames;
                ControlFlow::Continue(())
            }
            Err(e) => ControlFlow::Break(e),
        }
    }

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<String> {
        if matches!(query.body.as_ref(), SetExpr::Select(_))
            && let Some(order_by) = &mut query.order_by
        {
            for (from, to) in std::mem::take(&mut self.renames) {
                rename(order_by, &from, &to);
            }
        }
        self.renames.clear();
        ControlFlow::Continue(())
    }
}

fn same(a: &Ident, b: &Ident) -> bool {
    match (a.quote_style, b.quote_style) {
        (None, None) => a.value.eq_ignore_ascii_case(&b.value),
        _ => a.value == b.value,
    }
}

/// `from.x...` as `to.x...` in every expression under `node`.
fn rename<V: VisitMut>(node: &mut V, from: &Ident, to: &Ident) {
    let _ = visit_expressions_mut(node, |e| {
        if let Expr::CompoundIdentifier(ids) = e
            && ids.len() >= 2
            && same(&ids[0], from)
        {
            ids[0] = to.clone();
        }
        ControlFlow::<()>::Continue(())
    });
}

/// Folds the UNNESTs joined in `select`'s FROM into their left side; returns the
/// qualifiers to rename.
fn fold_select(select: &mut Select) -> Result<Vec<(Ident, Ident)>, String> {
    let is_unnest = |f: &TableFactor| matches!(f, TableFactor::UNNEST { .. });
    // `FROM base, UNNEST(...)`: the comma is a cross join.
    if select.from.len() > 1 && select.from[1..].iter().any(|t| is_unnest(&t.relation)) {
        let extra = select.from.split_off(1);
        for t in extra {
            if !is_unnest(&t.relation) || !t.joins.is_empty() {
                return Err("UNNEST with other tables after commas: write `CROSS JOIN UNNEST(...)` and \
                            put the other tables in a subquery"
                    .into());
            }
            select.from[0].joins.push(datafusion::sql::sqlparser::ast::Join {
                relation: t.relation,
                global: false,
                join_operator: JoinOperator::CrossJoin(JoinConstraint::None),
            });
        }
    }
    let mut renames = vec![];
    let Some(from) = select.from.first_mut() else { return Ok(renames) };
    let Some(last) = from.joins.iter().rposition(|j| is_unnest(&j.relation)) else { return Ok(renames) };
    if select.from.len() > 1 {
        return Err("UNNEST in a FROM that lists several tables: put the other tables in a subquery".into());
    }
    let from = &mut select.from[0];
    if from.joins[..last].iter().any(|j| !is_unnest(&j.relation)) {
        return Err("UNNEST after a join: put the joined tables in a subquery first, e.g. \
                    FROM (SELECT ... FROM a JOIN b ON ...) AS j CROSS JOIN UNNEST(j.arr) AS t(x)"
            .into());
    }
    let unnests: Vec<_> = from.joins.drain(..=last).collect();
    // `t.*` of each UNNEST aliased `t`, and the columns it stands for.
    let mut wildcards = vec![];
    for join in unnests {
        let outer = match &join.join_operator {
            JoinOperator::CrossJoin(JoinConstraint::None) | JoinOperator::CrossApply => false,
            JoinOperator::Join(c) | JoinOperator::Inner(c) if is_true(c) => false,
            JoinOperator::Left(c) | JoinOperator::LeftOuter(c) if is_true(c) => true,
            JoinOperator::OuterApply => true,
            JoinOperator::Left(_) | JoinOperator::LeftOuter(_) => {
                return Err("LEFT JOIN UNNEST(...) takes ON true only; filter in WHERE".into());
            }
            _ => return Err("UNNEST joins as CROSS JOIN, JOIN ... ON true or LEFT JOIN ... ON true only".into()),
        };
        let TableFactor::UNNEST { alias, array_exprs, with_offset, with_ordinality, .. } = join.relation else {
            unreachable!("only UNNEST joins are folded")
        };
        if with_offset {
            return Err("UNNEST ... WITH OFFSET is BigQuery's: use WITH ORDINALITY (numbered from 1)".into());
        }
        let base = base_alias(&from.relation)?;
        let columns: Vec<Ident> =
            alias.as_ref().map(|a| a.columns.iter().map(|c| c.name.clone()).collect()).unwrap_or_default();
        let single = array_exprs.len() == 1;
        let name = |i: usize| -> Ident {
            columns.get(i).cloned().unwrap_or_else(|| match (&alias, single) {
                (Some(a), true) => a.name.clone(),
                _ => Ident::new(if single { "unnest".to_string() } else { format!("unnest_{}", i + 1) }),
            })
        };
        let function = if outer { "unnest_outer" } else { "unnest" };
        let mut select_list = vec![format!("{base}.*")];
        for (i, e) in array_exprs.iter().enumerate() {
            select_list.push(format!("{function}({e}) AS {}", name(i)));
        }
        if with_ordinality {
            let lengths: Vec<String> =
                array_exprs.iter().map(|e| format!("coalesce(CAST(array_length({e}) AS BIGINT), 0)")).collect();
            let length = if single { lengths[0].clone() } else { format!("greatest({})", lengths.join(", ")) };
            let ordinality = columns.get(array_exprs.len()).cloned().unwrap_or_else(|| Ident::new("ordinality"));
            select_list.push(format!("{function}(generate_series(1, {length})) AS {ordinality}"));
        }
        let names: Vec<Ident> = (0..array_exprs.len())
            .map(name)
            .chain(
                with_ordinality
                    .then(|| columns.get(array_exprs.len()).cloned().unwrap_or_else(|| Ident::new("ordinality"))),
            )
            .collect();
        let sql = format!("SELECT * FROM (SELECT {} FROM {}) AS {base}", select_list.join(", "), from.relation);
        from.relation = derived_from(&sql)?;
        // `AS t(x)`: `t.x` means the column x. A bare `AS r` names the column itself
        // (above), so `r.arn` is a field of it, not a qualifier to rename.
        if let Some(t) = alias.filter(|a| !a.columns.is_empty()).map(|a| a.name)
            && !same(&t, &base)
        {
            wildcards.push((t.clone(), names));
            renames.push((t, base));
        }
    }
    for (t, names) in wildcards {
        expand_wildcard(&mut select.projection, &t, &names);
    }
    Ok(renames)
}

fn is_true(c: &JoinConstraint) -> bool {
    match c {
        JoinConstraint::None => true,
        JoinConstraint::On(Expr::Value(v)) => matches!(v.value, Value::Boolean(true)),
        _ => false,
    }
}

/// The qualifier a relation's columns carry: its alias, or a table's own name.
fn base_alias(relation: &TableFactor) -> Result<Ident, String> {
    match relation {
        TableFactor::Table { alias: Some(a), .. } | TableFactor::Derived { alias: Some(a), .. } => Ok(a.name.clone()),
        TableFactor::Table { name, alias: None, .. } => match name.0.last() {
            Some(ObjectNamePart::Identifier(i)) => Ok(i.clone()),
            _ => Err(format!("cannot UNNEST beside {name}: give it an alias")),
        },
        _ => Err("UNNEST joins a table or an aliased subquery: give the left side an alias".into()),
    }
}

/// The FROM relation of the one query `sql` holds.
fn derived_from(sql: &str) -> Result<TableFactor, String> {
    let statements = DFParser::parse_sql(sql).map_err(|e| format!("UNNEST could not be rewritten: {e}"))?;
    if let Some(DFStatement::Statement(s)) = statements.into_iter().next()
        && let Statement::Query(q) = *s
        && let SetExpr::Select(select) = *q.body
        && let Some(from) = select.from.into_iter().next()
    {
        return Ok(from.relation);
    }
    Err(format!("UNNEST could not be rewritten: {sql}"))
}

/// `t.*` in a select list as the UNNEST's columns.
fn expand_wildcard(projection: &mut Vec<SelectItem>, t: &Ident, names: &[Ident]) {
    let mut out = Vec::with_capacity(projection.len() + names.len());
    for item in projection.drain(..) {
        let of_t = matches!(&item, SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(n), _)
            if n.0.len() == 1 && matches!(&n.0[0], ObjectNamePart::Identifier(i) if same(i, t)));
        if of_t {
            out.extend(names.iter().map(|n| SelectItem::UnnamedExpr(Expr::Identifier(n.clone()))));
        } else {
            out.push(item);
        }
    }
    *projection = out;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> Result<String, String> {
        let mut s = DFParser::parse_sql(sql).unwrap().pop_front().unwrap();
        rewrite(&mut s)?;
        Ok(s.to_string())
    }

    #[test]
    fn a_cross_join_unnest_becomes_a_select_list_unnest_under_the_base_alias() {
        assert_eq!(
            rewritten("SELECT t.r.arn, count(*) FROM cloudtrail CROSS JOIN UNNEST(resources) AS t(r) GROUP BY 1 ORDER BY t.r.arn").unwrap(),
            "SELECT cloudtrail.r.arn, count(*) FROM (SELECT cloudtrail.*, unnest(resources) AS r FROM cloudtrail) AS cloudtrail \
             GROUP BY 1 ORDER BY cloudtrail.r.arn"
        );
        let ordinal =
            rewritten("SELECT t.* FROM cloudtrail c CROSS JOIN UNNEST(c.resources) WITH ORDINALITY AS t(r, n)")
                .unwrap();
        assert!(ordinal.starts_with("SELECT r, n FROM (SELECT c.*, unnest(c.resources) AS r, unnest(generate_series(1, coalesce(CAST(array_length(c.resources) AS BIGINT), 0))) AS n FROM cloudtrail c) AS c"), "{ordinal}");
        let left = rewritten("SELECT x FROM cloudtrail LEFT JOIN UNNEST(resources) AS t(x) ON true").unwrap();
        assert!(left.contains("unnest_outer(resources) AS x"), "{left}");
        let comma = rewritten("SELECT x FROM cloudtrail, UNNEST(resources) AS t(x)").unwrap();
        assert!(comma.contains("unnest(resources) AS x"), "{comma}");
    }

    #[test]
    fn forms_it_cannot_express_say_what_to_write() {
        let e = rewritten("SELECT x FROM cloudtrail LEFT JOIN UNNEST(resources) AS t(x) ON x.arn = 'a'").unwrap_err();
        assert!(e.contains("ON true"), "{e}");
        let e = rewritten("SELECT x FROM a JOIN b ON a.k = b.k CROSS JOIN UNNEST(a.arr) AS t(x)").unwrap_err();
        assert!(e.contains("subquery"), "{e}");
        // Nothing to do: left alone.
        assert_eq!(rewritten("SELECT 1 FROM cloudtrail").unwrap(), "SELECT 1 FROM cloudtrail");
    }
}
