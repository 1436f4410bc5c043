//! Helpers of the service tests: run `lap`, start a service binary with a
//! config, wait until it is ready, and kill it when the test ends.
#![allow(dead_code)] // each test file uses a different part

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed (SIGKILL) when dropped, so a failing test never
/// leaves a service running.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The complete OneRoster 1.2 test export of enrich.
pub fn export_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("enrich/tests/data/oneroster-1p2")
}

/// Runs `lap --config CONFIG ARGS…`; returns success and stdout + stderr.
pub fn lap(config: &Path, args: &[&str]) -> (bool, String) {
    lap_env(config, args, &[])
}

/// [`lap`] with extra environment variables (secrets a deployment would
/// pass that way).
pub fn lap_env(config: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lap"))
        .arg("--config")
        .arg(config)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run lap");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The pseudonymisation key the service tests run with.
pub const TEST_KEY: &str = "a-test-key-of-32-characters-----";

/// `lap roster load PATH` with [`TEST_KEY`], as the services get it: the
/// load publishes the class lists by pseudonym.
pub fn roster_load(config: &Path, path: &Path) -> (bool, String) {
    lap_env(
        config,
        &["roster", "load", path.to_str().expect("UTF-8 path")],
        &[("LAP_ENRICH_KEY", TEST_KEY)],
    )
}

/// Starts the service binary `name` (e.g. `lap-enrich`) with `config`,
/// appending its log to `log`.
pub fn spawn_service(name: &str, config: &Path, log: &tempfile::NamedTempFile) -> Killed {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_lap")).with_file_name(name);
    Killed(
        Command::new(&bin)
            .arg("--config")
            .arg(config)
            .env("LAP_ENRICH_KEY", TEST_KEY)
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .append(true)
                    .open(log.path())
                    .unwrap(),
            )
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e} (build the workspace first)", bin.display())),
    )
}

/// Waits until the service on `port` answers `/readyz` with 200.
pub async fn wait_ready(port: u16, log: &tempfile::NamedTempFile) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await;
        if ready.is_ok_and(|r| r.status() == 200) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not ready in 60 s:\n{}",
            std::fs::read_to_string(log.path()).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Monday 2026-03-02 00:00 UTC in µs.
pub const MONDAY: i64 = 1_772_409_600_000_000;

/// A final class_weekly row of the week of [`MONDAY`], for lake tests.
pub fn class_week(class: &str, score: Option<f64>, suppressed: bool) -> lap_schemas::IndicatorRow {
    lap_schemas::IndicatorRow {
        table_name: "class_weekly".into(),
        window_kind: lap_schemas::WindowKind::Weekly,
        window_start: MONDAY,
        window_end: MONDAY + 7 * 86_400_000_000,
        time_zone: "UTC".into(),
        entity_kind: lap_schemas::EntityKind::Class,
        entity_id: class.into(),
        class_id: Some(class.into()),
        school_id: Some("s1".into()),
        revision: 4,
        is_final: true,
        emitted_time: MONDAY,
        contributors: if suppressed { 3 } else { 24 },
        suppressed,
        indicators: std::collections::BTreeMap::from([("mean_score".to_string(), score)]),
        flags: vec![],
        cleared_flags: vec![],
        newest_event_time: None,
    }
}
