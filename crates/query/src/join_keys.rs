//! Join keys that read struct fields are computed below the join, before DataFusion's leaf
//! expression pushdown sees them.
//!
//! DataFusion 55's `extract_leaf_expressions` rewrites a join key such as
//! `lower(a.useridentity.arn)` into an extracted column and the next `optimize_projections`
//! pass then loses a column of the same input ("Schema error: No field named ...",
//! apache/datafusion#22895, fixed upstream after 55). Those are the everyday CloudTrail joins,
//! and turning the pushdown off for every query makes each `useridentity.*` query read the
//! whole struct. This rule, which runs just before that one, does the key's part itself:
//!
//! ```text
//! Projection: <the join's columns>                        <-- same schema as before
//!   Join: __trailhouse_join_key_1 = b.k
//!     Projection: a.*, lower(get_field(a.useridentity, 'arn')) AS __trailhouse_join_key_1
//!       TableScan: a
//!     TableScan: b
//! ```
//!
//! Keys left are plain columns, so the upstream rule leaves the join alone, and its
//! projection pass pushes `get_field` into the projection below, down to the Parquet scan.
//!
//! [`Guarded`] wraps the two upstream leaf rules: a plan they fail to rewrite
//! (apache/datafusion#24241: a self join filtered on the other side's struct field) is
//! planned as it was, as with leaf pushdown off, instead of failing the query. The wrong
//! results reported upstream for computed columns named like their input
//! (apache/datafusion#25414) do not reproduce on 55.2; `crates/query/tests/it/scan.rs` keeps those
//! shapes, compared with pushdown off, so an upgrade that brings them back fails a test.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, Result};
use datafusion::logical_expr::{Expr, ExpressionPlacement, LogicalPlan, Projection, logical_plan::Join};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

/// The rule's name, as `EXPLAIN VERBOSE` shows it.
pub const NAME: &str = "trailhouse_project_join_keys";

const KEY_PREFIX: &str = "__trailhouse_join_key";

/// See the module documentation.
#[derive(Debug, Default)]
pub struct ProjectJoinKeys;

impl ProjectJoinKeys {
    pub fn rule() -> Arc<dyn OptimizerRule + Send + Sync> {
        Arc::new(ProjectJoinKeys)
    }
}

/// True when `e` is more than a column and reads a struct field (or another expression
/// DataFusion moves towards the scan).
fn needs_projection(e: &Expr) -> bool {
    !matches!(e, Expr::Column(_))
        && e.exists(|x| Ok(x.placement() == ExpressionPlacement::MoveTowardsLeafNodes)).unwrap_or(false)
}

impl OptimizerRule for ProjectJoinKeys {
    fn name(&self) -> &str {
        NAME
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(&self, plan: LogicalPlan, config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Join(join) = plan else { return Ok(Transformed::no(plan)) };
        if !config.options().optimizer.enable_leaf_expression_pushdown
            || !join.on.iter().any(|(l, r)| needs_projection(l) || needs_projection(r))
        {
            return Ok(Transformed::no(LogicalPlan::Join(join)));
        }
        let aliases = config.alias_generator();
        let mut left_keys = Vec::new();
        let mut right_keys = Vec::new();
        let mut on = Vec::with_capacity(join.on.len());
        for (l, r) in &join.on {
            let key = |e: &Expr, keys: &mut Vec<Expr>| {
                if needs_projection(e) {
                    let name = aliases.next(KEY_PREFIX);
                    keys.push(e.clone().alias(&name));
                    Expr::Column(Column::from_name(name))
                } else {
                    e.clone()
                }
            };
            on.push((key(l, &mut left_keys), key(r, &mut right_keys)));
        }
        let left = with_keys(&join.left, left_keys)?;
        let right = with_keys(&join.right, right_keys)?;
        let original = join.schema.clone();
        let new_join = Join::try_new(
            left,
            right,
            on,
            join.filter.clone(),
            join.join_type,
            join.join_constraint,
            join.null_equality,
            join.null_aware,
        )?;
        // The columns the join had, in its order: the keys stay below.
        let columns: Vec<Expr> =
            original.iter().map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name()))).collect();
        let projection = Projection::try_new(columns, Arc::new(LogicalPlan::Join(new_join)))?;
        Ok(Transformed::yes(LogicalPlan::Projection(projection)))
    }
}

/// `input` with `keys` computed beside all its columns (unchanged when there are none).
fn with_keys(input: &Arc<LogicalPlan>, keys: Vec<Expr>) -> Result<Arc<LogicalPlan>> {
    if keys.is_empty() {
        return Ok(input.clone());
    }
    let mut exprs: Vec<Expr> =
        input.schema().iter().map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name()))).collect();
    exprs.extend(keys);
    Ok(Arc::new(LogicalPlan::Projection(Projection::try_new(exprs, input.clone())?)))
}

/// An upstream leaf-pushdown rule whose failure leaves the plan as it was (see the module
/// documentation).
#[derive(Debug)]
pub struct Guarded {
    inner: Arc<dyn OptimizerRule + Send + Sync>,
}

impl Guarded {
    pub fn rule(inner: Arc<dyn OptimizerRule + Send + Sync>) -> Arc<dyn OptimizerRule + Send + Sync> {
        Arc::new(Guarded { inner })
    }
}

impl OptimizerRule for Guarded {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        None
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(&self, plan: LogicalPlan, config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        let original = plan.clone();
        let result = match self.inner.apply_order() {
            None => self.inner.rewrite(plan, config),
            Some(ApplyOrder::TopDown) => plan.transform_down_with_subqueries(|p| self.inner.rewrite(p, config)),
            Some(ApplyOrder::BottomUp) => plan.transform_up_with_subqueries(|p| self.inner.rewrite(p, config)),
        };
        // A plan the rule cannot rewrite (apache/datafusion#24241: a self join filtered on
        // the other side's struct field) is planned as it was, without the pushdown.
        result.or_else(|e| {
            tracing::debug!(rule = self.inner.name(), error = %e, "leaf pushdown skipped for this plan");
            Ok(Transformed::no(original))
        })
    }
}
