//! Trino's functions as CloudTrail Lake's queries write them. `element_at` on CloudTrail Lake's maps
//! (`requestParameters`, `responseElements`, `additionalEventData`), which this lake keeps
//! as JSON text, the value at a key as text (a string unquoted, anything else as JSON;
//! NULL when the key is missing: `->>`); on an array, the element at a 1-based index (a
//! negative one counts from the end). DataFusion's own `element_at` is an alias of
//! `map_extract`, which takes maps only; this one replaces it. Then the others Lake's
//! queries use that DataFusion lacks or spells differently ([`lake_functions`], `max_by`,
//! `min_by`, `arbitrary`).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringBuilder};
use arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    Cast, ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature, Volatility, lit,
    when,
};

#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct ElementAt {
    signature: Signature,
}

pub(super) fn element_at() -> ScalarUDF {
    ScalarUDF::new_from_impl(ElementAt { signature: Signature::any(2, Volatility::Immutable) })
}

/// DataFusion's `map_extract` without its alias `element_at`. Registering [`element_at`]
/// replaces the alias's entry, but a session rebuilt from its functions (as Ballista's
/// scheduler rebuilds every job's) registers each again with its aliases, in no set order:
/// `map_extract`'s alias could then take `element_at` back.
pub(super) fn map_extract_alone() -> ScalarUDF {
    ScalarUDF::new_from_impl(WithoutAliases(datafusion::functions_nested::map_extract::map_extract_udf()))
}

/// DataFusion's `to_char` without its alias `date_format`, which [`date_format`] takes
/// (for the reason [`map_extract_alone`] gives).
pub(super) fn to_char_alone() -> ScalarUDF {
    ScalarUDF::new_from_impl(WithoutAliases(datafusion::functions::datetime::to_char()))
}

/// Trino's `date_format(timestamp, format)`, whose format is MySQL's (`%i` minutes, `%s`
/// seconds, `%M` the month's name), not chrono's as in DataFusion's `date_format` (an alias
/// of `to_char`, where `%s` is epoch seconds): the format is translated, then `to_char`
/// formats. A specifier Trino does not support either (`%D`, `%U`, `%V`, `%X`) fails naming it.
pub(super) fn date_format() -> ScalarUDF {
    ScalarUDF::new_from_impl(DateFormat { signature: Signature::any(2, Volatility::Immutable) })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct DateFormat {
    signature: Signature,
}

/// A MySQL/Trino date format as chrono's.
pub(super) fn mysql_to_chrono(format: &str) -> Result<String> {
    let mut out = String::with_capacity(format.len() + 8);
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else {
            out.push_str("%%");
            break;
        };
        out.push_str(match spec {
            'a' => "%a",
            'b' => "%b",
            'c' => "%-m",
            'd' => "%d",
            'e' => "%-d",
            'f' => "%6f",
            'H' => "%H",
            'h' | 'I' => "%I",
            'i' => "%M",
            'j' => "%j",
            'k' => "%-H",
            'l' => "%-I",
            'M' => "%B",
            'm' => "%m",
            'p' => "%p",
            'r' => "%I:%M:%S %p",
            'S' | 's' => "%S",
            'T' => "%H:%M:%S",
            'u' => "%W",
            'v' => "%V",
            'W' => "%A",
            'w' => "%w",
            'x' => "%G",
            'Y' => "%Y",
            'y' => "%y",
            '%' => "%%",
            'D' | 'U' | 'V' | 'X' => {
                return plan_err!("date_format: %{spec} is not supported (Trino does not support it either)");
            }
            other => {
                out.push(other);
                continue;
            }
        });
    }
    Ok(out)
}

impl ScalarUDFImpl for DateFormat {
    fn name(&self) -> &str {
        "date_format"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, mut args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        args.args[1] = match &args.args[1] {
            ColumnarValue::Scalar(v) if v.is_null() => ColumnarValue::Scalar(ScalarValue::Utf8(None)),
            ColumnarValue::Scalar(v) => {
                ColumnarValue::Scalar(ScalarValue::Utf8(Some(mysql_to_chrono(&v.to_string())?)))
            }
            ColumnarValue::Array(a) => {
                let mut b = StringBuilder::new();
                for f in super::strings(a)? {
                    b.append_option(f.map(mysql_to_chrono).transpose()?);
                }
                ColumnarValue::Array(Arc::new(b.finish()))
            }
        };
        args.arg_fields[1] = Arc::new(arrow::datatypes::Field::new("format", DataType::Utf8, true));
        datafusion::functions::datetime::to_char().invoke_with_args(args)
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct WithoutAliases(Arc<ScalarUDF>);

impl ScalarUDFImpl for WithoutAliases {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn signature(&self) -> &Signature {
        self.0.signature()
    }
    fn aliases(&self) -> &[String] {
        &[]
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        self.0.inner().return_type(args)
    }
    fn return_field_from_args(
        &self,
        args: datafusion::logical_expr::ReturnFieldArgs,
    ) -> Result<arrow::datatypes::FieldRef> {
        self.0.return_field_from_args(args)
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        self.0.coerce_types(args)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        self.0.invoke_with_args(args)
    }
    fn documentation(&self) -> Option<&datafusion::logical_expr::Documentation> {
        self.0.documentation()
    }
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// The function `element_at` hands its arguments to for a container of type `t`.
fn delegate(t: &DataType) -> Option<Arc<ScalarUDF>> {
    match t {
        t if is_text(t) => Some(datafusion_functions_json::udfs::json_as_text_udf()),
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => {
            Some(datafusion::functions_nested::extract::array_element_udf())
        }
        _ => None,
    }
}

impl ScalarUDFImpl for ElementAt {
    fn name(&self) -> &str {
        "element_at"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match &args[0] {
            t if is_text(t) => Ok(DataType::Utf8),
            DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => Ok(f.data_type().clone()),
            t => plan_err!(
                "element_at(container, key) takes JSON text (requestparameters, responseelements, ...) or an array, \
                 not {t}"
            ),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let t = args.arg_fields[0].data_type().clone();
        match delegate(&t) {
            Some(f) => f.invoke_with_args(args),
            None => plan_err!("element_at on {t}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The rest of the Trino functions CloudTrail Lake's queries use that DataFusion lacks or
// spells differently. Each is rewritten into DataFusion's own expression where one exists
// (so the optimizer sees through it), and computed here otherwise.

/// A scalar function that is another expression: `rewrite` builds it from the arguments.
struct Rewrite {
    name: &'static str,
    signature: Signature,
    returns: fn(&[DataType]) -> Result<DataType>,
    rewrite: fn(Vec<Expr>) -> Result<Expr>,
    /// The argument types to coerce to, for a `user_defined` signature.
    coerce: Option<Coerce>,
}

/// Argument types in, the types to coerce them to out.
type Coerce = fn(&[DataType]) -> Result<Vec<DataType>>;

impl std::fmt::Debug for Rewrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rewrite").field("name", &self.name).finish_non_exhaustive()
    }
}

impl PartialEq for Rewrite {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Rewrite {}

impl std::hash::Hash for Rewrite {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for Rewrite {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        (self.returns)(args)
    }
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        match self.coerce {
            Some(coerce) => coerce(args),
            None => plan_err!("{} takes no coercion", self.name),
        }
    }
    fn simplify(&self, args: Vec<Expr>, _: &SimplifyContext) -> Result<ExprSimplifyResult> {
        (self.rewrite)(args).map(ExprSimplifyResult::Simplified)
    }
    fn invoke_with_args(&self, _: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // The simplifier always runs before execution and replaces the call.
        exec_err!("{} was not rewritten before execution", self.name)
    }
}

fn rewrite(
    name: &'static str,
    signature: Signature,
    returns: fn(&[DataType]) -> Result<DataType>,
    rewrite: fn(Vec<Expr>) -> Result<Expr>,
) -> ScalarUDF {
    ScalarUDF::new_from_impl(Rewrite { name, signature, returns, rewrite, coerce: None })
}

fn bigint(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Int64)
}

/// `date_part(part, x)` as a bigint: Trino's `hour(x)`, `day_of_week(x)`, ...
fn part_of(part: &'static str, mut args: Vec<Expr>) -> Result<Expr> {
    let x = args.remove(0);
    let value = datafusion::functions::datetime::date_part().call(vec![lit(part), x]);
    Ok(Expr::Cast(Cast::new(Box::new(value), DataType::Int64)))
}

/// A one-argument time field function: Trino's name, DataFusion's `date_part` part.
macro_rules! time_fields {
    ($($name:literal => $part:literal),* $(,)?) => {
        vec![$(rewrite($name, Signature::any(1, Volatility::Immutable), bigint, |a| part_of($part, a))),*]
    };
}

/// Trino's date and time field functions, `date(x)`, `if`, 2-argument `replace` and
/// `json_array_get`, as CloudTrail Lake's queries use them. (Those that are rewritten
/// become DataFusion expressions of other names, so a plan sent to a cluster never names
/// them.)
pub(super) fn lake_functions() -> Vec<ScalarUDF> {
    let mut all = time_fields![
        "year" => "year",
        "quarter" => "quarter",
        "month" => "month",
        "week" => "week",
        "week_of_year" => "week",
        "year_of_week" => "isoyear",
        "yow" => "isoyear",
        "day" => "day",
        "day_of_month" => "day",
        "day_of_week" => "isodow",
        "dow" => "isodow",
        "day_of_year" => "doy",
        "doy" => "doy",
        "hour" => "hour",
        "minute" => "minute",
        "second" => "second",
    ];
    all.push(rewrite(
        "date",
        Signature::any(1, Volatility::Immutable),
        |_| Ok(DataType::Date32),
        |mut a| Ok(Expr::Cast(Cast::new(Box::new(a.remove(0)), DataType::Date32))),
    ));
    // Trino's `if`: both branches widened to one type, as CASE's are.
    all.push(ScalarUDF::new_from_impl(Rewrite {
        name: "if",
        signature: Signature::user_defined(Volatility::Immutable),
        returns: |t| Ok(t[1].clone()),
        rewrite: |mut a| {
            let otherwise = (a.len() == 3).then(|| a.remove(2));
            let (cond, then) = (a.remove(0), a.remove(0));
            match otherwise {
                Some(e) => when(cond, then).otherwise(e),
                None => when(cond, then).end(),
            }
        },
        coerce: Some(|t| {
            if !(2..=3).contains(&t.len()) {
                return plan_err!("if(condition, then[, else]) takes 2 or 3 arguments, not {}", t.len());
            }
            let branches = &t[1..];
            let Some(common) = datafusion::logical_expr::type_coercion::binary::type_union_resolution(branches) else {
                return plan_err!("if: its branches' types {branches:?} have no common type");
            };
            let mut out = vec![DataType::Boolean];
            out.extend(std::iter::repeat_n(common, branches.len()));
            Ok(out)
        }),
    }));
    all.push(ScalarUDF::new_from_impl(Replace {
        signature: Signature::one_of(vec![TypeSignature::String(2), TypeSignature::String(3)], Volatility::Immutable),
    }));
    all.push(json_array_get());
    all
}

/// `replace(text, search[, with])`: DataFusion's, also with Trino's two arguments (`with`
/// empty). It computes rather than rewrites itself into DataFusion's, because both are
/// named `replace`: a plan sent to a cluster names the function, and there the name finds
/// this one again.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Replace {
    signature: Signature,
}

impl ScalarUDFImpl for Replace {
    fn name(&self) -> &str {
        "replace"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        let mut t = args.to_vec();
        t.resize(3, DataType::Utf8);
        datafusion::functions::string::replace().return_type(&t)
    }
    fn invoke_with_args(&self, mut args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if args.args.len() == 2 {
            args.args.push(ColumnarValue::Scalar(ScalarValue::Utf8(Some(String::new()))));
            args.arg_fields.push(Arc::new(arrow::datatypes::Field::new("with", DataType::Utf8, false)));
        }
        datafusion::functions::string::replace().invoke_with_args(args)
    }
}

/// `json_array_get(json_array, index)`: the element at a 0-based index (a negative one
/// counts from the end) as JSON text; NULL when the text is not an array or the index is
/// outside it.
fn json_array_get() -> ScalarUDF {
    super::Udf::udf("json_array_get", Signature::any(2, Volatility::Immutable), DataType::Utf8, |args| {
        let index = arrow::compute::cast(&args[1], &DataType::Int64)?;
        let index = index.as_any().downcast_ref::<arrow::array::Int64Array>().expect("cast to Int64");
        let mut out = StringBuilder::new();
        for (i, text) in super::strings(&args[0])?.enumerate() {
            let element = text.zip(index.is_valid(i).then(|| index.value(i))).and_then(|(text, at)| {
                let serde_json::Value::Array(items) = serde_json::from_str(text).ok()? else { return None };
                let at = if at < 0 { items.len().checked_sub(at.unsigned_abs() as usize)? } else { at as usize };
                items.get(at).map(|v| v.to_string())
            });
            out.append_option(element);
        }
        Ok(Arc::new(out.finish()) as ArrayRef)
    })
}

/// Trino's `max_by(x, y)` / `min_by(x, y)`: the `x` of the row with the largest (smallest)
/// non-NULL `y`.
pub(super) fn max_by() -> datafusion::logical_expr::AggregateUDF {
    datafusion::logical_expr::AggregateUDF::new_from_impl(By { name: "max_by", largest: true, signature: by_sig() })
}

pub(super) fn min_by() -> datafusion::logical_expr::AggregateUDF {
    datafusion::logical_expr::AggregateUDF::new_from_impl(By { name: "min_by", largest: false, signature: by_sig() })
}

/// Trino's `arbitrary(x)`: DataFusion's `any_value` under Trino's name.
pub(super) fn arbitrary() -> datafusion::logical_expr::AggregateUDF {
    datafusion::functions_aggregate::any_value::any_value_udaf().as_ref().clone().with_aliases(["arbitrary"])
}

fn by_sig() -> Signature {
    Signature::any(2, Volatility::Immutable)
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct By {
    name: &'static str,
    largest: bool,
    signature: Signature,
}

impl datafusion::logical_expr::AggregateUDFImpl for By {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args[0].clone())
    }
    fn accumulator(
        &self,
        args: datafusion::logical_expr::function::AccumulatorArgs,
    ) -> Result<Box<dyn datafusion::logical_expr::Accumulator>> {
        let x = ScalarValue::try_from(args.exprs[0].data_type(args.schema)?)?;
        let y = ScalarValue::try_from(args.exprs[1].data_type(args.schema)?)?;
        Ok(Box::new(Best { largest: self.largest, x, y }))
    }
    fn state_fields(
        &self,
        args: datafusion::logical_expr::function::StateFieldsArgs,
    ) -> Result<Vec<arrow::datatypes::FieldRef>> {
        use arrow::datatypes::Field;
        Ok(vec![
            Arc::new(Field::new(format!("{}[x]", args.name), args.input_fields[0].data_type().clone(), true)),
            Arc::new(Field::new(format!("{}[y]", args.name), args.input_fields[1].data_type().clone(), true)),
        ])
    }
}

/// The best row so far: its `x`, and its `y` (NULL before any row with a non-NULL `y`).
#[derive(Debug)]
struct Best {
    largest: bool,
    x: ScalarValue,
    y: ScalarValue,
}

impl Best {
    fn offer(&mut self, xs: &ArrayRef, ys: &ArrayRef) -> Result<()> {
        for i in 0..ys.len() {
            if ys.is_null(i) {
                continue;
            }
            let y = ScalarValue::try_from_array(ys, i)?;
            let better = self.y.is_null()
                || match y.partial_cmp(&self.y) {
                    Some(std::cmp::Ordering::Greater) => self.largest,
                    Some(std::cmp::Ordering::Less) => !self.largest,
                    _ => false,
                };
            if better {
                self.x = ScalarValue::try_from_array(xs, i)?;
                self.y = y;
            }
        }
        Ok(())
    }
}

impl datafusion::logical_expr::Accumulator for Best {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.offer(&values[0], &values[1])
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.offer(&states[0], &states[1])
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.x.clone(), self.y.clone()])
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(self.x.clone())
    }
    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.x.size() + self.y.size()
    }
}

/// `event_json(<every event column>, unmapped)`: each row rebuilt as the CloudTrail event
/// it came from, as JSON text (CloudTrail Lake's `eventjson`; the `cloudtrail_lake` view
/// passes the columns in the lake schema's order).
pub(super) fn event_json() -> ScalarUDF {
    super::Udf::udf("event_json", Signature::variadic_any(Volatility::Immutable), DataType::Utf8, |args| {
        let names = lake::schema::EVENT.iter().map(|f| f.column).chain([lake::schema::UNMAPPED]);
        let names: Vec<&str> = names.collect();
        if args.len() != names.len() {
            return plan_err!("event_json takes the {} event columns and unmapped, in the lake's order", names.len());
        }
        let fields: Vec<arrow::datatypes::Field> = names
            .iter()
            .zip(args)
            .map(|(n, a)| arrow::datatypes::Field::new(*n, a.data_type().clone(), true))
            .collect();
        let batch =
            arrow::record_batch::RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), args.to_vec())?;
        let events = ingest::rebuild::rebuild_events(&batch)
            .map_err(|e| datafusion::error::DataFusionError::Execution(format!("event_json: {e}")))?;
        let mut out = StringBuilder::new();
        for e in events {
            out.append_value(e.to_string());
        }
        Ok(Arc::new(out.finish()) as ArrayRef)
    })
}
