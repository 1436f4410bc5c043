//! The documentation cannot rot: every `sh` block of README.md and `docs/`
//! runs (in order, per page, in a fresh directory, `cargo run --` being
//! the `lap` binary under test) and must succeed; the prose speaks of the
//! product, not of how it was made; Markdown prose lines stay readable.
//!
//! A block that needs what a test machine does not have (a Kubernetes
//! cluster, your own database) is a `text` block, not an `sh` one.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md, then the pages of `docs/` by name.
fn pages() -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .map(|e| e.expect("docs entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    let mut all = vec![root().join("README.md")];
    all.extend(docs);
    all
}

/// The fenced blocks of a Markdown text: (info string, body, line).
fn fences(text: &str) -> Vec<(String, String, usize)> {
    let mut out = Vec::new();
    let mut open: Option<(String, String, usize)> = None;
    for (n, line) in text.lines().enumerate() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => open = Some((info.trim().to_string(), String::new(), n + 1)),
            (Some(_), Some("")) => out.extend(open.take()),
            (Some((_, body, _)), _) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    out
}

/// What a reader's command becomes in the test: `cargo run --` is the
/// binary under test; `cargo build` is the build that made it.
fn runnable(block: &str) -> Result<String, String> {
    let mut script = String::new();
    for line in block.lines() {
        let line = line.replace("cargo run -- ", "\"$LAP\" ");
        match line.trim() {
            "cargo build" => continue,
            l if l.starts_with("cargo ") => {
                return Err(format!(
                    "`{l}` cannot run inside the test suite: make the block `text`, or show a `cargo run --` command"
                ));
            }
            _ => {}
        }
        script.push_str(&line);
        script.push('\n');
    }
    Ok(script)
}

fn run_block(dir: &Path, page: &Path, line: usize, block: &str) {
    let where_ = format!("{}:{line}", page.display());
    // The suite's own command is CI's: running it here would recurse.
    if block.trim() == "bash tests/run.sh" {
        let ci = std::fs::read_to_string(root().join(".ci/run")).expect(".ci/run");
        assert!(
            ci.lines().any(|l| l.trim() == "bash tests/run.sh"),
            "{where_}: .ci/run must run the test command README gives"
        );
        return;
    }
    let script = runnable(block).unwrap_or_else(|e| panic!("{where_}: {e}"));
    let mut cmd = Command::new("bash");
    cmd.args(["-euo", "pipefail", "-c", &script])
        .current_dir(dir);
    // As a reader runs it: none of the suite's own settings.
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("LAP")) {
        cmd.env_remove(k);
    }
    cmd.env("LAP", env!("CARGO_BIN_EXE_lap"));
    let out = cmd.output().expect("bash");
    assert!(
        out.status.success(),
        "{where_}: this block failed ({}):\n{block}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_sh_block_of_the_documentation_runs() {
    let mut ran = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let dir = tempfile::tempdir().unwrap();
        for (info, body, line) in fences(&text) {
            if info == "sh" {
                eprintln!("running {}:{line}", page.display());
                run_block(dir.path(), &page, line, &body);
                ran += 1;
            }
        }
    }
    assert!(ran >= 3, "README and getting started show commands to run");
}

/// Text files of the repository: tracked or new, not ignored.
fn repository_files() -> Vec<PathBuf> {
    let out = Command::new("git")
        .args(["ls-files", "-co", "--exclude-standard", "-z"])
        .current_dir(root())
        .output()
        .expect("git (the check reads the repository's file list)");
    assert!(out.status.success(), "git ls-files failed");
    out.stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| root().join(String::from_utf8_lossy(p).as_ref()))
        .filter(|p| p.is_file())
        .collect()
}

/// The prose of a file: all of a Markdown page; the comments of code and
/// manifests (Rust `//`, `#` in TOML, YAML, shell and Python).
fn prose(path: &Path, text: &str) -> Vec<(usize, String)> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let marker = match ext {
        "md" => "",
        "rs" => "//",
        "toml" | "yaml" | "yml" | "sh" | "py" => "#",
        "" if text.starts_with("#!") => "#",
        _ => return Vec::new(),
    };
    text.lines()
        .enumerate()
        .filter_map(|(n, l)| {
            let at = l.find(marker)?;
            Some((n + 1, l[at..].to_string()))
        })
        .collect()
}

/// Uses of the word "session" that are not about the product. Technical
/// ones are taken out first: academic sessions, session timeouts,
/// DataFusion sessions, session ids and Caliper's `session`.
fn stray_sessions(line: &str) -> bool {
    let mut rest = line.to_lowercase();
    for technical in [
        "academic sessions",
        "sign-in sessions",
        "sign-in session",
        "session cookie",
        "webdriver session",
        "academic session",
        "session timeout",
        "session.timeout",
        "datafusion sessions",
        "datafusion session",
        "session id",
        "`session`",
        "\"session\"",
        "/sessions/",
    ] {
        rest = rest.replace(technical, "");
    }
    rest.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .any(|w| w == "session" || w == "sessions")
}

#[test]
fn the_repository_speaks_of_the_product_and_its_prose_lines_stay_readable() {
    let brief = ["DESIGN", ".md"].concat();
    let mut found = Vec::new();
    for path in repository_files() {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue; // not text
        };
        let name = path.strip_prefix(root()).unwrap().display().to_string();
        for (n, line) in text.lines().enumerate() {
            if line.contains(&brief) {
                found.push(format!(
                    "{name}:{}: cites {brief}, which is not part of the repository",
                    n + 1
                ));
            }
        }
        for (n, line) in prose(&path, &text) {
            if stray_sessions(&line) {
                found.push(format!(
                    "{name}:{n}: \"session\" that is not a technical term: {line}"
                ));
            }
        }
        if name.ends_with(".md") {
            let mut code = false;
            for (n, line) in text.lines().enumerate() {
                code ^= line.starts_with("```");
                let table = line.starts_with('|');
                if !code && !table && line.chars().count() > 400 {
                    found.push(format!(
                        "{name}:{}: a prose line of {} characters (at most 400)",
                        n + 1,
                        line.chars().count()
                    ));
                }
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_checks_catch_what_they_look_for() {
    assert!(stray_sessions(
        &["// measured in the ninth ", "session"].concat()
    ));
    assert!(stray_sessions("on the machine of the second session."));
    assert!(!stray_sessions(
        "the class's academic session containing the day"
    ));
    assert!(!stray_sessions("/// Broker session timeout."));
    assert!(!stray_sessions("/// the sign-in session's CSRF token"));
    assert!(!stray_sessions(
        "a second DataFusion session computes every other chunk"
    ));
    let fenced = fences("text\n```sh\ncargo run -- demo\n```\n| a | b |\n```text\nx\n```\n");
    assert_eq!(
        fenced,
        vec![
            ("sh".into(), "cargo run -- demo\n".into(), 2),
            ("text".into(), "x\n".into(), 6)
        ]
    );
    assert_eq!(
        runnable("cargo build\ncargo run -- gen --out d").unwrap(),
        "\"$LAP\" gen --out d\n"
    );
    assert!(runnable("cargo bench --bench pipeline").is_err());
}
