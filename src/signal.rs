//! Waiting for the operator's stop: SIGTERM or SIGINT (Ctrl-C).

/// Returns when SIGTERM or SIGINT arrives (only SIGINT where there is no SIGTERM).
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Ctrl-C (SIGINT) as an event to wait for instead of the end of the process: from
/// [`Interrupts::listen`] on, the handler is installed, so a Ctrl-C sent after it returns
/// is caught. What a long statement listens to, to cancel itself.
pub struct Interrupts {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
}

impl Interrupts {
    pub fn listen() -> std::io::Result<Interrupts> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Interrupts { signal: signal(SignalKind::interrupt())? })
        }
        #[cfg(not(unix))]
        Ok(Interrupts {})
    }

    /// Returns at the next Ctrl-C.
    pub async fn next(&mut self) {
        #[cfg(unix)]
        self.signal.recv().await;
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }

    /// Forgets a Ctrl-C that came while nothing listened (between two statements), so that
    /// it does not cancel the next one.
    pub fn forget(&mut self) {
        #[cfg(unix)]
        {
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            while let std::task::Poll::Ready(Some(())) = self.signal.poll_recv(&mut cx) {}
        }
    }
}
