//! `cargo bench --bench apply`: 1,000 objects applied to the test API server with 2 ms added
//! latency per request: `berth apply` (first apply, then an unchanged re-apply) side by side
//! with `kubectl apply --server-side` on the same objects.

mod common;

use berth_testserver::TestServer;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const APPS: usize = 40; // × 25 objects

/// A server with 2 ms latency and the 20 namespaces the generated apps use.
fn server() -> TestServer {
    let server = TestServer::start_blocking();
    for n in 0..20 {
        let namespace = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": format!("ns-{n}")}});
        server.apply_object(&namespace, "setup").unwrap();
    }
    server.set_latency(Duration::from_millis(2));
    server
}

fn timed(command: &mut Command, expect: i32) -> Duration {
    let start = Instant::now();
    let output = command.output().expect("runs");
    let elapsed = start.elapsed();
    assert_eq!(
        output.status.code(),
        Some(expect),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    elapsed
}

fn main() {
    let berth = Path::new(env!("CARGO_BIN_EXE_berth"));
    let repo = tempfile::tempdir().unwrap();
    common::generate_sized(repo.path(), APPS);
    common::git(repo.path(), &["init", "-q", "-b", "main"]);
    common::git(repo.path(), &["add", "-A"]);
    common::git(repo.path(), &["commit", "-q", "-m", "source"]);
    let run_berth = |args: &[&str]| {
        let mut command = Command::new(berth);
        command.current_dir(repo.path()).args(args);
        command
    };
    timed(
        &mut run_berth(&["candidate", "-c", "test", "--branch", "bench"]),
        0,
    );
    common::git(
        repo.path(),
        &["branch", "releases/test", "candidates/test/bench"],
    );
    let rendered = repo.path().join("rendered");
    timed(
        &mut run_berth(&["render", "-c", "test", "--out", rendered.to_str().unwrap()]),
        0,
    );
    let objects = rendered.join("test");
    std::fs::remove_dir_all(objects.join(".berth")).unwrap();

    // berth
    let server_b = server();
    let kubeconfig_b = server_b
        .write_kubeconfig(repo.path().join("kubeconfig-b"))
        .unwrap();
    let apply = [
        "apply",
        "-c",
        "test",
        "--kubeconfig",
        kubeconfig_b.to_str().unwrap(),
        "--context",
        "berth-test",
        "--ref",
        "releases/test",
    ];
    let berth_first = timed(&mut run_berth(&apply), 0);
    let berth_requests = server_b.requests().len();
    server_b.reset_counters();
    let berth_again = timed(&mut run_berth(&apply), 0);
    let berth_again_requests = server_b.requests().len();
    assert_eq!(
        server_b.count_writes(),
        0,
        "an unchanged re-apply writes nothing"
    );

    // kubectl, on the same objects
    let server_k = server();
    let kubeconfig_k = server_k
        .write_kubeconfig(repo.path().join("kubeconfig-k"))
        .unwrap();
    let kubectl = || {
        let mut command = Command::new("kubectl");
        command.args([
            "--kubeconfig",
            kubeconfig_k.to_str().unwrap(),
            "apply",
            "--server-side",
            "--field-manager=kubectl-bench",
            "--validate=false",
            "-R",
            "-f",
            objects.to_str().unwrap(),
        ]);
        command
    };
    let kubectl_first = timed(&mut kubectl(), 0);
    let kubectl_requests = server_k.requests().len();
    server_k.reset_counters();
    let kubectl_again = timed(&mut kubectl(), 0);
    let kubectl_again_requests = server_k.requests().len();

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "apply: {} objects, 2 ms added latency per request",
        APPS * 25
    );
    println!("                     first apply              unchanged re-apply");
    println!(
        "  berth            {:>8.0} ms ({berth_requests:>5} req)   {:>8.0} ms ({berth_again_requests:>5} req)",
        ms(berth_first),
        ms(berth_again)
    );
    println!(
        "  kubectl          {:>8.0} ms ({kubectl_requests:>5} req)   {:>8.0} ms ({kubectl_again_requests:>5} req)",
        ms(kubectl_first),
        ms(kubectl_again)
    );
    println!(
        "  kubectl / berth  {:>8.1}x                  {:>8.1}x",
        kubectl_first.as_secs_f64() / berth_first.as_secs_f64(),
        kubectl_again.as_secs_f64() / berth_again.as_secs_f64()
    );
}
