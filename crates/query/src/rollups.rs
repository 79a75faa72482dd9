//! Aggregates answered from the hourly rollup ([`lake::rollup`]) instead of the events.
//!
//! [`UseRollups`] is an optimizer rule. It rewrites an `Aggregate` over the `cloudtrail`
//! table (through filters) when
//! - every expression it groups by and every filter is made of rollup dimensions:
//!   `eventdate`, `recipientaccountid`, `awsregion`, `eventsource`, `eventname`,
//!   `errorcode`, `readonly`, `useridentity.arn`, `useridentity.type`,
//!   `ip_class(sourceipaddress)`, `date_trunc(unit, eventtime)` for a unit of an hour or
//!   more, and `eventtime >= t` / `eventtime < t` for a `t` on the hour;
//! - every aggregate is derivable: `count(*)`, `count(d)`, `count(DISTINCT d)`, `min`/`max`
//!   of a dimension or of `eventtime`, `sum(d)`/`avg(d)` of a numeric expression of
//!   dimensions, `approx_distinct(sourceipaddress)` (from the rows' address sketches);
//! - and the rollup summarizes exactly the events of the version being read (every day's
//!   counts agree, [`lake::rollup::InStep`]).
//!
//! The rewritten plan reads `TableScan: rollups` (what `EXPLAIN` shows), and answers with
//! the same columns, names and types.
//!
//! `SET trailhouse.rollups = auto|on|off` (per session). `auto`, the default, reads the
//! rollup only where it is at least [`MIN_REDUCTION`] times smaller than the events: a
//! lake whose principals each make a few calls an hour has nearly a rollup row per event,
//! and reading it would cost what reading the events costs (measured on the generated
//! 10M-event lake: 8.7M rollup rows, benches/README.md). `on` reads it whenever it can.

/// Events per rollup row below which `auto` reads the events.
pub const MIN_REDUCTION: f64 = 4.0;

/// When the rule reads the rollup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Where it is at least [`MIN_REDUCTION`] times smaller than the events.
    Auto,
    /// Whenever it can answer.
    On,
    /// Never.
    Off,
}

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryArray};
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, Result, ScalarValue, config_err};
use datafusion::datasource::provider_as_source;
use datafusion::datasource::source_as_provider;
use datafusion::functions_aggregate::expr_fn::{count_distinct, max, min, sum};
use datafusion::logical_expr::expr::{AggregateFunction, ScalarFunction};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, BinaryExpr, Expr, LogicalPlan, LogicalPlanBuilder, Operator,
    Signature, TableScan, Volatility, cast, lit, when,
};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};
use lake::LakeTable;
use lake::rollup::{self as r, SAME_NAME_DIMENSIONS};
use lake::sketch::Sketch;

/// The qualifier of the rollup's columns in a rewritten plan.
const ROLLUPS: &str = lake::ROLLUPS_TABLE;

/// trailhouse's session settings: `SET trailhouse.rollups = off`.
#[derive(Debug, Clone)]
pub struct TrailhouseOptions {
    /// When aggregates are answered from the hourly rollup.
    pub rollups: Mode,
}

impl Default for TrailhouseOptions {
    fn default() -> Self {
        TrailhouseOptions { rollups: Mode::Auto }
    }
}

impl ExtensionOptions for TrailhouseOptions {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }
    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "rollups" => {
                self.rollups = match value.trim().to_ascii_lowercase().as_str() {
                    "auto" => Mode::Auto,
                    "on" | "true" | "1" => Mode::On,
                    "off" | "false" | "0" => Mode::Off,
                    other => return config_err!("trailhouse.rollups is auto, on or off, not {other}"),
                };
                Ok(())
            }
            other => {
                config_err!("no setting trailhouse.{other}; trailhouse's settings: trailhouse.rollups (auto/on/off)")
            }
        }
    }
    fn entries(&self) -> Vec<ConfigEntry> {
        vec![ConfigEntry {
            key: "trailhouse.rollups".into(),
            value: Some(
                match self.rollups {
                    Mode::Auto => "auto",
                    Mode::On => "on",
                    Mode::Off => "off",
                }
                .into(),
            ),
            description: "Answer aggregates over cloudtrail from the hourly rollup: auto (where it is at least 4x smaller than the events), on, off",
        }]
    }
}

impl ConfigExtension for TrailhouseOptions {
    const PREFIX: &'static str = "trailhouse";
}

/// The optimizer rule (see the module's documentation).
#[derive(Debug, Default)]
pub struct UseRollups;

impl UseRollups {
    pub fn rule() -> Arc<dyn OptimizerRule + Send + Sync> {
        Arc::new(UseRollups)
    }
}

impl OptimizerRule for UseRollups {
    fn name(&self) -> &str {
        "use_rollups"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(&self, plan: LogicalPlan, config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        let mode = config.options().extensions.get::<TrailhouseOptions>().map_or(Mode::Auto, |o| o.rollups);
        if mode == Mode::Off {
            return Ok(Transformed::no(plan));
        }
        match rewrite(&plan, mode)? {
            Some(p) => Ok(Transformed::yes(p)),
            None => Ok(Transformed::no(plan)),
        }
    }
}

/// The filters down to the `cloudtrail` scan below an aggregate, and the scan.
fn scan_below(mut plan: &LogicalPlan) -> Option<(Vec<Expr>, &TableScan)> {
    let mut filters = vec![];
    loop {
        match plan {
            LogicalPlan::Filter(f) => {
                filters.push(f.predicate.clone());
                plan = &f.input;
            }
            LogicalPlan::SubqueryAlias(a) => plan = &a.input,
            LogicalPlan::TableScan(t) if t.fetch.is_none() => {
                filters.extend(t.filters.iter().cloned());
                return Some((filters, t));
            }
            _ => return None,
        }
    }
}

fn rewrite(plan: &LogicalPlan, mode: Mode) -> Result<Option<LogicalPlan>> {
    let LogicalPlan::Aggregate(agg) = plan else { return Ok(None) };
    let Some((filters, scan)) = scan_below(&agg.input) else { return Ok(None) };
    let Ok(provider) = source_as_provider(&scan.source) else { return Ok(None) };
    let Some(table) = provider.downcast_ref::<LakeTable>() else { return Ok(None) };
    let Some(rollup) = table.rollup().filter(|r| r.whole()) else { return Ok(None) };
    if mode == Mode::Auto && rollup.reduction() < MIN_REDUCTION {
        return Ok(None);
    }
    if scan.table_name.table() != lake::CLOUDTRAIL_TABLE {
        return Ok(None);
    }
    // count(*) over the whole table is answered by the files' statistics, without reading.
    let only_counts = agg.aggr_expr.iter().all(|e| matches!(Aggregate::of(e), Some(Aggregate::Count)));
    if agg.group_expr.is_empty() && filters.is_empty() && only_counts {
        return Ok(None);
    }
    let Some(groups) = agg.group_expr.iter().map(dimension).collect::<Option<Vec<_>>>() else { return Ok(None) };
    let Some(filters) = filters.iter().map(dimension).collect::<Option<Vec<_>>>() else { return Ok(None) };
    let Some(aggregates) = agg.aggr_expr.iter().map(Aggregate::of).collect::<Option<Vec<_>>>() else {
        return Ok(None);
    };

    // The rollup's aggregates, each named so the projection above can refer to it.
    let mut rollup_aggs: Vec<Expr> = vec![];
    let mut finals: Vec<Expr> = vec![];
    for a in &aggregates {
        let mut named = |e: Expr| {
            let name = format!("__rollup_{}", rollup_aggs.len());
            rollup_aggs.push(e.alias(&name));
            Expr::Column(Column::from_name(name))
        };
        finals.push(match a {
            Aggregate::Count => coalesce_zero(named(sum(rcol(r::EVENTS)))),
            Aggregate::CountOf(d) => coalesce_zero(named(sum(events_where_not_null(d.clone())))),
            Aggregate::CountDistinct(d) => named(count_distinct(d.clone())),
            Aggregate::Min(d) => named(min(d.clone())),
            Aggregate::Max(d) => named(max(d.clone())),
            Aggregate::Sum(d) => named(sum(d.clone() * rcol(r::EVENTS))),
            Aggregate::Avg(d) => {
                let total = named(sum(cast(d.clone(), DataType::Float64) * cast(rcol(r::EVENTS), DataType::Float64)));
                let n = named(sum(events_where_not_null(d.clone())));
                when(n.clone().is_null().or(n.clone().eq(lit(0i64))), lit(ScalarValue::Float64(None)))
                    .otherwise(total / cast(n, DataType::Float64))?
            }
            Aggregate::ApproxDistinct => named(rollup_distinct().call(vec![rcol(r::SOURCE_IPS)])),
        });
    }
    let group_names: Vec<String> = (0..groups.len()).map(|i| format!("__rollup_group_{i}")).collect();
    let group_exprs: Vec<Expr> = groups.into_iter().zip(&group_names).map(|(g, n)| g.alias(n)).collect();

    let source = provider_as_source(rollup.table.clone());
    let mut builder = LogicalPlanBuilder::scan(ROLLUPS, source, None)?;
    if let Some(predicate) = conjunction(filters) {
        builder = builder.filter(predicate)?;
    }
    builder = builder.aggregate(group_exprs, rollup_aggs)?;
    // The same columns as the aggregate it replaces: names, qualifiers and types.
    let out = agg.schema.as_ref();
    let mut projection = vec![];
    let exprs = group_names.iter().map(|n| Expr::Column(Column::from_name(n))).chain(finals);
    for (i, e) in exprs.enumerate() {
        let (qualifier, field) = out.qualified_field(i);
        projection.push(cast(e, field.data_type().clone()).alias_qualified(qualifier.cloned(), field.name()));
    }
    Ok(Some(builder.project(projection)?.build()?))
}

/// A column of the rollup.
fn rcol(name: &str) -> Expr {
    Expr::Column(Column::new(Some(ROLLUPS), name))
}

fn coalesce_zero(e: Expr) -> Expr {
    datafusion::functions::expr_fn::coalesce(vec![e, lit(0i64)])
}

fn events_where_not_null(d: Expr) -> Expr {
    when(d.is_null(), lit(0i64)).otherwise(rcol(r::EVENTS)).expect("a CASE with one branch and an ELSE")
}

/// An aggregate of the events the rollup can answer, with its argument as a rollup
/// expression.
enum Aggregate {
    Count,
    CountOf(Expr),
    CountDistinct(Expr),
    Min(Expr),
    Max(Expr),
    Sum(Expr),
    Avg(Expr),
    ApproxDistinct,
}

impl Aggregate {
    fn of(e: &Expr) -> Option<Aggregate> {
        let e = match e {
            Expr::Alias(a) => &*a.expr,
            e => e,
        };
        let Expr::AggregateFunction(AggregateFunction { func, params }) = e else { return None };
        if params.filter.is_some() || !params.order_by.is_empty() {
            return None;
        }
        let arg = match params.args.as_slice() {
            [a] => a,
            _ => return None,
        };
        let is_eventtime = matches!(arg, Expr::Column(c) if c.name == lake::schema::EVENT_TIME);
        let literal = matches!(arg, Expr::Literal(v, _) if !v.is_null());
        Some(match (func.name(), params.distinct) {
            ("count", false) if literal => Aggregate::Count,
            ("count", false) => Aggregate::CountOf(dimension(arg)?),
            ("count", true) => Aggregate::CountDistinct(dimension(arg)?),
            ("min", _) if is_eventtime => Aggregate::Min(rcol(r::FIRST_SEEN)),
            ("max", _) if is_eventtime => Aggregate::Max(rcol(r::LAST_SEEN)),
            ("min", _) => Aggregate::Min(dimension(arg)?),
            ("max", _) => Aggregate::Max(dimension(arg)?),
            ("sum", false) => Aggregate::Sum(dimension(arg)?),
            ("avg", false) => Aggregate::Avg(dimension(arg)?),
            ("approx_distinct", false) if matches!(arg, Expr::Column(c) if c.name == lake::schema::SOURCE_IP_ADDRESS) => {
                Aggregate::ApproxDistinct
            }
            _ => return None,
        })
    }
}

/// `e` as an expression of the rollup's dimensions, or `None` when it reads anything else.
fn dimension(e: &Expr) -> Option<Expr> {
    let mut ok = true;
    let out = e
        .clone()
        .transform_down(|e| {
            if let Some(m) = leaf(&e) {
                return Ok(Transformed::new(m, true, TreeNodeRecursion::Jump));
            }
            let refused = match &e {
                Expr::Column(_)
                | Expr::OuterReferenceColumn(..)
                | Expr::ScalarSubquery(_)
                | Expr::Exists(_)
                | Expr::InSubquery(_)
                | Expr::Placeholder(_)
                | Expr::AggregateFunction(_)
                | Expr::WindowFunction(_) => true,
                Expr::ScalarFunction(f) => f.func.signature().volatility == Volatility::Volatile,
                _ => false,
            };
            if refused {
                ok = false;
                return Ok(Transformed::new(e, false, TreeNodeRecursion::Stop));
            }
            Ok(Transformed::no(e))
        })
        .ok()?
        .data;
    ok.then_some(out)
}

/// The rollup expression for one raw expression the rollup keeps.
fn leaf(e: &Expr) -> Option<Expr> {
    match e {
        Expr::Column(c) if SAME_NAME_DIMENSIONS.contains(&c.name.as_str()) => Some(rcol(&c.name)),
        Expr::ScalarFunction(ScalarFunction { func, args }) => match (func.name(), args.as_slice()) {
            ("get_field", [Expr::Column(c), Expr::Literal(ScalarValue::Utf8(Some(f)), _)])
                if c.name == lake::schema::USER_IDENTITY_COL =>
            {
                match f.as_str() {
                    "arn" => Some(rcol(r::PRINCIPAL)),
                    "type" => Some(rcol(r::IDENTITY_TYPE)),
                    _ => None,
                }
            }
            ("date_trunc", [unit @ Expr::Literal(ScalarValue::Utf8(Some(u)), _), Expr::Column(c)])
                if c.name == lake::schema::EVENT_TIME
                    && ["hour", "day", "week", "month", "quarter", "year"]
                        .contains(&u.to_ascii_lowercase().as_str()) =>
            {
                Some(Expr::ScalarFunction(ScalarFunction::new_udf(func.clone(), vec![unit.clone(), rcol(r::HOUR)])))
            }
            ("ip_class", [Expr::Column(c)]) if c.name == lake::schema::SOURCE_IP_ADDRESS => Some(rcol(r::IP_CLASS)),
            _ => None,
        },
        // `eventtime >= t` and `eventtime < t` for t on the hour select whole hours.
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (op, t) = match (&**left, &**right) {
                (Expr::Column(c), Expr::Literal(v, _)) if c.name == lake::schema::EVENT_TIME => (*op, v),
                (Expr::Literal(v, _), Expr::Column(c)) if c.name == lake::schema::EVENT_TIME => (op.swap()?, v),
                _ => return None,
            };
            let micros = on_the_hour(t)?;
            let t = lit(ScalarValue::TimestampMicrosecond(Some(micros), Some("UTC".into())));
            match op {
                Operator::GtEq => Some(rcol(r::HOUR).gt_eq(t)),
                Operator::Lt => Some(rcol(r::HOUR).lt(t)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// A timestamp literal's microseconds, if it falls on the hour.
fn on_the_hour(v: &ScalarValue) -> Option<i64> {
    let micros = match v {
        ScalarValue::TimestampSecond(Some(s), _) => s.checked_mul(1_000_000)?,
        ScalarValue::TimestampMillisecond(Some(ms), _) => ms.checked_mul(1_000)?,
        ScalarValue::TimestampMicrosecond(Some(us), _) => *us,
        ScalarValue::TimestampNanosecond(Some(ns), _) if ns % 1_000 == 0 => ns / 1_000,
        _ => return None,
    };
    (micros.rem_euclid(3_600_000_000) == 0).then_some(micros)
}

/// `rollup_distinct(sketch)`: the distinct count of the values of the rollup rows'
/// sketches together (the rollup's `source_ips`).
pub fn rollup_distinct() -> AggregateUDF {
    AggregateUDF::new_from_impl(RollupDistinct {
        signature: Signature::exact(vec![DataType::Binary], Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct RollupDistinct {
    signature: Signature,
}

impl AggregateUDFImpl for RollupDistinct {
    fn name(&self) -> &str {
        "rollup_distinct"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::UInt64)
    }
    fn accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(SketchUnion(Sketch::default())))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(format!("{}[sketch]", args.name), DataType::Binary, true))])
    }
}

#[derive(Debug)]
struct SketchUnion(Sketch);

impl SketchUnion {
    fn merge_column(&mut self, col: &ArrayRef) -> Result<()> {
        let col: &BinaryArray = col.as_binary_opt().ok_or_else(|| {
            datafusion::error::DataFusionError::Execution(format!(
                "rollup_distinct takes a sketch, not {}",
                col.data_type()
            ))
        })?;
        for v in col.iter().flatten() {
            self.0.merge_bytes(v).map_err(|e| datafusion::error::DataFusionError::Execution(e.to_string()))?;
        }
        Ok(())
    }
}

impl Accumulator for SketchUnion {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.merge_column(&values[0])
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.merge_column(&states[0])
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Binary(Some(self.0.to_bytes()))])
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::UInt64(Some(self.0.estimate())))
    }
    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + match &self.0 {
                Sketch::Sparse(v) => v.capacity() * 8,
                Sketch::Dense(r) => r.len(),
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_timestamps_on_the_hour_bound_whole_hours() {
        assert_eq!(on_the_hour(&ScalarValue::TimestampMicrosecond(Some(7_200_000_000), None)), Some(7_200_000_000));
        assert_eq!(on_the_hour(&ScalarValue::TimestampSecond(Some(3_600), None)), Some(3_600_000_000));
        assert_eq!(on_the_hour(&ScalarValue::TimestampMicrosecond(Some(7_200_000_001), None)), None);
        assert_eq!(on_the_hour(&ScalarValue::Utf8(Some("x".into()))), None);
    }

    #[test]
    fn the_setting_takes_on_and_off() {
        let mut o = TrailhouseOptions::default();
        assert_eq!(o.rollups, Mode::Auto);
        o.set("rollups", "OFF").unwrap();
        assert_eq!(o.rollups, Mode::Off);
        o.set("rollups", "on").unwrap();
        assert_eq!(o.rollups, Mode::On);
        assert!(o.set("rollups", "maybe").unwrap_err().to_string().contains("auto, on or off"));
        assert!(o.set("rollup", "on").unwrap_err().to_string().contains("trailhouse.rollups"));
    }
}
