//! `berth channels`: the channels, or those whose rendered tree changed, as a GitHub Actions
//! `strategy.matrix`.

use crate::support::*;
use serde_json::{Value, json};

fn matrix(repos: &GitRepos, args: &[&str]) -> Value {
    let run = repos.berth(&[&["channels", "-o", "json"], args].concat());
    run.succeeds();
    assert_eq!(run.stdout.lines().count(), 1, "one line for $GITHUB_OUTPUT");
    serde_json::from_str(&run.stdout).unwrap()
}

fn channels(names: &[&str]) -> Value {
    let include: Vec<Value> = names
        .iter()
        .map(|c| json!({"channel": c, "releaseBranch": format!("releases/{c}")}))
        .collect();
    json!({ "include": include })
}

#[test]
fn the_matrix_holds_every_channel_or_those_whose_rendered_tree_changed() {
    let repos = GitRepos::new("quickstart");
    assert_eq!(matrix(&repos, &[]), channels(&["test", "prod"]));
    assert_eq!(repos.berth(&["channels"]).stdout, "test\nprod\n");

    // Only the test channel's values: only test.
    repos.edit("apps/web/values-test.yaml", "replicas: 1", "replicas: 2");
    repos.commit_all("test only");
    assert_eq!(
        matrix(&repos, &["--changed-since", "HEAD~1"]),
        channels(&["test"])
    );
    // Nothing rendered changes: an empty matrix (the workflow skips the job).
    std::fs::write(repos.work().join("notes.txt"), "not rendered").unwrap();
    repos.commit_all("docs");
    assert_eq!(
        matrix(&repos, &["--changed-since", "HEAD~1"]),
        channels(&[])
    );
    // A shared value: both.
    repos.edit("apps/web/values.yaml", "port: 8080", "port: 8081");
    repos.commit_all("shared");
    let both = matrix(&repos, &["--changed-since", "HEAD~1"]);
    assert_eq!(both, channels(&["test", "prod"]));

    // A base without berth.yaml renders nothing: every channel counts as changed.
    repos.git(&["rm", "-q", "berth.yaml"]);
    repos.git(&["commit", "-q", "-m", "gone"]);
    repos.git(&["revert", "--no-edit", "HEAD"]);
    assert_eq!(
        matrix(&repos, &["--changed-since", "HEAD~1"]),
        channels(&["test", "prod"])
    );
    // A base that does not exist is an error, not "everything changed".
    repos
        .berth(&["channels", "--changed-since", "no-such-rev"])
        .fails_with(&["cannot resolve `no-such-rev`", "hint:"]);
}
