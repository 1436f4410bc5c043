//! Where the lake lives: a local directory (the default: nothing to run)
//! or an object-store URL, so sink replicas on different nodes, `lap
//! query` on an analyst's laptop and Spark or DuckDB elsewhere all see one
//! lake. Object stores are Amazon S3 and S3-compatible stores (`s3://`,
//! `s3a://`), Google Cloud Storage (`gs://`), and Azure Blob Storage and
//! ADLS Gen2 (`az://`, `abfs://`, `abfss://`, `azure://`, `adl://`).
//!
//! Two writers (sink replicas, a sink and `lap erase`) may commit to one
//! table at once. delta-rs makes that safe with the store's conditional
//! writes: a commit creates the table's next log entry only if no one
//! created it first (S3's `If-None-Match`, GCS's generation preconditions,
//! Azure's `If-None-Match`), and the loser retries on the new version.
//! Some S3-compatible stores and emulators accept those requests but
//! ignore the condition, and then one commit silently replaces another.
//! So before a writer starts, [`Lake::check_commits`] tries it: it creates
//! a probe object twice and expects the second attempt to be refused.
//!
//! Credentials never go in the URL or the config file: delta-rs reads
//! them from the environment (`AWS_*` including web identity in
//! Kubernetes, `GOOGLE_*`, `AZURE_*`), so a Kubernetes Secret supplies
//! them. Non-secret settings (region, endpoint, account name) come from
//! `sink.lake.storage_options`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use deltalake::DeltaTableBuilder;
use deltalake::logstore::object_store::{
    ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, path,
};
use url::Url;

use crate::store::StoreError;

/// URL schemes of the object stores this build can write.
pub const OBJECT_STORE_SCHEMES: [&str; 8] =
    ["s3", "s3a", "gs", "az", "abfs", "abfss", "azure", "adl"];

/// How commits to the lake are kept from overwriting each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Commits {
    /// A local directory: the file system creates each log entry once.
    Local,
    /// The object store refused to create an object twice: concurrent
    /// writers are safe.
    Conditional,
    /// The store does not keep concurrent commits apart, and the operator
    /// allowed it (`sink.lake.allow_unsafe_commits`): only one writer at a
    /// time is safe.
    Unsafe,
}

/// A lake root and how to reach it.
#[derive(Clone, PartialEq)]
pub struct Lake {
    /// The root as a URL ending in `/`; tables are folders under it.
    root: Url,
    /// The directory, for a local lake.
    dir: Option<PathBuf>,
    /// delta-rs storage options (object-store settings).
    options: HashMap<String, String>,
}

impl Lake {
    /// The lake at `location`: a directory path, a `file://` URL or an
    /// object-store URL, reached with `options` (ignored for a directory).
    pub fn new(location: &str, options: &BTreeMap<String, String>) -> Result<Lake, StoreError> {
        let invalid = |reason: String| StoreError::Connect {
            store: super::STORE,
            reason: format!("lake location {location:?}: {reason}"),
        };
        // One-letter schemes are Windows drive letters, not URLs.
        let url = Url::parse(location).ok().filter(|u| u.scheme().len() > 1);
        let Some(mut url) = url else {
            return Ok(Lake::local(location));
        };
        if url.scheme() == "file" {
            let dir = url
                .to_file_path()
                .map_err(|()| invalid("not a local path".into()))?;
            return Ok(Lake::local(dir));
        }
        if !OBJECT_STORE_SCHEMES.contains(&url.scheme()) {
            return Err(invalid(format!(
                "unsupported scheme {}://; use a directory, file://, or one of {}",
                url.scheme(),
                OBJECT_STORE_SCHEMES.map(|s| format!("{s}://")).join(", ")
            )));
        }
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        Ok(Lake {
            root: url,
            dir: None,
            options: options.clone().into_iter().collect(),
        })
    }

    /// The lake in directory `dir` (made absolute; created on first write).
    pub fn local(dir: impl Into<PathBuf>) -> Lake {
        let dir = dir.into();
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        let root = Url::from_directory_path(&dir).expect("an absolute path is a file URL");
        Lake {
            root,
            dir: Some(dir),
            options: HashMap::new(),
        }
    }

    /// The directory of a local lake; `None` for an object store.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Whether there may be tables: an object store always, a directory
    /// once it exists. Commands skip a lake that was never written.
    pub fn exists(&self) -> bool {
        self.dir.as_ref().is_none_or(|d| d.is_dir())
    }

    /// The URL of the folder holding `name` (a table or the audit log).
    pub fn url_of(&self, name: &str) -> Url {
        self.root
            .join(&format!("{name}/"))
            .expect("a table name is a relative URL")
    }

    /// The storage options delta-rs opens tables with.
    pub fn options(&self) -> HashMap<String, String> {
        self.options.clone()
    }

    /// Checks that two writers committing to one table cannot lose a
    /// commit (see the module documentation). A store that would let them
    /// is refused, with what to do, unless `allow_unsafe` (the operator
    /// runs a single writer and says so).
    pub async fn check_commits(&self, allow_unsafe: bool) -> Result<Commits, StoreError> {
        if self.dir.is_some() {
            return Ok(Commits::Local);
        }
        if self.creates_once().await? {
            return Ok(Commits::Conditional);
        }
        if allow_unsafe {
            return Ok(Commits::Unsafe);
        }
        Err(StoreError::Connect {
            store: super::STORE,
            reason: format!(
                "the object store of {} accepted creating an existing object: it ignores \
                 conditional writes, so two writers committing to one table (sink replicas, a \
                 sink and lap erase) could overwrite each other's commit. Use a store with \
                 conditional writes, or run a single writer and set \
                 sink.lake.allow_unsafe_commits = true",
                self.root
            ),
        })
    }

    /// Creates a probe object under `_lap_audit/` twice, the second time
    /// on the condition that it does not exist yet; true if the store
    /// refused that. The probe is deleted either way.
    async fn creates_once(&self) -> Result<bool, StoreError> {
        let failed = |e: String| StoreError::Connect {
            store: super::STORE,
            reason: format!("lake at {}: writing a probe object: {e}", self.root),
        };
        let store = self.object_store(super::purge::AUDIT_DIR).map_err(failed)?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let probe = path::Path::from(format!("commit-probe-{}-{nanos}", std::process::id()));
        refuses_second_create(store.as_ref(), &probe)
            .await
            .map_err(|e| failed(e.to_string()))
    }

    /// The object store of the folder `folder` of the lake.
    fn object_store(&self, folder: &str) -> Result<std::sync::Arc<dyn ObjectStore>, String> {
        Ok(DeltaTableBuilder::from_url(self.url_of(folder))
            .and_then(|b| b.with_storage_options(self.options()).build_storage())
            .map_err(|e| e.to_string())?
            .object_store(None))
    }

    /// The bytes of the file `file` in the folder `folder` of the lake, or
    /// `None` when there is no such file: the small logs [`Lake::append_line`]
    /// writes, read back.
    pub async fn read_file(&self, folder: &str, file: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let failed = |e: String| StoreError::Write {
            store: super::STORE,
            action: format!("read {}{folder}/{file}", self.root),
            reason: e,
        };
        if let Some(dir) = &self.dir {
            return match std::fs::read(dir.join(folder).join(file)) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(failed(e.to_string())),
            };
        }
        let store = self.object_store(folder).map_err(failed)?;
        match store.get(&path::Path::from(file)).await {
            Ok(found) => Ok(Some(
                found
                    .bytes()
                    .await
                    .map_err(|e| failed(e.to_string()))?
                    .to_vec(),
            )),
            Err(deltalake::ObjectStoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(failed(e.to_string())),
        }
    }

    /// Edits the lines of the file `file` in the folder `folder`: `edit`
    /// says of each line whether it stays, goes, or becomes another line
    /// (the file is rewritten whole; nothing happens when there is no such
    /// file). With `dry_run` it only counts. Returns how many lines went
    /// or changed.
    pub async fn edit_lines(
        &self,
        folder: &str,
        file: &str,
        dry_run: bool,
        edit: &(dyn Fn(&[u8]) -> LineEdit + Sync),
    ) -> Result<u64, StoreError> {
        let Some(bytes) = self.read_file(folder, file).await? else {
            return Ok(0);
        };
        let mut kept = Vec::with_capacity(bytes.len());
        let mut removed = 0;
        for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let now = match edit(line) {
                LineEdit::Keep => line.to_vec(),
                LineEdit::Drop => {
                    removed += 1;
                    continue;
                }
                LineEdit::Replace(new) => {
                    removed += 1;
                    new
                }
            };
            kept.extend_from_slice(&now);
            kept.push(b'\n');
        }
        if removed == 0 || dry_run {
            return Ok(removed);
        }
        let failed = |e: String| StoreError::Write {
            store: super::STORE,
            action: format!("rewrite {}{folder}/{file}", self.root),
            reason: e,
        };
        if let Some(dir) = &self.dir {
            let path = dir.join(folder).join(file);
            let tmp = dir.join(folder).join(format!(".{file}.tmp"));
            std::fs::write(&tmp, &kept)
                .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
                .and_then(|()| std::fs::rename(&tmp, &path))
                .map_err(|e| failed(e.to_string()))?;
        } else {
            self.object_store(folder)
                .map_err(failed)?
                .put(&path::Path::from(file), PutPayload::from(kept))
                .await
                .map_err(|e| failed(e.to_string()))?;
        }
        Ok(removed)
    }

    /// Appends `line` (and a newline) to the file `file` in the folder
    /// `folder` of the lake. An object store has no append: the object is
    /// read and written back whole, which suits small logs written by one
    /// operator command at a time, such as the erasure audit.
    pub async fn append_line(
        &self,
        folder: &str,
        file: &str,
        line: &[u8],
    ) -> Result<(), StoreError> {
        let failed = |e: String| StoreError::Write {
            store: super::STORE,
            action: format!("append to {}{folder}/{file}", self.root),
            reason: e,
        };
        if let Some(dir) = &self.dir {
            return append_local(&dir.join(folder), file, line).map_err(|e| failed(e.to_string()));
        }
        let store = self.object_store(folder).map_err(failed)?;
        let location = path::Path::from(file);
        let mut bytes = match store.get(&location).await {
            Ok(found) => found
                .bytes()
                .await
                .map_err(|e| failed(e.to_string()))?
                .to_vec(),
            Err(deltalake::ObjectStoreError::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(failed(e.to_string())),
        };
        bytes.extend_from_slice(line);
        bytes.push(b'\n');
        store
            .put(&location, PutPayload::from(bytes))
            .await
            .map_err(|e| failed(e.to_string()))?;
        Ok(())
    }
}

/// What [`Lake::edit_lines`] does with one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineEdit {
    /// The line stays as it is.
    Keep,
    /// The line goes.
    Drop,
    /// The line is replaced by this one (without its newline).
    Replace(Vec<u8>),
}

/// Creates `probe` in `store`, then again on the condition that it does
/// not exist yet; true if the store refused the second. The probe is
/// deleted either way.
async fn refuses_second_create(
    store: &dyn ObjectStore,
    probe: &path::Path,
) -> Result<bool, deltalake::ObjectStoreError> {
    let create = || PutOptions {
        mode: PutMode::Create,
        ..PutOptions::default()
    };
    let payload = || PutPayload::from_static(b"lap checks that this store creates an object once");
    store.put_opts(probe, payload(), create()).await?;
    let second = store.put_opts(probe, payload(), create()).await;
    store.delete(probe).await?;
    match second {
        Ok(_) => Ok(false),
        Err(
            deltalake::ObjectStoreError::AlreadyExists { .. }
            | deltalake::ObjectStoreError::Precondition { .. },
        ) => Ok(true),
        Err(e) => Err(e),
    }
}

/// Appends a line to a local file and syncs it to disk.
fn append_local(dir: &Path, file: &str, line: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(file))?;
    f.write_all(line)?;
    f.write_all(b"\n")?;
    f.sync_all()
}

impl From<&Path> for Lake {
    fn from(dir: &Path) -> Lake {
        Lake::local(dir)
    }
}

impl From<PathBuf> for Lake {
    fn from(dir: PathBuf) -> Lake {
        Lake::local(dir)
    }
}

/// Option names whose values are credentials, should someone put one in
/// `sink.lake.storage_options` instead of the environment.
const SECRET_WORDS: [&str; 5] = ["secret", "key", "token", "password", "sas"];

impl fmt::Debug for Lake {
    /// The options with credential values redacted, so a debug log line
    /// never shows a key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let options: BTreeMap<&str, &str> = self
            .options
            .iter()
            .map(|(k, v)| {
                let lower = k.to_ascii_lowercase();
                let secret = SECRET_WORDS.iter().any(|w| lower.contains(w));
                (k.as_str(), if secret { "[redacted]" } else { v.as_str() })
            })
            .collect();
        f.debug_struct("Lake")
            .field("root", &self.root.as_str())
            .field("options", &options)
            .finish()
    }
}

impl fmt::Display for Lake {
    /// The directory for a local lake, else the URL (which never holds
    /// credentials).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.dir {
            Some(dir) => write!(f, "{}", dir.display()),
            None => write!(f, "{}", self.root),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use deltalake::logstore::object_store::memory::InMemory;
    use deltalake::logstore::object_store::{
        CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta,
        PutMultipartOptions, PutResult, Result as StoreResult,
    };
    use futures::stream::BoxStream;

    /// A store that accepts conditional writes and ignores the condition,
    /// as some S3-compatible stores and emulators do.
    #[derive(Debug)]
    struct IgnoresConditions(InMemory);

    impl fmt::Display for IgnoresConditions {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "IgnoresConditions")
        }
    }

    #[async_trait::async_trait]
    impl ObjectStore for IgnoresConditions {
        async fn put_opts(
            &self,
            location: &path::Path,
            payload: PutPayload,
            _: PutOptions,
        ) -> StoreResult<PutResult> {
            self.0
                .put_opts(location, payload, PutOptions::default())
                .await
        }
        async fn put_multipart_opts(
            &self,
            location: &path::Path,
            opts: PutMultipartOptions,
        ) -> StoreResult<Box<dyn MultipartUpload>> {
            self.0.put_multipart_opts(location, opts).await
        }
        async fn get_opts(
            &self,
            location: &path::Path,
            opts: GetOptions,
        ) -> StoreResult<GetResult> {
            self.0.get_opts(location, opts).await
        }
        fn delete_stream(
            &self,
            locations: BoxStream<'static, StoreResult<path::Path>>,
        ) -> BoxStream<'static, StoreResult<path::Path>> {
            self.0.delete_stream(locations)
        }
        fn list(&self, prefix: Option<&path::Path>) -> BoxStream<'static, StoreResult<ObjectMeta>> {
            self.0.list(prefix)
        }
        async fn list_with_delimiter(
            &self,
            prefix: Option<&path::Path>,
        ) -> StoreResult<ListResult> {
            self.0.list_with_delimiter(prefix).await
        }
        async fn copy_opts(
            &self,
            from: &path::Path,
            to: &path::Path,
            opts: CopyOptions,
        ) -> StoreResult<()> {
            self.0.copy_opts(from, to, opts).await
        }
    }

    #[tokio::test]
    async fn the_probe_tells_a_store_that_ignores_conditional_writes() {
        let probe = path::Path::from("_lap_audit/commit-probe");
        let honest = InMemory::new();
        assert!(refuses_second_create(&honest, &probe).await.unwrap());
        let careless = IgnoresConditions(InMemory::new());
        assert!(!refuses_second_create(&careless, &probe).await.unwrap());
        assert!(
            careless.0.head(&probe).await.is_err(),
            "the probe is deleted"
        );
    }

    #[test]
    fn debug_output_redacts_credentials_given_as_options() {
        let options = BTreeMap::from([
            ("aws_secret_access_key".to_string(), "s3cr3t".to_string()),
            ("AZURE_STORAGE_ACCOUNT_KEY".to_string(), "k3y".to_string()),
            ("aws_region".to_string(), "eu-north-1".to_string()),
        ]);
        let lake = Lake::new("s3://bucket/lap", &options).unwrap();
        let shown = format!("{lake:?} {lake}");
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("k3y"),
            "{shown}"
        );
        assert!(
            shown.contains("eu-north-1") && shown.contains("s3://bucket/lap/"),
            "{shown}"
        );
    }
}
