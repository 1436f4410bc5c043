//! Configuration layering and error messages.

use std::collections::BTreeMap;
use std::io::Write;

use lap_runtime::config::{Config, ConfigError, load_from};

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_then_file_then_environment() {
    let defaults = load_from(None, env(&[])).unwrap();
    assert_eq!(defaults, Config::default());

    let f = file(
        r#"
        [kafka]
        bootstrap_servers = "from-file:9092"
        client_id = "file-client"
        [topics]
        partitions = 12
        "#,
    );
    let from_file = load_from(Some(f.path()), env(&[])).unwrap();
    assert_eq!(from_file.kafka.bootstrap_servers, "from-file:9092");
    assert_eq!(from_file.topics.partitions, 12);
    assert_eq!(
        from_file.kafka.consumer.batch_max,
        Config::default().kafka.consumer.batch_max
    );

    let both = load_from(
        Some(f.path()),
        env(&[
            ("LAP__KAFKA__BOOTSTRAP_SERVERS", "from-env:9092"),
            ("LAP__KAFKA__CONSUMER__BATCH_MAX", "77"),
            ("UNRELATED", "x"),
        ]),
    )
    .unwrap();
    assert_eq!(
        both.kafka.bootstrap_servers, "from-env:9092",
        "environment beats file"
    );
    assert_eq!(both.kafka.client_id, "file-client", "file beats defaults");
    assert_eq!(
        both.kafka.consumer.batch_max, 77,
        "numbers parse from the environment"
    );
}

#[test]
fn unknown_key_in_file_names_key_and_file() {
    let f = file("[kafka]\nbootstrap_server = \"typo:9092\"\n");
    let err = load_from(Some(f.path()), env(&[])).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ConfigError::UnknownKey { .. }), "{msg}");
    assert!(msg.contains("kafka.bootstrap_server"), "{msg}");
    assert!(msg.contains(&f.path().display().to_string()), "{msg}");
    assert!(
        msg.contains("did you mean `kafka.bootstrap_servers`"),
        "{msg}"
    );

    let f = file("[nonsense]\nx = 1\n");
    let msg = load_from(Some(f.path()), env(&[])).unwrap_err().to_string();
    assert!(msg.contains("`nonsense.x`"), "{msg}");
}

#[test]
fn unknown_environment_variable_is_named() {
    let err = load_from(None, env(&[("LAP__KAFKA__BOOTSTRAP", "x")])).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("LAP__KAFKA__BOOTSTRAP"), "{msg}");
    assert!(msg.contains("kafka.bootstrap"), "{msg}");
}

#[test]
fn wrong_types_and_bad_values_name_key_and_origin() {
    let f = file("[topics]\npartitions = \"many\"\n");
    let msg = load_from(Some(f.path()), env(&[])).unwrap_err().to_string();
    assert!(msg.contains("topics.partitions"), "{msg}");
    assert!(msg.contains(&f.path().display().to_string()), "{msg}");

    let f = file("[kafka]\nsecurity_protocol = \"tls\"\n");
    let msg = load_from(Some(f.path()), env(&[])).unwrap_err().to_string();
    assert!(msg.contains("kafka.security_protocol"), "{msg}");
    assert!(
        msg.contains("plaintext, ssl, sasl_plaintext, sasl_ssl"),
        "{msg}"
    );
    assert!(msg.contains(&f.path().display().to_string()), "{msg}");

    let msg = load_from(None, env(&[("LAP__TOPICS__PARTITIONS", "0")]))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("environment variable LAP__TOPICS__PARTITIONS"),
        "{msg}"
    );
}

#[test]
fn pass_through_kafka_properties_are_free_form() {
    let f = file("[kafka.properties]\n\"ssl.endpoint.identification.algorithm\" = \"none\"\n");
    let cfg = load_from(Some(f.path()), env(&[])).unwrap();
    assert_eq!(
        cfg.kafka
            .properties
            .get("ssl.endpoint.identification.algorithm")
            .map(String::as_str),
        Some("none")
    );
}

#[test]
fn missing_file_is_reported() {
    let err = load_from(
        Some(std::path::Path::new("/nonexistent/lap.toml")),
        env(&[]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/lap.toml"), "{err}");
}

#[test]
fn enrich_settings_are_checked() {
    let f = file("[enrich.identity]\naccount_fields = [\"username\", \"nickname\"]\n");
    let msg = load_from(Some(f.path()), env(&[])).unwrap_err().to_string();
    assert!(msg.contains("enrich.identity.account_fields"), "{msg}");
    assert!(
        msg.contains("`nickname` is not one of sourcedId, username"),
        "{msg}"
    );
    let msg = load_from(None, env(&[("LAP__ENRICH__TENANT", "a/b")]))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("enrich.tenant"), "{msg}");
    let cfg = load_from(None, env(&[("LAP__ENRICH__UNMATCHED_GRACE_S", "30")])).unwrap();
    assert_eq!(cfg.enrich.unmatched_grace_s, 30);
}

#[test]
fn views_settings_are_checked() {
    let f = file("[views]\nsign_in = \"oidc\"\n[views.oidc]\nclient_id = \"v\"\n");
    let msg = load_from(Some(f.path()), env(&[])).unwrap_err().to_string();
    assert!(
        msg.contains("views.oidc.issuer")
            && msg.contains("is needed with views.sign_in = \"oidc\""),
        "{msg}"
    );
    let msg = load_from(None, env(&[("LAP__VIEWS__SIGN_IN", "password")]))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("`password` is not one of demo, oidc"), "{msg}");
    let msg = load_from(None, env(&[("LAP__VIEWS__OIDC__ROSTER_FIELD", "phone")]))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("views.oidc.roster_field"), "{msg}");
    let msg = load_from(None, env(&[("LAP__VIEWS__LISTEN", "everywhere")]))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("views.listen"), "{msg}");
}

#[test]
fn the_lake_commit_interval_fits_in_the_drain_timeout() {
    let f = file("[sink.lake]\ncommit_interval_ms = 6000\n");
    let msg = load_from(Some(f.path()), env(&[])).unwrap_err().to_string();
    assert!(msg.contains("sink.lake.commit_interval_ms"), "{msg}");
    assert!(msg.contains("drain_timeout_ms (10000 ms)"), "{msg}");
    assert!(msg.contains(&f.path().display().to_string()), "{msg}");
    let raised = env(&[("LAP__KAFKA__CONSUMER__DRAIN_TIMEOUT_MS", "12000")]);
    let cfg = load_from(Some(f.path()), raised).unwrap();
    assert_eq!(cfg.sink.lake.commit_interval_ms, 6000);
    let cfg = load_from(None, env(&[("LAP__SINK__LAKE__COMMIT_INTERVAL_MS", "0")])).unwrap();
    assert_eq!(cfg.sink.lake.commit_interval_ms, 0);
}

/// The documentation pages (README and `docs/`), by path.
fn documentation() -> Vec<(String, String)> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let mut pages = vec![format!("{root}/README.md")];
    for entry in std::fs::read_dir(format!("{root}/docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path.display().to_string());
        }
    }
    pages.sort();
    pages
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect()
}

#[test]
fn every_documented_config_example_is_valid() {
    let mut blocks = Vec::new();
    for (page, text) in documentation() {
        for rest in text.split("```toml\n").skip(1) {
            blocks.push((page.clone(), rest[..rest.find("```").unwrap()].to_string()));
        }
    }
    assert!(
        blocks.len() >= 2,
        "the configuration reference shows examples"
    );
    for (page, block) in &blocks {
        let f = file(block);
        load_from(Some(f.path()), env(&[]))
            .unwrap_or_else(|e| panic!("{e}\nin this example of {page}:\n{block}"));
    }
}

/// Every leaf of `value` by dotted path; an empty table (a free-form map
/// without entries) is a leaf of its own.
fn leaves(prefix: &str, value: &toml::Value, out: &mut BTreeMap<String, toml::Value>) {
    match value {
        toml::Value::Table(t) if !t.is_empty() => {
            for (k, v) in t {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(&path, v, out);
            }
        }
        leaf => {
            out.insert(prefix.to_string(), leaf.clone());
        }
    }
}

#[test]
fn the_configuration_reference_gives_every_key_and_its_default() {
    let mut defaults = BTreeMap::new();
    leaves(
        "",
        &toml::Value::try_from(Config::default()).unwrap(),
        &mut defaults,
    );
    let page = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md");
    let text = std::fs::read_to_string(page).unwrap();
    let mut documented = BTreeMap::new();
    for line in text.lines() {
        // | `key` | `default` | meaning |
        let cells: Vec<&str> = line.split(" | ").collect();
        let (Some(key), Some(default)) = (
            cells
                .first()
                .and_then(|c| c.strip_prefix("| `")?.strip_suffix('`')),
            cells
                .get(1)
                .and_then(|c| c.strip_prefix('`')?.strip_suffix('`')),
        ) else {
            continue;
        };
        let value: toml::Table = toml::from_str(&format!("v = {default}"))
            .unwrap_or_else(|e| panic!("{page}: the default of `{key}` is not TOML: {e}"));
        documented.insert(key.to_string(), value["v"].clone());
    }
    let mut wrong = Vec::new();
    for (key, value) in &defaults {
        match documented.get(key) {
            None => wrong.push(format!("`{key}` (default {value}) is missing")),
            Some(d) if d != value => wrong.push(format!(
                "`{key}`: the page says {d}, the default is {value}"
            )),
            Some(_) => {}
        }
    }
    for key in documented.keys().filter(|k| !defaults.contains_key(*k)) {
        wrong.push(format!("`{key}` is not a configuration key"));
    }
    assert!(
        wrong.is_empty(),
        "docs/configuration.md:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn bad_values_inside_free_form_maps_name_the_file() {
    let f = file("[ingest.http.clients.lms]\nsecret_sha256 = \"abc\"\nscopes = [\"xapi\"]\n");
    let msg = load_from(Some(f.path()), env(&[])).unwrap_err().to_string();
    assert!(
        msg.contains("ingest.http.clients.lms.secret_sha256"),
        "{msg}"
    );
    assert!(msg.contains(&f.path().display().to_string()), "{msg}");
}
