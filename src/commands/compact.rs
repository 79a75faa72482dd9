//! `trailhouse compact`: each day's events rewritten into large files sorted for reading,
//! the ledger OPTIMIZEd, the hourly rollup folded, VACUUM and checkpoints, and the
//! detection baselines folded to one row per key.

use std::process::ExitCode;

use anyhow::Result;
use lake::Lake;

use crate::args::{LakeAccess, MemoryArgs};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub lake: LakeAccess,
    /// Target size of compacted files, in MiB.
    #[arg(long, default_value_t = 256)]
    pub target_file_mb: u64,
    /// Keep unreferenced files younger than this many hours (time travel, running writers:
    /// files an ingester has written but not yet committed are unreferenced too, so use 0
    /// only on a lake nobody is writing to).
    #[arg(long, default_value_t = 168)]
    pub retention_hours: i64,
    /// Memory the sort of one day's events may hold before it spills to disk.
    #[command(flatten)]
    pub memory: MemoryArgs,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let lake = Lake::open_existing(a.lake.location(), &a.lake.options(None)).await?;
    if let Some((before, after)) = detections::baseline::fold(&lake, 2).await? {
        println!("Folded the detection baselines: {before} rows into {after}.");
    }
    let s = lake.compact_within(a.target_file_mb << 20, a.retention_hours, a.memory.limit().0).await?;
    println!(
        "Compacted {}: {} files into {} sorted ({} days); {} unreferenced files vacuumed; {} checkpoints written; \
         rollup: {} days folded, {} rebuilt from the events.",
        a.lake.location(),
        s.files_removed,
        s.files_added,
        s.days_sorted,
        s.files_vacuumed,
        s.checkpoints,
        s.rollup.days_folded,
        s.rollup.days_rebuilt,
    );
    Ok(ExitCode::SUCCESS)
}
