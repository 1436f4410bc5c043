//! Graceful shutdown on SIGTERM (Kubernetes) and SIGINT (Ctrl-C).
//!
//! The first signal cancels the returned token: stages stop polling, drain
//! what they hold, commit and exit. A second signal exits at once with status
//! 130, for an operator who does not want to wait.

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// A token cancelled by the first SIGTERM or SIGINT. Must be called inside a
/// Tokio runtime.
pub fn on_signal() -> std::io::Result<CancellationToken> {
    let token = CancellationToken::new();
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let cancel = token.clone();
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        info!(
            signal = name,
            "shutting down: stop polling, drain, commit, exit"
        );
        cancel.cancel();
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        warn!("second signal: exiting without draining");
        std::process::exit(130);
    });
    Ok(token)
}
