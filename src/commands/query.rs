//! `lap query "SQL"`: SQL over the lake tables with DataFusion, printed as
//! an aligned table, CSV or JSON.

use std::path::Path;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use lap_runtime::config;
use lap_sink::delta::{Lake, query_context, tables};
use lap_sink::deltalake::arrow::array::RecordBatch;
use lap_sink::deltalake::arrow::util::display::{ArrayFormatter, FormatOptions};

/// Output formats of `lap query`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// Aligned columns for a terminal.
    Table,
    /// RFC 4180 CSV with a header row.
    Csv,
    /// One JSON object per row (JSON Lines).
    Json,
}

/// Arguments of `lap query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The SQL (DataFusion dialect); tables: learner_daily, learner_weekly,
    /// class_daily, class_weekly, school_daily, school_weekly, events.
    sql: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Lake directory or object-store URL (default: sink.lake.path of
    /// the config).
    #[arg(long)]
    lake: Option<String>,
}

/// Runs `lap query`.
pub async fn run(config_file: Option<&Path>, args: QueryArgs) -> anyhow::Result<()> {
    let cfg = config::load(config_file)?;
    let lake = super::lake(&cfg, args.lake.as_deref())?;
    let batches = execute(&lake, &args.sql).await?;
    print!("{}", render(&batches, args.format)?);
    Ok(())
}

/// Runs `sql` over the tables of `lake`. Errors name the lake and list its
/// tables, so a misspelt table is easy to fix.
pub async fn execute(lake: &Lake, sql: &str) -> anyhow::Result<Vec<RecordBatch>> {
    let ctx = query_context(lake)
        .await
        .with_context(|| format!("opening the lake at {lake}"))?;
    let present: Vec<&str> = tables()
        .filter(|t| ctx.table_exist(*t).unwrap_or(false))
        .collect();
    if present.is_empty() {
        bail!(
            "no lake tables under {lake}: run the pipeline (lap run, or lap-sink) first, or pass --lake DIR"
        );
    }
    let frame = match ctx.sql(sql).await {
        Ok(f) => f,
        Err(e) => bail!("{e}\ntables in {lake}: {}", present.join(", ")),
    };
    frame.collect().await.context("running the query")
}

/// The rows of `batches` in `format`.
pub fn render(batches: &[RecordBatch], format: Format) -> anyhow::Result<String> {
    let Some(first) = batches.first() else {
        return Ok(String::new());
    };
    let header: Vec<String> = first
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    // NULL is visible in a table; CSV leaves the field empty.
    let null = if matches!(format, Format::Csv) {
        ""
    } else {
        "NULL"
    };
    let opts = FormatOptions::default().with_null(null);
    let mut rows: Vec<Vec<String>> = Vec::new();
    for b in batches {
        let cols = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
            .collect::<Result<Vec<_>, _>>()?;
        for i in 0..b.num_rows() {
            rows.push(cols.iter().map(|c| c.value(i).to_string()).collect());
        }
    }
    Ok(match format {
        Format::Table => table(&header, &rows),
        Format::Csv => {
            let line = |cells: &[String]| {
                cells
                    .iter()
                    .map(|c| csv_cell(c))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let mut out = line(&header) + "\n";
            for r in &rows {
                out += &(line(r) + "\n");
            }
            out
        }
        Format::Json => {
            let mut buf = Vec::new();
            let mut writer = arrow_json::LineDelimitedWriter::new(&mut buf);
            for b in batches {
                writer.write(b)?;
            }
            writer.finish()?;
            String::from_utf8(buf)?
        }
    })
}

fn table(header: &[String], rows: &[Vec<String>]) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&width)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join(" | ").trim_end().to_string() + "\n"
    };
    let rule: Vec<String> = width.iter().map(|w| "-".repeat(*w)).collect();
    let mut out = line(header) + &rule.join("-+-") + "\n";
    for r in rows {
        out += &line(r);
    }
    out + &format!(
        "({} row{})\n",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    )
}

fn csv_cell(c: &str) -> String {
    if c.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", c.replace('"', "\"\""))
    } else {
        c.to_string()
    }
}
