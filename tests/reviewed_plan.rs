//! The reviewed plan: `diff` records what it showed for a release's tree; `apply` refuses a
//! plan that is not that one.

use crate::support::*;

#[test]
fn a_reviewed_plan_is_applied_and_a_plan_changed_since_is_refused_unless_accepted() {
    let setup = Release::quickstart();
    // No review yet: apply says so and applies; --require-reviewed-plan refuses.
    setup
        .apply(&["--require-reviewed-plan"])
        .fails_with(&["no reviewed plan for releases/test", "--push-notes"]);
    said(setup.apply(&[]), "warning: no reviewed plan for tree");

    // Reviewed, then applied: the plan is the one reviewed, and the note went to origin.
    setup.change(|repos| repos.edit("apps/web/values-test.yaml", "replicas: 1", "replicas: 3"));
    setup.cluster.diff(
        &setup.repos.work(),
        &["--tree", "releases/test", "--push-notes"],
    );
    let tree = setup.repos.git(&["rev-parse", "releases/test^{tree}"]);
    let note = git(
        &setup.repos.origin(),
        &["notes", "--ref", "berth-plan/test", "show", &tree],
    );
    assert!(
        note.starts_with("berth reviewed plan sha256:")
            && note.contains("update shop/Deployment.apps/web "),
        "{note}"
    );
    // A fresh clone has no notes: apply fetches them from origin.
    setup
        .repos
        .git(&["update-ref", "-d", "refs/notes/berth-plan/test"]);
    said(
        setup.apply(&["--require-reviewed-plan", "--push-notes"]),
        "the plan is the one reviewed",
    );

    // Reviewed; then someone deletes an object of the release by hand before the merge lands.
    setup.change(|repos| repos.edit("apps/web/values-test.yaml", "replicas: 3", "replicas: 4"));
    setup
        .cluster
        .diff(&setup.repos.work(), &["--tree", "releases/test"]);
    setup
        .cluster
        .kubectl(&["-n", "shop", "delete", "configmap", "api-config"]);
    setup.apply(&[]).fails_with(&[
        "not the one reviewed",
        "nothing was applied",
        "shop/ConfigMap/api-config: reviewed: unchanged, now: create",
        "--accept-changed-plan",
    ]);
    // Nothing was written: the reviewed change is not applied either.
    let replicas = || setup.cluster.deployment("shop", "web").unwrap()["spec"]["replicas"].clone();
    assert_eq!(replicas(), 3);
    said(
        setup.apply(&["--accept-changed-plan"]),
        "shop/ConfigMap/api-config: reviewed: unchanged, now: create",
    );
    assert_eq!(replicas(), 4);
    let config_map = setup
        .cluster
        .server
        .object("", "configmaps", "shop", "api-config");
    assert!(config_map.is_some());
}

/// The run succeeded and said `text` on stderr.
#[track_caller]
fn said(run: Run, text: &str) {
    run.succeeds();
    assert!(run.stderr.contains(text), "{}", run.stderr);
}

#[test]
fn the_pull_request_comment_names_the_reviewed_plan() {
    use berth_testserver::github::{BOT_LOGIN, GitHubServer};
    let setup = Release::quickstart();
    setup.apply(&[]).succeeds();
    setup.change(|repos| repos.edit("apps/web/values-test.yaml", "replicas: 1", "replicas: 2"));
    let gh = GitHubServer::start("ghs_token");
    let run = run(setup
        .cluster
        .berth_command(
            &setup.repos.work(),
            &["diff", "-c", "test"],
            &["--tree", "releases/test", "--comment", "--pr", "3"],
        )
        .env("GITHUB_API_URL", gh.api_url())
        .env("GITHUB_REPOSITORY", gh.repository())
        .env("GITHUB_TOKEN", "ghs_token"));
    assert_eq!(run.code, 1, "{}", run.stderr);
    let tree = setup.repos.git(&["rev-parse", "releases/test^{tree}"]);
    let note = setup
        .repos
        .git(&["notes", "--ref", "berth-plan/test", "show", tree.trim()]);
    let digest = note
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("berth reviewed plan "))
        .expect("the note's header");
    let comment = gh
        .comments(3)
        .into_iter()
        .find(|c| c.login == BOT_LOGIN)
        .expect("berth's comment");
    assert!(
        comment.body.contains(&format!(
            "Reviewed plan `{digest}` of tree `{}`",
            &tree[..12]
        )),
        "{}",
        comment.body
    );
}
