//! `lap`: the command a person types. Each subcommand lives in
//! `src/commands/`; this file only parses arguments and dispatches.

mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// lap: a streaming learning-analytics pipeline (xAPI and Caliper in,
/// privacy-preserving indicators out).
#[derive(Debug, Parser)]
#[command(version, propagate_version = true)]
struct Cli {
    /// TOML config file; `LAP__SECTION__KEY` environment variables override it.
    #[arg(long, global = true, env = "LAP_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Load OneRoster exports (and lap's curriculum, questionnaire and
    /// consent files) into the roster topic.
    Roster {
        #[command(subcommand)]
        action: commands::roster::RosterAction,
    },
    /// Compute the final indicator rows of archived enriched events in batch
    /// with the same SQL files as the aggregate service.
    Backfill(commands::backfill::BackfillArgs),
    /// Run SQL over the lake tables and print the result.
    Query(commands::query::QueryArgs),
    /// Manage the Kafka topics of the pipeline.
    Topics {
        #[command(subcommand)]
        action: commands::topics::TopicsAction,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Roster { action } => commands::roster::run(cli.config.as_deref(), action).await,
        Command::Backfill(args) => {
            tokio::task::block_in_place(|| commands::backfill::run(cli.config.as_deref(), args))
        }
        Command::Query(args) => commands::query::run(cli.config.as_deref(), args).await,
        Command::Topics { action } => commands::topics::run(cli.config.as_deref(), action).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
