//! `trailhouse export`: a slice of the lake as partitioned zstd Parquet in a folder or an
//! S3 prefix, for BI tools and other engines. A friendly wrapper over
//! `COPY (SELECT ...) TO ... PARTITIONED BY (...)`, made safe to run again.
//!
//! # Running again into the same target
//!
//! A scheduled export writes into the target an earlier run filled. What happens to the
//! files already there is the [`ExportMode`]:
//!
//! - [`ExportMode::Overwrite`] replaces the slice the new export rewrites: with Hive
//!   partitions (`eventdate=2026-11-02/`), the Parquet files of each partition folder the
//!   new export writes, other partitions left alone (a daily export of yesterday keeps the
//!   older days); without partitions, or when the partition columns differ from the earlier
//!   export's, every Parquet file of the target. Partitions the new export has no rows for
//!   are left as they are.
//! - [`ExportMode::Append`] adds the new files beside the old ones (rows in both are then
//!   there twice): asked for explicitly.
//! - [`ExportMode::Error`] refuses a target that holds anything.
//!
//! With no mode given, a target that holds an earlier export (its manifest, below) of the
//! same slice (`--where`, `--columns`, partition columns) is overwritten, one of another
//! slice refused (it would replace days with other rows), an empty one written, and one that holds Parquet files no trailhouse
//! export wrote (no manifest) refused: they are somebody's data, and only an explicit
//! `overwrite` or `append` touches them.
//!
//! # Write first, then delete
//!
//! An overwrite writes the new files beside the old ones, checks them (the rows in their
//! footers add up to the rows the query wrote), and only then deletes the files they
//! supersede, then writes the manifest. A crash or an error at any point leaves at worst
//! both copies of a slice, never neither, and the next run replaces both (they are in the
//! folders it rewrites). New files are told from old by listing the target before and after
//! the write: DataFusion names each file it writes afresh (`<random id>_<n>.parquet`).
//!
//! A staging prefix and a move was the other way, and it is worse on the stores exports go
//! to: S3 has no rename, so a move is a copy and a delete of every object (the data written
//! twice) and still not atomic across a slice; a staging folder inside the target is read
//! by `**/*.parquet` globs while the export runs, and one outside it needs a second location
//! and permissions on it; with `--cluster` the executors write the files, and the move
//! would run apart from them. Readers that list the target during the few seconds between
//! the write and the deletes see both copies of the slices being replaced; the manifest
//! (written last) says which files belong.
//!
//! Two exports into the same target at the same time are not supported: each would take
//! the other's files for its own. The row check catches most such overlaps (the new files
//! then hold more rows than the query wrote) and stops before deleting anything.
//!
//! # The manifest
//!
//! `_trailhouse_export.json` at the target's root says what the target holds: every
//! Parquet file with its rows and bytes and the run that wrote it; each such run's SQL,
//! window, partition columns, lake location and Delta version; the total rows. It is not a
//! `.parquet` file, so `read_parquet('target/**/*.parquet')` (DuckDB) and Spark (which
//! skips names starting with `_`) read past it. It is rewritten from the listing after
//! each run, so after an interrupted run it still describes the state before it until
//! the next run succeeds.
//!
//! Every read, listing, delete and put goes through `object_store` (`LocalFileSystem` for
//! a folder, `AmazonS3` for `s3://`): one code path for both.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use datafusion::common::config::TableParquetOptions;
use datafusion::dataframe::DataFrameWriteOptions;
use futures::{StreamExt, TryStreamExt};
use lake::CLOUDTRAIL_TABLE;
use lake::schema::{EVENT_DATE, EVENT_TIME};
use lake::time::{civil_from_days, format_canonical, now_micros, parse_duration};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};
use parquet::file::FOOTER_SIZE;
use parquet::file::metadata::{FooterTail, ParquetMetaDataReader};
use serde_json::{Value, json};
use tracing::{debug, warn};

use crate::error::{QueryError, Result};
use crate::session::LakeSession;

/// The manifest's name at the target's root.
pub const MANIFEST: &str = "_trailhouse_export.json";

/// The manifest format this build writes and reads (`"trailhouse_export"` in it).
const MANIFEST_FORMAT: u64 = 1;

/// Footers read at once.
const CONCURRENT_REQUESTS: usize = 16;

/// Bytes read from the end of a Parquet file in the hope they hold its whole footer.
const FOOTER_GUESS: u64 = 64 * 1024;

/// What an export does with the files already in its target. The doc comments of the
/// variants are the command line's help for each value (`clap::ValueEnum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportMode {
    /// Replace what this export rewrites: the Parquet files of each partition folder it
    /// writes (every Parquet file of the target with --partition-by none); other
    /// partitions stay.
    Overwrite,
    /// Add the new files beside the old ones (rows in both are then there twice).
    Append,
    /// Refuse a target that holds anything.
    Error,
}

impl ExportMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ExportMode::Overwrite => "overwrite",
            ExportMode::Append => "append",
            ExportMode::Error => "error",
        }
    }
}

impl std::fmt::Display for ExportMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to export and where.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// A SQL condition over `cloudtrail` (e.g. `eventsource = 'iam.amazonaws.com'`).
    pub filter: Option<String>,
    /// Start of the window (inclusive): RFC 3339, a date, or an age such as `24h` / `7d`.
    pub since: Option<String>,
    /// End of the window (exclusive), same forms.
    pub until: Option<String>,
    /// The columns (default all).
    pub columns: Option<String>,
    /// A local folder or `s3://bucket/prefix`.
    pub to: String,
    /// Hive-style partition columns (default `eventdate`); empty for one flat folder.
    pub partition_by: Vec<String>,
    /// Storage settings for an `s3://` target (endpoint, region), as for the lake.
    pub storage_options: HashMap<String, String>,
    /// What to do with files already in the target; `None`: overwrite an earlier
    /// trailhouse export, refuse Parquet files none wrote (the module doc).
    pub mode: Option<ExportMode>,
    /// The columns of `cloudtrail` as they are, or OCSF records ([`crate::ocsf`]) in
    /// Amazon Security Lake's custom-source layout.
    pub format: ExportFormat,
    /// The custom source's name under `ext/` ([`ExportFormat::Ocsf`]).
    pub ocsf_source: String,
}

/// What an export writes. The doc comments are the command line's help for each value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// The lake's columns (Athena's CloudTrail columns), as Parquet.
    #[default]
    Parquet,
    /// OCSF 1.3.0 records (API Activity, Authentication, Account Change) as Parquet, in
    /// Amazon Security Lake's custom-source layout: <to>/ext/<source>/region=<r>/accountId=<id>/eventDay=<yyyymmdd>/.
    Ocsf,
}

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct ExportSummary {
    pub rows: u64,
    pub seconds: f64,
    pub sql: String,
    /// The mode the export ran in (the default resolved).
    pub mode: ExportMode,
    /// Parquet files written.
    pub files: usize,
    /// Parquet files of earlier exports (or, asked for, not ours) this one replaced.
    pub replaced_files: usize,
    /// Where the manifest is.
    pub manifest: String,
    /// `--format ocsf`: the records written per OCSF class and activity.
    pub ocsf: Vec<OcsfCount>,
}

/// Records of one OCSF class and activity an export wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OcsfCount {
    pub class_uid: i64,
    pub activity_id: i64,
    pub records: u64,
}

/// The window an export covers, in microseconds since the epoch.
#[derive(Debug, Clone, Copy, Default)]
struct Window {
    since: Option<i64>,
    until: Option<i64>,
}

impl Window {
    fn resolve(o: &ExportOptions, now: i64) -> Result<Window> {
        Ok(Window {
            since: o.since.as_deref().map(|s| parse_instant(s, now)).transpose()?,
            until: o.until.as_deref().map(|u| parse_instant(u, now)).transpose()?,
        })
    }
}

/// The SELECT an export runs.
pub fn export_sql(o: &ExportOptions) -> Result<String> {
    Ok(select(o, Window::resolve(o, now_micros())?))
}

fn select(o: &ExportOptions, w: Window) -> String {
    let conditions = conditions(o, w);
    if o.format == ExportFormat::Ocsf {
        return crate::ocsf::select(&conditions, OCSF_PARTITIONS);
    }
    let columns = o.columns.as_deref().unwrap_or("*");
    let mut sql = format!("SELECT {columns} FROM cloudtrail");
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions);
    }
    sql
}

/// The export's window and `--where` as one SQL condition over `cloudtrail` (empty: all).
fn conditions(o: &ExportOptions, w: Window) -> String {
    let mut conditions = Vec::new();
    if let Some(t) = w.since {
        conditions.push(format!(
            "{EVENT_DATE} >= DATE '{}' AND {EVENT_TIME} >= TIMESTAMP '{}'",
            date_of(t),
            format_canonical(t)
        ));
    }
    if let Some(t) = w.until {
        conditions.push(format!(
            "{EVENT_DATE} <= DATE '{}' AND {EVENT_TIME} < TIMESTAMP '{}'",
            date_of(t),
            format_canonical(t)
        ));
    }
    if let Some(w) = &o.filter {
        conditions.push(format!("({w})"));
    }
    conditions.join(" AND ")
}

/// The partition columns of Amazon Security Lake's custom-source layout
/// (`region=<r>/accountId=<id>/eventDay=<yyyymmdd>/`), as select-list items.
const OCSF_PARTITIONS: &str =
    "awsregion AS region, recipientaccountid AS \"accountId\", to_char(eventtime, '%Y%m%d') AS \"eventDay\"";

/// What `--format ocsf` does to the options: the records of [`crate::ocsf`], under
/// `<to>/ext/<source>/`, partitioned as Security Lake's custom sources are.
fn ocsf_options(o: &ExportOptions) -> Result<ExportOptions> {
    if o.columns.is_some() {
        return Err(QueryError::Usage(
            "--columns does not apply to --format ocsf (it writes every OCSF attribute): leave it out".into(),
        ));
    }
    let source = &o.ocsf_source;
    if source.is_empty()
        || source.len() > 64
        || !source.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(QueryError::Usage(format!(
            "--ocsf-source {source:?}: a Security Lake custom source name is 1-64 letters, digits, '_' or '-'"
        )));
    }
    Ok(ExportOptions {
        to: format!("{}/ext/{source}", o.to.trim_end_matches('/')),
        partition_by: ["region", "accountId", "eventDay"].map(String::from).to_vec(),
        ..o.clone()
    })
}

/// Runs the export: checks the target against the mode, writes the new files, deletes the
/// ones they supersede, writes the manifest (the module doc).
pub async fn export(session: &LakeSession, o: &ExportOptions) -> Result<ExportSummary> {
    let ocsf;
    let o = if o.format == ExportFormat::Ocsf {
        ocsf = ocsf_options(o)?;
        &ocsf
    } else {
        o
    };
    let started = Instant::now();
    let now = now_micros();
    let window = Window::resolve(o, now)?;
    let sql = select(o, window);
    let target = Target::open(session, &o.to, &o.storage_options)?;

    let before = target.list().await?;
    let earlier = target.manifest().await?;
    let mode = resolve_mode(o.mode, &before, earlier.is_some(), &o.to)?;
    if o.mode.is_none()
        && let Some(m) = &earlier
        && let Some(why) = m.other_slice(o)
    {
        return Err(QueryError::Usage(format!(
            "{} holds an export of another slice ({why}): overwriting would replace its days with this export's \
             rows. Give --mode overwrite to do that, --mode append to add beside it, or another --to",
            o.to
        )));
    }
    // Overwriting a day the window only partly covers would keep only the window's rows of
    // it, and lose the rest: refused before anything is written.
    if mode == ExportMode::Overwrite {
        let held: Vec<Path> = before.iter().filter(|m| is_parquet(m)).map(|m| m.location.clone()).collect();
        if let Some(day) = cut_days(window, &o.partition_by, &held).first() {
            return Err(QueryError::Usage(format!(
                "the window starts or ends inside {day}, which {} already holds: overwriting its partition would keep \
                 only the window's rows of that day. Export whole days (--since {day} --until <the next day>), or \
                 add them beside the old files with --mode append",
                o.to
            )));
        }
    }

    let mut statements = session.statements(&sql)?;
    let df = session.plan(statements.remove(0)).await?;
    let mut parquet = TableParquetOptions::default();
    parquet.global.compression = Some("zstd(3)".into());
    let write = DataFrameWriteOptions::new().with_partition_by(o.partition_by.clone());
    let result = df.write_parquet(&target.write_url, write, Some(parquet)).await.map_err(|e| session.explain(e))?;
    let rows = result
        .first()
        .and_then(|b| b.column(0).as_any().downcast_ref::<arrow::array::UInt64Array>())
        .map_or(0, |a| a.value(0));

    // The gate before any delete: the new files are there and hold the rows written.
    let Written { files: written, rows: written_rows, after } = target.check_written(&before, rows).await?;

    let earlier_partitions = earlier.as_ref().map(|m| m.partition_by.as_slice());
    let replaced = superseded(mode, &o.partition_by, earlier_partitions, &before, &written);
    target.delete(replaced.clone()).await?;

    let run = Run {
        run: earlier.as_ref().map_or(0, Manifest::last_run) + 1,
        at: format_canonical(now),
        mode,
        sql: sql.clone(),
        filter: o.filter.clone(),
        columns: o.columns.clone(),
        since: window.since.map(format_canonical),
        until: window.until.map(format_canonical),
        partition_by: o.partition_by.clone(),
        lake: lake_location(session.lake().location()),
        lake_version: session.opened_tables().iter().find(|t| t.name == CLOUDTRAIL_TABLE).map(|t| t.version),
        rows,
        files: written.len(),
        replaced_files: replaced.len(),
    };
    let gone: BTreeSet<&str> = replaced.iter().map(Path::as_ref).collect();
    let present: Vec<ObjectMeta> =
        after.into_iter().filter(|m| is_parquet(m) && !gone.contains(m.location.as_ref())).collect();
    let manifest = Manifest::next(earlier, run, &present, &written_rows, &target).await;
    target.put_manifest(&manifest).await?;
    debug!(to = %o.to, %mode, rows, files = written.len(), replaced_files = replaced.len(), "Export written.");
    let ocsf = match o.format {
        ExportFormat::Ocsf => ocsf_counts(session, &conditions(o, window)).await?,
        ExportFormat::Parquet => vec![],
    };
    Ok(ExportSummary {
        rows,
        seconds: started.elapsed().as_secs_f64(),
        sql,
        mode,
        files: written.len(),
        replaced_files: replaced.len(),
        manifest: format!("{}{MANIFEST}", target.write_url),
        ocsf,
    })
}

/// The records per OCSF class and activity of the rows `conditions` selects (a second
/// read of them: the write's own count is one number).
async fn ocsf_counts(session: &LakeSession, conditions: &str) -> Result<Vec<OcsfCount>> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{DataType, Int64Type};
    let int = |a: &dyn Array| arrow::compute::cast(a, &DataType::Int64);
    let mut out = Vec::new();
    for b in session.sql(&crate::ocsf::count_sql(conditions)).await? {
        let (class, activity, records) = (int(b.column(0))?, int(b.column(1))?, int(b.column(2))?);
        let (class, activity, records) = (
            class.as_primitive::<Int64Type>(),
            activity.as_primitive::<Int64Type>(),
            records.as_primitive::<Int64Type>(),
        );
        for i in 0..b.num_rows() {
            out.push(OcsfCount {
                class_uid: class.value(i),
                activity_id: activity.value(i),
                records: records.value(i).max(0) as u64,
            });
        }
    }
    Ok(out)
}

/// The mode an export runs in: the one asked for, else overwrite an earlier trailhouse
/// export and refuse Parquet files none wrote. `Error` refuses a target holding anything.
fn resolve_mode(asked: Option<ExportMode>, before: &[ObjectMeta], has_manifest: bool, to: &str) -> Result<ExportMode> {
    let parquet = before.iter().filter(|m| is_parquet(m)).count();
    match asked {
        Some(ExportMode::Error) if !before.is_empty() => {
            let what = if has_manifest {
                format!("an earlier export ({parquet} Parquet files and {MANIFEST})")
            } else {
                format!("{} files", before.len())
            };
            Err(QueryError::Usage(format!(
                "{to} already holds {what} and --mode error refuses to write there: use --mode overwrite to replace \
                 the partitions this export writes, or --mode append to add to them"
            )))
        }
        Some(mode) => Ok(mode),
        None if parquet > 0 && !has_manifest => Err(QueryError::Usage(format!(
            "{to} holds {parquet} Parquet files that no trailhouse export wrote (there is no {MANIFEST}): refusing to \
             touch them; pass --mode overwrite to replace the partitions this export writes, or --mode append to add \
             files beside them"
        ))),
        None => Ok(ExportMode::Overwrite),
    }
}

/// The objects in `after` that the write added or rewrote.
fn appeared(before: &[ObjectMeta], after: &[ObjectMeta]) -> Vec<ObjectMeta> {
    let old: BTreeMap<&str, &ObjectMeta> = before.iter().map(|m| (m.location.as_ref(), m)).collect();
    after
        .iter()
        .filter(|m| {
            old.get(m.location.as_ref())
                .is_none_or(|o| (o.size, &o.e_tag, o.last_modified) != (m.size, &m.e_tag, m.last_modified))
        })
        .cloned()
        .collect()
}

/// The Parquet files of `before` that an export in `mode` which wrote `written`
/// supersedes: in `Overwrite`, those in the partition folders it wrote, or all of them
/// without partitions or when the earlier export was partitioned otherwise.
fn superseded(
    mode: ExportMode,
    partition_by: &[String],
    earlier_partition_by: Option<&[String]>,
    before: &[ObjectMeta],
    written: &[ObjectMeta],
) -> Vec<Path> {
    if mode != ExportMode::Overwrite {
        return vec![];
    }
    let whole = partition_by.is_empty() || earlier_partition_by.is_some_and(|p| p != partition_by);
    let new: BTreeSet<&str> = written.iter().map(|m| m.location.as_ref()).collect();
    let folders: BTreeSet<&str> = written.iter().map(|m| folder(m.location.as_ref())).collect();
    before
        .iter()
        .filter(|m| is_parquet(m) && !new.contains(m.location.as_ref()))
        .filter(|m| whole || folders.contains(folder(m.location.as_ref())))
        .map(|m| m.location.clone())
        .collect()
}

/// The days whose `eventdate` partition `held` has although the window starts or ends
/// inside them: an overwrite would leave the partition with only part of the day (a
/// `--since 24h` run would replace yesterday's whole partition with its last hours).
fn cut_days(w: Window, partition_by: &[String], held: &[Path]) -> Vec<String> {
    if !partition_by.iter().any(|c| c == EVENT_DATE) {
        return vec![];
    }
    let day_micros = 86_400_000_000;
    [w.since, w.until]
        .into_iter()
        .flatten()
        .filter(|t| t.rem_euclid(day_micros) != 0)
        .map(date_of)
        .filter(|day| {
            let folder = format!("{EVENT_DATE}={day}");
            held.iter().any(|p| p.parts().any(|part| part.as_ref() == folder))
        })
        .collect()
}

/// The folder of a relative path (`""` at the root).
fn folder(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(f, _)| f)
}

fn is_parquet(m: &ObjectMeta) -> bool {
    m.location.extension() == Some("parquet")
}

/// The export's target through `object_store`, paths relative to its root.
struct Target {
    store: Arc<dyn ObjectStore>,
    /// Where DataFusion writes: the target as given, ending in `/`.
    write_url: String,
    /// The target as the user gave it, for messages.
    shown: String,
}

impl Target {
    /// A folder (created when missing) or an S3 prefix, whose store is registered with the
    /// session for DataFusion's writes.
    fn open(session: &LakeSession, to: &str, options: &HashMap<String, String>) -> Result<Target> {
        let store: Arc<dyn ObjectStore> = if let Some(rest) = to.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let s3 = register_s3(session, bucket, options)?;
            Arc::new(PrefixStore::new(s3, Path::from(prefix)))
        } else {
            std::fs::create_dir_all(to).map_err(|cause| QueryError::Io { context: format!("creating {to}"), cause })?;
            let local = LocalFileSystem::new_with_prefix(to).map_err(store_error(format!("opening {to}")))?;
            // Deleting a partition's last file removes its emptied folder too.
            Arc::new(local.with_automatic_cleanup(true))
        };
        let mut write_url = to.to_string();
        if !write_url.ends_with('/') {
            write_url.push('/');
        }
        Ok(Target { store, write_url, shown: to.to_string() })
    }

    /// Every object under the target, the manifest too.
    async fn list(&self) -> Result<Vec<ObjectMeta>> {
        self.store.list(None).try_collect().await.map_err(store_error(format!("listing {}", self.shown)))
    }

    /// The manifest an earlier export left, if any.
    async fn manifest(&self) -> Result<Option<Manifest>> {
        let context = || format!("reading {}{MANIFEST}", self.write_url);
        let bytes = match self.store.get(&Path::from(MANIFEST)).await {
            Ok(got) => got.bytes().await.map_err(store_error(context()))?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(store_error(context())(e)),
        };
        Manifest::parse(&bytes).map(Some).map_err(|why| {
            QueryError::Usage(format!(
                "{}{MANIFEST} is not an export manifest this trailhouse reads ({why}); move it away to export here",
                self.write_url
            ))
        })
    }

    /// The rows in each file's footer (one or two ranged reads per file, none of the data).
    async fn footer_rows<'a>(&self, files: &'a [ObjectMeta]) -> Vec<(&'a ObjectMeta, Result<u64>)> {
        futures::stream::iter(files)
            .map(|meta| async move { (meta, self.rows_in_footer(meta).await) })
            .buffer_unordered(CONCURRENT_REQUESTS)
            .collect()
            .await
    }

    async fn rows_in_footer(&self, meta: &ObjectMeta) -> Result<u64> {
        let fail = |why: String| QueryError::Io {
            context: format!("reading the footer of {}{}", self.write_url, meta.location),
            cause: std::io::Error::other(why),
        };
        let (size, tail_len) = (meta.size, FOOTER_SIZE as u64);
        if size < tail_len + 4 {
            return Err(fail(format!("{size} bytes is too small for a Parquet file")));
        }
        // The last 64 KiB hold a whole footer but for very wide or long files.
        let read = size.min(FOOTER_GUESS);
        let end = self.store.get_range(&meta.location, size - read..size).await.map_err(|e| fail(e.to_string()))?;
        let got = end.len();
        let tail: [u8; FOOTER_SIZE] = got
            .checked_sub(FOOTER_SIZE)
            .and_then(|at| end[at..].try_into().ok())
            .ok_or_else(|| fail(format!("read {got} bytes of {read}")))?;
        let footer = FooterTail::try_new(&tail).map_err(|e| fail(e.to_string()))?;
        if footer.is_encrypted_footer() {
            return Err(fail("an encrypted footer".into()));
        }
        let len = footer.metadata_length();
        if len as u64 + tail_len + 4 > size {
            return Err(fail(format!("a footer of {len} bytes in a file of {size}")));
        }
        let metadata = if len + FOOTER_SIZE <= got {
            end.slice(got - FOOTER_SIZE - len..got - FOOTER_SIZE)
        } else {
            let range = size - tail_len - len as u64..size - tail_len;
            self.store.get_range(&meta.location, range).await.map_err(|e| fail(e.to_string()))?
        };
        let decoded = ParquetMetaDataReader::decode_metadata(&metadata).map_err(|e| fail(e.to_string()))?;
        Ok(u64::try_from(decoded.file_metadata().num_rows()).unwrap_or(0))
    }

    /// The Parquet files a write of `rows` rows added to the target listed as `before`,
    /// checked: the rows in their footers add up to `rows`. Anything else means something
    /// else wrote here too, and nothing may be deleted on that guess.
    async fn check_written(&self, before: &[ObjectMeta], rows: u64) -> Result<Written> {
        let after = self.list().await?;
        let files: Vec<ObjectMeta> = appeared(before, &after).into_iter().filter(is_parquet).collect();
        let mut counted = BTreeMap::new();
        for (meta, n) in self.footer_rows(&files).await {
            counted.insert(meta.location.to_string(), n?);
        }
        let found: u64 = counted.values().sum();
        if found != rows {
            return Err(QueryError::Usage(format!(
                "the export wrote {rows} rows, but the {} Parquet files that appeared under {} hold {found}: \
                 something else is writing there; nothing was deleted (run the export again when it is done)",
                files.len(),
                self.shown
            )));
        }
        Ok(Written { files, rows: counted, after })
    }

    /// Deletes `paths` (S3: in batches); one already gone is fine.
    async fn delete(&self, paths: Vec<Path>) -> Result<()> {
        if paths.is_empty() {
            return Ok(());
        }
        let stream = futures::stream::iter(paths.into_iter().map(Ok)).boxed();
        let mut deleted = self.store.delete_stream(stream);
        while let Some(outcome) = deleted.next().await {
            match outcome {
                Ok(path) => debug!(to = %self.shown, file = %path, "Superseded export file deleted."),
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(store_error(format!("deleting superseded files under {}", self.shown))(e)),
            }
        }
        Ok(())
    }

    async fn put_manifest(&self, manifest: &Manifest) -> Result<()> {
        let context = || format!("writing {}{MANIFEST}", self.write_url);
        let body = serde_json::to_vec_pretty(&manifest.to_json())
            .map_err(|e| QueryError::Io { context: context(), cause: e.into() })?;
        self.store.put(&Path::from(MANIFEST), PutPayload::from(body)).await.map(drop).map_err(store_error(context()))
    }
}

/// What an export's write added, checked ([`Target::check_written`]).
struct Written {
    /// The new Parquet files.
    files: Vec<ObjectMeta>,
    /// Rows per new file (by path), from its footer.
    rows: BTreeMap<String, u64>,
    /// The target's listing after the write.
    after: Vec<ObjectMeta>,
}

/// An `object_store` failure with what was being done and where.
fn store_error(context: String) -> impl FnOnce(object_store::Error) -> QueryError {
    move |e| match lake::failure::explain_text(&e.to_string(), &format!("Export: {context}"), "") {
        Some(failure) => QueryError::Storage(failure),
        None => QueryError::Io { context, cause: std::io::Error::other(e) },
    }
}

/// One run of `export` as the manifest records it.
#[derive(Debug, Clone)]
struct Run {
    run: u64,
    at: String,
    mode: ExportMode,
    sql: String,
    filter: Option<String>,
    columns: Option<String>,
    since: Option<String>,
    until: Option<String>,
    partition_by: Vec<String>,
    lake: String,
    lake_version: Option<u64>,
    rows: u64,
    files: usize,
    replaced_files: usize,
}

impl Run {
    fn to_json(&self) -> Value {
        json!({
            "run": self.run,
            "at": self.at,
            "mode": self.mode.as_str(),
            "sql": self.sql,
            "where": self.filter,
            "columns": self.columns,
            "since": self.since,
            "until": self.until,
            "partition_by": self.partition_by,
            "lake": self.lake,
            "lake_version": self.lake_version,
            "rows": self.rows,
            "files": self.files,
            "replaced_files": self.replaced_files,
        })
    }
}

/// A Parquet file in the target as the manifest lists it.
#[derive(Debug, Clone, PartialEq)]
struct FileEntry {
    path: String,
    bytes: u64,
    /// `None`: a file whose footer could not be read.
    rows: Option<u64>,
    /// The run that wrote it; `None` for a file no recorded run wrote.
    run: Option<u64>,
}

/// `_trailhouse_export.json`: the files the target holds and the runs that wrote them.
#[derive(Debug, Clone)]
struct Manifest {
    partition_by: Vec<String>,
    files: Vec<FileEntry>,
    /// The runs whose files are still there, and the last run, as written (JSON objects).
    runs: Vec<Value>,
    updated: String,
}

impl Manifest {
    fn parse(bytes: &[u8]) -> std::result::Result<Manifest, String> {
        let v: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        match v["trailhouse_export"].as_u64() {
            Some(MANIFEST_FORMAT) => {}
            Some(other) => return Err(format!("format {other}, this build reads {MANIFEST_FORMAT}")),
            None => return Err("no \"trailhouse_export\" format number".into()),
        }
        let strings = |v: &Value| -> Vec<String> {
            v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect()).unwrap_or_default()
        };
        let files = v["files"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| {
                        Some(FileEntry {
                            path: f["path"].as_str()?.to_string(),
                            bytes: f["bytes"].as_u64()?,
                            rows: f["rows"].as_u64(),
                            run: f["run"].as_u64(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Manifest {
            partition_by: strings(&v["partition_by"]),
            files,
            runs: v["runs"].as_array().cloned().unwrap_or_default(),
            updated: v["updated"].as_str().unwrap_or_default().to_string(),
        })
    }

    fn last_run(&self) -> u64 {
        self.runs.iter().filter_map(|r| r["run"].as_u64()).max().unwrap_or(0)
    }

    /// How `o` differs from the newest run's slice (its `--where`, `--columns` or
    /// partition columns), if it does: a scheduled export repeats the same slice.
    fn other_slice(&self, o: &ExportOptions) -> Option<String> {
        let last = self.runs.iter().max_by_key(|r| r["run"].as_u64().unwrap_or(0))?;
        let text = |v: &Value| v.as_str().map(str::to_string);
        if text(&last["where"]) != o.filter {
            return Some("its --where differs".into());
        }
        if text(&last["columns"]) != o.columns {
            return Some("its --columns differ".into());
        }
        if self.partition_by != o.partition_by {
            return Some(format!("it is partitioned by {:?}", self.partition_by));
        }
        None
    }

    /// The manifest after `run`: the Parquet files `present` now (rows from the new
    /// files' footers, the earlier manifest, or else their own footers), and the runs that
    /// wrote them.
    async fn next(
        earlier: Option<Manifest>,
        run: Run,
        present: &[ObjectMeta],
        written_rows: &BTreeMap<String, u64>,
        target: &Target,
    ) -> Manifest {
        let known: BTreeMap<(String, u64), FileEntry> = earlier
            .as_ref()
            .map(|m| m.files.iter().map(|f| ((f.path.clone(), f.bytes), f.clone())).collect())
            .unwrap_or_default();
        let mut files = Vec::with_capacity(present.len());
        let mut unknown = Vec::new();
        for meta in present {
            let path = meta.location.to_string();
            if let Some(&rows) = written_rows.get(&path) {
                files.push(FileEntry { path, bytes: meta.size, rows: Some(rows), run: Some(run.run) });
            } else if let Some(f) = known.get(&(path, meta.size)) {
                files.push(f.clone());
            } else {
                unknown.push(meta.clone());
            }
        }
        // Files no manifest described: appended beside foreign data, or left by a run that
        // stopped before its manifest.
        for (meta, rows) in target.footer_rows(&unknown).await {
            let rows = rows
                .inspect_err(|e| warn!(file = %meta.location, error = %e, "Not a Parquet file; listed without rows."))
                .ok();
            files.push(FileEntry { path: meta.location.to_string(), bytes: meta.size, rows, run: None });
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let used: BTreeSet<u64> = files.iter().filter_map(|f| f.run).collect();
        let mut runs: Vec<Value> = earlier
            .map(|m| m.runs)
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r["run"].as_u64().is_some_and(|n| used.contains(&n)))
            .collect();
        let updated = run.at.clone();
        let partition_by = run.partition_by.clone();
        runs.push(run.to_json());
        Manifest { partition_by, files, runs, updated }
    }

    fn to_json(&self) -> Value {
        let files: Vec<Value> = self
            .files
            .iter()
            .map(|f| json!({"path": f.path, "rows": f.rows, "bytes": f.bytes, "run": f.run}))
            .collect();
        json!({
            "trailhouse_export": MANIFEST_FORMAT,
            "updated": self.updated,
            "partition_by": self.partition_by,
            "rows": self.files.iter().filter_map(|f| f.rows).sum::<u64>(),
            "files": files,
            "runs": self.runs,
        })
    }
}

/// Registers an S3 store for `bucket` with the session (DataFusion writes through it) and
/// returns it.
fn register_s3(session: &LakeSession, bucket: &str, options: &HashMap<String, String>) -> Result<Arc<dyn ObjectStore>> {
    if bucket.is_empty() {
        return Err(QueryError::Usage("--to s3:// needs a bucket: s3://bucket/prefix".into()));
    }
    let mut builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
    for (k, v) in options {
        if let Ok(key) = k.to_ascii_lowercase().parse() {
            builder = builder.with_config(key, v);
        }
    }
    let store = builder.build().map_err(|e| QueryError::Usage(format!("cannot reach s3://{bucket}: {e}")))?;
    let store: Arc<dyn ObjectStore> = Arc::new(store);
    let url = url::Url::parse(&format!("s3://{bucket}")).map_err(|e| QueryError::Usage(e.to_string()))?;
    session.context().register_object_store(&url, store.clone());
    Ok(store)
}

/// The lake's location for the manifest: a local folder as an absolute path (the manifest
/// is read from elsewhere), a URL as given.
fn lake_location(location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    std::fs::canonicalize(location).map_or_else(|_| location.to_string(), |p| p.display().to_string())
}

fn date_of(micros: i64) -> String {
    let (y, m, d) = civil_from_days(micros.div_euclid(86_400_000_000));
    format!("{y:04}-{m:02}-{d:02}")
}

/// An instant: RFC 3339, a date (midnight UTC), or an age before `now` (`90m`, `24h`, `7d`, `2w`).
pub fn parse_instant(s: &str, now: i64) -> Result<i64> {
    if let Some(t) = crate::functions::parse_time(s) {
        return Ok(t);
    }
    parse_duration(s).map(|d| now - d).ok_or_else(|| {
        QueryError::Usage(format!(
            "{s:?} is not a time: use 2026-11-02, 2026-11-02T10:00:00Z or an age such as 24h or 7d"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(path: &str, size: u64) -> ObjectMeta {
        ObjectMeta {
            location: Path::from(path),
            last_modified: chrono::DateTime::UNIX_EPOCH,
            size,
            e_tag: None,
            version: None,
        }
    }

    fn paths(v: &[Path]) -> Vec<&str> {
        let mut out: Vec<&str> = v.iter().map(Path::as_ref).collect();
        out.sort();
        out
    }

    #[test]
    fn overwrite_replaces_only_the_partitions_written() {
        let day = vec!["eventdate".to_string()];
        let before = [
            meta("eventdate=2026-11-01/a_0.parquet", 10),
            meta("eventdate=2026-11-02/a_0.parquet", 10),
            meta("eventdate=2026-11-02/a_1.parquet", 10),
            meta("eventdate=2026-11-02/notes.txt", 1),
            meta(MANIFEST, 1),
        ];
        let written = [meta("eventdate=2026-11-02/b_0.parquet", 12)];
        let gone = superseded(ExportMode::Overwrite, &day, Some(&day), &before, &written);
        assert_eq!(paths(&gone), ["eventdate=2026-11-02/a_0.parquet", "eventdate=2026-11-02/a_1.parquet"]);
        assert!(superseded(ExportMode::Append, &day, Some(&day), &before, &written).is_empty());
        // Nothing written for a day: that day stays.
        assert!(superseded(ExportMode::Overwrite, &day, Some(&day), &before, &[]).is_empty());
    }

    #[test]
    fn no_partitions_or_a_changed_layout_replaces_every_parquet_file() {
        let day = vec!["eventdate".to_string()];
        let before = [meta("eventdate=2026-11-01/a_0.parquet", 10), meta("a_0.parquet", 10), meta("x.csv", 3)];
        let flat = [meta("b_0.parquet", 12)];
        let gone = superseded(ExportMode::Overwrite, &[], Some(&day), &before, &flat);
        assert_eq!(paths(&gone), ["a_0.parquet", "eventdate=2026-11-01/a_0.parquet"]);
        let by_account = vec!["recipientaccountid".to_string()];
        let written = [meta("recipientaccountid=1/b_0.parquet", 12)];
        let gone = superseded(ExportMode::Overwrite, &by_account, Some(&day), &before, &written);
        assert_eq!(paths(&gone), ["a_0.parquet", "eventdate=2026-11-01/a_0.parquet"]);
    }

    #[test]
    fn a_file_rewritten_in_place_counts_as_new_and_is_kept() {
        let before = [meta("eventdate=2026-11-02/a_0.parquet", 10)];
        let after = [meta("eventdate=2026-11-02/a_0.parquet", 11), meta("eventdate=2026-11-02/b_0.parquet", 5)];
        let new = appeared(&before, &after);
        assert_eq!(new.len(), 2);
        let day = vec!["eventdate".to_string()];
        assert!(superseded(ExportMode::Overwrite, &day, Some(&day), &before, &new).is_empty());
        assert!(appeared(&after, &after).is_empty());
    }

    #[test]
    fn the_default_mode_overwrites_our_exports_and_refuses_foreign_parquet() {
        let ours = [meta("eventdate=2026-11-02/a_0.parquet", 10), meta(MANIFEST, 1)];
        assert_eq!(resolve_mode(None, &ours, true, "out").unwrap(), ExportMode::Overwrite);
        assert_eq!(resolve_mode(None, &[], false, "out").unwrap(), ExportMode::Overwrite);
        assert_eq!(resolve_mode(None, &[meta("README", 1)], false, "out").unwrap(), ExportMode::Overwrite);

        let foreign = [meta("part-0.parquet", 10)];
        let e = resolve_mode(None, &foreign, false, "out").unwrap_err().to_string();
        assert!(e.contains("--mode overwrite") && e.contains("--mode append") && e.contains("no trailhouse"), "{e}");
        for mode in [ExportMode::Overwrite, ExportMode::Append] {
            assert_eq!(resolve_mode(Some(mode), &foreign, false, "out").unwrap(), mode);
        }

        let e = resolve_mode(Some(ExportMode::Error), &ours, true, "out").unwrap_err().to_string();
        assert!(e.contains("--mode error") && e.contains("--mode overwrite"), "{e}");
        assert!(resolve_mode(Some(ExportMode::Error), &[meta("README", 1)], false, "out").is_err());
        assert_eq!(resolve_mode(Some(ExportMode::Error), &[], false, "out").unwrap(), ExportMode::Error);
    }

    #[test]
    fn a_window_cutting_into_a_replaced_day_is_named() {
        let day = vec!["eventdate".to_string()];
        let replaced = [Path::from("eventdate=2026-11-02/a_0.parquet")];
        let midnight = lake::time::parse_canonical("2026-11-02T00:00:00Z").unwrap();
        let six = lake::time::parse_canonical("2026-11-02T06:00:00Z").unwrap();
        let cut = Window { since: Some(six), until: None };
        assert_eq!(cut_days(cut, &day, &replaced), ["2026-11-02"]);
        assert!(cut_days(Window { since: Some(midnight), until: None }, &day, &replaced).is_empty());
        assert!(cut_days(cut, &day, &[]).is_empty(), "nothing of that day replaced");
        assert!(cut_days(cut, &[], &replaced).is_empty());
    }

    #[test]
    fn a_manifest_round_trips_and_an_unknown_format_is_refused() {
        let m = Manifest {
            partition_by: vec!["eventdate".into()],
            files: vec![FileEntry {
                path: "eventdate=2026-11-02/a_0.parquet".into(),
                bytes: 10,
                rows: Some(4),
                run: Some(2),
            }],
            runs: vec![json!({"run": 2, "sql": "SELECT * FROM cloudtrail"})],
            updated: "2026-11-03T00:00:00Z".into(),
        };
        let v = m.to_json();
        assert_eq!(v["rows"], 4);
        let back = Manifest::parse(&serde_json::to_vec(&v).unwrap()).unwrap();
        assert_eq!(back.files, m.files);
        assert_eq!(back.partition_by, m.partition_by);
        assert_eq!(back.last_run(), 2);
        assert!(Manifest::parse(br#"{"trailhouse_export": 99}"#).unwrap_err().contains("format 99"));
        assert!(Manifest::parse(b"not json").is_err());
    }
}
