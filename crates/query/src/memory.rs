//! How much memory a query may hold: DataFusion's memory pool with a limit, and spill files
//! in the system's temporary folder. Sorts, aggregations and joins that outgrow the limit
//! write what they hold to disk and go on; an operator that cannot spill fails with a
//! message that names the limit and how to raise it ([`QueryError::MemoryLimit`]), never
//! an out-of-memory kill.
//!
//! The limit counts what operators hold (hash tables, sort buffers, aggregate states), not
//! the batches in flight between them: the process uses somewhat more than the limit.

use std::num::NonZeroUsize;
use std::sync::Arc;

use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};

use crate::error::{QueryError, Result};

/// The default limit's share of the machine's memory.
pub const DEFAULT_FRACTION: f64 = 0.5;
/// The default limit where the machine's memory cannot be read.
const FALLBACK: usize = 4 << 30;

/// A memory limit in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimit(pub usize);

impl MemoryLimit {
    /// Half of the machine's memory ([`DEFAULT_FRACTION`]; 4 GiB where it cannot be read).
    pub fn machine_default() -> MemoryLimit {
        MemoryLimit(machine_memory().map_or(FALLBACK, |m| (m as f64 * DEFAULT_FRACTION) as usize))
    }

    /// `500MB`, `2GB`, `2GiB`, `1.5G`, `750M`, bytes, or a share of the machine's memory
    /// (`25%`). Decimal units are powers of 1000, `KiB`/`MiB`/`GiB`/`TiB` and single letters
    /// (`M`, `G`) powers of 1024.
    pub fn parse(text: &str) -> std::result::Result<MemoryLimit, String> {
        let bad = || format!("not a memory size: `{text}` (e.g. 500MB, 2GiB, 25%)");
        let t = text.trim();
        if let Some(share) = t.strip_suffix('%') {
            let share: f64 = share.trim().parse().map_err(|_| bad())?;
            if !(share > 0.0 && share <= 100.0) {
                return Err(format!("a share of the machine's memory is between 0 and 100%, not {text}"));
            }
            let machine =
                machine_memory().ok_or("this machine's memory size cannot be read: give a size, e.g. 2GiB")?;
            return Ok(MemoryLimit((machine as f64 * share / 100.0) as usize));
        }
        let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
        let (number, unit) = t.split_at(split);
        let number: f64 = number.parse().map_err(|_| bad())?;
        let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1.0,
            "kb" => 1e3,
            "mb" => 1e6,
            "gb" => 1e9,
            "tb" => 1e12,
            "k" | "kib" => 1024.0,
            "m" | "mib" => 1024.0 * 1024.0,
            "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
            "t" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
            _ => return Err(bad()),
        };
        let bytes = number * scale;
        if bytes < 1.0 {
            return Err(format!("a memory limit of {text} leaves nothing to run a query in"));
        }
        Ok(MemoryLimit(bytes as usize))
    }

    /// The runtime a session under this limit runs in: a fair pool (operators that can
    /// spill share it evenly) reporting its largest consumers when it is exhausted, and
    /// spill files in the system's temporary folder.
    pub fn runtime(self) -> Result<Arc<RuntimeEnv>> {
        let pool = TrackConsumersPool::new(FairSpillPool::new(self.0), NonZeroUsize::new(3).expect("3 > 0"));
        Ok(RuntimeEnvBuilder::new().with_memory_pool(Arc::new(pool)).build_arc()?)
    }
}

impl std::fmt::Display for MemoryLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b = self.0 as f64;
        let (value, unit) = match self.0 {
            n if n >= 1 << 30 => (b / (1u64 << 30) as f64, "GiB"),
            n if n >= 1 << 20 => (b / (1u64 << 20) as f64, "MiB"),
            n if n >= 1 << 10 => (b / 1024.0, "KiB"),
            _ => return write!(f, "{} bytes", self.0),
        };
        write!(f, "{value:.1} {unit}")
    }
}

/// The machine's memory in bytes (Linux: `/proc/meminfo`), also under a cgroup limit
/// lower than it (a container).
fn machine_memory() -> Option<usize> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: usize =
        meminfo.lines().find_map(|l| l.strip_prefix("MemTotal:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    let total = kib * 1024;
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max").ok().and_then(|s| s.trim().parse::<usize>().ok());
    Some(cgroup.map_or(total, |c| c.min(total)))
}

/// The error for an operator that could not get memory under the session's limit.
pub(crate) fn exceeded(limit: Option<usize>, detail: &str) -> QueryError {
    // DataFusion's text: "Failed to allocate additional X for OPERATOR with Y already
    // allocated for this reservation - Z remain available for the total memory pool: ..."
    // TrackConsumersPool puts its report of the largest consumers first and the pool's
    // own message after a last "Error: ".
    let detail = detail.rsplit("Error: ").next().unwrap_or(detail);
    let detail = detail.trim_start_matches("Resources exhausted: ");
    let what = detail.split(" - ").next().unwrap_or(detail).trim();
    let what = what.strip_prefix("Failed to allocate").map_or(what.to_string(), |w| format!("it needed{w}"));
    QueryError::MemoryLimit {
        limit: limit
            .map_or_else(|| "its memory limit".to_string(), |l| format!("the memory limit of {}", MemoryLimit(l))),
        detail: what,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_decimal_and_binary_units() {
        assert_eq!(MemoryLimit::parse("500MB"), Ok(MemoryLimit(500_000_000)));
        assert_eq!(MemoryLimit::parse("2GiB"), Ok(MemoryLimit(2 << 30)));
        assert_eq!(MemoryLimit::parse("1.5G"), Ok(MemoryLimit(3 << 29)));
        assert_eq!(MemoryLimit::parse("4096"), Ok(MemoryLimit(4096)));
        assert!(MemoryLimit::parse("lots").unwrap_err().contains("e.g. 500MB"));
        assert!(MemoryLimit::parse("5XB").is_err());
        assert!(MemoryLimit::parse("0").is_err());
        assert!(MemoryLimit::parse("150%").is_err());
        assert_eq!(MemoryLimit(3 << 29).to_string(), "1.5 GiB");
        assert_eq!(MemoryLimit(1 << 20).to_string(), "1.0 MiB");
    }

    #[test]
    fn the_default_is_a_share_of_the_machine() {
        let machine = machine_memory().expect("/proc/meminfo on Linux");
        assert_eq!(MemoryLimit::machine_default().0, (machine as f64 * DEFAULT_FRACTION) as usize);
        let quarter = MemoryLimit::parse("25%").unwrap().0;
        assert!(quarter > 0 && quarter < MemoryLimit::machine_default().0);
    }

    #[test]
    fn the_exceeded_message_names_the_limit_and_the_operator() {
        let e = exceeded(
            Some(1 << 20),
            "Resources exhausted: Additional allocation failed for ArrayAgg[0] with top memory consumers (across reservations) as:\n  ArrayAgg[0]#3(can spill: false) consumed 1.0 MB\nError: Failed to allocate additional 2.0 MB for ArrayAgg[0] with 1.0 MB already allocated for this reservation - 10.0 KB remain available for the total memory pool: ...",
        );
        let text = e.to_string();
        assert!(text.contains("the memory limit of 1.0 MiB"), "{text}");
        assert!(text.contains("it needed additional 2.0 MB for ArrayAgg[0]"), "{text}");
        assert!(text.contains("--memory-limit") && !text.contains('\n'), "{text}");
    }
}
