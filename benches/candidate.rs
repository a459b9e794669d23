//! `cargo bench --bench candidate`: render 200 apps × 25 objects from a commit and commit the
//! rendered tree as a candidate (berth), side by side with what CI scripts do: write the same
//! files into a work tree and run `git add -A && git commit`.

mod common;

use berth::candidate;
use berth::tree::RenderedTree;
use std::path::Path;
use std::time::{Duration, Instant};

const RUNS: usize = 5;

/// A fresh repository holding the generated source, committed: every run writes every object.
fn source_repo() -> (tempfile::TempDir, git2::Repository) {
    let dir = tempfile::tempdir().expect("temp dir");
    common::generate(dir.path());
    common::git(dir.path(), &["init", "-q", "-b", "main"]);
    common::git(dir.path(), &["add", "-A"]);
    common::git(dir.path(), &["commit", "-q", "-m", "source"]);
    let repo = git2::Repository::open(dir.path()).expect("repo");
    (dir, repo)
}

fn main() {
    let mut berth_times = Vec::new();
    let mut commit_only = Vec::new();
    let mut script_times = Vec::new();
    for _ in 0..=RUNS {
        // berth: read the commit, render, build the tree in memory, commit, move the ref.
        let (dir, repo) = source_repo();
        let options = candidate::Options {
            channels: vec!["test".into()],
            branch: Some("bench".into()),
            source: "HEAD".into(),
            manual: false,
            remote: "origin".into(),
            push: false,
            ci: Default::default(),
        };
        let start = Instant::now();
        let outcomes = candidate::run(&repo, dir.path(), &options)
            .expect("candidate")
            .outcomes;
        berth_times.push(start.elapsed());
        assert_eq!(
            outcomes[0].changes.create,
            common::APPS * common::OBJECTS_PER_APP
        );
        let commit = git2::Oid::from_str(&outcomes[0].commit).unwrap();
        let tree = berth::git::read_tree(&repo, commit).expect("tree");

        // berth's git part alone, into an empty repository.
        let empty = tempfile::tempdir().expect("temp dir");
        let fresh = git2::Repository::init_bare(empty.path()).expect("repo");
        let start = Instant::now();
        let tree_id = berth::git::write_tree(&fresh, &tree).expect("write");
        let signature = git2::Signature::now("bench", "bench@example.com").unwrap();
        let git_tree = fresh.find_tree(tree_id).unwrap();
        fresh
            .commit(None, &signature, &signature, "x", &git_tree, &[])
            .expect("commit");
        commit_only.push(start.elapsed());

        // The same files, written and committed the way scripts do it.
        let work = tempfile::tempdir().expect("temp dir");
        common::git(work.path(), &["init", "-q", "-b", "rendered"]);
        let start = Instant::now();
        write_files(&tree, work.path());
        common::git(work.path(), &["add", "-A"]);
        common::git(work.path(), &["commit", "-q", "-m", "rendered"]);
        script_times.push(start.elapsed());
    }
    for times in [&mut berth_times, &mut commit_only, &mut script_times] {
        times.remove(0); // warm-up
        times.sort();
    }
    let median = |t: &[Duration]| t[t.len() / 2];
    println!(
        "candidate: {} objects, {} threads",
        common::APPS * common::OBJECTS_PER_APP,
        rayon::current_num_threads()
    );
    println!(
        "  berth candidate (render from the commit + tree + commit + ref)  best {:>7.1} ms  median {:>7.1} ms",
        ms(berth_times[0]),
        ms(median(&berth_times))
    );
    println!(
        "  berth tree + commit only                                       best {:>7.1} ms  median {:>7.1} ms",
        ms(commit_only[0]),
        ms(median(&commit_only))
    );
    println!(
        "  write files + git add -A + git commit                          best {:>7.1} ms  median {:>7.1} ms",
        ms(script_times[0]),
        ms(median(&script_times))
    );
    // The binary as a user runs it, for its peak memory.
    let (dir, _repo) = source_repo();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_berth"));
    command
        .current_dir(dir.path())
        .args(["candidate", "-c", "test", "--branch", "cli"]);
    let (took, peak) = common::measure(command, 0);
    println!(
        "  `berth candidate` (the binary, one run)                        {:>7.1} ms  peak RSS {peak:.0} MiB",
        ms(took)
    );
    println!(
        "  ratio, script / berth candidate: {:.1}x; script / berth tree + commit: {:.1}x (medians)",
        median(&script_times).as_secs_f64() / median(&berth_times).as_secs_f64(),
        median(&script_times).as_secs_f64() / median(&commit_only).as_secs_f64()
    );
}

fn write_files(tree: &RenderedTree, dir: &Path) {
    for (path, bytes) in &tree.files {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, bytes).unwrap();
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
