//! `lap views`: the pages for teachers, school leaders, parents and
//! learners, over PostgreSQL when `sink.postgres.enabled`, else over the
//! lake (the demo's, or `sink.lake.path`), with the sign-in `views.sign_in`
//! names.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use lap_runtime::config::{self, Config, Secret};
use lap_views::digest::Frequency;
use lap_views::oidc::{Oidc, Settings};
use lap_views::{Backend, Directory, Options, SignIn, Views};

/// Environment variable holding the OpenID client secret; wins over
/// `views.oidc.client_secret_file`.
pub const OIDC_SECRET_ENV: &str = "LAP_VIEWS_OIDC_SECRET";

/// Arguments of `lap views`.
#[derive(Debug, Args)]
pub struct ViewsArgs {
    /// The OneRoster export the people and classes come from (a folder or
    /// a zip): the one enrich loaded. Default: views.roster.
    #[arg(long)]
    roster: Option<PathBuf>,
    /// Lake directory or object-store URL (default: sink.lake.path of the
    /// config); not used when sink.postgres.enabled.
    #[arg(long)]
    lake: Option<String>,
    /// Where to listen (default: views.listen). The demo sign-in takes
    /// loopback addresses only.
    #[arg(long)]
    listen: Option<SocketAddr>,
}

/// The roster's directory with the deployment's key.
fn directory(cfg: &Config, roster: &Path) -> anyhow::Result<Directory> {
    let tenant = &cfg.enrich.tenant;
    let export = lap_enrich::roster::load(roster, tenant, &mut |_| {})
        .with_context(|| format!("reading the roster export {}", roster.display()))?;
    Ok(Directory::build(
        tenant,
        export.records,
        &super::pseudonymiser(cfg)?,
    ))
}

/// The sign-in the config names; for OpenID Connect, the provider's
/// metadata and keys are read now, so a wrong issuer fails at start.
async fn sign_in(cfg: &Config) -> anyhow::Result<SignIn> {
    if cfg.views.sign_in != "oidc" {
        return Ok(SignIn::Demo);
    }
    let o = &cfg.views.oidc;
    let secret = Secret::resolve(OIDC_SECRET_ENV, &o.client_secret_file)?;
    let client = Oidc::discover(Settings {
        issuer: o.issuer.clone(),
        client_id: o.client_id.clone(),
        client_secret: secret.map(|s| s.expose().to_string()),
        redirect_url: o.redirect_url.clone(),
        claim: o.claim.clone(),
        scopes: o.scopes.clone(),
    })
    .await?;
    Ok(SignIn::Oidc {
        client: Arc::new(client),
        field: o.roster_field.parse().map_err(anyhow::Error::msg)?,
    })
}

/// The roster's directory and the store the views read: PostgreSQL when
/// `sink.postgres.enabled`, else the lake (`lake` or `sink.lake.path`).
pub async fn open(
    cfg: &Config,
    roster: Option<PathBuf>,
    lake: Option<&str>,
) -> anyhow::Result<(Directory, Backend)> {
    let roster = roster
        .or_else(|| Some(PathBuf::from(&cfg.views.roster)).filter(|p| !p.as_os_str().is_empty()))
        .context("no roster export: give --roster or set views.roster")?;
    let directory = directory(cfg, &roster)?;
    let backend = match super::postgres_store(cfg)? {
        Some(pg) => Backend::postgres(pg),
        None => Backend::lake(super::lake(cfg, lake)?),
    };
    Ok((directory, backend))
}

/// The digest frequency of teachers who have not chosen.
pub fn digest_default(cfg: &Config) -> Frequency {
    Frequency::parse(&cfg.views.digest.default_frequency)
        .expect("the config's validation admits known frequencies only")
}

/// Runs `lap views` until Ctrl-C.
pub async fn run(config_file: Option<&Path>, args: ViewsArgs) -> anyhow::Result<()> {
    let cfg = config::load(config_file)?;
    lap_runtime::telemetry::init(&cfg.log);
    let (directory, backend) = open(&cfg, args.roster, args.lake.as_deref()).await?;
    let views = Views::new(
        directory,
        backend,
        Options {
            min_group_size: cfg.aggregate.min_group_size,
            sign_in: sign_in(&cfg).await?,
            digest_default: digest_default(&cfg),
        },
    );
    let listen = match args.listen {
        Some(a) => a,
        None => cfg.views.listen.parse()?,
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen} (choose another with --listen)"))?;
    println!(
        "lap views on http://{}/ ({} sign-in); Ctrl-C stops it",
        listener.local_addr()?,
        cfg.views.sign_in
    );
    lap_views::serve(views, listener, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
