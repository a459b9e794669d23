//! `cargo bench --bench comment`: sizing a 3,000-object plan for a pull-request comment — the whole
//! Markdown report, the report cut to GitHub's 65,536 characters, and the report split into
//! comment-sized parts. Best and median of several runs.

use berth::object::ObjectKey;
use berth::plan::{Action, ObjectChange, Plan};
use berth::report::{GITHUB_COMMENT_LIMIT, markdown, markdown_limited, markdown_parts};
use std::time::{Duration, Instant};

const OBJECTS: usize = 3_000;

/// An update of image and `extra` environment variables: diffs of very different sizes.
fn diff(name: &str, extra: usize) -> String {
    let mut diff = format!(
        "--- a/{name}.yaml\n+++ b/{name}.yaml\n@@ -18,9 +18,9 @@\n       containers:\n\
         -        image: ghcr.io/example/{name}:1.0.0\n+        image: ghcr.io/example/{name}:1.1.0\n"
    );
    for i in 0..extra {
        diff.push_str(&format!(
            "+        - name: VAR_{i}\n+          value: \"{i}\"\n"
        ));
    }
    diff
}

fn plan() -> Plan {
    let objects = (0..OBJECTS)
        .map(|i| {
            let name = format!("svc-{i:04}");
            let key = ObjectKey::parse(&format!("team-{}/Deployment.apps/{name}", i % 11))
                .expect("a tree key");
            let mut change =
                ObjectChange::new(key, Some(format!("app-{:02}", i % 37)), Action::Update);
            // Every 50th object carries a large diff, as a regenerated ConfigMap does.
            change.diff = Some(diff(&name, if i % 50 == 0 { 600 } else { i % 7 }));
            change
        })
        .collect();
    Plan {
        channel: "test".into(),
        base: "releases/test".into(),
        target: "candidates/test/bench".into(),
        source_commit: None,
        tree_commit: None,
        objects,
        requests: None,
    }
}

fn main() {
    let runs: usize = std::env::var("BERTH_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(7);
    let plan = plan();
    let mut times: [Vec<Duration>; 3] = Default::default();
    let mut sizes = (0, 0, 0);
    for _ in 0..=runs {
        let start = Instant::now();
        let whole = markdown(&plan);
        let whole_done = Instant::now();
        let limited = markdown_limited(&plan, GITHUB_COMMENT_LIMIT, Some("`diff-full.md`"));
        let limited_done = Instant::now();
        let parts = markdown_parts(&plan, GITHUB_COMMENT_LIMIT);
        let parts_done = Instant::now();
        times[0].push(whole_done - start);
        times[1].push(limited_done - whole_done);
        times[2].push(parts_done - limited_done);
        sizes = (whole.chars().count(), limited.chars().count(), parts.len());
    }
    println!(
        "comment sizing, {OBJECTS} changed objects ({} characters in all; cut to {}; {} parts)",
        sizes.0, sizes.1, sizes.2
    );
    println!("| step | best | median |\n|---|---|---|");
    for (name, mut samples) in ["whole report", "cut to one comment", "split into parts"]
        .into_iter()
        .zip(times)
    {
        samples.remove(0); // the warm-up
        samples.sort();
        println!(
            "| {name} | {:.1} ms | {:.1} ms |",
            samples[0].as_secs_f64() * 1000.0,
            samples[samples.len() / 2].as_secs_f64() * 1000.0
        );
    }
}
