//! Where an export's files come from: a folder, or a zip archive (files at
//! its root or inside one folder, as SIS download buttons produce).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::LoadError;

/// A folder or an opened zip archive.
pub enum ExportSource {
    /// Files in a directory.
    Folder(PathBuf),
    /// Entries of a zip file.
    Zip {
        /// The archive, for messages.
        path: PathBuf,
        /// The opened archive.
        archive: zip::ZipArchive<File>,
    },
}

impl ExportSource {
    /// Opens `path`: a directory, or a file read as a zip archive.
    pub fn open(path: &Path) -> Result<Self, LoadError> {
        let io = |e: &dyn std::fmt::Display| LoadError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let meta = std::fs::metadata(path).map_err(|e| io(&e))?;
        if meta.is_dir() {
            return Ok(ExportSource::Folder(path.to_path_buf()));
        }
        let file = File::open(path).map_err(|e| io(&e))?;
        let archive = zip::ZipArchive::new(file).map_err(|e| {
            io(&format!(
                "not a folder and not a readable zip archive ({e})"
            ))
        })?;
        Ok(ExportSource::Zip {
            path: path.to_path_buf(),
            archive,
        })
    }

    /// The bytes of file `name`, or `None` when the export has no such file.
    pub fn read(&mut self, name: &str) -> Result<Option<Vec<u8>>, LoadError> {
        match self {
            ExportSource::Folder(dir) => {
                let p = dir.join(name);
                match std::fs::read(&p) {
                    Ok(b) => Ok(Some(b)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(LoadError::Io {
                        path: p,
                        reason: e.to_string(),
                    }),
                }
            }
            ExportSource::Zip { path, archive } => {
                let entry = (0..archive.len()).find(|&i| {
                    archive.name_for_index(i).is_some_and(|n| {
                        n == name
                            || (n.ends_with(&format!("/{name}")) && n.matches('/').count() == 1)
                    })
                });
                let Some(i) = entry else { return Ok(None) };
                let io = |e: &dyn std::fmt::Display| LoadError::Io {
                    path: path.join(name),
                    reason: e.to_string(),
                };
                let mut f = archive.by_index(i).map_err(|e| io(&e))?;
                let mut bytes = Vec::with_capacity(f.size() as usize);
                f.read_to_end(&mut bytes).map_err(|e| io(&e))?;
                Ok(Some(bytes))
            }
        }
    }
}
