//! Layered loading and validation of [`Config`].

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use config::{FileFormat, Map, Source, Value, ValueKind};

use super::Config;

/// Environment variables with this prefix override config keys:
/// `LAP__KAFKA__BOOTSTRAP_SERVERS` sets `kafka.bootstrap_servers`.
const ENV_PREFIX: &str = "LAP__";

/// Keys whose children are free-form: librdkafka properties, HTTP client
/// names, delta-rs object-store options.
const OPEN_MAPS: &[&str] = &[
    "kafka.properties",
    "ingest.http.clients",
    "sink.lake.storage_options",
];

/// Why a configuration could not be loaded. Every variant names the key and
/// where its value came from, so the fix is obvious.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file is missing or not valid TOML.
    #[error("cannot read config file {path}: {reason}")]
    File {
        /// The file given with `--config`.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A key that no section defines (usually a typo).
    #[error("unknown config key `{key}` in {origin}{hint}")]
    UnknownKey {
        /// Dotted key path.
        key: String,
        /// File path or environment variable name.
        origin: String,
        /// A suggestion such as "; did you mean `kafka.bootstrap_servers`?".
        hint: String,
    },
    /// A value of the wrong type (the message names key and origin).
    #[error("{0}")]
    Type(String),
    /// A value of the right type that is not allowed.
    #[error("invalid value for `{key}` in {origin}: {reason}")]
    Invalid {
        /// Dotted key path.
        key: String,
        /// File path, environment variable or "built-in defaults".
        origin: String,
        /// What is allowed.
        reason: String,
    },
    /// A secret could not be read.
    #[error("secret {name}: {reason}")]
    Secret {
        /// Environment variable or file the secret was expected in.
        name: String,
        /// What went wrong and what to do.
        reason: String,
    },
}

/// Loads defaults, then `file` if given, then `LAP__*` variables from the
/// process environment.
pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
    load_from(file, std::env::vars())
}

/// Like [`load`] with an explicit environment, so tests need not mutate the
/// process environment.
pub fn load_from(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let defaults = Config::default();
    let known = serde_json::to_value(&defaults).expect("config serialises to JSON");

    let mut builder = config::Config::builder().add_source(
        config::Config::try_from(&defaults).map_err(|e| ConfigError::Type(e.to_string()))?,
    );
    let mut origins = Origins::default();

    if let Some(path) = file {
        let file_err = |reason: String| ConfigError::File {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| file_err(e.to_string()))?;
        let source = config::File::from_str(&text, FileFormat::Toml);
        let table = source.collect().map_err(|e| file_err(e.to_string()))?;
        let origin = path.display().to_string();
        let mut keys = Vec::new();
        flatten(&table, "", &mut keys);
        for key in &keys {
            check_known(&known, key, &origin)?;
        }
        origins.file = Some((origin, keys.into_iter().collect()));
        builder = builder.add_source(source);
    }

    let mut env_map = Map::new();
    for (name, value) in env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let key = rest.to_ascii_lowercase().replace("__", ".");
        check_known(&known, &key, &format!("environment variable {name}"))?;
        origins.env.insert(key, name.clone());
        env_map.insert(name, value);
    }
    builder = builder.add_source(
        config::Environment::with_prefix("LAP")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .source(Some(env_map)),
    );

    let cfg: Config = builder
        .build()
        .and_then(|c| c.try_deserialize())
        .map_err(|e| match e {
            config::ConfigError::Type {
                unexpected,
                expected,
                key: Some(key),
                ..
            } => ConfigError::Type(format!(
                "invalid value for `{key}` in {}: {unexpected}, expected {expected}",
                origins.of(&key)
            )),
            other => ConfigError::Type(other.to_string()),
        })?;
    validate(&cfg, &origins)?;
    Ok(cfg)
}

/// Which layer set which key, for error messages.
#[derive(Default)]
struct Origins {
    file: Option<(String, HashSet<String>)>,
    env: BTreeMap<String, String>,
}

impl Origins {
    fn of(&self, key: &str) -> String {
        if let Some(var) = self.env.get(key) {
            return format!("environment variable {var}");
        }
        // Keys inside free-form maps are recorded only down to the map entry.
        let set_in_file = |keys: &HashSet<String>| {
            keys.contains(key)
                || keys.iter().any(|k| {
                    key.strip_prefix(k.as_str())
                        .is_some_and(|rest| rest.starts_with('.'))
                })
        };
        match &self.file {
            Some((path, keys)) if set_in_file(keys) => path.clone(),
            _ => "built-in defaults".into(),
        }
    }
}

fn flatten(table: &Map<String, Value>, prefix: &str, out: &mut Vec<String>) {
    for (k, v) in table {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match &v.kind {
            ValueKind::Table(inner) if !OPEN_MAPS.contains(&path.as_str()) => {
                flatten(inner, &path, out)
            }
            _ => out.push(path),
        }
    }
}

fn check_known(known: &serde_json::Value, key: &str, origin: &str) -> Result<(), ConfigError> {
    let mut node = known;
    let mut path = String::new();
    for part in key.split('.') {
        if OPEN_MAPS.contains(&path.as_str()) {
            return Ok(());
        }
        let obj = node.as_object();
        match obj.and_then(|o| o.get(part)) {
            Some(child) => node = child,
            None => {
                let siblings: Vec<String> =
                    obj.map(|o| o.keys().cloned().collect()).unwrap_or_default();
                let hint = closest(part, &siblings)
                    .map(|s| {
                        let full = if path.is_empty() {
                            s
                        } else {
                            format!("{path}.{s}")
                        };
                        format!("; did you mean `{full}`?")
                    })
                    .unwrap_or_default();
                return Err(ConfigError::UnknownKey {
                    key: key.to_string(),
                    origin: origin.to_string(),
                    hint,
                });
            }
        }
        path = if path.is_empty() {
            part.to_string()
        } else {
            format!("{path}.{part}")
        };
    }
    Ok(())
}

/// The candidate with the smallest edit distance, if it is close enough to be a typo.
fn closest(word: &str, candidates: &[String]) -> Option<String> {
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.clone())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

fn validate(cfg: &Config, origins: &Origins) -> Result<(), ConfigError> {
    let invalid = |key: &str, reason: String| ConfigError::Invalid {
        key: key.to_string(),
        origin: origins.of(key),
        reason,
    };
    let one_of = |key: &str, value: &str, allowed: &[&str]| choice(&invalid, key, value, allowed);
    let k = &cfg.kafka;
    if k.bootstrap_servers.trim().is_empty() {
        return Err(invalid(
            "kafka.bootstrap_servers",
            "must list at least one host:port".into(),
        ));
    }
    one_of(
        "kafka.security_protocol",
        &k.security_protocol,
        &["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"],
    )?;
    one_of(
        "kafka.producer.compression",
        &k.producer.compression,
        &["none", "gzip", "snappy", "lz4"],
    )?;
    one_of(
        "kafka.consumer.auto_offset_reset",
        &k.consumer.auto_offset_reset,
        &["earliest", "latest"],
    )?;
    for (key, max) in [
        ("kafka.consumer.batch_max", k.consumer.batch_max),
        ("sink.batch_max", cfg.sink.batch_max),
        ("sink.max_waiting_messages", cfg.sink.max_waiting_messages),
    ] {
        if max == 0 {
            return Err(invalid(key, "must be at least 1".into()));
        }
    }
    let (interval, drain) = (
        cfg.sink.lake.commit_interval_ms,
        k.consumer.drain_timeout_ms,
    );
    if interval > drain / 2 {
        return Err(invalid(
            "sink.lake.commit_interval_ms",
            format!(
                "{interval} ms is more than half of kafka.consumer.drain_timeout_ms ({drain} ms): \
                 a revoked partition's rows may wait this long for the lake's next commit, \
                 and the drain must end within its timeout; lower the interval or raise the timeout"
            ),
        ));
    }
    one_of("log.format", &cfg.log.format, &["auto", "human", "json"])?;
    validate_ingest(cfg, &invalid)?;
    validate_enrich(cfg, &invalid)?;
    validate_aggregate(cfg, &invalid)?;
    validate_views(cfg, &invalid)?;
    let t = &cfg.topics;
    if t.partitions < 1 {
        return Err(invalid("topics.partitions", "must be at least 1".into()));
    }
    if t.replication_factor < 1 {
        return Err(invalid(
            "topics.replication_factor",
            "must be at least 1".into(),
        ));
    }
    let fields = [
        "raw_xapi",
        "raw_caliper",
        "events",
        "dlq",
        "roster",
        "enriched",
        "unmatched",
        "late",
        "indicators",
        "aggregate_state",
    ];
    let mut seen = HashSet::new();
    for (field, spec) in fields.iter().zip(t.all()) {
        let key = format!("topics.{field}.name");
        let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if spec.name.is_empty() || spec.name.len() > 249 || !spec.name.chars().all(legal) {
            return Err(invalid(
                &key,
                format!("`{}` is not a legal Kafka topic name", spec.name),
            ));
        }
        if !seen.insert(spec.name.clone()) {
            return Err(invalid(
                &key,
                format!("`{}` is used for two topics", spec.name),
            ));
        }
        if spec.partitions < 0 {
            return Err(invalid(
                &format!("topics.{field}.partitions"),
                "must be 0 (default) or more".into(),
            ));
        }
    }
    let r = &cfg.sink.retention;
    for (field, days) in [
        ("events_days", r.events_days),
        ("learner_daily_days", r.learner_daily_days),
        ("learner_weekly_days", r.learner_weekly_days),
        ("class_daily_days", r.class_daily_days),
        ("class_weekly_days", r.class_weekly_days),
        ("school_daily_days", r.school_daily_days),
        ("school_weekly_days", r.school_weekly_days),
    ] {
        if days < -1 {
            return Err(invalid(
                &format!("sink.retention.{field}"),
                format!("{days} days: give 0 or more, or -1 to keep rows until erased"),
            ));
        }
    }
    Ok(())
}

fn validate_ingest(
    cfg: &Config,
    invalid: &impl Fn(&str, String) -> ConfigError,
) -> Result<(), ConfigError> {
    let i = &cfg.ingest;
    const XAPI_VERSIONS: &[&str] = &["1.0.0", "1.0.1", "1.0.2", "1.0.3", "2.0.0"];
    if !XAPI_VERSIONS.contains(&i.default_xapi_version.as_str()) {
        return Err(invalid(
            "ingest.default_xapi_version",
            format!(
                "`{}` is not one of {}",
                i.default_xapi_version,
                XAPI_VERSIONS.join(", ")
            ),
        ));
    }
    if !(2..=128).contains(&i.max_depth) {
        return Err(invalid(
            "ingest.max_depth",
            "must be between 2 and 128".into(),
        ));
    }
    if i.max_message_bytes < 1024 {
        return Err(invalid(
            "ingest.max_message_bytes",
            "must be at least 1024".into(),
        ));
    }
    for (id, client) in &i.http.clients {
        let key = format!("ingest.http.clients.{id}");
        let h = &client.secret_sha256;
        if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid(
                &format!("{key}.secret_sha256"),
                "must be 64 hex digits: the SHA-256 of the secret, e.g. from `printf %s \"$SECRET\" | sha256sum`".into(),
            ));
        }
        if client.scopes.is_empty() || client.scopes.iter().any(|s| s != "xapi" && s != "caliper") {
            return Err(invalid(
                &format!("{key}.scopes"),
                "must list xapi and/or caliper".into(),
            ));
        }
    }
    Ok(())
}

fn validate_aggregate(
    cfg: &Config,
    invalid: &impl Fn(&str, String) -> ConfigError,
) -> Result<(), ConfigError> {
    let a = &cfg.aggregate;
    let at_least_one = [
        ("aggregate.min_group_size", u64::from(a.min_group_size)),
        ("aggregate.provisional_interval_s", a.provisional_interval_s),
        ("aggregate.idle_partition_s", a.idle_partition_s),
        (
            "aggregate.flags.inactive_days",
            u64::from(a.flags.inactive_days),
        ),
        (
            "aggregate.flags.falling_windows",
            u64::from(a.flags.falling_windows),
        ),
        (
            "aggregate.flags.absence_lookback_days",
            u64::from(a.flags.absence_lookback_days),
        ),
        (
            "aggregate.flags.absence_min_days",
            u64::from(a.flags.absence_min_days),
        ),
    ];
    for (key, value) in at_least_one {
        if value == 0 {
            return Err(invalid(key, "must be at least 1".into()));
        }
    }
    if a.indicators.is_empty() {
        return Err(invalid(
            "aggregate.indicators",
            "names no indicator SQL file; list at least one, e.g. [\"activity\"]".into(),
        ));
    }
    let f = &a.flags;
    if f.absence_min_days > f.absence_lookback_days {
        return Err(invalid(
            "aggregate.flags.absence_min_days",
            format!(
                "{} is more than aggregate.flags.absence_lookback_days ({}): the flag could never be raised",
                f.absence_min_days, f.absence_lookback_days
            ),
        ));
    }
    for (key, value) in [
        ("aggregate.flags.absence_rate", f.absence_rate),
        ("aggregate.flags.wellbeing_below", f.wellbeing_below),
        ("aggregate.flags.wellbeing_drop", f.wellbeing_drop),
    ] {
        if !(0.0..=1.0).contains(&value) {
            return Err(invalid(key, format!("{value} is outside 0..1")));
        }
    }
    Ok(())
}

fn validate_enrich(
    cfg: &Config,
    invalid: &impl Fn(&str, String) -> ConfigError,
) -> Result<(), ConfigError> {
    let e = &cfg.enrich;
    if e.tenant.is_empty() || e.tenant.contains('/') {
        return Err(invalid(
            "enrich.tenant",
            "must be non-empty and without `/`".into(),
        ));
    }
    if e.max_held == 0 {
        return Err(invalid("enrich.max_held", "must be at least 1".into()));
    }
    for (key, fields) in [
        ("enrich.identity.account_fields", &e.identity.account_fields),
        ("enrich.identity.iri_fields", &e.identity.iri_fields),
    ] {
        if let Some(bad) = fields
            .iter()
            .find(|f| !super::IDENTITY_FIELDS.contains(&f.as_str()))
        {
            return Err(invalid(
                key,
                format!(
                    "`{bad}` is not one of {}",
                    super::IDENTITY_FIELDS.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// Refuses `value` of `key` unless it is one of `allowed`.
fn choice(
    invalid: &impl Fn(&str, String) -> ConfigError,
    key: &str,
    value: &str,
    allowed: &[&str],
) -> Result<(), ConfigError> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!("`{value}` is not one of {}", allowed.join(", ")),
        ))
    }
}

fn validate_views(
    cfg: &Config,
    invalid: &impl Fn(&str, String) -> ConfigError,
) -> Result<(), ConfigError> {
    let v = &cfg.views;
    if v.listen.parse::<std::net::SocketAddr>().is_err() {
        return Err(invalid(
            "views.listen",
            format!("`{}` is not an address such as 127.0.0.1:8090", v.listen),
        ));
    }
    match v.sign_in.as_str() {
        "demo" => {}
        "oidc" => {
            for (key, value) in [
                ("views.oidc.issuer", &v.oidc.issuer),
                ("views.oidc.client_id", &v.oidc.client_id),
                ("views.oidc.redirect_url", &v.oidc.redirect_url),
                ("views.oidc.claim", &v.oidc.claim),
            ] {
                if value.is_empty() {
                    return Err(invalid(
                        key,
                        "is needed with views.sign_in = \"oidc\"".into(),
                    ));
                }
            }
        }
        other => {
            return Err(invalid(
                "views.sign_in",
                format!("`{other}` is not one of demo, oidc"),
            ));
        }
    }
    let fields = ["email", "username", "identifier", "sourcedId"];
    if !fields.contains(&v.oidc.roster_field.as_str()) {
        return Err(invalid(
            "views.oidc.roster_field",
            format!(
                "`{}` is not one of {}",
                v.oidc.roster_field,
                fields.join(", ")
            ),
        ));
    }
    let d = &v.digest;
    let one_of = |key: &str, value: &str, allowed: &[&str]| choice(invalid, key, value, allowed);
    one_of(
        "views.digest.default_frequency",
        &d.default_frequency,
        &["none", "daily", "weekly"],
    )?;
    one_of(
        "views.digest.weekly_day",
        &d.weekly_day,
        &[
            "monday",
            "tuesday",
            "wednesday",
            "thursday",
            "friday",
            "saturday",
            "sunday",
        ],
    )?;
    for (key, value, schemes) in [
        (
            "views.digest.smtp_url",
            &d.smtp_url,
            &["smtp://", "smtps://"][..],
        ),
        (
            "views.digest.webhook_url",
            &d.webhook_url,
            &["http://", "https://"][..],
        ),
        (
            "views.digest.base_url",
            &d.base_url,
            &["http://", "https://"][..],
        ),
    ] {
        if !value.is_empty() && !schemes.iter().any(|s| value.starts_with(s)) {
            return Err(invalid(
                key,
                format!("`{value}` does not start with {}", schemes.join(" or ")),
            ));
        }
    }
    if !d.smtp_url.is_empty() && !d.from.contains('@') {
        return Err(invalid(
            "views.digest.from",
            "is needed with views.digest.smtp_url: the address digests are sent from".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_typos() {
        let c = vec!["bootstrap_servers".to_string(), "client_id".to_string()];
        assert_eq!(
            closest("bootstrap_server", &c).as_deref(),
            Some("bootstrap_servers")
        );
        assert_eq!(closest("zzz", &c), None);
    }
}
