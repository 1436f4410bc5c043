//! `lap digest`: sends teachers the digests that are due now (new and
//! worsening flags of their classes, by e-mail and webhook, no names).
//! Run it from a scheduler (cron, a Kubernetes CronJob) each school
//! morning; a teacher gets at most one digest per day or week however
//! often it runs, and a failed delivery is tried again by the next run.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc, Weekday};
use clap::Args;
use lap_runtime::config::{self, Secret};
use lap_views::notify::{self, Channels, Mailer, Settings, Webhook};
use lap_views::{Options, SignIn, Views};

/// Environment variable holding the SMTP password; wins over
/// `views.digest.smtp_password_file`.
pub const SMTP_PASSWORD_ENV: &str = "LAP_VIEWS_SMTP_PASSWORD";
/// Environment variable holding the webhook's bearer token; wins over
/// `views.digest.webhook_token_file`.
pub const WEBHOOK_TOKEN_ENV: &str = "LAP_VIEWS_WEBHOOK_TOKEN";

/// Arguments of `lap digest`.
#[derive(Debug, Args)]
pub struct DigestArgs {
    /// The OneRoster export the teachers and classes come from (a folder or
    /// a zip). Default: views.roster.
    #[arg(long)]
    roster: Option<PathBuf>,
    /// Lake directory or object-store URL (default: sink.lake.path); not
    /// used when sink.postgres.enabled.
    #[arg(long)]
    lake: Option<String>,
    /// Work as if it were this time (RFC 3339), e.g. to send a morning's
    /// digests late. Default: now.
    #[arg(long)]
    at: Option<DateTime<Utc>>,
}

/// Runs `lap digest` once.
pub async fn run(config_file: Option<&Path>, args: DigestArgs) -> anyhow::Result<()> {
    let cfg = config::load(config_file)?;
    lap_runtime::telemetry::init(&cfg.log);
    let d = &cfg.views.digest;
    if d.smtp_url.is_empty() && d.webhook_url.is_empty() {
        bail!(
            "digests have nowhere to go: set views.digest.smtp_url (e-mail) or views.digest.webhook_url"
        );
    }
    let mail = if d.smtp_url.is_empty() {
        None
    } else {
        let password = Secret::resolve(SMTP_PASSWORD_ENV, &d.smtp_password_file)?;
        Some(
            Mailer::new(&d.smtp_url, password.as_ref().map(|p| p.expose()), &d.from)
                .context("views.digest.smtp_url / views.digest.from")?,
        )
    };
    let webhook = if d.webhook_url.is_empty() {
        None
    } else {
        let token = Secret::resolve(WEBHOOK_TOKEN_ENV, &d.webhook_token_file)?;
        Some(Webhook::new(
            &d.webhook_url,
            token.map(|t| t.expose().to_string()),
        ))
    };
    let settings = Settings {
        base_url: if d.base_url.is_empty() {
            format!("http://{}", cfg.views.listen)
        } else {
            d.base_url.trim_end_matches('/').to_string()
        },
        default: super::views::digest_default(&cfg),
        weekly_day: d
            .weekly_day
            .parse::<Weekday>()
            .map_err(|_| anyhow::anyhow!("views.digest.weekly_day is not a weekday"))?,
        time_zone: cfg
            .aggregate
            .time_zone
            .parse()
            .map_err(|e| anyhow::anyhow!("aggregate.time_zone: {e}"))?,
    };
    let (directory, backend) = super::views::open(&cfg, args.roster, args.lake.as_deref()).await?;
    let views: Arc<Views> = Views::new(
        directory,
        backend,
        Options {
            min_group_size: cfg.aggregate.min_group_size,
            sign_in: SignIn::Demo,
            digest_default: settings.default,
        },
    );
    let now = args.at.unwrap_or_else(Utc::now).timestamp_micros();
    let report = notify::send_due(&views, &settings, &Channels { mail, webhook }, now).await?;
    println!(
        "digests: {} sent, {} with nothing new, {} without an e-mail address or webhook, {} failed",
        report.sent.len(),
        report.quiet.len(),
        report.unreachable.len(),
        report.failed.len()
    );
    for teacher in &report.unreachable {
        println!("  {teacher}: no e-mail address in the roster and no webhook");
    }
    if !report.failed.is_empty() {
        for (teacher, why) in &report.failed {
            eprintln!("  {teacher}: {why}");
        }
        bail!(
            "{} digests were not delivered; fix the cause above and run lap digest again (only those are sent)",
            report.failed.len()
        );
    }
    Ok(())
}
