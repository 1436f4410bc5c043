//! `lap`: the command a person types. Each subcommand lives in
//! `src/commands/`; this file only parses arguments and dispatches.

mod catalog;
mod commands;
mod embedded;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc, as in the service binaries (`lap run` runs their stages).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Generate a small school year, run the pipeline over it and print
    /// what the tables say: the quickest way to see lap work.
    Demo(commands::demo::DemoArgs),
    /// Generate a deterministic synthetic school year: a OneRoster export
    /// and xAPI/Caliper activity files.
    Gen(commands::generate::GenArgs),
    /// Run all four stages in one process over roster and activity files,
    /// writing the lake (embedded mode, no servers).
    Run(commands::run::RunArgs),
    /// Load OneRoster exports (and lap's curriculum, questionnaire and
    /// consent files) into the roster topic.
    Roster {
        #[command(subcommand)]
        action: commands::roster::RosterAction,
    },
    /// Compute the final indicator rows of archived enriched events in batch
    /// with the same SQL files as the aggregate service.
    Backfill(commands::backfill::BackfillArgs),
    /// Write the data catalogue (every topic and table, its columns with
    /// descriptions and privacy class, retention, lineage) as Markdown and JSON.
    Catalog(commands::catalog::CatalogArgs),
    /// Erase one learner from every table of both stores, publish
    /// tombstones for their roster records and history, and record an
    /// audit entry without personal data.
    Erase(commands::erase::EraseArgs),
    /// Delete rows past each table's retention (sink.retention) in both
    /// stores and vacuum the lake.
    Retention {
        #[command(subcommand)]
        action: commands::retention::RetentionAction,
    },
    /// Lake upkeep: compaction of small files.
    Lake {
        #[command(subcommand)]
        action: commands::lake::LakeAction,
    },
    /// Run SQL over the lake tables and print the result.
    Query(commands::query::QueryArgs),
    /// Serve the pages teachers, school leaders, parents and learners see,
    /// over the lake or PostgreSQL, with the demo sign-in.
    Views(commands::views::ViewsArgs),
    /// Send teachers the digests due now: the new and worsening flags of
    /// their classes, by e-mail and webhook, without names.
    Digest(commands::digest::DigestArgs),
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
        Command::Catalog(args) => commands::catalog::run(cli.config.as_deref(), args),
        Command::Demo(args) => commands::demo::run(cli.config.as_deref(), args).await,
        Command::Gen(args) => commands::generate::run(cli.config.as_deref(), args).await,
        Command::Run(args) => commands::run::run(cli.config.as_deref(), args).await,
        Command::Roster { action } => commands::roster::run(cli.config.as_deref(), action).await,
        Command::Backfill(args) => commands::backfill::run(cli.config.as_deref(), args).await,
        Command::Erase(args) => commands::erase::run(cli.config.as_deref(), args).await,
        Command::Retention { action } => {
            commands::retention::run(cli.config.as_deref(), action).await
        }
        Command::Lake { action } => commands::lake::run(cli.config.as_deref(), action).await,
        Command::Query(args) => commands::query::run(cli.config.as_deref(), args).await,
        Command::Views(args) => commands::views::run(cli.config.as_deref(), args).await,
        Command::Digest(args) => commands::digest::run(cli.config.as_deref(), args).await,
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
