//! `berth candidate` on real repositories: a bare origin, a clone, branches and pushes.

use crate::support::*;

const TEST_REF: &str = "refs/heads/candidates/test/feature/login";

fn on_feature_branch() -> GitRepos {
    let repos = GitRepos::new("quickstart");
    repos.git(&["checkout", "-q", "-b", "feature/login"]);
    repos
}

fn candidate_json(repos: &GitRepos, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["candidate", "-o", "json"];
    all.extend_from_slice(args);
    let run = repos.berth(&all);
    run.succeeds();
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

/// Files changed between two commits.
fn changed_files(repos: &GitRepos, from: &str, to: &str) -> Vec<String> {
    repos
        .git(&["diff", "--name-only", from, to])
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn first_candidate_on_an_empty_remote_is_a_root_commit_and_is_pushed() {
    let repos = on_feature_branch();
    let outcomes = candidate_json(&repos, &["--push"]);
    assert_eq!(outcomes.len(), 2, "one candidate per channel");
    let test = &outcomes[0];
    assert_eq!(test["channel"], "test");
    assert_eq!(test["ref"], TEST_REF);
    assert_eq!(test["base"], serde_json::Value::Null);
    assert_eq!(test["pushed"], true);
    assert_eq!(test["changes"]["create"], 18);
    let commit = test["commit"].as_str().unwrap();
    assert_eq!(repos.remote_ref(TEST_REF).as_deref(), Some(commit));
    // A root commit holding the rendered tree, and the trailers naming the source.
    assert_eq!(repos.git(&["rev-list", "--parents", "-n1", commit]), commit);
    let files = repos.git(&["ls-tree", "-r", "--name-only", commit]);
    assert!(files.contains("shop/Deployment.apps/web.yaml"), "{files}");
    assert!(files.contains(".berth/release.yaml"), "{files}");
    let message = repos.git(&["log", "-1", "--format=%B", commit]);
    let source = repos.git(&["rev-parse", "HEAD"]);
    assert!(message.contains("Berth-Channel: test"), "{message}");
    assert!(
        message.contains(&format!("Source-Commit: {source}")),
        "{message}"
    );
    assert!(
        message.contains("Source-Branch: feature/login"),
        "{message}"
    );
    assert!(message.contains("- web: 5 objects"), "{message}");
}

#[test]
fn the_candidate_sits_on_the_release_tip_and_merges_as_a_fast_forward() {
    let repos = on_feature_branch();
    let first = candidate_json(&repos, &["-c", "test", "--push"]);
    // The candidate is merged: the release branch now holds it.
    let released = first[0]["commit"].as_str().unwrap().to_string();
    repos.git(&[
        "push",
        "-q",
        "origin",
        &format!("{released}:refs/heads/releases/test"),
    ]);
    repos.git(&["fetch", "-q", "origin"]);

    repos.edit("apps/web/values-test.yaml", "replicas: 1", "replicas: 3");
    repos.commit_all("web: 3 replicas in test");
    let second = candidate_json(&repos, &["-c", "test", "--push"]);
    let candidate = second[0]["commit"].as_str().unwrap();
    assert_eq!(second[0]["base"], released.as_str());
    assert_eq!(
        repos.git(&["rev-parse", &format!("{candidate}^")]),
        released
    );
    assert_eq!(second[0]["changes"]["update"], 1);
    assert_eq!(second[0]["changes"]["unchanged"], 17);
    // Only the web app's file changed.
    assert_eq!(
        changed_files(&repos, &released, candidate),
        [".berth/release.yaml", "shop/Deployment.apps/web.yaml"]
    );
    // Merging into the release branch is a fast-forward.
    repos.git(&[
        "checkout",
        "-q",
        "-b",
        "releases/test",
        "origin/releases/test",
    ]);
    repos.git(&["merge", "-q", "--ff-only", candidate]);
    assert_eq!(repos.git(&["rev-parse", "HEAD"]), candidate);
}

#[test]
fn a_change_to_one_app_changes_only_that_apps_files() {
    let repos = on_feature_branch();
    let before = candidate_json(&repos, &["-c", "prod"]);
    repos.edit("apps/api/values-prod.yaml", "workers: 8", "workers: 16");
    repos.commit_all("api: more workers");
    let after = candidate_json(&repos, &["-c", "prod"]);
    let files = changed_files(
        &repos,
        before[0]["commit"].as_str().unwrap(),
        after[0]["commit"].as_str().unwrap(),
    );
    assert_eq!(
        files,
        [".berth/release.yaml", "shop/ConfigMap/api-config.yaml"]
    );
}

#[test]
fn an_unchanged_rerun_makes_no_commit() {
    let repos = on_feature_branch();
    let first = candidate_json(&repos, &[]);
    let packs = || {
        std::fs::read_dir(repos.work().join(".git/objects/pack"))
            .unwrap()
            .count()
    };
    let packs_before = packs();
    let second = candidate_json(&repos, &[]);
    assert_eq!(
        packs(),
        packs_before,
        "an unchanged re-run stores no objects"
    );
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(a["commit"], b["commit"]);
        assert_eq!(b["updated"], false);
    }
    let text = repos.berth(&["candidate", "-c", "test"]);
    assert!(
        text.succeeds().stdout.contains("[unchanged]"),
        "{}",
        text.stdout
    );
}

#[test]
fn a_source_commit_that_changes_no_object_changes_only_the_release_record() {
    let repos = on_feature_branch();
    let first = candidate_json(&repos, &["-c", "test"]);
    std::fs::write(repos.work().join("NOTES.md"), "notes\n").unwrap();
    let source = repos.commit_all("notes");
    let second = candidate_json(&repos, &["-c", "test"]);
    assert_eq!(
        second[0]["updated"], true,
        "the candidate names its new source commit"
    );
    assert_eq!(
        second[0]["changes"], first[0]["changes"],
        "the same objects as before"
    );
    let (a, b) = (
        first[0]["commit"].as_str().unwrap(),
        second[0]["commit"].as_str().unwrap(),
    );
    assert_eq!(changed_files(&repos, a, b), [".berth/release.yaml"]);
    let release = repos.git(&["show", &format!("{b}:.berth/release.yaml")]);
    assert!(release.contains(&format!("commit: {source}")), "{release}");
}

#[test]
fn the_candidate_is_rebuilt_when_the_release_branch_moves() {
    let repos = on_feature_branch();
    let first = candidate_json(&repos, &["-c", "test"]);
    let first_commit = first[0]["commit"].as_str().unwrap().to_string();
    // Someone releases something else meanwhile: the release branch gets a commit.
    let other = repos.git(&[
        "commit-tree",
        "-m",
        "other release",
        &format!("{first_commit}^{{tree}}"),
    ]);
    repos.git(&[
        "push",
        "-q",
        "origin",
        &format!("{other}:refs/heads/releases/test"),
    ]);
    repos.git(&["fetch", "-q", "origin"]);
    let second = candidate_json(&repos, &["-c", "test"]);
    assert_eq!(second[0]["updated"], true);
    assert_eq!(second[0]["base"], other.as_str());
    let commit = second[0]["commit"].as_str().unwrap();
    assert_eq!(repos.git(&["rev-parse", &format!("{commit}^")]), other);
    assert_eq!(
        second[0]["changes"]["unchanged"], 18,
        "same objects as the release"
    );
}

#[test]
fn the_local_release_branch_is_used_when_the_remote_has_none() {
    let repos = on_feature_branch();
    let first = candidate_json(&repos, &["-c", "test"]);
    let tip = first[0]["commit"].as_str().unwrap();
    repos.git(&["branch", "releases/test", tip]);
    repos.edit("apps/web/values-test.yaml", "replicas: 1", "replicas: 2");
    repos.commit_all("two");
    let second = candidate_json(&repos, &["-c", "test"]);
    assert_eq!(second[0]["base"], tip);
}

#[test]
fn a_candidate_pushed_by_someone_else_is_not_overwritten() {
    let repos = on_feature_branch();
    candidate_json(&repos, &["-c", "test", "--push"]);
    // Another clone pushes a different candidate to the same branch.
    let other = repos.dir.path().join("other");
    git(
        repos.dir.path(),
        &["clone", "-q", repos.origin().to_str().unwrap(), "other"],
    );
    let theirs = git(
        &other,
        &[
            "commit-tree",
            "-m",
            "theirs",
            "origin/candidates/test/feature/login^{tree}",
        ],
    );
    git(
        &other,
        &[
            "push",
            "-q",
            "-f",
            "origin",
            &format!("{theirs}:{TEST_REF}"),
        ],
    );

    repos.edit("apps/web/values-test.yaml", "replicas: 1", "replicas: 2");
    repos.commit_all("two");
    let run = repos.berth(&["candidate", "-c", "test", "--push"]);
    run.fails_with(&["git push", "stale info", "fetch"]);
    assert_eq!(
        repos.remote_ref(TEST_REF).as_deref(),
        Some(theirs.as_str()),
        "their commit survived"
    );
}

#[test]
fn a_concurrent_local_ref_update_is_detected() {
    let repos = on_feature_branch();
    let first = candidate_json(&repos, &["-c", "test"]);
    let ours = git2::Oid::from_str(first[0]["commit"].as_str().unwrap()).unwrap();
    let repo = git2::Repository::open(repos.work()).unwrap();
    let stale = git2::Oid::from_str(&repos.git(&["rev-parse", "HEAD"])).unwrap();
    // berth read `stale` as the ref's value, but the ref holds `ours`.
    let err = berth::git::update_ref(&repo, TEST_REF, stale, Some(stale), "test").unwrap_err();
    assert!(err.message.contains("was moved by someone else"), "{err}");
    assert_eq!(
        repo.refname_to_id(TEST_REF).unwrap(),
        ours,
        "the ref was left alone"
    );
    // Creating a ref that appeared meanwhile fails the same way.
    let err = berth::git::update_ref(&repo, TEST_REF, stale, None, "test").unwrap_err();
    assert!(err.message.contains("was moved by someone else"), "{err}");
}

#[test]
fn a_dirty_worktree_is_ignored_and_left_as_it_was() {
    let repos = on_feature_branch();
    // Even a berth.yaml broken in the worktree does not matter: the commit's is used.
    std::fs::write(repos.work().join("berth.yaml"), "apps: [unclosed\n").unwrap();
    repos.edit("apps/web/values-test.yaml", "replicas: 1", "replicas: 9");
    std::fs::write(
        repos.work().join("apps/web/extra.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: untracked\n",
    )
    .unwrap();
    repos.git(&["add", "apps/web/extra.yaml"]);
    let status = repos.git(&["status", "--porcelain"]);
    let head = repos.git(&["rev-parse", "HEAD"]);
    let outcomes = candidate_json(&repos, &["-c", "test"]);
    let commit = outcomes[0]["commit"].as_str().unwrap();
    let web = repos.git(&["show", &format!("{commit}:shop/Deployment.apps/web.yaml")]);
    assert!(
        web.contains("replicas: 1"),
        "uncommitted change leaked:\n{web}"
    );
    let files = repos.git(&["ls-tree", "-r", "--name-only", commit]);
    assert!(!files.contains("untracked"), "staged file leaked");
    assert_eq!(
        repos.git(&["status", "--porcelain"]),
        status,
        "worktree or index changed"
    );
    assert_eq!(repos.git(&["rev-parse", "HEAD"]), head, "HEAD moved");
    assert_eq!(
        repos.git(&["rev-parse", "--abbrev-ref", "HEAD"]),
        "feature/login"
    );
}

#[test]
fn a_source_commit_that_fails_to_render_moves_no_ref() {
    let repos = on_feature_branch();
    candidate_json(&repos, &["--push"]);
    let candidates = [
        "for-each-ref",
        "refs/heads/candidates",
        "refs/remotes/origin/candidates",
    ];
    let refs_before = repos.git(&candidates);
    repos.edit(
        "apps/web/deployment.yaml.j2",
        "{{ values.replicas }}",
        "{{ values.replicas",
    );
    repos.commit_all("broken template");
    repos
        .berth(&["candidate", "--push"])
        .fails_with(&["apps/web/deployment.yaml.j2", "template syntax error"]);
    assert_eq!(repos.git(&candidates), refs_before);
    assert!(
        refs_before.contains("candidates/test/feature/login"),
        "{refs_before}"
    );
}

#[test]
fn the_source_revision_can_be_named() {
    let repos = on_feature_branch();
    let old = repos.git(&["rev-parse", "HEAD"]);
    repos.edit("apps/web/values-test.yaml", "replicas: 1", "replicas: 5");
    repos.commit_all("five");
    let outcomes = candidate_json(
        &repos,
        &["-c", "test", "--source", &old, "--branch", "hotfix/x"],
    );
    assert_eq!(outcomes[0]["ref"], "refs/heads/candidates/test/hotfix/x");
    let commit = outcomes[0]["commit"].as_str().unwrap();
    let message = repos.git(&["log", "-1", "--format=%B", commit]);
    assert!(
        message.contains(&format!("Source-Commit: {old}")),
        "{message}"
    );
    let web = repos.git(&["show", &format!("{commit}:shop/Deployment.apps/web.yaml")]);
    assert!(web.contains("replicas: 1"), "{web}");
}

#[test]
fn the_branch_comes_from_github_when_head_is_detached() {
    let repos = on_feature_branch();
    repos.git(&["checkout", "-q", "--detach"]);
    repos
        .berth(&["candidate", "-c", "test"])
        .fails_with(&["cannot tell which branch", "--branch"]);
    let run = run(berth_command()
        .current_dir(repos.work())
        .env("GITHUB_HEAD_REF", "feature/from-pr")
        .args(["candidate", "-c", "test"]));
    assert!(
        run.succeeds()
            .stdout
            .contains("candidates/test/feature/from-pr"),
        "{}",
        run.stdout
    );
}

#[test]
fn stale_candidates_are_pruned_from_the_remote() {
    let repos = on_feature_branch();
    repos.git(&["push", "-q", "origin", "feature/login"]);
    candidate_json(&repos, &["--push"]);
    repos.git(&["checkout", "-q", "-b", "feature/gone", "main"]);
    repos.git(&["push", "-q", "origin", "feature/gone"]);
    candidate_json(&repos, &["--push"]);
    repos.git(&["push", "-q", "origin", "--delete", "feature/gone"]);

    let run = repos.berth(&["candidate", "--prune-stale"]);
    let out = &run.succeeds().stdout;
    assert!(
        out.contains("deleted origin/candidates/test/feature/gone"),
        "{out}"
    );
    assert!(
        out.contains("deleted origin/candidates/prod/feature/gone"),
        "{out}"
    );
    assert!(
        repos
            .remote_ref("refs/heads/candidates/test/feature/gone")
            .is_none()
    );
    assert!(
        repos.remote_ref(TEST_REF).is_some(),
        "a live branch's candidate stays"
    );
}

#[test]
fn candidate_and_release_branches_are_not_rendered_again() {
    let repos = on_feature_branch();
    candidate_json(&repos, &["-c", "test"]);
    let refs = repos.git(&["for-each-ref", "refs/heads/candidates"]);
    for branch in ["candidates/test/feature/login", "releases/test"] {
        let run = repos.berth(&["candidate", "--branch", branch]);
        assert!(
            run.succeeds().stderr.contains("no candidates made"),
            "{}",
            run.stderr
        );
    }
    assert_eq!(repos.git(&["for-each-ref", "refs/heads/candidates"]), refs);
    // A checkout of a candidate is a rendered tree: berth says so.
    repos.git(&["checkout", "-q", "candidates/test/feature/login"]);
    repos
        .berth(&["candidate"])
        .fails_with(&["no berth.yaml", "this checkout is a rendered tree"]);
}

#[test]
fn a_fresh_clone_reuses_the_candidate_it_would_make_again() {
    let repos = on_feature_branch();
    let first = candidate_json(&repos, &["-c", "test", "--push"]);
    // CI clones anew: only origin's copy of the candidate is there.
    repos.git(&["update-ref", "-d", TEST_REF]);
    let again = candidate_json(&repos, &["-c", "test", "--push"]);
    assert_eq!(again[0]["commit"], first[0]["commit"]);
    assert_eq!(again[0]["updated"], false);
    assert_eq!(again[0]["pushed"], false);
}

/// quickstart with an app released only in prod whose chart is missing.
fn prod_only_app_broken(repos: &GitRepos) {
    repos.edit(
        "berth.yaml",
        "  prod:\n",
        "  prod:\n    apps: [platform, web, api, backups, reports]\n",
    );
    repos.edit(
        "berth.yaml",
        "channels:\n  test:\n",
        "  reports:\n    driver: helm\n    path: charts/reports\n\nchannels:\n  test:\n    apps: [platform, web, api, backups]\n",
    );
    repos.commit_all("a prod-only app whose chart is missing");
}

#[test]
fn a_channel_that_fails_to_render_does_not_stop_the_others() {
    let repos = on_feature_branch();
    prod_only_app_broken(&repos);
    // The test channel alone does not use the broken app.
    repos.berth(&["render", "-c", "test"]).succeeds();
    let run = repos.berth(&["candidate", "-c", "test"]);
    run.succeeds();
    // All channels: test's candidate is made, the run fails naming prod.
    let run = repos.berth(&["candidate"]);
    run.fails_with(&[
        "channel prod, app reports",
        "directory charts/reports does not exist",
        "no candidate for prod: the candidates of test were made",
    ]);
    assert!(
        run.stdout.contains("candidates/test/feature/login"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("candidates/prod/"), "{}", run.stdout);
    assert!(!repos.git(&["for-each-ref", TEST_REF]).is_empty());
    assert!(
        repos
            .git(&["for-each-ref", "refs/heads/candidates/prod"])
            .is_empty()
    );
    repos
        .berth(&["render", "-c", "prod"])
        .fails_with(&["berth.yaml:", "channel prod, app reports"]);
}
