//! The events' layout for reading: compaction rewrites each day's files into files whose
//! rows are sorted by [`SORT_KEY`] (event source, event name, principal, time).
//!
//! Sorted, a row group holds a few services and a few API names, so the min/max statistics
//! of `eventsource` and `eventname` (kept per page, [`crate::schema::STATS_COLUMNS`]) rule
//! out most row groups for a filter on either, and the columns compress better (runs of
//! equal values). The struct leaves analysts look for one value of carry bloom filters
//! ([`crate::LakeOptions::compaction_properties`]).
//!
//! A day is rewritten when it has more than one file or a file compaction did not write
//! (ingest appends files as logs arrive); the files compaction writes carry the tag
//! [`LAYOUT_TAG`] in their Delta `add`, so a day already sorted is left alone. The rewrite
//! reads exactly the files it removes, in one commit that changes no data (`dataChange`
//! false: an incremental reader skips it); files ingest adds meanwhile stay, and the next
//! compaction sorts them in. The sort runs under a memory limit and spills to disk beyond
//! it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use deltalake::datafusion::execution::memory_pool::FairSpillPool;
use deltalake::datafusion::execution::runtime_env::RuntimeEnvBuilder;
use deltalake::datafusion::prelude::{SessionConfig, SessionContext};
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Remove};
use deltalake::protocol::DeltaOperation;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use futures::StreamExt;

use crate::{CLOUDTRAIL_TABLE, Lake, LakeError, Result, schema};

/// The order of the rows within each compacted file.
pub const SORT_KEY: &str = "eventsource, eventname, useridentity.arn, eventtime";
/// The `add` tag of a file compaction wrote sorted, and its value.
pub const LAYOUT_TAG: (&str, &str) = ("trailhouse.layout", "sorted:eventsource,eventname,useridentity.arn,eventtime");

/// What the sorted rewrite did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sorted {
    pub days: u64,
    pub files_removed: u64,
    pub files_added: u64,
}

impl Lake {
    /// Rewrites each day of the `cloudtrail` table that is not yet one sorted file set into
    /// files of about `target_bytes`, sorted by [`SORT_KEY`], the sort holding at most
    /// `memory_bytes` before it spills.
    pub async fn sort_days(&self, target_bytes: u64, memory_bytes: usize) -> Result<Sorted> {
        let err = LakeError::delta(&self.location);
        let mut table = self.table(CLOUDTRAIL_TABLE).await?;
        let snapshot = table.snapshot().map_err(&err)?.clone();
        let mut days: BTreeMap<Option<String>, (Vec<Remove>, bool)> = BTreeMap::new();
        for f in snapshot.log_data().iter() {
            let day = f.partition_values_map().remove(schema::EVENT_DATE).flatten();
            // delta-rs 1.1's file view has no accessor for an add's tags but this one.
            #[allow(deprecated)]
            let sorted = f
                .add_action()
                .tags
                .as_ref()
                .and_then(|t| t.get(LAYOUT_TAG.0).cloned().flatten())
                .is_some_and(|v| v == LAYOUT_TAG.1);
            let entry = days.entry(day).or_insert_with(|| (vec![], true));
            entry.0.push(f.remove_action(false));
            entry.1 &= sorted;
        }
        let pool = FairSpillPool::new(memory_bytes.max(64 << 20));
        let runtime = RuntimeEnvBuilder::new().with_memory_pool(Arc::new(pool)).build_arc().map_err(|e| df(self, e))?;
        let ctx = SessionContext::new_with_config_rt(SessionConfig::new(), runtime);
        table.update_datafusion_session(&ctx.state()).map_err(&err)?;
        ctx.register_table("t", Arc::new(crate::LakeTable::try_new(&table)?)).map_err(|e| df(self, e))?;
        let mut done = Sorted::default();
        for (day, (removes, all_sorted)) in days {
            // One sorted file is as far as a day goes; several sorted files (a big day)
            // stay too, unless another file joined them.
            if all_sorted {
                continue;
            }
            let predicate = crate::rollup::day_predicate(day.as_deref());
            let sql = format!("SELECT * FROM t WHERE {predicate} ORDER BY {SORT_KEY}");
            let mut stream =
                ctx.sql(&sql).await.map_err(|e| df(self, e))?.execute_stream().await.map_err(|e| df(self, e))?;
            let mut writer = RecordBatchWriter::for_table(&table)
                .map_err(&err)?
                .with_writer_properties(self.options.compaction_properties())
                .with_target_file_size(target_bytes.max(1 << 20));
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(|e| df(self, e))?;
                writer.write(batch).await.map_err(&err)?;
            }
            let mut adds = writer.flush().await.map_err(&err)?;
            for a in &mut adds {
                a.data_change = false;
                a.tags = Some(HashMap::from([(LAYOUT_TAG.0.to_string(), Some(LAYOUT_TAG.1.to_string()))]));
            }
            let (removed, added) = (removes.len() as u64, adds.len() as u64);
            let mut actions: Vec<Action> = removes.into_iter().map(Action::Remove).collect();
            actions.extend(adds.into_iter().map(Action::Add));
            let state = table.snapshot().map_err(&err)?.clone();
            let operation = DeltaOperation::Optimize { predicate: Some(predicate), target_size: target_bytes as i64 };
            let committed = CommitBuilder::from(CommitProperties::default())
                .with_actions(actions)
                .build(Some(&state), table.log_store(), operation)
                .await;
            match committed {
                Ok(_) => {
                    done.days += 1;
                    done.files_removed += removed;
                    done.files_added += added;
                }
                // Another compaction took the day first: its files are left for vacuum.
                Err(e) => {
                    tracing::warn!(day = ?day, error = %e, "The day changed while it was sorted; the next compaction sorts it.")
                }
            }
            table.update_state().await.map_err(&err)?;
        }
        Ok(done)
    }
}

fn df(lake: &Lake, e: deltalake::datafusion::error::DataFusionError) -> LakeError {
    LakeError::state(&lake.location, format!("sorting a day of events: {e}"))
}
