//! Athena's spellings of our stronger-typed columns.
//!
//! Athena's CloudTrail table declares `readonly` and `managementevent` as STRING, so
//! analysts write `WHERE readonly = 'false'`; the lake stores them as booleans, and
//! DataFusion refuses to compare a boolean with text ("Cannot infer common argument type
//! for comparison operation Boolean = Utf8"). This analyzer rule, run before type
//! coercion, turns a text literal `'true'`/`'false'` (any case) compared with a boolean
//! expression (`=`, `<>`, `IS [NOT] DISTINCT FROM`, `IN (...)`) into the boolean literal.
//! Any other text stays as written, and the comparison fails as before. Timestamps need
//! nothing: DataFusion casts ISO text to a timestamp on its own.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::logical_expr::expr::InList;
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{BinaryExpr, Expr, ExprSchemable, LogicalPlan, Operator};
use datafusion::optimizer::AnalyzerRule;

/// Rewrites `bool_expr = 'true'` into `bool_expr = true` (see the module docs).
#[derive(Debug, Default)]
pub struct AthenaBooleanText;

impl AthenaBooleanText {
    /// The rule, ready for a session's analyzer.
    pub fn rule() -> Arc<dyn AnalyzerRule + Send + Sync> {
        Arc::new(AthenaBooleanText)
    }
}

impl AnalyzerRule for AthenaBooleanText {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|plan| {
            let schema = input_schema(&plan);
            plan.map_expressions(|e| e.transform_up(|e| rewrite(e, &schema)))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "athena_boolean_text"
    }
}

/// The fields a node's expressions may name: its inputs', and a scan's own.
fn input_schema(plan: &LogicalPlan) -> DFSchema {
    let mut schema = merge_schema(&plan.inputs());
    if let LogicalPlan::TableScan(ts) = plan
        && let Ok(source) = DFSchema::try_from_qualified_schema(ts.table_name.clone(), &ts.source.schema())
    {
        schema.merge(&source);
    }
    schema
}

fn rewrite(e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) if is_equality(op) => {
            let (l, r) = (is_boolean(&left, schema), is_boolean(&right, schema));
            match (l, r, as_bool_text(&right), as_bool_text(&left)) {
                (true, false, Some(b), _) => {
                    Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr { left, op, right: Box::new(bool_lit(b)) })))
                }
                (false, true, _, Some(b)) => {
                    Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr { left: Box::new(bool_lit(b)), op, right })))
                }
                _ => Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr { left, op, right }))),
            }
        }
        Expr::InList(InList { expr, list, negated })
            if is_boolean(&expr, schema) && !list.is_empty() && list.iter().all(|x| as_bool_text(x).is_some()) =>
        {
            let list = list.iter().filter_map(as_bool_text).map(bool_lit).collect();
            Ok(Transformed::yes(Expr::InList(InList { expr, list, negated })))
        }
        e => Ok(Transformed::no(e)),
    }
}

fn is_equality(op: Operator) -> bool {
    matches!(op, Operator::Eq | Operator::NotEq | Operator::IsDistinctFrom | Operator::IsNotDistinctFrom)
}

fn is_boolean(e: &Expr, schema: &DFSchema) -> bool {
    !matches!(e, Expr::Literal(..)) && e.get_type(schema).is_ok_and(|t| t == DataType::Boolean)
}

/// `'true'` / `'false'` in any case, as text of any Arrow string type.
fn as_bool_text(e: &Expr) -> Option<bool> {
    let Expr::Literal(v, _) = e else { return None };
    let s = match v {
        ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) | ScalarValue::LargeUtf8(Some(s)) => s,
        _ => return None,
    };
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn bool_lit(b: bool) -> Expr {
    Expr::Literal(ScalarValue::Boolean(Some(b)), None)
}
