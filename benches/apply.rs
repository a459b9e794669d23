//! `cargo bench --bench apply`: what an apply costs against the test API server with added
//! latency per request (`BERTH_BENCH_LATENCY_MS`, default 2), at 1,000 objects in 20 existing
//! namespaces (and 5,000 with `BERTH_BENCH_BIG=1`). One table: `berth apply` first (into a fresh
//! server) and unchanged (again, on the same server), `kubectl apply --server-side` the same,
//! and the floor of a first apply: a bare concurrent loop of one server-side apply per object
//! (16 at once, berth's concurrency) with berth's own client, in process. Each run builds fresh
//! servers; runs alternate, `BERTH_BENCH_RUNS` times (default 3) after a warm-up; medians,
//! ratios to berth's row of the same kind, requests, and each child's peak memory (its VmHWM).

mod common;

use berth_testserver::TestServer;
use common::{Row, env_usize, measure, row};
use kube::api::{Patch, PatchParams};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A fresh server with the 20 namespaces the generated apps use, then `latency` per request.
fn server(latency: Duration) -> TestServer {
    let server = TestServer::start_blocking();
    for n in 0..20 {
        let namespace = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": format!("ns-{n}")}});
        server.apply_object(&namespace, "setup").unwrap();
    }
    server.set_latency(latency);
    server
}

/// A source of `size` objects released as the test channel, and its rendered objects.
struct Setup {
    repo: tempfile::TempDir,
    /// The rendered objects, one file each (what kubectl applies).
    objects: PathBuf,
}

fn setup(berth: &Path, size: usize) -> Setup {
    let repo = tempfile::tempdir().unwrap();
    common::generate_sized(repo.path(), size / common::OBJECTS_PER_APP);
    common::git(repo.path(), &["init", "-q", "-b", "main"]);
    common::git(repo.path(), &["add", "-A"]);
    common::git(repo.path(), &["commit", "-q", "-m", "source"]);
    let run = |args: &[&str]| {
        let status = Command::new(berth)
            .current_dir(repo.path())
            .args(args)
            .status()
            .expect("berth runs");
        assert!(status.success(), "berth {args:?}");
    };
    run(&["candidate", "-c", "test", "--branch", "bench"]);
    common::git(
        repo.path(),
        &["branch", "releases/test", "candidates/test/bench"],
    );
    let rendered = repo.path().join("rendered");
    run(&["render", "-c", "test", "--out", rendered.to_str().unwrap()]);
    let objects = rendered.join("test");
    std::fs::remove_dir_all(objects.join(".berth")).unwrap();
    Setup { repo, objects }
}

/// The rendered objects, parsed.
fn parsed(dir: &Path) -> Vec<Value> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_type().is_file())
        .map(|entry| {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            berth::yaml::from_str(&text).unwrap()
        })
        .collect()
}

/// The floor of a first apply: one server-side apply per object, 16 at once.
fn floor(kubeconfig: &Path, objects: &[Value]) -> Duration {
    common::per_object(kubeconfig, objects, |api, name, object| async move {
        api.patch(name, &PatchParams::apply("berth"), &Patch::Apply(object))
            .await
            .unwrap();
    })
}

fn main() {
    let latency = Duration::from_millis(env_usize("BERTH_BENCH_LATENCY_MS", 2) as u64);
    let runs = env_usize("BERTH_BENCH_RUNS", 3);
    let berth = Path::new(env!("CARGO_BIN_EXE_berth"));
    println!(
        "apply: {} ms added per request, objects in 20 existing namespaces; medians of {runs} alternating runs after a warm-up",
        latency.as_millis()
    );
    println!(
        "| objects | run | median | × berth | requests | peak RSS |\n|---|---|---|---|---|---|"
    );
    for size in common::sizes() {
        let setup = setup(berth, size);
        let objects = parsed(&setup.objects);
        assert_eq!(objects.len(), size);
        let work = tempfile::tempdir().unwrap();
        let berth_apply = |kubeconfig: &Path| {
            let mut command = Command::new(berth);
            command.current_dir(setup.repo.path()).args([
                "apply",
                "-c",
                "test",
                "--kubeconfig",
                kubeconfig.to_str().unwrap(),
                "--context",
                "berth-test",
                "--ref",
                "releases/test",
            ]);
            command
        };
        let kubectl_apply = |kubeconfig: &Path| {
            let mut command = Command::new("kubectl");
            command.args([
                "--kubeconfig",
                kubeconfig.to_str().unwrap(),
                "apply",
                "--server-side",
                "--field-manager=kubectl-bench",
                "--validate=false",
                "-R",
                "-f",
                setup.objects.to_str().unwrap(),
            ]);
            command
        };
        if std::env::var_os("BERTH_BENCH_HOLD").is_some() {
            // Profiling berth's first apply by hand: each line on stdin gets a fresh server.
            loop {
                let srv = server(latency);
                let kubeconfig = srv
                    .write_kubeconfig(work.path().join("kubeconfig-held"))
                    .unwrap();
                eprintln!("held: {:?}", berth_apply(&kubeconfig));
                if std::io::stdin().read_line(&mut String::new()).unwrap() == 0 {
                    return;
                }
            }
        }
        let mut berth_first = row("`berth apply`, first", 0);
        let mut berth_again = row("`berth apply`, unchanged", 0);
        let mut kubectl_first = row("`kubectl apply --server-side`, first", 0);
        let mut kubectl_again = row("`kubectl apply --server-side`, unchanged", 0);
        let mut floor_row = row("floor: a server-side apply per object, 16 at once", 0);
        // One fresh server for each first apply; the unchanged re-apply follows on it (berth's
        // writes nothing; kubectl's sends every object again).
        let first_and_again = |first: &mut Row,
                               again: &mut Row,
                               command: &dyn Fn(&Path) -> Command,
                               again_writes: bool,
                               run: usize| {
            let srv = server(latency);
            let kubeconfig = srv
                .write_kubeconfig(work.path().join(format!("kubeconfig-{run}")))
                .unwrap();
            for (row, is_first) in [(first, true), (again, false)] {
                srv.reset_counters();
                let (took, peak) = measure(command(&kubeconfig), 0);
                let writes = srv.count_writes();
                if is_first || again_writes {
                    assert!(writes >= size, "{}: {writes} writes", row.name);
                } else {
                    assert_eq!(writes, 0, "{}", row.name);
                }
                if run > 0 {
                    row.times.push(took);
                    row.peak_mib = row.peak_mib.max(peak);
                    row.requests = srv.requests().len();
                }
            }
        };
        let with_kubectl = std::env::var("BERTH_BENCH_KUBECTL").as_deref() != Ok("0");
        for run in 0..=runs {
            first_and_again(&mut berth_first, &mut berth_again, &berth_apply, false, run);
            if with_kubectl {
                first_and_again(
                    &mut kubectl_first,
                    &mut kubectl_again,
                    &kubectl_apply,
                    true,
                    run,
                );
            }
            let srv = server(latency);
            let kubeconfig = srv
                .write_kubeconfig(work.path().join(format!("kubeconfig-floor-{run}")))
                .unwrap();
            srv.reset_counters();
            let took = floor(&kubeconfig, &objects);
            if run > 0 {
                floor_row.times.push(took);
                floor_row.requests = srv.requests().len();
            }
        }
        let first = berth_first.median();
        let measured = |row: &&&Row| !row.times.is_empty();
        for row in [&berth_first, &kubectl_first, &floor_row]
            .iter()
            .filter(measured)
        {
            println!("| {size} | {} |", row.cells(first));
        }
        let again = berth_again.median();
        for row in [&berth_again, &kubectl_again].iter().filter(measured) {
            println!("| {size} | {} |", row.cells(again));
        }
        // The first apply's goal is a ratio to the floor: said to two places, as the ratio of
        // the medians and as the median of each round's ratio (berth's and the floor's runs of
        // one round are next to each other).
        let mut ratios: Vec<f64> = berth_first
            .times
            .iter()
            .zip(&floor_row.times)
            .map(|(berth, floor)| berth.as_secs_f64() / floor.as_secs_f64())
            .collect();
        ratios.sort_by(f64::total_cmp);
        println!(
            "\n{size} objects, first apply: berth {:.3} s ÷ floor {:.3} s = {:.2}× (each round's ratio: median {:.2}×, {:.2}–{:.2}×)\n",
            first.as_secs_f64(),
            floor_row.median().as_secs_f64(),
            first.as_secs_f64() / floor_row.median().as_secs_f64(),
            ratios[ratios.len() / 2],
            ratios[0],
            ratios[ratios.len() - 1]
        );
        if std::env::var_os("BERTH_BENCH_RAW").is_some() {
            for row in [&berth_first, &floor_row] {
                let ms: Vec<u128> = row.times.iter().map(|t| t.as_millis()).collect();
                println!("{}: {ms:?} ms", row.name);
            }
        }
    }
}
