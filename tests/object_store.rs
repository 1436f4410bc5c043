//! The lake in an object store, on real servers: Azure Blob Storage
//! (Azurite, Microsoft's emulator) and S3 (moto). On each, the sink's
//! Delta store writes the tables and a replay changes nothing; `lap
//! query`, `lap erase`, `lap retention` and `lap lake compact` work on the
//! URL with the credentials only in the environment, as a Kubernetes
//! Secret would supply them; and an independent reader (the `deltalake`
//! Python package, another delta-rs release) sees what `lap query` sees,
//! before and after the erasure. On S3, two writers committing to the same
//! tables at once lose nothing (the store honours conditional writes,
//! which the writers check before they start).

mod common;
#[path = "../sink/tests/common/mod.rs"]
mod store;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::Command;

use lap_enrich::pseudonym::Pseudonymiser;
use lap_runtime::config::Secret;
use lap_runtime::testkit;
use lap_sink::delta::{Commits, DeltaStore, Lake};
use lap_sink::store::Store;
use store::{event, indicator_row, rows};

/// Azurite's account and its published development key (not a secret).
const ACCOUNT: &str = "devstoreaccount1";
const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// moto accepts any S3 credentials; these stand for a real key pair.
const S3_KEY_ID: &str = "lap-test";
const S3_SECRET: &str = "lap-test-secret";

/// One object store under test.
struct Backend {
    /// The lake's URL.
    location: String,
    /// `sink.lake.storage_options`: nothing secret.
    options: BTreeMap<String, String>,
    /// The credentials, as the environment of lap's processes and as
    /// delta-rs options for the writers the test runs itself.
    credentials: Vec<(&'static str, String)>,
    /// Python defining `OPTIONS` (for the Delta reader), `setup()`, which
    /// creates the container or bucket, and `audit()`, the text of the
    /// erasure audit log ("" when there is none).
    prelude: String,
}

impl Backend {
    fn azure(azurite: &str) -> Backend {
        let endpoint = format!("{azurite}/{ACCOUNT}");
        // Container names: lowercase letters, digits and hyphens, 3 to 63.
        let container = testkit::unique("lake").replace('_', "-");
        let prelude = format!(
            "ACCOUNT, KEY, ENDPOINT, CONTAINER = {ACCOUNT:?}, {ACCOUNT_KEY:?}, {endpoint:?}, {container:?}\n\
             OPTIONS = {{'azure_storage_account_name': ACCOUNT, 'azure_storage_account_key': KEY, \
             'azure_storage_endpoint': ENDPOINT, 'azure_allow_http': 'true'}}\n{AZURE_PRELUDE}"
        );
        Backend {
            location: format!("az://{container}/lap"),
            options: BTreeMap::from([
                ("azure_storage_account_name".into(), ACCOUNT.into()),
                ("azure_storage_endpoint".into(), endpoint),
                ("azure_allow_http".into(), "true".into()),
            ]),
            credentials: vec![("AZURE_STORAGE_ACCOUNT_KEY", ACCOUNT_KEY.into())],
            prelude,
        }
    }

    fn s3(endpoint: &str) -> Backend {
        let bucket = testkit::unique("lake").replace('_', "-");
        let prelude = format!(
            "ENDPOINT, BUCKET = {endpoint:?}, {bucket:?}\n\
             OPTIONS = {{'AWS_ENDPOINT_URL': ENDPOINT, 'AWS_REGION': 'eu-north-1', \
             'AWS_ALLOW_HTTP': 'true', 'AWS_ACCESS_KEY_ID': {S3_KEY_ID:?}, \
             'AWS_SECRET_ACCESS_KEY': {S3_SECRET:?}}}\n{S3_PRELUDE}"
        );
        Backend {
            location: format!("s3://{bucket}/lap"),
            options: BTreeMap::from([
                ("aws_endpoint_url".into(), endpoint.into()),
                ("aws_region".into(), "eu-north-1".into()),
                ("aws_allow_http".into(), "true".into()),
            ]),
            credentials: vec![
                ("AWS_ACCESS_KEY_ID", S3_KEY_ID.into()),
                ("AWS_SECRET_ACCESS_KEY", S3_SECRET.into()),
            ],
            prelude,
        }
    }

    /// The lake as the test's own writers open it: options and credentials.
    fn lake(&self) -> Lake {
        let mut options = self.options.clone();
        for (k, v) in &self.credentials {
            options.insert(k.to_ascii_lowercase(), v.clone());
        }
        Lake::new(&self.location, &options).unwrap()
    }

    /// Runs `script` after the prelude with the Python of the Delta reader.
    fn python(&self, python: &str, script: &str) -> String {
        let out = Command::new(python)
            .arg("-c")
            .arg(format!("import os, sys\n{}\n{script}", self.prelude))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `lap ARGS…` with the credentials in the environment only.
    fn lap(&self, config: &Path, args: &[&str]) -> (bool, String) {
        let env: Vec<(&str, &str)> = self
            .credentials
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        common::lap_env(config, args, &env)
    }

    /// `lap ARGS…` that must succeed and say each of `says`; its output.
    fn lap_ok(&self, config: &Path, args: &[&str], says: &[&str]) -> String {
        let (ok, out) = self.lap(config, args);
        assert!(
            ok && says.iter().all(|s| out.contains(s)),
            "{args:?}: {out}"
        );
        out
    }

    /// A config with the lake's location and options and the enrich key.
    fn config(&self, key_file: &Path) -> tempfile::NamedTempFile {
        let mut config = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        let mut text = format!(
            "[enrich]\ntenant = \"t1\"\nkey_file = \"{}\"\n[sink.lake]\npath = \"{}\"\n\
             [sink.lake.storage_options]\n",
            key_file.display(),
            self.location
        );
        for (k, v) in &self.options {
            text += &format!("{k} = \"{v}\"\n");
        }
        config.write_all(text.as_bytes()).unwrap();
        config
    }
}

const AZURE_PRELUDE: &str = r#"
from azure.storage.blob import BlobServiceClient
CONN = f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};BlobEndpoint={ENDPOINT};"
ROOT = f"az://{CONTAINER}/lap"
def setup():
    BlobServiceClient.from_connection_string(CONN).create_container(CONTAINER)
def audit():
    blob = BlobServiceClient.from_connection_string(CONN).get_blob_client(CONTAINER, "lap/_lap_audit/erasures.ndjson")
    return blob.download_blob().readall().decode() if blob.exists() else ""
"#;

/// moto creates a bucket on a plain request; objects are read with
/// pyarrow's own S3 client.
const S3_PRELUDE: &str = r#"
import urllib.request
from pyarrow import fs
ROOT = f"s3://{BUCKET}/lap"
def setup():
    urllib.request.urlopen(urllib.request.Request(f"{ENDPOINT}/{BUCKET}", method="PUT"))
def audit():
    s3 = fs.S3FileSystem(access_key=OPTIONS["AWS_ACCESS_KEY_ID"], secret_key=OPTIONS["AWS_SECRET_ACCESS_KEY"],
                         endpoint_override=ENDPOINT.removeprefix("http://"), scheme="http", region="eu-north-1")
    path = f"{BUCKET}/lap/_lap_audit/erasures.ndjson"
    if s3.get_file_info(path).type == fs.FileType.NotFound:
        return ""
    with s3.open_input_stream(path) as f:
        return f.read().decode()
"#;

/// Prints each learner_weekly row's learner and score, sorted, then the
/// event ids, then the erasure audit log.
const READ_SCRIPT: &str = r#"
from deltalake import DeltaTable
rows = DeltaTable(ROOT + "/learner_weekly", storage_options=OPTIONS).to_pyarrow_table().to_pylist()
for r in sorted(rows, key=lambda r: r["entity_id"]):
    print(f'{r["entity_id"]},{dict(r["indicators"])["mean_score"]}')
events = DeltaTable(ROOT + "/events", storage_options=OPTIONS).to_pyarrow_table().to_pylist()
print("events", " ".join(sorted(e["event_id"] for e in events)))
sys.stdout.write(audit())
# deltalake's runtime may abort during interpreter teardown; the reading is done.
sys.stdout.flush()
os._exit(0)
"#;

/// Writes two learners' rows, queries, reads them independently, erases
/// one learner, compacts and reads again, all on `backend`.
async fn the_lake_works_there(backend: &Backend, py: &str) {
    backend.python(py, "setup()");
    // The sink's store, writing and replaying.
    let lake = backend.lake();
    assert_eq!(lake.dir(), None);
    let keys = Pseudonymiser::new(&Secret::new(common::TEST_KEY)).unwrap();
    let (gone, kept) = (keys.key("t1", "u1"), keys.key("t1", "u2"));
    let batch = rows(
        vec![
            indicator_row(&gone, 0, 1, 0.5),
            indicator_row(&kept, 0, 1, 0.9),
        ],
        vec![event("e1", &gone, 0.5), event("e2", &kept, 0.9)],
    );
    let first = DeltaStore::new(lake.clone()).write(&batch).await.unwrap();
    assert_eq!(first.indicators_changed["learner_weekly"], 2);
    assert_eq!(first.events_inserted, 2);
    let replay = DeltaStore::new(lake.clone()).write(&batch).await.unwrap();
    assert_eq!(replay.indicators_changed["learner_weekly"], 0);
    assert_eq!(replay.events_inserted, 0);

    // The CLI with the location in config and the credentials in the environment.
    let mut key_file = tempfile::NamedTempFile::new().unwrap();
    key_file.write_all(common::TEST_KEY.as_bytes()).unwrap();
    let config = backend.config(key_file.path());
    let sql = "SELECT entity_id, indicators['mean_score'] AS score FROM learner_weekly ORDER BY entity_id";
    let ours = backend.lap_ok(config.path(), &["query", "--format", "csv", sql], &[]);
    let mut expected = vec![format!("{gone},0.5"), format!("{kept},0.9")];
    expected.sort();
    assert_eq!(ours.lines().skip(1).collect::<Vec<_>>(), expected, "{ours}");
    // A store this build cannot write is refused up front, naming those it can.
    let (ok, out) = backend.lap(config.path(), &["query", "--lake", "hdfs://nn/lap", sql]);
    assert!(
        !ok && out.contains("unsupported scheme hdfs://")
            && out.contains("s3://")
            && out.contains("az://"),
        "{out}"
    );

    let theirs = backend.python(py, READ_SCRIPT);
    assert_eq!(
        theirs.lines().collect::<Vec<_>>(),
        [expected[0].as_str(), expected[1].as_str(), "events e1 e2"]
    );

    // Erasure on the object store: rows gone for both readers, audit kept.
    let erase = [
        "erase",
        "--offline",
        "--learner",
        "u1",
        "--reference",
        "DPO-7",
    ];
    backend.lap_ok(
        config.path(),
        &erase,
        &[
            "lake      learner_weekly   deleted 1 rows",
            "lake      events           deleted 1 rows",
        ],
    );
    backend.lap_ok(
        config.path(),
        &["lake", "compact", "--keep-hours", "0"],
        &[],
    );
    let ours = backend.lap_ok(config.path(), &["query", "--format", "csv", sql], &[]);
    assert_eq!(
        ours.lines().skip(1).collect::<Vec<_>>(),
        [format!("{kept},0.9")]
    );
    let theirs = backend.python(py, READ_SCRIPT);
    let lines: Vec<&str> = theirs.lines().collect();
    assert_eq!(lines[..2], [format!("{kept},0.9").as_str(), "events e2"]);
    assert_eq!(lines.len(), 3, "one audit line: {theirs}");
    assert!(
        lines[2].contains("DPO-7") && !lines[2].contains(&gone) && !lines[2].contains("u1\""),
        "{theirs}"
    );

    // Retention, as run in 2099: every row is past its table's retention.
    let retention = [
        "retention",
        "apply",
        "--as-of",
        "2099-01-01",
        "--keep-hours",
        "0",
    ];
    let deleted = "lake      learner_weekly   deleted 1 rows";
    backend.lap_ok(config.path(), &retention, &[deleted]);
    let ours = backend.lap_ok(config.path(), &["query", "--format", "csv", sql], &[]);
    assert!(ours.lines().nth(1).is_none(), "{ours}");
}

/// The URL of the store server in `var` and the Delta reader's Python,
/// or `None` (with the reason printed) when either is missing.
fn with_reader(var: &str) -> Option<(String, String)> {
    Some((
        testkit::service(var)?,
        testkit::service(testkit::DELTA_PYTHON_ENV)?,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lake_lives_in_azure_blob_storage() {
    let Some((azurite, py)) = with_reader(testkit::AZURITE_ENV) else {
        return;
    };
    let backend = Backend::azure(&azurite);
    the_lake_works_there(&backend, &py).await;
    backend.python(
        &py,
        "BlobServiceClient.from_connection_string(CONN).delete_container(CONTAINER)",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lake_lives_in_s3() {
    let Some((s3, py)) = with_reader(testkit::S3_ENV) else {
        return;
    };
    let backend = Backend::s3(&s3);
    the_lake_works_there(&backend, &py).await;
    let lake = backend.lake();
    assert_eq!(
        lake.check_commits(false).await.unwrap(),
        Commits::Conditional
    );
}

/// Each of two writers commits `BATCHES` batches of its own learners'
/// rows and events to the same two tables at once, retrying a commit that
/// lost a race as the sink does; every row of both must be there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_committing_to_s3_at_once_lose_nothing() {
    const BATCHES: usize = 6;
    let Some((s3, py)) = with_reader(testkit::S3_ENV) else {
        return;
    };
    let backend = Backend::s3(&s3);
    backend.python(&py, "setup()");
    let write_all = |writer: usize| {
        let mut store = DeltaStore::new(backend.lake());
        async move {
            for n in 0..BATCHES {
                let learner = format!("w{writer}-l{n}");
                let batch = rows(
                    vec![indicator_row(&learner, 0, 1, 0.5)],
                    vec![event(&format!("w{writer}-e{n}"), &learner, 0.5)],
                );
                let mut attempts = 0;
                while let Err(e) = store.write(&batch).await {
                    attempts += 1;
                    assert!(attempts < 20, "writer {writer} batch {n}: {e}");
                }
            }
        }
    };
    tokio::join!(write_all(1), write_all(2));
    let theirs = backend.python(&py, READ_SCRIPT);
    let lines: Vec<&str> = theirs.lines().collect();
    let events = lines.last().unwrap().split(' ').count() - 1;
    assert_eq!(
        (lines.len() - 1, events),
        (2 * BATCHES, 2 * BATCHES),
        "rows and events of both writers: {theirs}"
    );
}
