//! `lap catalog`: write the data catalogue as Markdown and JSON.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use lap_runtime::config;

use crate::catalog::{Privacy, build, markdown};

/// Arguments of `lap catalog`.
#[derive(Debug, Args)]
pub struct CatalogArgs {
    /// Folder for catalog.md and catalog.json.
    #[arg(long, default_value = "catalog")]
    out: PathBuf,
}

/// Runs `lap catalog`.
pub fn run(config_file: Option<&Path>, args: CatalogArgs) -> anyhow::Result<()> {
    let cfg = config::load(config_file)?;
    let catalog = build(&cfg)?;
    let origin = match config_file {
        Some(f) => format!("the config {}", f.display()),
        None => "the built-in config defaults".to_string(),
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let md = args.out.join("catalog.md");
    let json = args.out.join("catalog.json");
    std::fs::write(&md, markdown(&catalog, &origin))
        .with_context(|| format!("writing {}", md.display()))?;
    std::fs::write(&json, serde_json::to_string_pretty(&catalog)? + "\n")
        .with_context(|| format!("writing {}", json.display()))?;
    let columns: Vec<_> = catalog.datasets.iter().flat_map(|d| &d.columns).collect();
    let count = |p: Privacy| columns.iter().filter(|c| c.privacy == p).count();
    println!(
        "{} topics and tables, {} columns ({} personal, {} pseudonymous) written to {} and {}",
        catalog.datasets.len(),
        columns.len(),
        count(Privacy::Personal),
        count(Privacy::Pseudonymous),
        md.display(),
        json.display()
    );
    Ok(())
}
