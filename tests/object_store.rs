//! The lake in an object store: Azure Blob Storage, served by Azurite
//! (Microsoft's emulator, a real HTTP server). The sink's Delta store
//! writes `az://` tables and a replay changes nothing; `lap query`, `lap
//! erase` and `lap lake compact` work on the URL with the account key only
//! in the environment, as a Kubernetes Secret would supply it; and an
//! independent reader (the `deltalake` Python package, another delta-rs
//! release) sees what `lap query` sees, before and after the erasure.

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
use lap_sink::delta::{DeltaStore, Lake};
use lap_sink::store::Store;
use store::{event, indicator_row, rows};

/// Azurite's account and its published development key (not a secret).
const ACCOUNT: &str = "devstoreaccount1";
const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// Runs the Python with the Delta reader and azure-storage-blob: `script`
/// gets the blob endpoint, the container and `args`.
fn python(python: &str, endpoint: &str, container: &str, script: &str, args: &[&str]) -> String {
    let prelude = format!(
        "import os, sys\nACCOUNT = {ACCOUNT:?}\nKEY = {ACCOUNT_KEY:?}\n\
         ENDPOINT, CONTAINER = sys.argv[1], sys.argv[2]\n\
         OPTIONS = {{'azure_storage_account_name': ACCOUNT, 'azure_storage_account_key': KEY, \
         'azure_storage_endpoint': ENDPOINT, 'azure_allow_http': 'true'}}\n"
    );
    let out = Command::new(python)
        .arg("-c")
        .arg(prelude + script)
        .args([endpoint, container])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Creates (or with `delete`, removes) the container.
const CONTAINER_SCRIPT: &str = r#"
from azure.storage.blob import BlobServiceClient
conn = f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};BlobEndpoint={ENDPOINT};"
client = BlobServiceClient.from_connection_string(conn)
if sys.argv[3] == "create":
    client.create_container(CONTAINER)
else:
    client.delete_container(CONTAINER)
"#;

/// Prints each learner_weekly row's learner and score, sorted, then the
/// event ids, then the erasure audit log.
const READ_SCRIPT: &str = r#"
from deltalake import DeltaTable
from azure.storage.blob import BlobServiceClient
root = f"az://{CONTAINER}/lap"
rows = DeltaTable(root + "/learner_weekly", storage_options=OPTIONS).to_pyarrow_table().to_pylist()
for r in sorted(rows, key=lambda r: r["entity_id"]):
    print(f'{r["entity_id"]},{dict(r["indicators"])["mean_score"]}')
events = DeltaTable(root + "/events", storage_options=OPTIONS).to_pyarrow_table().to_pylist()
print("events", " ".join(sorted(e["event_id"] for e in events)))
conn = f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};BlobEndpoint={ENDPOINT};"
blob = BlobServiceClient.from_connection_string(conn).get_blob_client(CONTAINER, "lap/_lap_audit/erasures.ndjson")
if blob.exists():
    sys.stdout.write(blob.download_blob().readall().decode())
# deltalake's runtime may abort during interpreter teardown; the reading is done.
sys.stdout.flush()
os._exit(0)
"#;

/// `lap ARGS…` with the account key in the environment only.
fn lap_with_key(config: &Path, args: &[&str]) -> (bool, String) {
    common::lap_env(config, args, &[("AZURE_STORAGE_ACCOUNT_KEY", ACCOUNT_KEY)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lake_lives_in_azure_blob_storage() {
    let (Some(azurite), Some(py)) = (
        testkit::service(testkit::AZURITE_ENV),
        testkit::service(testkit::DELTA_PYTHON_ENV),
    ) else {
        return;
    };
    let endpoint = format!("{azurite}/{ACCOUNT}");
    // Container names: lowercase letters, digits and hyphens, 3 to 63.
    let container = testkit::unique("lake").replace('_', "-");
    python(&py, &endpoint, &container, CONTAINER_SCRIPT, &["create"]);
    let location = format!("az://{container}/lap");
    let options = BTreeMap::from([
        (
            "azure_storage_account_name".to_string(),
            ACCOUNT.to_string(),
        ),
        ("azure_storage_endpoint".to_string(), endpoint.clone()),
        ("azure_allow_http".to_string(), "true".to_string()),
    ]);

    // The sink's store, writing and replaying.
    let mut with_key = options.clone();
    with_key.insert("azure_storage_account_key".into(), ACCOUNT_KEY.into());
    let lake = Lake::new(&location, &with_key).unwrap();
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

    // The CLI with the location in config and the key in the environment.
    let mut key_file = tempfile::NamedTempFile::new().unwrap();
    key_file.write_all(common::TEST_KEY.as_bytes()).unwrap();
    let mut config = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    let mut text = format!(
        "[enrich]\ntenant = \"t1\"\nkey_file = \"{}\"\n[sink.lake]\npath = \"{location}\"\n\
         [sink.lake.storage_options]\n",
        key_file.path().display()
    );
    for (k, v) in &options {
        text += &format!("{k} = \"{v}\"\n");
    }
    config.write_all(text.as_bytes()).unwrap();
    let sql = "SELECT entity_id, indicators['mean_score'] AS score FROM learner_weekly ORDER BY entity_id";
    let (ok, ours) = lap_with_key(config.path(), &["query", "--format", "csv", sql]);
    assert!(ok, "{ours}");
    let mut expected = vec![format!("{gone},0.5"), format!("{kept},0.9")];
    expected.sort();
    assert_eq!(ours.lines().skip(1).collect::<Vec<_>>(), expected, "{ours}");
    // A store this build cannot write is refused up front, naming those it can.
    let (ok, out) = lap_with_key(config.path(), &["query", "--lake", "s3://bucket/lap", sql]);
    assert!(
        !ok && out.contains("unsupported scheme s3://") && out.contains("az://"),
        "{out}"
    );

    let theirs = python(&py, &endpoint, &container, READ_SCRIPT, &[]);
    assert_eq!(
        theirs.lines().collect::<Vec<_>>(),
        [expected[0].as_str(), expected[1].as_str(), "events e1 e2"]
    );

    // Erasure on the object store: rows gone for both readers, audit kept.
    let (ok, out) = lap_with_key(
        config.path(),
        &[
            "erase",
            "--offline",
            "--learner",
            "u1",
            "--reference",
            "DPO-7",
        ],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("lake      learner_weekly   deleted 1 rows"),
        "{out}"
    );
    assert!(
        out.contains("lake      events           deleted 1 rows"),
        "{out}"
    );
    let (ok, compacted) = lap_with_key(config.path(), &["lake", "compact", "--keep-hours", "0"]);
    assert!(ok, "{compacted}");
    let (ok, ours) = lap_with_key(config.path(), &["query", "--format", "csv", sql]);
    assert!(ok, "{ours}");
    assert_eq!(
        ours.lines().skip(1).collect::<Vec<_>>(),
        [format!("{kept},0.9")]
    );
    let theirs = python(&py, &endpoint, &container, READ_SCRIPT, &[]);
    let lines: Vec<&str> = theirs.lines().collect();
    assert_eq!(lines[..2], [format!("{kept},0.9").as_str(), "events e2"]);
    assert_eq!(lines.len(), 3, "one audit line: {theirs}");
    assert!(
        lines[2].contains("DPO-7") && !lines[2].contains(&gone) && !lines[2].contains("u1\""),
        "{theirs}"
    );
    python(&py, &endpoint, &container, CONTAINER_SCRIPT, &["delete"]);
}
