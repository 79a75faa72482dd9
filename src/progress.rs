//! Progress of a long backfill: a bar on a terminal, a log line every 10 s otherwise.
//! The library only counts ([`ingest::counters::Counters`]); showing is the binary's job.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ingest::counters::Counters;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A bar on a terminal, periodic log lines otherwise.
    Auto,
    /// Periodic log lines only (e.g. with `--json`, whose stdout is the summary).
    Log,
}

/// Shows `counters` until [`Progress::finish`].
pub struct Progress {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    pub fn start(mode: Mode, counters: Arc<Counters>) -> Progress {
        let tty = mode == Mode::Auto && std::io::stderr().is_terminal();
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let bar = tty.then(|| {
                let b = indicatif::ProgressBar::new(0);
                b.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} files  {msg}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                b
            });
            let started = Instant::now();
            let period = if tty { Duration::from_millis(200) } else { Duration::from_secs(10) };
            let mut tick = tokio::time::interval(period);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tick.tick() => {}
                }
                let s = counters.snapshot();
                let (files, events) = (s.files_read, s.events_read);
                let mb = s.bytes_read as f64 / 1e6;
                let rate = events as f64 / started.elapsed().as_secs_f64().max(1e-3);
                let (commits, committed_files, committed_events) = (s.commits, s.files, s.events);
                match &bar {
                    Some(b) => {
                        // Log files to read: digests, other objects and files already in
                        // the lake are listed but not counted.
                        b.set_length(s.to_read);
                        b.set_position(files);
                        b.set_message(format!(
                            "{events} events, {mb:.0} MB, {rate:.0} events/s; committed {committed_files} files, {committed_events} events"
                        ));
                    }
                    None => tracing::info!(
                        files,
                        events,
                        mb = mb as u64,
                        events_per_sec = rate as u64,
                        commits,
                        committed_files,
                        committed_events,
                        "Backfill progress."
                    ),
                }
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
        });
        Progress { stop: Some(stop), task: Some(task) }
    }

    /// Stops showing progress (clears the bar).
    pub async fn finish(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}
