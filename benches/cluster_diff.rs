//! `cargo bench --bench cluster_diff`: what a live diff costs against the test API server with
//! added latency per request (`BERTH_BENCH_LATENCY_MS`, default 2), at 1,000 objects (and 5,000
//! with `BERTH_BENCH_BIG=1`), with 0, 20 and all objects changed. One table: `berth diff`
//! (incremental, and `--exact`), `kubectl diff --server-side` (default `--concurrency`, and 16;
//! at 20 changed only, as its cost does not depend on it), and the floor of asking about every
//! object: a bare concurrent GET + dry-run apply loop (16 at once) with berth's client. Commands
//! run alternately, `BERTH_BENCH_RUNS` times (default 3) after a warm-up; medians, ratios to
//! berth's incremental diff, requests, and each child's peak memory (its VmHWM, sampled).

mod common;

use berth_testserver::TestServer;
use common::{Row, env_usize, git, measure, row};
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const OBJECTS_PER_APP: usize = 50;
const PROJECT: &str = "bench";

/// Object `j` of app `app`, at `version` (changed objects are live at version 1).
fn object(app: usize, j: usize, version: u32) -> Value {
    let name = format!("app-{app:03}-{j:02}");
    let namespace = format!("bench-{app:03}");
    let labels = json!({"app.kubernetes.io/name": name, "berth.dev/channel": "test",
        "berth.dev/project": PROJECT, "berth.dev/app": format!("app-{app:03}")});
    let metadata = json!({"name": name, "namespace": namespace, "labels": labels});
    match j % 3 {
        0 => json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata,
            "data": {"LOG_LEVEL": "info", "VERSION": format!("{version}"), "REGION": "eu-west-1"}}),
        1 => json!({"apiVersion": "v1", "kind": "Service", "metadata": metadata,
            "spec": {"selector": {"app.kubernetes.io/name": name},
                "ports": [{"name": "http", "port": 80 + version, "targetPort": 8080}]}}),
        _ => json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata,
            "spec": {"replicas": 2,
                "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                "template": {"metadata": {"labels": {"app.kubernetes.io/name": name}},
                    "spec": {"containers": [{"name": "main",
                        "image": format!("registry.example/{name}:1.{version}.0"),
                        "ports": [{"name": "http", "containerPort": 8080}],
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}}}}),
    }
}

/// The objects of the tree, a committed rendered tree (branch `bench`) and kubectl's files.
struct Setup {
    _work: tempfile::TempDir,
    repo: PathBuf,
    manifests: PathBuf,
    objects: Vec<Value>,
}

fn setup(size: usize) -> Setup {
    let work = tempfile::tempdir().expect("temp dir");
    let repo = work.path().join("repo");
    let manifests = work.path().join("manifests");
    let mut release = String::from("channel: test\napps:\n");
    let mut objects = Vec::new();
    for app in 0..size / OBJECTS_PER_APP {
        release.push_str(&format!(
            "  app-{app:03}:\n    driver: manifests\n    objects:\n"
        ));
        for j in 0..OBJECTS_PER_APP {
            let body = object(app, j, 2);
            let kind = body["kind"].as_str().unwrap();
            let group = if kind == "Deployment" { ".apps" } else { "" };
            let key = format!(
                "bench-{app:03}/{kind}{group}/{}",
                body["metadata"]["name"].as_str().unwrap()
            );
            release.push_str(&format!("      - {key}\n"));
            let yaml = berth::yaml::to_string(&body);
            for (root, path) in [
                (&repo, format!("{key}.yaml")),
                (&manifests, format!("{}.yaml", key.replace('/', "_"))),
            ] {
                let file = root.join(path);
                std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                std::fs::write(file, &yaml).unwrap();
            }
            objects.push(body);
        }
    }
    std::fs::create_dir_all(repo.join(".berth")).unwrap();
    std::fs::write(repo.join(".berth/release.yaml"), release).unwrap();
    git(&repo, &["init", "-q", "-b", "bench"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "rendered tree"]);
    // berth.yaml lives on another branch, checked out.
    git(&repo, &["checkout", "-q", "--orphan", "main"]);
    git(&repo, &["rm", "-rq", "--cached", "."]);
    for entry in std::fs::read_dir(&repo).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() != ".git" {
            std::fs::remove_dir_all(path).unwrap();
        }
    }
    std::fs::create_dir_all(repo.join("m")).unwrap();
    std::fs::write(
        repo.join("berth.yaml"),
        format!("project: {PROJECT}\napps:\n  none:\n    driver: manifests\n    path: m\nchannels:\n  test: {{}}\n"),
    )
    .unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "config"]);
    Setup {
        _work: work,
        repo,
        manifests,
        objects,
    }
}

/// A server holding the tree's objects, the first `changed` of them at an older version.
fn server(setup: &Setup, changed: usize) -> TestServer {
    let srv = TestServer::start_blocking();
    let apps = setup.objects.len() / OBJECTS_PER_APP;
    for app in 0..apps {
        srv.apply_object(
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": format!("bench-{app:03}")}}),
            "setup",
        )
        .expect("namespace");
        for j in 0..OBJECTS_PER_APP {
            let index = app * OBJECTS_PER_APP + j;
            // Changed objects spread over the apps and kinds.
            let stride = setup.objects.len() / changed.max(1);
            let older = changed > 0 && index.is_multiple_of(stride) && index / stride < changed;
            let version = if older { 1 } else { 2 };
            srv.apply_object(&object(app, j, version), "berth")
                .expect("seeding");
        }
    }
    srv
}

/// The floor of asking about every object: a GET and a dry-run apply each, 16 at once.
fn floor(kubeconfig: &Path, objects: &[Value]) -> Duration {
    common::per_object(kubeconfig, objects, |api, name, object| async move {
        api.get_opt(name).await.unwrap();
        let params = PatchParams::apply("berth").dry_run();
        api.patch(name, &params, &Patch::Apply(object))
            .await
            .unwrap();
    })
}

fn main() {
    let latency = Duration::from_millis(env_usize("BERTH_BENCH_LATENCY_MS", 2) as u64);
    let runs = env_usize("BERTH_BENCH_RUNS", 3);
    // `BERTH_BENCH_SIZES=5000` picks sizes, `BERTH_BENCH_KUBECTL=0` leaves kubectl out, and
    // `BERTH_BENCH_HOLD=1` prints each case's `berth diff` and waits for a line on stdin: for
    // profiling berth alone.
    let sizes = common::sizes();
    let with_kubectl_at_all = std::env::var("BERTH_BENCH_KUBECTL").as_deref() != Ok("0");
    let berth = env!("CARGO_BIN_EXE_berth");
    println!(
        "cluster diff: {} ms added per request; medians of {runs} alternating runs after a warm-up",
        latency.as_millis()
    );
    println!(
        "| objects | changed | run | median | × berth | requests | peak RSS |\n|---|---|---|---|---|---|---|"
    );
    for size in sizes {
        let setup = setup(size);
        for changed in [0, 20, size] {
            let srv = server(&setup, changed);
            let work = tempfile::tempdir().unwrap();
            let kubeconfig = srv
                .write_kubeconfig(work.path().join("kubeconfig"))
                .unwrap();
            srv.set_latency(latency);
            let expect = if changed == 0 { 0 } else { 1 };
            let diff = |exact: bool| {
                let mut c = Command::new(berth);
                c.current_dir(&setup.repo).env("NO_COLOR", "1").args([
                    "diff",
                    "-c",
                    "test",
                    "--tree",
                    "bench",
                    "--kubeconfig",
                    kubeconfig.to_str().unwrap(),
                    "--context",
                    "berth-test",
                    "-o",
                    "json",
                ]);
                if exact {
                    c.arg("--exact");
                }
                c
            };
            if std::env::var_os("BERTH_BENCH_HOLD").is_some() {
                // Profiling one command by hand: the server stays up until a line on stdin.
                eprintln!("held: {:?}", diff(false));
                std::io::stdin().read_line(&mut String::new()).unwrap();
            }
            // Check berth's answer once: both modes count the same.
            let counts = |exact: bool| {
                let out = diff(exact).output().unwrap();
                let plan: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
                    panic!("berth: {e}: {}", String::from_utf8_lossy(&out.stderr))
                });
                (
                    plan["counts"].clone(),
                    plan["requests"].as_u64().unwrap() as usize,
                )
            };
            let (incremental, incremental_requests) = counts(false);
            let (exact, exact_requests) = counts(true);
            assert_eq!(incremental, exact);
            assert_eq!(incremental["update"], changed, "{incremental}");
            let kubectl = |concurrency: Option<&str>| {
                let mut c = Command::new("kubectl");
                c.env("KUBECONFIG", &kubeconfig).args([
                    "diff",
                    "--server-side",
                    "--field-manager=berth",
                    "-f",
                    setup.manifests.to_str().unwrap(),
                ]);
                if let Some(n) = concurrency {
                    c.args(["--concurrency", n]);
                }
                c
            };
            let with_kubectl = with_kubectl_at_all && changed == 20;
            let mut rows: Vec<(Row, Box<dyn Fn() -> Command>)> = vec![
                (
                    row("berth diff", incremental_requests),
                    Box::new(|| diff(false)),
                ),
                (
                    row("berth diff --exact", exact_requests),
                    Box::new(|| diff(true)),
                ),
            ];
            if with_kubectl {
                rows.push((
                    row("kubectl diff --server-side", 0),
                    Box::new(|| kubectl(None)),
                ));
                rows.push((
                    row("kubectl diff --server-side --concurrency 16", 0),
                    Box::new(|| kubectl(Some("16"))),
                ));
            }
            let mut floor_times = Vec::new();
            for run in 0..=runs {
                for (row, command) in rows.iter_mut() {
                    srv.reset_counters();
                    let (took, peak) = measure(command(), expect);
                    if run > 0 {
                        row.times.push(took);
                        row.peak_mib = row.peak_mib.max(peak);
                        if row.name.starts_with("kubectl") {
                            row.requests = srv.requests().len();
                        }
                    }
                }
                let took = floor(&kubeconfig, &setup.objects);
                if run > 0 {
                    floor_times.push(took);
                }
            }
            assert_eq!(srv.count_writes(), 0, "a diff wrote");
            let mut floor_row = row("floor: GET + dry run per object, 16 at once", 2 * size);
            floor_row.times = floor_times;
            let base = rows[0].0.median();
            for row in rows.iter().map(|(r, _)| r).chain([&floor_row]) {
                println!("| {size} | {changed} | {} |", row.cells(base));
            }
        }
    }
}
