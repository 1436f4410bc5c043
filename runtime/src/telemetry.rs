//! Structured logging with `tracing`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogConfig;

/// Environment variable that forces the log format (`json` or `human`),
/// overriding `log.format`.
pub const LOG_FORMAT_ENV: &str = "LAP_LOG_FORMAT";

/// Installs the global subscriber: JSON lines when `LAP_LOG_FORMAT=json` (or
/// `log.format = "json"`, or `auto` without a terminal, as in a pod), human
/// lines otherwise. `RUST_LOG` overrides `log.level`. Logs go to stderr so
/// command output on stdout stays clean. Safe to call twice (the second call
/// is ignored), which keeps tests simple.
pub fn init(cfg: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&cfg.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let format = std::env::var(LOG_FORMAT_ENV).unwrap_or_else(|_| cfg.format.clone());
    let json = match format.as_str() {
        "json" => true,
        "human" => false,
        _ => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init()
    } else {
        builder.try_init()
    };
}
