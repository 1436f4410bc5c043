//! Structured logging with `tracing`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogConfig;

/// Environment variable that forces the log format (`json` or `human`),
/// overriding `log.format`.
pub const LOG_FORMAT_ENV: &str = "LAP_LOG_FORMAT";

/// Libraries that narrate internals, with the level they log at unless the
/// level directives name them. The Delta kernel logs every table snapshot it
/// builds at INFO and an expected "no files in log segment" at ERROR when a
/// table is first created; deltalake warns about merge metrics it derives.
/// Their real failures reach lap as errors, which lap logs with context.
const QUIET: &[(&str, &str)] = &[
    ("buoyant_kernel", "off"),
    ("delta_kernel", "off"),
    ("deltalake_core", "error"),
];

/// Installs the global subscriber: JSON lines when `LAP_LOG_FORMAT=json` (or
/// `log.format = "json"`, or `auto` without a terminal, as in a pod), human
/// lines otherwise. `RUST_LOG` overrides `log.level`. Logs go to stderr so
/// command output on stdout stays clean. Safe to call twice (the second call
/// is ignored), which keeps tests simple.
pub fn init(cfg: &LogConfig) {
    let mut directives =
        std::env::var(EnvFilter::DEFAULT_ENV).unwrap_or_else(|_| cfg.level.clone());
    for (lib, level) in QUIET {
        if !directives.contains(lib) {
            directives.push_str(&format!(",{lib}={level}"));
        }
    }
    let filter = EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("info"));
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
