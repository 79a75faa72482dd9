//! Row groups a struct-leaf equality cannot match, by the files' Parquet bloom filters.
//!
//! DataFusion prunes row groups with bloom filters for top-level columns only (55.2: the
//! pruning predicate does not reach into structs), so a needle search such as
//! `WHERE useridentity.accesskeyid = 'AKIA…'` reads that leaf in every row group. The
//! lake's compacted files carry bloom filters on those leaves
//! ([`crate::schema::NEEDLE_COLUMNS`]); [`leaf_equalities`] finds the filters of that shape
//! and [`keep_row_groups`] reads one file's filters and says which row groups can hold a
//! value. A row group is skipped only when every filter on its leaf says "definitely not";
//! anything unreadable keeps it (pruning is an optimisation, the scan reports real errors).

use std::sync::Arc;

use deltalake::datafusion::common::ScalarValue;
use deltalake::datafusion::datasource::physical_plan::parquet::metadata::DFParquetMetadata;
use deltalake::datafusion::execution::cache::cache_manager::FileMetadataCache;
use deltalake::datafusion::logical_expr::{BinaryExpr, Expr, Operator};
use object_store::{ObjectMeta, ObjectStore};
use parquet::basic::Type as PhysicalType;
use parquet::bloom_filter::Sbbf;

/// A filter `leaf = 'v'` or `leaf IN ('v', ...)` on a string leaf inside a struct column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafValues {
    /// The column and the field names down to the leaf (`["useridentity", "accesskeyid"]`).
    pub path: Vec<String>,
    /// The values a matching row holds.
    pub values: Vec<String>,
}

/// The struct-leaf equalities among `filters` (the conjuncts a scan was given).
pub fn leaf_equalities(filters: &[Expr]) -> Vec<LeafValues> {
    let mut out = Vec::new();
    for f in filters {
        collect(f, &mut out);
    }
    out
}

fn collect(e: &Expr, out: &mut Vec<LeafValues>) {
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::And, right }) => {
            collect(left, out);
            collect(right, out);
        }
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::Eq, right }) => {
            let found = match (leaf_path(left), string(right)) {
                (Some(path), Some(v)) => Some((path, v)),
                _ => leaf_path(right).zip(string(left)),
            };
            if let Some((path, v)) = found {
                out.push(LeafValues { path, values: vec![v] });
            }
        }
        Expr::InList(list) if !list.negated => {
            let Some(path) = leaf_path(&list.expr) else { return };
            let values: Option<Vec<String>> = list.list.iter().map(string).collect();
            if let Some(values) = values.filter(|v| !v.is_empty()) {
                out.push(LeafValues { path, values });
            }
        }
        _ => {}
    }
}

/// `get_field(column, 'a'[, 'b' ...])`, nested or not, as the path from the column down.
fn leaf_path(e: &Expr) -> Option<Vec<String>> {
    let Expr::ScalarFunction(f) = e else { return None };
    if f.func.name() != "get_field" || f.args.len() < 2 {
        return None;
    }
    let mut path = match &f.args[0] {
        Expr::Column(c) => vec![c.name.clone()],
        inner => leaf_path(inner)?,
    };
    for name in &f.args[1..] {
        path.push(string(name)?);
    }
    Some(path)
}

fn string(e: &Expr) -> Option<String> {
    match e {
        Expr::Literal(
            ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) | ScalarValue::LargeUtf8(Some(s)),
            _,
        ) => Some(s.clone()),
        _ => None,
    }
}

/// Which row groups of one file can hold the values of `leaves`: `None` when the file's
/// footer or filters could not be read or no leaf has a bloom filter (read everything),
/// else one flag per row group. The footer goes through DataFusion's metadata cache, so
/// the scan that follows does not read it again.
pub async fn keep_row_groups(
    store: &dyn ObjectStore,
    meta: &ObjectMeta,
    cache: Option<Arc<FileMetadataCache>>,
    leaves: &[LeafValues],
) -> Option<Vec<bool>> {
    let metadata = match DFParquetMetadata::new(store, meta).with_file_metadata_cache(cache).fetch_metadata().await {
        Ok(m) => m,
        Err(e) => {
            tracing::debug!(file = %meta.location, error = %e, "no bloom filter pruning: footer");
            return None;
        }
    };
    let columns = metadata.file_metadata().schema_descr().columns();
    // (row group, leaf) -> byte range of that chunk's bloom filter.
    let mut wanted = Vec::new();
    for (leaf_idx, leaf) in leaves.iter().enumerate() {
        let Some(col) = columns.iter().position(|c| {
            c.physical_type() == PhysicalType::BYTE_ARRAY && c.path().parts().iter().eq(leaf.path.iter())
        }) else {
            continue;
        };
        for (rg, group) in metadata.row_groups().iter().enumerate() {
            let chunk = group.column(col);
            if let (Some(offset), Some(len)) = (chunk.bloom_filter_offset(), chunk.bloom_filter_length()) {
                let (Ok(start), Ok(len)) = (u64::try_from(offset), u64::try_from(len)) else { continue };
                wanted.push((rg, leaf_idx, start..start + len));
            }
        }
    }
    if wanted.is_empty() {
        return None;
    }
    let ranges: Vec<_> = wanted.iter().map(|w| w.2.clone()).collect();
    let blobs = match store.get_ranges(&meta.location, &ranges).await {
        Ok(b) => b,
        Err(e) => {
            tracing::debug!(file = %meta.location, error = %e, "no bloom filter pruning: read");
            return None;
        }
    };
    let mut keep = vec![true; metadata.num_row_groups()];
    for ((rg, leaf_idx, _), bytes) in wanted.iter().zip(blobs) {
        let Ok(sbbf) = Sbbf::from_bytes(&bytes) else { continue };
        if !leaves[*leaf_idx].values.iter().any(|v| sbbf.check(v.as_str())) {
            keep[*rg] = false;
        }
    }
    Some(keep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::datafusion::functions::core::expr_fn::get_field;
    use deltalake::datafusion::logical_expr::{col, in_list, lit};

    fn leaf() -> Expr {
        get_field(col("useridentity"), "accesskeyid")
    }

    #[test]
    fn an_equality_on_a_struct_leaf_is_found_either_way_round() {
        let found = leaf_equalities(&[leaf().eq(lit("AKIA1")), lit("AKIA2").eq(leaf())]);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].path, ["useridentity", "accesskeyid"]);
        assert_eq!(found[0].values, ["AKIA1"]);
        assert_eq!(found[1].values, ["AKIA2"]);
    }

    #[test]
    fn an_in_list_and_a_conjunction_are_found() {
        let found =
            leaf_equalities(&[in_list(leaf(), vec![lit("a"), lit("b")], false)
                .and(get_field(col("sessioncontext"), "x").eq(lit("y")))]);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].values, ["a", "b"]);
        assert_eq!(found[1].path, ["sessioncontext", "x"]);
    }

    #[test]
    fn filters_a_bloom_filter_cannot_decide_are_ignored() {
        let found = leaf_equalities(&[
            in_list(leaf(), vec![lit("a")], true),
            leaf().not_eq(lit("a")),
            leaf().eq(lit("a")).or(leaf().eq(lit("b"))),
            col("eventname").eq(lit("x")),
            leaf().eq(col("eventname")),
        ]);
        assert!(found.is_empty(), "{found:?}");
    }
}
