//! One module per `lap` subcommand.

pub mod backfill;
pub mod catalog;
pub mod demo;
pub mod digest;
pub mod erase;
pub mod generate;
pub mod lake;
pub mod query;
pub mod retention;
pub mod roster;
pub mod run;
pub mod topics;
pub mod views;

use anyhow::Context;
use lap_enrich::KEY_ENV;
use lap_enrich::pseudonym::Pseudonymiser;
use lap_runtime::config::{Config, Secret};
use lap_sink::delta::{Commits, Lake};
use lap_sink::postgres::{PASSWORD_ENV, PgStore};

/// The pseudonymiser with the deployment's key: commands that compute
/// pseudonyms (`lap run`, `lap erase`) must use the key enrich uses.
pub fn pseudonymiser(cfg: &Config) -> anyhow::Result<Pseudonymiser> {
    let key = Secret::resolve(KEY_ENV, &cfg.enrich.key_file)?.with_context(|| {
        format!(
            "no pseudonymisation key: set {KEY_ENV} or enrich.key_file (e.g. a file from `openssl rand -hex 32`)"
        )
    })?;
    Ok(Pseudonymiser::new(&key)?)
}

/// The aggregate's reference data from a OneRoster export: curriculum,
/// questionnaire, and the class lists by pseudonym (with the deployment's
/// key, as `lap roster load` publishes them).
pub fn reference_of_export(
    cfg: &Config,
    path: &std::path::Path,
) -> anyhow::Result<lap_aggregate::reference::Reference> {
    let tenant = &cfg.enrich.tenant;
    let export = lap_enrich::roster::load(path, tenant, &mut |_| {})
        .with_context(|| format!("reading the roster export {}", path.display()))?;
    let mut reference = lap_aggregate::reference::Reference::default();
    let mut state = lap_enrich::state::Roster::new(tenant.clone(), cfg.enrich.identity.clone());
    for r in export.records {
        reference.apply(tenant, &r);
        state.apply(r);
    }
    for member in lap_enrich::members::class_members(&state, &pseudonymiser(cfg)?) {
        reference.apply(tenant, &member);
    }
    Ok(reference)
}

/// The PostgreSQL store of the config with its password, or `None` when
/// `sink.postgres.enabled` is off.
pub fn postgres_store(cfg: &Config) -> anyhow::Result<Option<PgStore>> {
    let pg = &cfg.sink.postgres;
    if !pg.enabled {
        return Ok(None);
    }
    let password = Secret::resolve(PASSWORD_ENV, &pg.password_file)?;
    Ok(Some(PgStore::new(pg, password)?))
}

/// The lake a command works on: `--lake` when given (a directory or an
/// object-store URL), else `sink.lake.path`, with the config's storage
/// options either way.
pub fn lake(cfg: &Config, arg: Option<&str>) -> anyhow::Result<Lake> {
    let lake = &cfg.sink.lake;
    Ok(Lake::new(arg.unwrap_or(&lake.path), &lake.storage_options)?)
}

/// [`lake`] for a command that commits to it: refused when its store
/// would let this commit and a sink's overwrite each other, unless
/// `sink.lake.allow_unsafe_commits` says only one writer runs.
pub async fn writable_lake(cfg: &Config, arg: Option<&str>) -> anyhow::Result<Lake> {
    let lake = self::lake(cfg, arg)?;
    if lake
        .check_commits(cfg.sink.lake.allow_unsafe_commits)
        .await?
        == Commits::Unsafe
    {
        eprintln!(
            "warning: {lake} does not keep concurrent commits apart; no other writer may commit \
             to it while this runs"
        );
    }
    Ok(lake)
}
