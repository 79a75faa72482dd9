//! Upgrades: a lake written by an older build keeps working after the schema gains a
//! column.
//!
//! On open, the `cloudtrail` table's schema is compared with this build's
//! ([`crate::schema::cloudtrail_schema`]). Columns (or struct fields, at any depth) that
//! this build adds are added to the table's metadata in one Delta commit (Delta schema
//! evolution: the new columns are nullable, and files written before read them as null).
//! A column whose type changed, or one this build does not know (a lake written by a
//! newer build), is an error that names it: nothing is changed then.

use arrow::datatypes::{DataType, Field, Schema};
use deltalake::kernel::StructType;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;

use crate::{CLOUDTRAIL_TABLE, Lake, LakeError, Result, schema};

/// How a table's schema differs from the one this build writes.
#[derive(Debug, PartialEq, Eq)]
pub struct SchemaDiff {
    /// Dotted paths this build has and the table lacks (`insightdetails`,
    /// `useridentity.onbehalfof.userid`).
    pub added: Vec<String>,
    /// What cannot be reconciled: `path: table has X, this build writes Y`, or a path the
    /// table has that this build does not know.
    pub conflicts: Vec<String>,
}

/// Compares the schema a table has (`table`) with the one this build writes (`ours`).
pub fn diff(table: &Schema, ours: &Schema) -> SchemaDiff {
    let mut d = SchemaDiff { added: vec![], conflicts: vec![] };
    diff_fields(table.fields().iter().map(|f| f.as_ref()), ours.fields().iter().map(|f| f.as_ref()), "", &mut d);
    d
}

fn diff_fields<'a>(
    table: impl Iterator<Item = &'a Field> + Clone,
    ours: impl Iterator<Item = &'a Field> + Clone,
    prefix: &str,
    d: &mut SchemaDiff,
) {
    for o in ours.clone() {
        let path = format!("{prefix}{}", o.name());
        match table.clone().find(|t| t.name() == o.name()) {
            None => d.added.push(path),
            Some(t) => diff_types(t.data_type(), o.data_type(), &path, d),
        }
    }
    for t in table {
        if !ours.clone().any(|o| o.name() == t.name()) {
            d.conflicts.push(format!(
                "{prefix}{}: in the lake but unknown to this build (written by a newer trailhouse?)",
                t.name()
            ));
        }
    }
}

fn diff_types(table: &DataType, ours: &DataType, path: &str, d: &mut SchemaDiff) {
    match (table, ours) {
        (DataType::Struct(t), DataType::Struct(o)) => {
            diff_fields(t.iter().map(|f| f.as_ref()), o.iter().map(|f| f.as_ref()), &format!("{path}."), d)
        }
        (DataType::List(t), DataType::List(o)) | (DataType::LargeList(t), DataType::List(o)) => {
            diff_types(t.data_type(), o.data_type(), &format!("{path}[]"), d)
        }
        // Delta has one string and one timestamp type; Arrow spells each several ways.
        (DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View, DataType::Utf8) => {}
        (DataType::Timestamp(tu, tz), DataType::Timestamp(ou, oz)) if tu == ou && tz.is_some() == oz.is_some() => {}
        (t, o) if t == o => {}
        (t, o) => d.conflicts.push(format!("{path}: the lake has {t}, this build writes {o}")),
    }
}

impl Lake {
    /// Brings the `cloudtrail` table's schema up to this build's (see the module docs).
    /// Returns the paths it added; empty when the lake was already current.
    pub async fn evolve_cloudtrail(&self) -> Result<Vec<String>> {
        self.evolve_table(CLOUDTRAIL_TABLE, &schema::cloudtrail_schema()).await
    }

    /// Brings a table's schema up to `ours`: new (nullable) columns are added in one
    /// commit; a changed or unknown column is an error naming it.
    pub async fn evolve_table(&self, name: &str, ours: &Schema) -> Result<Vec<String>> {
        let err = LakeError::delta(&self.location);
        let table = self.table(name).await?;
        let current = table.snapshot().map_err(&err)?.snapshot().arrow_schema();
        let d = diff(&current, ours);
        if !d.conflicts.is_empty() {
            return Err(LakeError::state(
                &self.location,
                format!("the {name} table's schema does not match this build: {}", d.conflicts.join("; ")),
            ));
        }
        if d.added.is_empty() {
            return Ok(vec![]);
        }
        // Whole top-level fields (ours) for every column with something new; delta-rs merges
        // them into the table's schema, nested fields included.
        let tops: Vec<Field> = ours
            .fields()
            .iter()
            .filter(|f| d.added.iter().any(|p| top_of(p) == f.name()))
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect();
        let tops = Schema::new(tops);
        let kernel: StructType = (&tops).try_into_kernel().map_err(|e| err(e.into()))?;
        tracing::info!(lake = %self.location, table = name, columns = ?d.added, "Adding this build's new columns to the lake.");
        if let Err(e) = table.add_columns().with_fields(kernel.fields().cloned().collect::<Vec<_>>()).await {
            // Another process opening the lake at the same moment may have added them
            // first (its commit conflicts with ours): done if the table now has them all.
            let now = self.table(name).await?;
            let now = now.snapshot().map_err(&err)?.snapshot().arrow_schema();
            let left = diff(&now, ours);
            if !(left.added.is_empty() && left.conflicts.is_empty()) {
                return Err(err(e));
            }
        }
        Ok(d.added)
    }
}

fn top_of(path: &str) -> &str {
    path.split(['.', '[']).next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::Fields;

    use super::*;

    fn without(schema: &Schema, column: &str) -> Schema {
        Schema::new(schema.fields().iter().filter(|f| f.name() != column).cloned().collect::<Vec<_>>())
    }

    #[test]
    fn a_missing_column_is_an_addition() {
        let ours = schema::cloudtrail_schema();
        let d = diff(&without(&ours, "insightdetails"), &ours);
        assert_eq!(d, SchemaDiff { added: vec!["insightdetails".into()], conflicts: vec![] });
        assert_eq!(diff(&ours, &ours), SchemaDiff { added: vec![], conflicts: vec![] });
    }

    #[test]
    fn a_missing_nested_field_is_an_addition_at_its_path() {
        let ours = schema::cloudtrail_schema();
        let fields: Vec<Field> = ours
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Struct(children) if f.name() == "tlsdetails" => {
                    let kept: Fields = children.iter().filter(|c| c.name() != "ciphersuite").cloned().collect();
                    Field::new(f.name(), DataType::Struct(kept), true)
                }
                _ => f.as_ref().clone(),
            })
            .collect();
        let d = diff(&Schema::new(fields), &ours);
        assert_eq!(d.added, vec!["tlsdetails.ciphersuite".to_string()]);
        assert!(d.conflicts.is_empty());
    }

    #[test]
    fn a_changed_type_or_unknown_column_is_a_conflict_naming_it() {
        let ours = schema::cloudtrail_schema();
        let mut fields: Vec<Arc<Field>> = ours.fields().iter().cloned().collect();
        for f in fields.iter_mut() {
            if f.name() == "readonly" {
                *f = Arc::new(Field::new("readonly", DataType::Utf8, true));
            }
        }
        fields.push(Arc::new(Field::new("fromthefuture", DataType::Utf8, true)));
        let d = diff(&Schema::new(fields), &ours);
        assert!(d.added.is_empty());
        assert_eq!(d.conflicts.len(), 2, "{:?}", d.conflicts);
        assert!(d.conflicts[0].starts_with("readonly: the lake has Utf8"), "{:?}", d.conflicts);
        assert!(d.conflicts[1].starts_with("fromthefuture: in the lake but unknown"), "{:?}", d.conflicts);
    }
}
