//! Generated data as files: `roster/` (the OneRoster export),
//! `activity/<arrival date>.xapi.ndjson` and `.caliper.ndjson` (one message
//! per line, in arrival order), and `archetypes.csv` (which synthetic
//! learner was built to raise which flag: the answer key for checking).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use crate::plan::Plan;
use crate::{GenError, Options, Output, Standard, Summary, generate};

/// Writes into a directory; activity files are named by arrival day, so
/// reading them in name order replays the year as it arrived.
pub struct DirOutput {
    root: PathBuf,
    open: Option<(NaiveDate, BufWriter<File>, BufWriter<File>)>,
}

impl DirOutput {
    /// Output under `root` (created if missing).
    pub fn new(root: &Path) -> std::io::Result<DirOutput> {
        std::fs::create_dir_all(root.join("roster"))?;
        std::fs::create_dir_all(root.join("activity"))?;
        Ok(DirOutput {
            root: root.to_path_buf(),
            open: None,
        })
    }

    /// Flushes the open activity files.
    pub fn finish(mut self) -> std::io::Result<()> {
        if let Some((_, mut x, mut c)) = self.open.take() {
            x.flush()?;
            c.flush()?;
        }
        Ok(())
    }
}

impl Output for DirOutput {
    fn roster(&mut self, files: &[(&'static str, String)]) -> std::io::Result<()> {
        for (name, text) in files {
            std::fs::write(self.root.join("roster").join(name), text)?;
        }
        Ok(())
    }

    fn message(
        &mut self,
        standard: Standard,
        arrived: NaiveDate,
        json: &str,
    ) -> std::io::Result<()> {
        if self.open.as_ref().is_none_or(|(d, _, _)| *d != arrived) {
            if let Some((_, mut x, mut c)) = self.open.take() {
                x.flush()?;
                c.flush()?;
            }
            let file = |kind: &str| -> std::io::Result<BufWriter<File>> {
                let path = self
                    .root
                    .join("activity")
                    .join(format!("{arrived}.{kind}.ndjson"));
                Ok(BufWriter::new(
                    File::options().create(true).append(true).open(path)?,
                ))
            };
            self.open = Some((arrived, file("xapi")?, file("caliper")?));
        }
        let (_, x, c) = self.open.as_mut().expect("opened above");
        let w = if standard == Standard::Xapi { x } else { c };
        w.write_all(json.as_bytes())?;
        w.write_all(b"\n")
    }
}

/// Generates `opts` into `dir` (which should be empty: activity files are
/// appended to) and returns what it holds.
pub fn write_dir(opts: &Options, dir: &Path) -> Result<Summary, GenError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| GenError::Io { path, source }
    };
    let mut out = DirOutput::new(dir).map_err(io(dir))?;
    let summary = generate(opts, &mut out)?;
    out.finish().map_err(io(&dir.join("activity")))?;
    let path = dir.join("archetypes.csv");
    std::fs::write(&path, answer_key(opts)).map_err(io(&path))?;
    Ok(summary)
}

/// `archetypes.csv`: each learner's sourcedId and archetype.
pub fn answer_key(opts: &Options) -> String {
    let mut key = String::from("sourcedId,archetype\n");
    for l in Plan::deal(opts).learners {
        key.push_str(&format!("{},{}\n", l.id, l.archetype.name()));
    }
    key
}
