//! The SQL page's queries: each runs in its own task, reports progress (rows so far,
//! elapsed time) while it runs, keeps its first [`KEEP_ROWS`] rows for paging (and stops
//! there: the download has the rest), and can be cancelled (the task is aborted, which
//! drops DataFusion's stream and stops its work). At most [`MAX_RUNNING`] run at once; one
//! nobody has asked about for [`ABANDONED_AFTER`] (its page was closed) is cancelled.
//! Finished queries are forgotten after [`KEEP_FOR`], and at most [`MAX_QUERIES`] are kept.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::prelude::DataFrame;
use futures::StreamExt;
use serde::Serialize;

use crate::cells::{self, Column};
use crate::error::ApiResult;

/// Rows a result keeps for paging (the download has them all).
pub const KEEP_ROWS: usize = 100_000;
/// How long a finished query's result stays.
pub const KEEP_FOR: Duration = Duration::from_secs(15 * 60);
/// Queries kept at once (the oldest finished ones go first).
pub const MAX_QUERIES: usize = 32;
/// Queries running at once; one more is refused (429) until one ends.
pub const MAX_RUNNING: usize = 4;
/// A running query nobody has polled for this long is cancelled (long enough for a tab in
/// the background, whose timers a browser slows to one a minute).
pub const ABANDONED_AFTER: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Running,
    Done,
    Failed,
    Cancelled,
}

#[derive(Debug)]
struct Outcome {
    state: State,
    error: Option<String>,
    finished: Option<Instant>,
    batches: Vec<RecordBatch>,
    kept: usize,
    truncated: bool,
}

/// One query.
#[derive(Debug)]
pub struct Query {
    pub id: String,
    pub sql: String,
    schema: SchemaRef,
    started: Instant,
    rows: AtomicU64,
    outcome: Mutex<Outcome>,
    task: Mutex<Option<tokio::task::AbortHandle>>,
    polled: Mutex<Instant>,
}

/// What `GET /api/queries/{id}` answers.
#[derive(Debug, Serialize)]
pub struct Status {
    pub id: String,
    pub sql: String,
    pub state: State,
    pub elapsed_ms: u64,
    pub rows: u64,
    pub error: Option<String>,
    pub columns: Vec<Column>,
    pub offset: usize,
    pub page: Vec<Vec<serde_json::Value>>,
    pub truncated: bool,
}

impl Query {
    fn lock(&self) -> std::sync::MutexGuard<'_, Outcome> {
        self.outcome.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Its state, and the rows `offset..offset + limit` of its result so far.
    pub fn status(&self, offset: usize, limit: usize) -> ApiResult<Status> {
        let outcome = self.lock();
        let elapsed = outcome.finished.unwrap_or_else(Instant::now).duration_since(self.started);
        let mut page = Vec::new();
        let mut skip = offset;
        for b in &outcome.batches {
            if page.len() >= limit {
                break;
            }
            if skip >= b.num_rows() {
                skip -= b.num_rows();
                continue;
            }
            let take = (b.num_rows() - skip).min(limit - page.len());
            cells::append_rows(&b.slice(skip, take), &mut page)?;
            skip = 0;
        }
        Ok(Status {
            id: self.id.clone(),
            sql: self.sql.clone(),
            state: outcome.state,
            elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            rows: self.rows.load(Ordering::Relaxed),
            error: outcome.error.clone(),
            columns: cells::columns(&self.schema),
            offset,
            page,
            truncated: outcome.truncated,
        })
    }

    fn finish(&self, state: State, error: Option<String>) {
        let mut outcome = self.lock();
        if outcome.state == State::Running {
            outcome.state = state;
            outcome.error = error;
            outcome.finished = Some(Instant::now());
        }
    }

    /// Someone asked about it (its page is open).
    pub fn polled(&self) {
        *self.polled.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    fn running(&self) -> bool {
        self.lock().state == State::Running
    }

    /// Cancels it if it still runs.
    pub fn cancel(&self) {
        if let Some(task) = self.task.lock().unwrap_or_else(PoisonError::into_inner).take() {
            task.abort();
        }
        self.finish(State::Cancelled, None);
    }

    /// Keeps a batch of the result; false once [`KEEP_ROWS`] are kept and more came (the
    /// query stops there).
    fn keep(&self, batch: RecordBatch) -> bool {
        let mut outcome = self.lock();
        let room = KEEP_ROWS - outcome.kept;
        if batch.num_rows() > room {
            outcome.truncated = true;
        }
        let batch = batch.slice(0, batch.num_rows().min(room));
        if batch.num_rows() > 0 {
            outcome.kept += batch.num_rows();
            self.rows.fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
            outcome.batches.push(batch);
        }
        !outcome.truncated
    }
}

/// The queries the console runs.
#[derive(Debug, Default)]
pub struct Queries {
    all: Mutex<HashMap<String, Arc<Query>>>,
}

impl Queries {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Query>>> {
        self.all.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts running `df` (planned from `sql`) in a task of its own; `explain` words an
    /// error the way the CLI does.
    pub fn start(
        &self,
        sql: &str,
        df: DataFrame,
        explain: impl Fn(datafusion::error::DataFusionError) -> String + Send + 'static,
    ) -> Arc<Query> {
        let query = Arc::new(Query {
            id: uuid::Uuid::new_v4().simple().to_string(),
            sql: sql.to_string(),
            schema: df.schema().inner().clone(),
            started: Instant::now(),
            rows: AtomicU64::new(0),
            outcome: Mutex::new(Outcome {
                state: State::Running,
                error: None,
                finished: None,
                batches: Vec::new(),
                kept: 0,
                truncated: false,
            }),
            task: Mutex::new(None),
            polled: Mutex::new(Instant::now()),
        });
        let q = query.clone();
        let task = tokio::spawn(async move {
            let result = async {
                let mut stream = df.execute_stream().await?;
                while let Some(batch) = stream.next().await {
                    if !q.keep(batch?) {
                        break;
                    }
                }
                Ok::<_, datafusion::error::DataFusionError>(())
            }
            .await;
            match result {
                Ok(()) => q.finish(State::Done, None),
                Err(e) => q.finish(State::Failed, Some(explain(e))),
            }
        });
        *query.task.lock().unwrap_or_else(PoisonError::into_inner) = Some(task.abort_handle());
        let mut all = self.lock();
        forget_old(&mut all);
        all.insert(query.id.clone(), query.clone());
        query
    }

    /// Whether another query may start now (429 when [`MAX_RUNNING`] run).
    pub fn room(&self) -> crate::ApiResult<()> {
        self.sweep();
        let running = self.lock().values().filter(|q| q.running()).count();
        if running >= MAX_RUNNING {
            return Err(crate::ApiError {
                status: axum::http::StatusCode::TOO_MANY_REQUESTS,
                message: format!("{running} queries are running already: wait for one to end, or cancel one"),
            });
        }
        Ok(())
    }

    /// Cancels the running queries nobody has polled for [`ABANDONED_AFTER`], and forgets
    /// old finished ones (the server calls this every few seconds).
    pub fn sweep(&self) {
        let mut all = self.lock();
        for q in all.values() {
            let quiet = q.polled.lock().unwrap_or_else(PoisonError::into_inner).elapsed();
            if q.running() && quiet >= ABANDONED_AFTER {
                tracing::info!(query = %q.id, quiet_secs = quiet.as_secs(), "query cancelled: nobody asked about it");
                q.cancel();
            }
        }
        forget_old(&mut all);
    }

    pub fn get(&self, id: &str) -> Option<Arc<Query>> {
        self.lock().get(id).cloned()
    }

    /// Cancels every running query (the server is stopping).
    pub fn cancel_all(&self) {
        for q in self.lock().values() {
            q.cancel();
        }
    }
}

/// Drops finished queries older than [`KEEP_FOR`], then the oldest finished ones beyond
/// [`MAX_QUERIES`] (running ones stay: a person is waiting for them).
fn forget_old(all: &mut HashMap<String, Arc<Query>>) {
    let finished_at = |q: &Query| q.lock().finished;
    all.retain(|_, q| finished_at(q).is_none_or(|f| f.elapsed() < KEEP_FOR));
    while all.len() >= MAX_QUERIES {
        let oldest = all.iter().filter_map(|(id, q)| finished_at(q).map(|f| (f, id.clone()))).min().map(|(_, id)| id);
        match oldest {
            Some(id) => all.remove(&id),
            None => break,
        };
    }
}
