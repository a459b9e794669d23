//! `cargo bench --bench cluster_diff`: `berth diff` of 1,000 objects (20 apps × 50: ConfigMaps,
//! Services, Deployments; half live and unchanged, a quarter changed, a quarter new) against the
//! test API server with 2 ms added per request, side by side with
//! `kubectl diff --server-side --field-manager=berth` (its default `--concurrency`, and 16) on
//! the same objects and the same kubeconfig. Wall time, best and median of several runs.

use berth_testserver::TestServer;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const APPS: usize = 20;
const OBJECTS_PER_APP: usize = 50;
const LATENCY: Duration = Duration::from_millis(2);
const RUNS: usize = 3;

fn runs() -> usize {
    std::env::var("BERTH_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(RUNS)
}

#[derive(Clone, Copy, PartialEq)]
enum State {
    Unchanged,
    Changed,
    New,
}

fn state(j: usize) -> State {
    match j % 4 {
        0 | 1 => State::Unchanged,
        2 => State::Changed,
        _ => State::New,
    }
}

/// Object `j` of app `app`, at `version` (live objects that changed are at version 1, the tree at 2).
fn object(app: usize, j: usize, version: u32) -> Value {
    let name = format!("app-{app:02}-{j:02}");
    let namespace = format!("bench-{app:02}");
    let labels = json!({"app.kubernetes.io/name": name, "berth.dev/channel": "test", "berth.dev/app": format!("app-{app:02}")});
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

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "Bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .output()
        .expect("git runs");
    assert!(output.status.success(), "git {args:?}: {output:?}");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

struct Timing {
    name: String,
    times: Vec<Duration>,
}

impl Timing {
    fn best(&self) -> Duration {
        *self.times.iter().min().unwrap()
    }

    fn median(&self) -> Duration {
        let mut times = self.times.clone();
        times.sort();
        times[times.len() / 2]
    }
}

/// Run `command` `runs` times (after one warm-up), checking its exit code each time.
fn time(name: &str, runs: usize, expect_code: i32, mut command: impl FnMut() -> Command) -> Timing {
    let mut times = Vec::new();
    for run in 0..=runs {
        let started = Instant::now();
        let output = command()
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let took = started.elapsed();
        assert_eq!(
            output.status.code(),
            Some(expect_code),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        if run > 0 {
            times.push(took);
        }
    }
    Timing {
        name: name.to_string(),
        times,
    }
}

fn main() {
    let work = tempfile::tempdir().expect("temp dir");
    let repo = work.path().join("repo");
    let manifests = work.path().join("manifests");

    // The rendered tree, committed as a branch (what `berth diff --tree` reads), and the same
    // objects as plain files for kubectl.
    let mut release = String::from("channel: test\napps:\n");
    let mut counts = [0usize; 3];
    let srv = TestServer::start_blocking();
    for app in 0..APPS {
        srv.apply_object(
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": format!("bench-{app:02}")}}),
            "setup",
        )
        .expect("namespace");
        release.push_str(&format!(
            "  app-{app:02}:\n    driver: manifests\n    objects:\n"
        ));
        for j in 0..OBJECTS_PER_APP {
            let body = object(app, j, 2);
            let kind = body["kind"].as_str().unwrap();
            let group = if kind == "Deployment" { ".apps" } else { "" };
            let key = format!(
                "bench-{app:02}/{kind}{group}/{}",
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
            let s = state(j);
            match s {
                State::Unchanged => srv.apply_object(&body, "berth").map(drop),
                State::Changed => srv.apply_object(&object(app, j, 1), "berth").map(drop),
                State::New => Ok(()),
            }
            .unwrap_or_else(|e| panic!("seeding {key}: {e}"));
            counts[s as usize] += 1;
        }
    }
    std::fs::create_dir_all(repo.join(".berth")).unwrap();
    std::fs::write(repo.join(".berth/release.yaml"), release).unwrap();
    git(&repo, &["init", "-q", "-b", "bench"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "rendered tree"]);
    // berth.yaml lives on another branch, checked out: the channel `test` and its context.
    git(&repo, &["checkout", "-q", "--orphan", "main"]);
    git(&repo, &["rm", "-rq", "--cached", "."]);
    std::fs::remove_dir_all(repo.join(".berth")).unwrap();
    for app in 0..APPS {
        std::fs::remove_dir_all(repo.join(format!("bench-{app:02}"))).unwrap();
    }
    std::fs::create_dir_all(repo.join("m")).unwrap();
    std::fs::write(
        repo.join("berth.yaml"),
        "apps:\n  none:\n    driver: manifests\n    path: m\nchannels:\n  test: {}\n",
    )
    .unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "config"]);

    let kubeconfig = srv
        .write_kubeconfig(work.path().join("kubeconfig"))
        .unwrap();
    srv.set_latency(LATENCY);
    let runs = runs();
    let objects = APPS * OBJECTS_PER_APP;
    println!(
        "cluster diff: {objects} objects ({} unchanged, {} changed, {} new) in {APPS} namespaces, {} ms added per request, {runs} runs after a warm-up",
        counts[0],
        counts[1],
        counts[2],
        LATENCY.as_millis()
    );

    // Check berth's answer once, then time it.
    let berth = env!("CARGO_BIN_EXE_berth");
    let berth_command = || {
        let mut c = Command::new(berth);
        c.current_dir(&repo).env("NO_COLOR", "1").args([
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
        c
    };
    let output = berth_command().output().expect("berth runs");
    let plan: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("berth: {e}: {}", String::from_utf8_lossy(&output.stderr)));
    assert_eq!(
        plan["counts"],
        json!({"create": counts[2], "update": counts[1], "delete": 0, "unchanged": counts[0], "error": 0}),
        "berth's plan"
    );
    assert_eq!(output.status.code(), Some(1));

    srv.reset_counters();
    let berth_timing = time(
        "berth diff (--concurrency 16, default)",
        runs,
        1,
        berth_command,
    );
    let berth_requests = srv.requests().len() / (runs + 1);
    let berth_peak = srv.max_in_flight();

    let kubectl = |concurrency: Option<&str>| {
        let manifests = manifests.clone();
        let kubeconfig = kubeconfig.clone();
        let concurrency = concurrency.map(str::to_string);
        move || {
            let mut c = Command::new("kubectl");
            c.env("KUBECONFIG", &kubeconfig).args([
                "diff",
                "--server-side",
                "--field-manager=berth",
                "-f",
                manifests.to_str().unwrap(),
            ]);
            if let Some(n) = &concurrency {
                c.args(["--concurrency", n]);
            }
            c
        }
    };
    srv.reset_counters();
    let kubectl_default = time(
        "kubectl diff --server-side (default --concurrency)",
        runs,
        1,
        kubectl(None),
    );
    let kubectl_requests = srv.requests().len() / (runs + 1);
    let kubectl_peak = srv.max_in_flight();
    srv.reset_counters();
    let kubectl_16 = time(
        "kubectl diff --server-side --concurrency 16",
        runs,
        1,
        kubectl(Some("16")),
    );
    let kubectl_16_peak = srv.max_in_flight();
    assert_eq!(srv.count_writes(), 0, "a diff wrote");

    println!(
        "{:<52} {:>10} {:>10} {:>9} {:>9}",
        "", "best", "median", "requests", "peak"
    );
    for (timing, requests, peak) in [
        (&berth_timing, berth_requests, berth_peak),
        (&kubectl_default, kubectl_requests, kubectl_peak),
        (&kubectl_16, kubectl_requests, kubectl_16_peak),
    ] {
        println!(
            "{:<52} {:>8.0}ms {:>8.0}ms {:>9} {:>9}",
            timing.name,
            timing.best().as_secs_f64() * 1000.0,
            timing.median().as_secs_f64() * 1000.0,
            requests,
            peak
        );
    }
    let ratio = |t: &Timing| t.median().as_secs_f64() / berth_timing.median().as_secs_f64();
    println!(
        "kubectl / berth (median): {:.1}× with kubectl's default concurrency, {:.1}× with --concurrency 16",
        ratio(&kubectl_default),
        ratio(&kubectl_16)
    );
}
