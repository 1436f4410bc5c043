//! The Kubernetes manifests: every overlay's lap.toml loads with lap's own
//! config loader, and `k8s/check.py` renders each overlay with `kubectl
//! kustomize` and validates it offline (Kubernetes schemas, KEDA and
//! Prometheus Operator schemas, lap's cross-object rules), including a
//! self-test that breaks the manifests and must see every break caught.

use std::path::{Path, PathBuf};
use std::process::Command;

fn k8s() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("k8s")
}

fn config_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            config_files(&path, out);
        } else if path.file_name().is_some_and(|n| n == "lap.toml") {
            out.push(path);
        }
    }
}

#[test]
fn every_k8s_config_file_loads_with_the_services_loader() {
    let mut files = Vec::new();
    config_files(&k8s(), &mut files);
    assert_eq!(files.len(), 3, "base, dev and prod: {files:?}");
    for f in files {
        let cfg = lap_runtime::config::load_from(Some(&f), Vec::<(String, String)>::new())
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert!(
            cfg.sink.postgres.enabled,
            "{}: pods write PostgreSQL",
            f.display()
        );
    }
}

#[test]
fn overlays_render_and_validate_offline() {
    let required = std::env::var("LAP_REQUIRE_K8S").is_ok_and(|v| v == "1");
    let python = std::env::var("LAP_TEST_K8S_PYTHON").ok();
    let kubectl = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    let (Some(python), true) = (python, kubectl) else {
        let reason =
            "needs kubectl (with kustomize) on PATH and LAP_TEST_K8S_PYTHON (tests/run.sh sets it)";
        assert!(
            !required,
            "LAP_REQUIRE_K8S=1 but the check cannot run: {reason}"
        );
        println!("skipped: {reason}");
        return;
    };
    let out = Command::new(python)
        .arg(k8s().join("check.py"))
        .arg("--self-test")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("dev: ") && text.contains("prod: ") && !text.contains("NOT CAUGHT"),
        "{text}"
    );
}
