//! What every stage service does before and around its operator: parse
//! `--config`, load the layered config, start logging, serve metrics and
//! probes, and translate SIGTERM into a graceful stop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::{self, Config, ConfigError};
use crate::health::Health;
use crate::metrics::Metrics;
use crate::stage::{Operator, RunOptions, RunReport, StageError, run};
use crate::transport::kafka::{KafkaSink, KafkaSource};
use crate::{memory, server, shutdown, telemetry};

/// Command-line arguments shared by every service binary.
#[derive(Debug, Parser)]
pub struct ServiceArgs {
    /// TOML config file; `LAP__SECTION__KEY` variables override its values.
    #[arg(long, env = "LAP_CONFIG")]
    pub config: Option<PathBuf>,
}

/// Why a service could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The metrics/health port could not be bound, or signals not installed.
    #[error(
        "cannot start the service endpoint on {addr}: {source} (set service.metrics_addr to a free address)"
    )]
    Endpoint {
        /// The address from `service.metrics_addr`.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A started service: config, observability and the stop signal.
#[derive(Debug)]
pub struct Service {
    /// Stage name, used for the consumer group, client id and metrics.
    pub name: &'static str,
    /// The loaded configuration.
    pub config: Config,
    /// The service's metrics registry.
    pub metrics: Metrics,
    /// Liveness and readiness state.
    pub health: Health,
    /// Cancelled on SIGTERM/SIGINT.
    pub stop: CancellationToken,
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    pub endpoint: SocketAddr,
}

impl Service {
    /// Turns transparent huge pages off (see [`memory`]), parses the process
    /// arguments and starts everything but the stage.
    pub async fn start(name: &'static str) -> Result<Service, ServiceError> {
        let huge_pages = memory::avoid_huge_pages();
        let args = ServiceArgs::parse();
        let config = config::load(args.config.as_deref())?;
        telemetry::init(&config.log);
        match huge_pages {
            Ok(pages) => info!(service = name, ?pages, "transparent huge pages"),
            Err(e) => warn!(
                service = name,
                error = %e,
                "could not turn transparent huge pages off; the heap uses the kernel's setting"
            ),
        }
        let metrics = Metrics::new(name);
        let health = Health::default();
        let addr = config.service.metrics_addr;
        let endpoint_err = |source| ServiceError::Endpoint { addr, source };
        let stop = shutdown::on_signal().map_err(endpoint_err)?;
        let stall = Duration::from_millis(config.service.stall_timeout_ms);
        let endpoint = server::serve(addr, metrics.clone(), health.clone(), stall, stop.clone())
            .await
            .map_err(endpoint_err)?;
        info!(service = name, %endpoint, config = ?args.config, "service started");
        Ok(Service {
            name,
            config,
            metrics,
            health,
            stop,
            endpoint,
        })
    }

    /// The consumer group of this stage: `<group_prefix>.<name>`.
    pub fn group_id(&self) -> String {
        format!("{}.{}", self.config.kafka.consumer.group_prefix, self.name)
    }

    /// Runs `op` over Kafka: consumes `topics` in this stage's group, produces
    /// what it emits, and returns after a graceful stop.
    pub async fn run_kafka<O: Operator>(
        &self,
        topics: &[&str],
        op: O,
    ) -> Result<(O, RunReport), StageError> {
        let kafka = &self.config.kafka;
        let source = KafkaSource::subscribe(
            kafka,
            &self.group_id(),
            topics,
            self.health.clone(),
            self.metrics.clone(),
        )?;
        let sink = KafkaSink::new(kafka, self.name)?;
        let opts = RunOptions {
            grace: Duration::from_millis(self.config.service.shutdown_grace_ms),
            ..RunOptions::default()
        };
        run(
            source,
            sink,
            op,
            opts,
            self.metrics.clone(),
            self.health.clone(),
            self.stop.clone(),
        )
        .await
    }
}
