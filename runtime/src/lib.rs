//! Shared plumbing of the lap stages.
//!
//! - [`transport`]: the [`Source`](transport::Source) /
//!   [`RecordSink`](transport::RecordSink) pair with a Kafka and an in-memory
//!   adapter, at-least-once with offsets committed only after acknowledgement.
//! - [`stage`]: the transport-free [`Operator`](stage::Operator) trait and the
//!   loop that runs one over any transport.
//! - [`config`]: layered configuration (defaults, TOML file, `LAP__*` env).
//! - [`metrics`], [`health`], [`server`]: Prometheus metrics and probes.
//! - [`service`], [`shutdown`], [`telemetry`], [`memory`]: what every
//!   service binary does around its stage.

pub mod config;
pub mod health;
pub mod memory;
pub mod metrics;
pub mod server;
pub mod service;
pub mod shutdown;
pub mod stage;
pub mod telemetry;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod transport;
