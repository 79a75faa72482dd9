//! The query session: the lake's Delta tables, the functions and the views, registered in
//! one DataFusion context.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParser, Statement};
use futures::TryStreamExt;
use lake::{CLOUDTRAIL_TABLE, Lake, LakeOptions};

use crate::catalog::{LakeSchema, StateFn, lake_tables};
use crate::error::{QueryError, Result, friendly};
use crate::memory::MemoryLimit;
use crate::{functions, views};

/// The catalog and schema unqualified names resolve in (DataFusion's defaults).
const DEFAULT_CATALOG: &str = "datafusion";
const DEFAULT_SCHEMA: &str = "public";

/// One of the lake's tables as registered in the session.
#[derive(Debug, Clone)]
pub struct TableInfo {
    pub name: &'static str,
    /// The Delta version the session reads.
    pub version: u64,
    /// Data files in that version.
    pub files: usize,
}

/// A DataFusion session over the lake: its tables and views (opened the first time a
/// statement names them: the `catalog` module), the functions and the plan rules.
pub struct LakeSession {
    ctx: SessionContext,
    schema: Arc<LakeSchema>,
}

impl LakeSession {
    /// Opens the lake at `location` (it must exist). Its tables are read when a statement
    /// first names them, at the Delta version current then.
    pub async fn open(location: &str, options: &LakeOptions) -> Result<Self> {
        Self::open_in(new_context()?, location, options).await
    }

    /// [`open`](Self::open) in a context of the caller's (one that runs plans elsewhere: a
    /// cluster's client context, with this crate's functions registered).
    pub async fn open_in(ctx: SessionContext, location: &str, options: &LakeOptions) -> Result<Self> {
        let lake = Lake::open_existing(location, options).await?;
        let weak = ctx.state_weak_ref();
        let state: StateFn = Box::new(move || weak.upgrade().map(|s| s.read().clone()));
        let schema = Arc::new(LakeSchema::new(lake, state));
        let catalog = ctx
            .catalog(DEFAULT_CATALOG)
            .ok_or_else(|| QueryError::Sql(format!("the session has no catalog {DEFAULT_CATALOG}")))?;
        catalog.register_schema(DEFAULT_SCHEMA, schema.clone())?;
        Ok(LakeSession { ctx, schema })
    }

    /// The DataFusion context, for callers that register more.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    pub fn lake(&self) -> &Lake {
        self.schema.lake()
    }

    /// The lake's tables as this session sees them (opening those no statement has named).
    pub async fn tables(&self) -> Result<Vec<TableInfo>> {
        for (name, _) in lake_tables() {
            self.schema.lake_table(name).await.map_err(|e| self.explain(e))?;
        }
        Ok(self.schema.opened_tables())
    }

    /// The lake tables the statements so far have opened, at the version each read.
    pub fn opened_tables(&self) -> Vec<TableInfo> {
        self.schema.opened_tables()
    }

    /// True when the `cloudtrail` table holds no data file yet.
    pub async fn is_empty(&self) -> Result<bool> {
        let table = self.schema.lake_table(CLOUDTRAIL_TABLE).await.map_err(|e| self.explain(e))?;
        Ok(table.is_none_or(|t| t.file_count() == 0))
    }

    /// Splits `sql` into statements (`;`-separated); each is planned by [`Self::plan`].
    pub fn statements(&self, sql: &str) -> Result<Vec<Statement>> {
        // CloudTrail Lake's `FROM <event data store id>` names the cloudtrail table.
        let sql = crate::lake_sql::event_data_store_ids(sql);
        let parsed = DFParser::parse_sql(&sql).map_err(|e| self.explain(e))?;
        let mut statements: Vec<Statement> = parsed.into_iter().collect();
        // Athena's lateral UNNEST, in a form DataFusion plans.
        for s in &mut statements {
            crate::unnest::rewrite(s).map_err(QueryError::Sql)?;
            crate::field_names::rewrite(s);
        }
        Ok(statements)
    }

    /// Plans one statement into a DataFrame (DDL such as CREATE VIEW runs here).
    pub async fn plan(&self, statement: Statement) -> Result<DataFrame> {
        let state = self.ctx.state();
        let plan = state.statement_to_plan(statement).await.map_err(|e| self.explain(e))?;
        self.ctx.execute_logical_plan(plan).await.map_err(|e| self.explain(e))
    }

    /// Plans one statement that only reads (a query, `EXPLAIN`, `SHOW`, `DESCRIBE`): what a
    /// server runs for the people it serves. DDL (`CREATE ...`), DML (`COPY`, `INSERT`) and
    /// statements such as `SET` are refused before anything runs.
    pub async fn plan_read_only(&self, sql: &str) -> Result<DataFrame> {
        let mut statements = self.statements(sql)?;
        if statements.len() != 1 {
            return Err(QueryError::Usage(format!("expected one SQL statement, got {}", statements.len())));
        }
        let state = self.ctx.state();
        let plan = state.statement_to_plan(statements.remove(0)).await.map_err(|e| self.explain(e))?;
        SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false)
            .verify_plan(&plan)
            .map_err(|_| {
            QueryError::Usage(
                "only queries run here (SELECT, WITH, VALUES, EXPLAIN, SHOW, DESCRIBE): nothing that creates, \
                     writes or changes settings"
                    .into(),
            )
        })?;
        self.ctx.execute_logical_plan(plan).await.map_err(|e| self.explain(e))
    }

    /// Runs one statement and streams its result.
    pub async fn stream(&self, sql: &str) -> Result<SendableRecordBatchStream> {
        let mut statements = self.statements(sql)?;
        if statements.len() != 1 {
            return Err(QueryError::Sql(format!("expected one SQL statement, got {}", statements.len())));
        }
        let df = self.plan(statements.remove(0)).await?;
        df.execute_stream().await.map_err(|e| self.explain(e))
    }

    /// Runs one statement and collects its result.
    pub async fn sql(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        let stream = self.stream(sql).await?;
        stream.try_collect().await.map_err(|e| self.explain(e))
    }

    /// Turns a DataFusion error into one a person can act on: the statement's own mistakes
    /// become [`QueryError::Sql`] with a suggestion; failures to read the lake (storage,
    /// I/O, a damaged Parquet file) stay [`QueryError::DataFusion`], not the statement's
    /// fault.
    pub fn explain(&self, e: datafusion::error::DataFusionError) -> QueryError {
        use datafusion::error::DataFusionError as E;
        match e.find_root() {
            E::ObjectStore(os) => match lake::failure::explain_text(&os.to_string(), "Reading", "the lake's storage") {
                Some(failure) => QueryError::Storage(failure),
                None => QueryError::DataFusion(e),
            },
            E::IoError(_) | E::ParquetError(_) => QueryError::DataFusion(e),
            E::ResourcesExhausted(detail) => {
                let limit = match self.ctx.runtime_env().memory_pool.memory_limit() {
                    datafusion::execution::memory_pool::MemoryLimit::Finite(bytes) => Some(bytes),
                    _ => None,
                };
                crate::memory::exceeded(limit, detail)
            }
            _ => QueryError::Sql(friendly(&e, &self.known_names())),
        }
    }

    /// Column paths (`useridentity.arn` too) and table names, for "did you mean".
    fn known_names(&self) -> Vec<String> {
        let mut names: Vec<String> = views::VIEWS.iter().map(|v| v.0.to_string()).collect();
        names.extend(lake_tables().map(|(name, _)| name.to_string()));
        for f in lake::schema::cloudtrail_schema().fields() {
            column_paths(f, "", &mut names);
        }
        names
    }

    /// `(column, type)` of a table or view, nested struct fields flattened as `a.b`.
    pub async fn describe(&self, table: &str) -> Result<Vec<(String, String)>> {
        let provider = self.ctx.table_provider(table).await.map_err(|e| self.explain(e))?;
        let mut out = Vec::new();
        for f in provider.schema().fields() {
            describe_field(f, "", &mut out);
        }
        Ok(out)
    }

    /// After an `EXPLAIN ANALYZE`: how many of the `cloudtrail` table's files each scan
    /// read. Forgets the scans it reports.
    pub fn pruning_note(&self) -> Option<String> {
        let lines: Vec<String> = self
            .take_scans()
            .iter()
            .map(|s| {
                let mut line = format!(
                    "cloudtrail: the scan read {} of {} data files ({:.1} MB); {} skipped by partition values, file statistics or bloom filters",
                    s.files,
                    s.candidates,
                    s.bytes as f64 / 1e6,
                    s.candidates.saturating_sub(s.files)
                );
                if s.row_groups_skipped > 0 {
                    line += &format!("; {} row groups ruled out by bloom filters on struct fields", s.row_groups_skipped);
                }
                line + "."
            })
            .collect();
        (!lines.is_empty()).then(|| lines.join("\n"))
    }

    /// The scans of the `cloudtrail` table planned since the last call (none if no
    /// statement has named it), oldest first.
    pub fn take_scans(&self) -> Vec<lake::ScanSummary> {
        self.schema.opened_cloudtrail().map(|t| t.take_scans()).unwrap_or_default()
    }
}

/// A DataFusion context configured for the lake (all cores, information_schema, filter
/// pushdown into Parquet, leaf expression pushdown so `useridentity.type` reads one leaf)
/// with trailhouse's functions and rules registered; no tables yet.
///
/// Two rules of ours join DataFusion's: [`crate::athena_types`] (Athena's text spellings
/// of booleans, before type coercion) and [`crate::join_keys`] (join keys on struct
/// fields computed below the join, just before leaf expression pushdown, which cannot
/// plan them in DataFusion 55). Its queries' operators hold at most half of the machine's
/// memory ([`MemoryLimit::machine_default`]), spilling to disk beyond it.
pub fn new_context() -> Result<SessionContext> {
    new_context_within(MemoryLimit::machine_default())
}

/// [`new_context`] with another memory limit.
pub fn new_context_within(limit: MemoryLimit) -> Result<SessionContext> {
    new_context_in(limit.runtime()?)
}

/// [`new_context`] in a runtime of the caller's (one memory pool shared by many sessions).
pub fn new_context_in(runtime: Arc<datafusion::execution::runtime_env::RuntimeEnv>) -> Result<SessionContext> {
    context_with(lake_config(), runtime)
}

/// A context with `config` (e.g. [`lake_config`] with another batch size) in `runtime`,
/// with trailhouse's plan rules and functions.
pub fn context_with(
    mut config: SessionConfig,
    runtime: Arc<datafusion::execution::runtime_env::RuntimeEnv>,
) -> Result<SessionContext> {
    // A sort that spills first sets aside memory to merge its runs (10 MB each by
    // default): at most an eighth of the limit over the sorts that may run at once.
    if let datafusion::execution::memory_pool::MemoryLimit::Finite(limit) = runtime.memory_pool.memory_limit() {
        let merge = (limit / (8 * config.target_partitions())).min(10 << 20);
        config = config.set_usize("datafusion.execution.sort_spill_reservation_bytes", merge);
    }
    let state = state_builder(config).with_runtime_env(runtime).build();
    let mut ctx = SessionContext::new_with_state(state);
    functions::register(&mut ctx)?;
    Ok(ctx)
}

/// The settings [`new_context`] uses: all cores, information_schema, filter pushdown into
/// Parquet, leaf expression pushdown.
pub fn lake_config() -> SessionConfig {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    SessionConfig::new()
        .with_information_schema(true)
        .with_target_partitions(threads)
        .set_bool("datafusion.execution.parquet.pushdown_filters", true)
        .set_bool("datafusion.optimizer.enable_leaf_expression_pushdown", true)
        .with_option_extension(crate::rollups::TrailhouseOptions::default())
}

/// A session state with DataFusion's defaults and trailhouse's plan rules, for `config`
/// (functions are registered on what it builds: [`crate::functions::register`]). A
/// distributed engine's scheduler plans with the same rules.
pub fn state_builder(config: SessionConfig) -> datafusion::execution::SessionStateBuilder {
    // Athena's text spellings of booleans are rewritten before type coercion sees them.
    let mut analyzer = vec![crate::athena_types::AthenaBooleanText::rule()];
    analyzer.extend(datafusion::optimizer::Analyzer::new().rules);
    let mut optimizer: Vec<_> = datafusion::optimizer::Optimizer::new()
        .rules
        .into_iter()
        .map(|r| match r.name() {
            "extract_leaf_expressions" | "push_down_leaf_projections" => crate::join_keys::Guarded::rule(r),
            _ => r,
        })
        .collect();
    let at = optimizer.iter().position(|r| r.name() == "extract_leaf_expressions").unwrap_or(0);
    optimizer.insert(at, crate::join_keys::ProjectJoinKeys::rule());
    // Aggregates from the hourly rollup: once literals are folded (an `eventtime` bound on
    // the hour is then a literal), before filters and projections are pushed into scans.
    let at = optimizer.iter().position(|r| r.name() == "simplify_expressions").map_or(0, |i| i + 1);
    optimizer.insert(at, crate::rollups::UseRollups::rule());
    datafusion::execution::SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_analyzer_rules(analyzer)
        .with_optimizer_rules(optimizer)
}

fn column_paths(f: &Field, prefix: &str, out: &mut Vec<String>) {
    let path = format!("{prefix}{}", f.name());
    if let DataType::Struct(children) = f.data_type() {
        for c in children {
            column_paths(c, &format!("{path}."), out);
        }
    }
    out.push(path);
}

fn describe_field(f: &Arc<Field>, prefix: &str, out: &mut Vec<(String, String)>) {
    let path = format!("{prefix}{}", f.name());
    match f.data_type() {
        DataType::Struct(children) => {
            out.push((path.clone(), "struct".into()));
            for c in children {
                describe_field(c, &format!("{path}."), out);
            }
        }
        DataType::List(item) | DataType::LargeList(item) => match item.data_type() {
            DataType::Struct(children) => {
                out.push((path.clone(), "list<struct>".into()));
                for c in children {
                    describe_field(c, &format!("{path}[]."), out);
                }
            }
            t => out.push((path, format!("list<{}>", type_name(t)))),
        },
        t => out.push((path, type_name(t))),
    }
}

/// A short SQL-ish type name.
fn type_name(t: &DataType) -> String {
    match t {
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => "string".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Int64 => "bigint".into(),
        DataType::Int32 => "int".into(),
        DataType::Date32 => "date".into(),
        DataType::Timestamp(_, Some(tz)) => format!("timestamp ({tz})"),
        DataType::Timestamp(_, None) => "timestamp".into(),
        DataType::Dictionary(_, v) => type_name(v),
        other => other.to_string().to_lowercase(),
    }
}
