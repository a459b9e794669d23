//! berth's main job on the example repository, against an embedded stand-in for a cluster:
//! `cargo run --release --example tour`.
//!
//! It copies `examples/quickstart` into a fresh git repository with a bare `origin`, starts the
//! test API server (berth's in-process stand-in for kube-apiserver) and runs what CI would run:
//! candidate → diff against the cluster → merge → apply → an unchanged re-apply → a change and its
//! diff → apply. No cluster, no network.

use berth::ci::CiEnv;
use berth::cli::Cli;
use berth_testserver::TestServer;
use clap::Parser;
use std::path::Path;
use std::process::Command;

fn main() {
    let work = tempfile::tempdir().expect("a temporary directory");
    let repo = work.path().join("shop");
    let origin = work.path().join("origin.git");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    copy_dir(&example, &repo);
    git(
        work.path(),
        &[
            "init",
            "--quiet",
            "--bare",
            "-b",
            "main",
            origin.to_str().unwrap(),
        ],
    );
    git(&repo, &["init", "--quiet", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "--quiet", "-m", "the shop"]);
    git(
        &repo,
        &["remote", "add", "origin", origin.to_str().unwrap()],
    );
    git(&repo, &["push", "--quiet", "origin", "main"]);

    let server = TestServer::start_blocking();
    let kubeconfig = server
        .write_kubeconfig(work.path().join("kubeconfig"))
        .expect("a kubeconfig");
    let kubeconfig = kubeconfig.to_str().unwrap();
    let cluster = ["--kubeconfig", kubeconfig, "--context", "berth-test"];
    println!(
        "berth tour: examples/quickstart in {}\n\
         the cluster is an EMBEDDED STAND-IN (berth's test API server at {}), not a real cluster\n",
        repo.display(),
        server.url()
    );

    step("render the source commit and commit channel test's tree on candidates/test/main");
    berth(&repo, &["candidate", "-c", "test", "--push"]);
    step("diff the candidate against the cluster: everything is new");
    berth(&repo, &with(&["diff", "-c", "test", "-U", "1"], &cluster));
    step("the pull request merges: releases/test fast-forwards to the candidate");
    merge(&repo);
    step("apply releases/test: lock, ordered server-side apply, release record");
    berth(&repo, &with(&["apply", "-c", "test"], &cluster));
    step("apply again: nothing changed, nothing is written");
    berth(&repo, &with(&["apply", "-c", "test"], &cluster));

    step("a change: three replicas of web in test");
    let values = repo.join("apps/web/values-test.yaml");
    let text = std::fs::read_to_string(&values).expect("the web app's test values");
    std::fs::write(&values, text.replace("replicas: 1", "replicas: 3")).expect("an edit");
    git(
        &repo,
        &["commit", "--quiet", "-am", "web: three replicas in test"],
    );
    berth(&repo, &["candidate", "-c", "test", "--push"]);
    step("its diff against the cluster: only what changed");
    berth(&repo, &with(&["diff", "-c", "test"], &cluster));
    merge(&repo);
    step("merged and applied");
    berth(&repo, &with(&["apply", "-c", "test"], &cluster));
    println!(
        "\nthat was berth's main job; in CI the same commands run on push, on pull requests and on merge"
    );
}

/// The pull request merges: `releases/test` fast-forwards to the candidate on `origin`.
fn merge(repo: &Path) {
    let refspec = "candidates/test/main:releases/test";
    git(repo, &["push", "--quiet", "origin", refspec]);
    git(repo, &["fetch", "--quiet", "origin"]);
}

fn with<'a>(args: &[&'a str], more: &[&'a str]) -> Vec<&'a str> {
    args.iter().chain(more).copied().collect()
}

fn step(text: &str) {
    println!("\n── {text}");
}

/// Run berth's command line in `dir`, as the `berth` binary would.
fn berth(dir: &Path, args: &[&str]) {
    println!("$ berth {}", args.join(" "));
    let dir = dir.to_str().unwrap();
    let cli = Cli::parse_from(["berth", "-C", dir, "--color", "never"].iter().chain(args));
    match berth::cli::run(cli, &CiEnv::default()) {
        Ok(code) if code <= 1 => {}
        Ok(code) => panic!("berth {} exited {code}", args.join(" ")),
        Err(problems) => panic!("berth {} failed:\n{problems}", args.join(" ")),
    }
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(["-c", "user.name=Tour", "-c", "user.email=tour@example.com"])
        .args(args)
        .current_dir(dir)
        .status()
        .expect("git runs");
    assert!(status.success(), "git {}", args.join(" "));
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.expect("the example is readable");
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).expect("a directory");
        } else {
            std::fs::copy(entry.path(), &target).expect("a copy");
        }
    }
}
