//! Trino's `element_at`, as CloudTrail Lake's queries write it: on CloudTrail Lake's maps
//! (`requestParameters`, `responseElements`, `additionalEventData`), which this lake keeps
//! as JSON text, the value at a key as text (a string unquoted, anything else as JSON;
//! NULL when the key is missing: `->>`); on an array, the element at a 1-based index (a
//! negative one counts from the end). DataFusion's own `element_at` is an alias of
//! `map_extract`, which takes maps only; this one replaces it.

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct ElementAt {
    signature: Signature,
}

pub(super) fn element_at() -> ScalarUDF {
    ScalarUDF::new_from_impl(ElementAt { signature: Signature::any(2, Volatility::Immutable) })
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
