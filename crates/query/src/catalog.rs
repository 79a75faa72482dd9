//! The lake as the session's default schema: its Delta tables and the [`views`], each
//! opened the first time a statement names it. `SELECT ... FROM cloudtrail` reads the
//! `cloudtrail` table's Delta log and nothing else: not the ledger's (a third of a
//! `trailhouse sql` run's start on a 10M-event lake, measured with strace 2026-12-01), nor
//! the detection tables', nor does it plan the views.
//!
//! What a statement creates (`CREATE VIEW`, `CREATE TABLE ... AS`) lives beside them in
//! memory and shadows a lake table or view of the same name.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider, TableProvider};
use datafusion::datasource::ViewTable;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::SessionState;
use lake::{CLOUDTRAIL_TABLE, Lake, LakeTable, ROLLUPS_TABLE};

use crate::session::TableInfo;
use crate::views;

/// The lake's tables (`lake::TABLES`), and whether every lake has it (the detection
/// tables exist once `trailhouse detect` has run, `integrity` once a digest file was
/// ingested, `alert_triage` once an alert was triaged in the console).
pub(crate) fn lake_tables() -> impl Iterator<Item = (&'static str, bool)> {
    lake::TABLES.into_iter().map(|t| (t, lake::REQUIRED_TABLES.contains(&t)))
}

/// A snapshot of the session's state, for planning a view (the schema cannot hold the
/// state itself: the state holds the schema).
pub(crate) type StateFn = Box<dyn Fn() -> Option<SessionState> + Send + Sync>;

pub(crate) struct LakeSchema {
    lake: Lake,
    state: StateFn,
    /// Lake tables and views resolved so far; `None`: a detection table this lake lacks.
    opened: Mutex<HashMap<String, Option<Arc<dyn TableProvider>>>>,
    /// The lake tables opened so far, by name.
    tables: Mutex<BTreeMap<&'static str, Arc<LakeTable>>>,
    created: MemorySchemaProvider,
}

impl std::fmt::Debug for LakeSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeSchema").field("lake", &self.lake.location()).finish_non_exhaustive()
    }
}

impl LakeSchema {
    pub(crate) fn new(lake: Lake, state: StateFn) -> Self {
        LakeSchema {
            lake,
            state,
            opened: Mutex::default(),
            tables: Mutex::default(),
            created: MemorySchemaProvider::new(),
        }
    }

    pub(crate) fn lake(&self) -> &Lake {
        &self.lake
    }

    /// A lake table, opened now if no statement has named it yet; `None` for a detection
    /// table this lake does not have.
    pub(crate) async fn lake_table(&self, name: &str) -> DfResult<Option<Arc<LakeTable>>> {
        let Some((name, required)) = lake_tables().find(|(n, _)| *n == name) else {
            return Ok(None);
        };
        if let Some(t) = lock(&self.tables).get(name) {
            return Ok(Some(t.clone()));
        }
        if lock(&self.opened).get(name).is_some_and(Option::is_none) {
            return Ok(None);
        }
        // The rollup is loaded before the events: a run commits its events first, so the
        // rollup read is never ahead of them (and `InStep` tells when it is behind).
        let rollup = match name {
            CLOUDTRAIL_TABLE => self.lake.try_table(ROLLUPS_TABLE).await?,
            _ => None,
        };
        let table = match (required, self.lake.try_table(name).await?) {
            (_, Some(t)) => t,
            (true, None) => self.lake.table(name).await?,
            (false, None) => {
                lock(&self.opened).insert(name.to_string(), None);
                return Ok(None);
            }
        };
        let state = self.state()?;
        table.update_datafusion_session(&state).map_err(|e| DataFusionError::External(Box::new(e)))?;
        let mut provider = LakeTable::try_new(&table)?;
        if name == CLOUDTRAIL_TABLE {
            // A lake written by an older build, opened without upgrading it.
            provider = provider.reading_as(&lake::schema::cloudtrail_schema())?;
        }
        if let Some(rollup) = rollup {
            rollup.update_datafusion_session(&state).map_err(|e| DataFusionError::External(Box::new(e)))?;
            let in_step = lake::rollup::InStep::check(LakeTable::try_new(&rollup)?, provider.state());
            if !in_step.whole() {
                tracing::debug!(days = ?in_step.days_out_of_step, "The rollup is out of step with the events on some days; aggregates read the events.");
            }
            provider = provider.with_rollup(in_step);
        }
        let provider = Arc::new(provider);
        Ok(Some(lock(&self.tables).entry(name).or_insert(provider).clone()))
    }

    /// The lake tables opened so far.
    pub(crate) fn opened_tables(&self) -> Vec<TableInfo> {
        lock(&self.tables)
            .iter()
            .map(|(&name, t)| TableInfo { name, version: t.version(), files: t.file_count() })
            .collect()
    }

    /// The `cloudtrail` table if a statement has opened it.
    pub(crate) fn opened_cloudtrail(&self) -> Option<Arc<LakeTable>> {
        lock(&self.tables).get(CLOUDTRAIL_TABLE).cloned()
    }

    async fn view(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let Some((_, _, sql)) = views::VIEWS.iter().find(|(n, _, _)| *n == name) else {
            return Ok(None);
        };
        let plan = self.state()?.create_logical_plan(sql).await?;
        Ok(Some(Arc::new(ViewTable::new(plan, Some(sql.to_string())))))
    }

    fn state(&self) -> DfResult<SessionState> {
        (self.state)().ok_or_else(|| DataFusionError::Internal("the query session has been dropped".into()))
    }

    fn is_lake_name(name: &str) -> bool {
        lake_tables().any(|(n, _)| n == name) || views::VIEWS.iter().any(|(n, _, _)| *n == name)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[async_trait]
impl SchemaProvider for LakeSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = lake_tables().map(|(n, _)| n.to_string()).collect();
        names.extend(views::VIEWS.iter().map(|(n, _, _)| n.to_string()));
        for n in self.created.table_names() {
            if !names.contains(&n) {
                names.push(n);
            }
        }
        names
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if let Some(t) = self.created.table(name).await? {
            return Ok(Some(t));
        }
        if let Some(t) = lock(&self.opened).get(name) {
            return Ok(t.clone());
        }
        let resolved: Option<Arc<dyn TableProvider>> = match self.lake_table(name).await? {
            Some(t) => Some(t),
            None => self.view(name).await?,
        };
        if Self::is_lake_name(name) {
            lock(&self.opened).insert(name.to_string(), resolved.clone());
        }
        Ok(resolved)
    }

    fn register_table(&self, name: String, table: Arc<dyn TableProvider>) -> DfResult<Option<Arc<dyn TableProvider>>> {
        self.created.register_table(name, table)
    }

    fn deregister_table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        self.created.deregister_table(name)
    }

    fn table_exist(&self, name: &str) -> bool {
        self.created.table_exist(name) || Self::is_lake_name(name)
    }
}
