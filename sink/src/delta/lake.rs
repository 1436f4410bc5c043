//! Where the lake lives: a local directory (the default: nothing to run)
//! or an object-store URL, so sink replicas on different nodes, `lap
//! query` on an analyst's laptop and Spark or DuckDB elsewhere all see one
//! lake. Object stores are Azure Blob Storage and ADLS Gen2 (`az://`,
//! `abfs://`, `abfss://`, `azure://`, `adl://`): delta-rs commits there
//! with the store's own conditional writes, so concurrent writers are safe
//! without a lock service (S3 would need DynamoDB for that).
//!
//! Credentials never go in the URL or the config file: delta-rs reads the
//! `AZURE_*` environment variables (`AZURE_STORAGE_ACCOUNT_KEY`,
//! `AZURE_CLIENT_SECRET`, …, or workload identity), so a Kubernetes Secret
//! supplies them. Non-secret settings (account name, endpoint) come from
//! `sink.lake.storage_options`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use deltalake::DeltaTableBuilder;
use deltalake::logstore::object_store::{ObjectStore, ObjectStoreExt, PutPayload, path};
use url::Url;

use crate::store::StoreError;

/// URL schemes of the object stores this build can write.
pub const OBJECT_STORE_SCHEMES: [&str; 5] = ["az", "abfs", "abfss", "azure", "adl"];

/// A lake root and how to reach it.
#[derive(Clone, Debug, PartialEq)]
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
        let store: std::sync::Arc<dyn ObjectStore> =
            DeltaTableBuilder::from_url(self.url_of(folder))
                .and_then(|b| b.with_storage_options(self.options()).build_storage())
                .map_err(|e| failed(e.to_string()))?
                .object_store(None);
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
