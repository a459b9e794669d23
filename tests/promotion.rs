//! The promotion chain on real repositories (a bare origin and a clone) and the test API
//! server: `berth rollback` and `berth promote`.

use crate::support::Release;
use crate::support::{Run, run};
use serde_json::Value;

/// The quickstart with two applied releases of `test`: web at 1 replica, then at 3.
/// Returns the setup and the two release commits.
fn two_releases() -> (Release, String, String) {
    let setup = Release::quickstart();
    setup.apply(&[]).succeeds();
    let first = setup.repos.git(&["rev-parse", "releases/test"]);
    setup.change(|repos| repos.edit("apps/web/values-test.yaml", "replicas: 1", "replicas: 3"));
    setup.apply(&[]).succeeds();
    let second = setup.repos.git(&["rev-parse", "releases/test"]);
    assert_ne!(first, second);
    (setup, first, second)
}

fn berth(setup: &Release, command: &[&str], args: &[&str]) -> Run {
    run(&mut setup
        .cluster
        .berth_command(&setup.repos.work(), command, args))
}

fn replicas(setup: &Release) -> Value {
    setup.cluster.deployment("shop", "web").expect("web")["spec"]["replicas"].clone()
}

#[test]
fn rollback_commits_the_earlier_tree_on_top_applies_and_records_it() {
    let (setup, first, second) = two_releases();
    assert_eq!(replicas(&setup), 3);
    let run = berth(
        &setup,
        &["rollback", "-c", "test"],
        &["--apply", "-o", "json"],
    );
    run.succeeds();
    let rollback = setup.repos.git(&["rev-parse", "releases/test"]);
    // History moved forward: the rollback's parent is the release rolled back.
    assert_eq!(setup.repos.git(&["rev-parse", "releases/test^"]), second);
    assert_eq!(
        setup.repos.git(&["rev-parse", "releases/test^{tree}"]),
        setup
            .repos
            .git(&["rev-parse", &format!("{first}^{{tree}}")])
    );
    let message = setup
        .repos
        .git(&["log", "-1", "--format=%B", "releases/test"]);
    assert!(
        message.starts_with(&format!(
            "Roll back test from {} to {}",
            &second[..12],
            &first[..12]
        )),
        "{message}"
    );
    assert!(
        message.contains(&format!("Berth-Rollback-From: {second}")),
        "{message}"
    );
    assert!(
        message.contains(&format!("Berth-Rollback-To: {first}")),
        "{message}"
    );
    assert!(
        run.stderr.contains(&format!(
            "releases/test  {}  rolled back from {} to {}",
            &rollback[..12],
            &second[..12],
            &first[..12]
        )),
        "{}",
        run.stderr
    );
    // Applied like any release and recorded.
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["result"], "succeeded", "{report:#}");
    let record = setup.record();
    assert_eq!(record["data"]["release"], rollback.as_str(), "{record:#}");
    assert_eq!(record["data"]["result"], "succeeded");
    // The record marks it as a rollback, and which release it went back to.
    assert_eq!(record["data"]["deploy"], "rollback", "{record:#}");
    assert_eq!(record["data"]["rollbackFrom"], second.as_str());
    assert_eq!(record["data"]["rollbackTo"], first.as_str());
    assert_eq!(replicas(&setup), 1);
    // History marks it as a rollback.
    let history = setup.repos.berth(&["history", "-c", "test", "-n", "1"]);
    history.succeeds();
    assert!(
        history.stdout.contains(&format!(
            "  rollback from {} to {}  succeeded at ",
            &second[..12],
            &first[..12]
        )),
        "{}",
        history.stdout
    );
    let history = setup
        .repos
        .berth(&["history", "-c", "test", "-n", "1", "-o", "json"]);
    let entries: Value = serde_json::from_str(&history.stdout).unwrap();
    assert_eq!(entries[0]["rollbackTo"], first.as_str(), "{entries:#}");
    // A rollback is never promoted onward.
    berth(&setup, &["promote", "test"], &[]).fails_with(&[&format!(
        "cannot promote test to prod: its last apply ({}) is a rollback from {} to {}, never promoted onward",
        &rollback[..12],
        &second[..12],
        &first[..12]
    )]);
}

#[test]
fn rollback_to_a_named_release_pushes_a_fast_forward_and_never_loses_a_concurrent_push() {
    let (setup, first, second) = two_releases();
    setup.repos.git(&["push", "-q", "origin", "releases/test"]);
    let run = setup.repos.berth(&[
        "rollback", "-c", "test", "--to", &first, "--push", "-o", "json",
    ]);
    run.succeeds();
    let done: Value = serde_json::from_str(&run.stdout).unwrap();
    let rollback = setup.repos.git(&["rev-parse", "releases/test"]);
    assert_eq!(done["commit"], rollback.as_str());
    assert_eq!(
        (done["from"].as_str(), done["to"].as_str()),
        (Some(&*second), Some(&*first))
    );
    assert_eq!(done["pushed"], true);
    assert_eq!(
        setup.repos.remote_ref("refs/heads/releases/test"),
        Some(rollback.clone())
    );
    // Nothing to roll back to the same tree again.
    setup
        .repos
        .berth(&["rollback", "-c", "test", "--to", &first])
        .fails_with(&["already holds the tree of", "--steps N"]);

    // Someone else pushes a release meanwhile: the rollback built on the stale copy is
    // refused by the remote, and their release is still there.
    let other = setup.dir_clone();
    crate::support::git(&other, &["commit", "-q", "--allow-empty", "-m", "theirs"]);
    crate::support::git(&other, &["push", "-q", "origin", "HEAD:releases/test"]);
    let theirs = crate::support::git(&other, &["rev-parse", "HEAD"]);
    setup
        .repos
        .berth(&["rollback", "-c", "test", "--steps", "1", "--push"])
        .fails_with(&["git push", "someone else may have pushed releases/test"]);
    assert_eq!(
        setup.repos.remote_ref("refs/heads/releases/test"),
        Some(theirs)
    );
}

#[test]
fn rollback_refuses_what_is_not_a_past_release_naming_it() {
    let (setup, _, _) = two_releases();
    let before = setup.repos.git(&["rev-parse", "releases/test"]);
    let main = setup.repos.git(&["rev-parse", "main"]);
    setup
        .repos
        .berth(&["rollback", "-c", "test", "--to", "main"])
        .fails_with(&[
            &format!(
                "main ({}) is not a past release of channel test",
                &main[..12]
            ),
            "berth history -c test",
        ]);
    setup
        .repos
        .berth(&["rollback", "-c", "test", "--steps", "9"])
        .fails_with(&["releases/test has 1 earlier release, not 9"]);
    setup
        .repos
        .berth(&["rollback", "-c", "staging"])
        .fails_with(&["staging"]);
    assert_eq!(setup.repos.git(&["rev-parse", "releases/test"]), before);
}

impl Release {
    /// Another clone of origin, checked out at `releases/test`.
    fn dir_clone(&self) -> std::path::PathBuf {
        let dir = self.repos.dir.path().join("other");
        crate::support::git(
            self.repos.dir.path(),
            &[
                "clone",
                "-q",
                "-b",
                "releases/test",
                self.repos.origin().to_str().unwrap(),
                "other",
            ],
        );
        crate::support::git(&dir, &["config", "user.name", "Other"]);
        crate::support::git(&dir, &["config", "user.email", "other@example.com"]);
        dir
    }
}

#[test]
fn promote_makes_prods_candidate_from_the_source_test_applied_even_after_the_branch_moved() {
    let setup = Release::quickstart();
    let applied_source = setup.repos.git(&["rev-parse", "HEAD"]);
    setup.apply(&[]).succeeds();
    // The source branch moves on (not released).
    setup
        .repos
        .edit("apps/web/values-test.yaml", "replicas: 1", "replicas: 3");
    setup.repos.commit_all("later");
    let run = berth(&setup, &["promote", "test"], &["-o", "json"]);
    run.succeeds();
    let outcome: Value = serde_json::from_str(&run.stdout).unwrap();
    let short = &applied_source[..12];
    let branch = format!("candidates/prod/promote-{short}");
    assert_eq!(
        outcome["ref"],
        format!("refs/heads/{branch}"),
        "{outcome:#}"
    );
    let message = setup.repos.git(&["log", "-1", "--format=%B", &branch]);
    assert!(
        message.contains(&format!("Source-Commit: {applied_source}")),
        "{message}"
    );
    let manifest = setup
        .repos
        .git(&["show", &format!("{branch}:.berth/release.yaml")]);
    assert!(manifest.contains(&applied_source), "{manifest}");
    assert!(manifest.contains("channel: prod"), "{manifest}");
}

#[test]
fn promote_refuses_a_failed_apply_a_rollback_a_manual_deploy_and_a_channel_off_the_chain() {
    let setup = Release::quickstart();
    berth(&setup, &["promote", "test"], &[])
        .fails_with(&["cannot promote test to prod", "test was never applied"]);
    berth(&setup, &["promote", "test"], &["--to", "test"])
        .fails_with(&["channel test does not promote to test (its promotesTo is prod)"]);
    berth(&setup, &["promote", "prod"], &[])
        .fails_with(&["channel prod promotes to no channel", "--to CHANNEL"]);
    berth(&setup, &["promote", "test"], &["--auto"]).fails_with(&[
        "cannot promote test to prod with --auto: channel prod does not say `autoPromote: true`",
        "promote without --auto",
    ]);

    // A release merged but not applied: test is behind its release branch.
    setup.apply(&[]).succeeds();
    let applied = setup.repos.git(&["rev-parse", "releases/test"]);
    setup.change(|repos| repos.edit("apps/web/values-test.yaml", "replicas: 1", "replicas: 2"));
    let merged = setup.repos.git(&["rev-parse", "releases/test"]);
    berth(&setup, &["promote", "test"], &[]).fails_with(&[&format!(
        "cannot promote test to prod: test is behind its release branch: releases/test is at {}, but {} was last applied (merged but not applied)",
        &merged[..12],
        &applied[..12]
    ), "apply it first (berth apply -c test)"]);

    // A manual deploy of a candidate that is not the release (`apply --ref`).
    manual_deploy(&setup, "replicas: 2", "replicas: 3");
    assert_eq!(setup.record()["data"]["deploy"], "manual");
    berth(&setup, &["promote", "test"], &[])
        .fails_with(&["was a manual deploy, not a release of releases/test"]);

    // A release made from a hand-picked source (`candidate --source REV`) is manual too, even
    // merged into the release branch and applied from it.
    setup
        .repos
        .berth(&[
            "candidate",
            "-c",
            "test",
            "--source",
            "HEAD~1",
            "--branch",
            "hotfix/y",
        ])
        .succeeds();
    setup
        .repos
        .git(&["branch", "-f", "releases/test", "candidates/test/hotfix/y"]);
    setup.apply(&[]).succeeds();
    assert_eq!(setup.record()["data"]["deploy"], "manual");
    berth(&setup, &["promote", "test"], &[])
        .fails_with(&["was a manual deploy, not a release of releases/test"]);

    // A rollback, applied, is never promoted onward.
    setup.release();
    setup.apply(&[]).succeeds();
    assert_eq!(setup.record()["data"]["deploy"], "release");
    berth(&setup, &["promote", "test"], &[]).succeeds();
    berth(&setup, &["rollback", "-c", "test"], &["--apply"]).succeeds();
    berth(&setup, &["promote", "test"], &[])
        .fails_with(&["is a rollback from", "never promoted onward"]);

    // A failed apply (the record says so) is not promoted.
    let name = "berth-release-acme.shop.test";
    setup.cluster.kubectl(&[
        "patch",
        "configmap",
        name,
        "-n",
        "berth-system",
        "--type=merge",
        "-p",
        r#"{"data":{"result":"failed"}}"#,
    ]);
    berth(&setup, &["promote", "test"], &[])
        .fails_with(&["cannot promote test to prod: its last apply", "failed"]);
    // Only the one allowed promotion made a candidate.
    assert_eq!(
        setup
            .repos
            .git(&["branch", "--list", "candidates/prod/*"])
            .lines()
            .count(),
        1
    );
}

#[test]
fn promote_auto_fast_forwards_prods_release_branch_and_a_concurrent_promotion_loses_nothing() {
    let setup = Release::quickstart();
    setup.change(|repos| {
        repos.edit(
            "berth.yaml",
            "    context: gke-prod\n",
            "    context: gke-prod\n    autoPromote: true\n",
        )
    });
    let applied_source = setup.repos.git(&["rev-parse", "HEAD"]);
    setup.apply(&[]).succeeds();
    setup
        .repos
        .git(&["push", "-q", "origin", "feature/x", "releases/test"]);
    let other = setup.dir_clone();
    crate::support::git(&other, &["checkout", "-q", "feature/x"]);

    let run = berth(
        &setup,
        &["promote", "test"],
        &["--auto", "--push", "-o", "json"],
    );
    run.succeeds();
    let outcome: Value = serde_json::from_str(&run.stdout).unwrap();
    let prod = setup.repos.git(&["rev-parse", "releases/prod"]);
    assert_eq!(
        outcome["released"]["branch"], "releases/prod",
        "{outcome:#}"
    );
    assert_eq!(outcome["released"]["commit"], prod.as_str());
    assert_eq!(outcome["released"]["pushed"], true);
    // The release branch holds the candidate: prod's tree rendered from what test applied.
    assert_eq!(outcome["commit"], prod.as_str());
    assert_eq!(
        setup.repos.remote_ref("refs/heads/releases/prod"),
        Some(prod.clone())
    );
    let manifest = setup
        .repos
        .git(&["show", "releases/prod:.berth/release.yaml"]);
    assert!(manifest.contains("channel: prod"), "{manifest}");
    assert!(manifest.contains(&applied_source), "{manifest}");

    // Another clone promoting at the same time, from a stale view of origin: its push is
    // refused (its candidate's first), origin keeps the first promotion, and its own release
    // branch is left as it was.
    let theirs = run_in(&setup, &other, &["--auto", "--push"]);
    theirs.fails_with(&[
        "git push",
        "someone else may have pushed candidates/prod/promote-",
    ]);
    assert_eq!(
        setup.repos.remote_ref("refs/heads/releases/prod"),
        Some(prod.clone())
    );
    assert_eq!(
        crate::support::git(&other, &["branch", "--list", "releases/prod"]),
        ""
    );
    // Once it has fetched, there is nothing left to promote: the branch does not move.
    crate::support::git(&other, &["fetch", "-q", "origin"]);
    let again = run_in(&setup, &other, &["--auto", "--push", "-o", "json"]);
    again.succeeds();
    let again: Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(again["released"]["commit"], prod.as_str(), "{again:#}");
    assert_eq!(again["released"]["updated"], false);
    assert_eq!(
        setup.repos.remote_ref("refs/heads/releases/prod"),
        Some(prod.clone())
    );

    // A manual deploy to test is never promoted automatically.
    manual_deploy(&setup, "replicas: 1", "replicas: 2");
    berth(&setup, &["promote", "test"], &["--auto", "--push"])
        .fails_with(&["was a manual deploy, not a release of releases/test"]);
    assert_eq!(setup.repos.git(&["rev-parse", "releases/prod"]), prod);
}

/// Change web's replicas from `old` to `new` in the source, make test's candidate and apply it
/// by hand (`apply --ref`): a manual deploy.
fn manual_deploy(setup: &Release, old: &str, new: &str) {
    setup.repos.edit("apps/web/values-test.yaml", old, new);
    setup.repos.commit_all("hand-picked");
    setup.repos.berth(&["candidate", "-c", "test"]).succeeds();
    setup
        .apply(&["--ref", "candidates/test/feature/x"])
        .succeeds();
}

/// `berth promote test ARGS` run in the clone `dir` against the setup's cluster.
fn run_in(setup: &Release, dir: &std::path::Path, args: &[&str]) -> Run {
    run(&mut setup.cluster.berth_command(dir, &["promote", "test"], args))
}

#[test]
fn set_image_from_two_clones_at_once_one_wins_and_the_other_fails_cleanly() {
    let setup = Release::quickstart();
    setup
        .repos
        .git(&["push", "-q", "origin", "feature/x", "releases/test"]);
    let other = setup.dir_clone();
    crate::support::git(&other, &["checkout", "-q", "feature/x"]);
    let run = setup.repos.berth(&[
        "set-image",
        "-c",
        "test",
        "ghcr.io/example/shop-web=2.0.0",
        "--push",
        "-o",
        "json",
    ]);
    run.succeeds();
    let ours = setup.repos.git(&["rev-parse", "feature/x"]);
    let done: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(done["pins"]["commit"], ours.as_str(), "{done:#}");
    assert_eq!(done["pins"]["branch"], "feature/x");
    assert_eq!(done["pins"]["file"], ".berth/images/test.yaml");
    assert_eq!(
        (
            done["pins"]["committed"].as_bool(),
            done["pins"]["pushed"].as_bool()
        ),
        (Some(true), Some(true))
    );
    assert_eq!(done["candidate"], Value::Null);
    assert_eq!(
        setup.repos.remote_ref("refs/heads/feature/x"),
        Some(ours.clone())
    );
    let theirs = crate::support::berth(
        &other,
        &[
            "set-image",
            "-c",
            "test",
            "ghcr.io/example/shop-web=3.0.0",
            "--push",
        ],
    );
    theirs.fails_with(&["git push", "someone else may have pushed feature/x"]);
    // The first pin is still there; the second never reached origin.
    assert_eq!(
        setup.repos.remote_ref("refs/heads/feature/x"),
        Some(ours.clone())
    );
    let pins = crate::support::git(
        &setup.repos.origin(),
        &["show", "feature/x:.berth/images/test.yaml"],
    );
    assert!(pins.contains("2.0.0") && !pins.contains("3.0.0"), "{pins}");
}

const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

/// The image lines of every rendered file of `rev` that name `image`.
fn images_in(repos: &crate::support::GitRepos, rev: &str, image: &str) -> Vec<String> {
    repos
        .git(&["grep", "-h", "image:", rev])
        .lines()
        .filter(|l| l.contains(image))
        .map(|l| l.trim().to_string())
        .collect()
}

#[test]
fn set_image_commits_the_pin_updates_a_clean_checkout_and_builds_the_candidate() {
    let repos = crate::support::GitRepos::new("quickstart");
    let before = repos.git(&["rev-parse", "HEAD"]);
    let pin = format!("ghcr.io/example/shop-api@{DIGEST}");
    let run = repos.berth(&["set-image", "-c", "test", &pin, "--candidate", "--push"]);
    run.succeeds();
    let after = repos.git(&["rev-parse", "HEAD"]);
    assert_eq!(repos.git(&["rev-parse", "HEAD^"]), before);
    assert_eq!(
        repos.git(&["status", "--porcelain"]),
        "",
        "the checkout follows"
    );
    assert_eq!(repos.remote_ref("refs/heads/main"), Some(after.clone()));
    let file = std::fs::read_to_string(repos.work().join(".berth/images/test.yaml")).unwrap();
    assert!(file.contains(&format!("digest: \"{DIGEST}\"")), "{file}");
    assert!(
        repos
            .git(&["log", "-1", "--format=%s"])
            .starts_with("Pin images for test: ghcr.io/example/shop-api@sha256:1111")
    );
    assert!(
        run.stdout.contains("candidates/test/main"),
        "{}",
        run.stdout
    );
    // Every container of the image, in the Deployment (two) and the CronJob, is pinned.
    let images = images_in(&repos, "candidates/test/main", "shop-api");
    assert_eq!(images.len(), 3, "{images:?}");
    for image in &images {
        assert_eq!(image, &format!("image: ghcr.io/example/shop-api@{DIGEST}"));
    }
    assert_eq!(
        repos.remote_ref("refs/heads/candidates/test/main"),
        Some(repos.git(&["rev-parse", "candidates/test/main"]))
    );
    // Prod's pins are its own.
    repos.berth(&["candidate", "-c", "prod"]).succeeds();
    assert!(
        images_in(&repos, "candidates/prod/main", "shop-api")
            .iter()
            .all(|i| !i.contains(DIGEST))
    );

    // A tag replaces the digest; the same pins again commit nothing.
    repos
        .berth(&["set-image", "-c", "test", "ghcr.io/example/shop-api=3.3.0"])
        .succeeds();
    let again = repos.berth(&["set-image", "-c", "test", "ghcr.io/example/shop-api=3.3.0"]);
    again.succeeds();
    assert!(again.stdout.contains("[unchanged]"), "{}", again.stdout);
    let file = std::fs::read_to_string(repos.work().join(".berth/images/test.yaml")).unwrap();
    assert!(
        file.contains("newTag: \"3.3.0\"") && !file.contains("digest"),
        "{file}"
    );
    repos.berth(&["candidate", "-c", "test"]).succeeds();
    assert!(
        images_in(&repos, "candidates/test/main", "shop-api")
            .iter()
            .all(|i| i == "image: ghcr.io/example/shop-api:3.3.0")
    );
}

#[test]
fn set_image_leaves_other_checkouts_alone_and_refuses_a_dirty_one() {
    let repos = crate::support::GitRepos::new("quickstart");
    let main = repos.git(&["rev-parse", "main"]);
    // Checked out elsewhere: main gets the commit, the working tree is untouched.
    repos.git(&["checkout", "-q", "-b", "feature/y"]);
    std::fs::write(repos.work().join("notes.txt"), "mine\n").unwrap();
    repos.git(&["add", "notes.txt"]);
    repos
        .berth(&[
            "set-image",
            "-c",
            "prod",
            "--branch",
            "main",
            "ghcr.io/example/shop-web=1.8.0",
        ])
        .succeeds();
    assert_eq!(repos.git(&["rev-parse", "main^"]), main);
    assert_eq!(repos.git(&["status", "--porcelain"]), "A  notes.txt");
    assert!(!repos.work().join(".berth/images/prod.yaml").exists());
    assert!(
        repos
            .git(&["show", "main:.berth/images/prod.yaml"])
            .contains("newTag: \"1.8.0\"")
    );

    // On the branch with uncommitted changes: refused, nothing committed.
    let head = repos.git(&["rev-parse", "HEAD"]);
    repos
        .berth(&["set-image", "-c", "test", "ghcr.io/example/shop-web=2"])
        .fails_with(&["uncommitted changes", "nothing was committed"]);
    assert_eq!(repos.git(&["rev-parse", "HEAD"]), head);
    assert_eq!(repos.git(&["status", "--porcelain"]), "A  notes.txt");
}

/// Add `checks` (YAML list items, indented for the channel) to the test channel in berth.yaml.
fn with_checks(setup: &Release, checks: &str) {
    setup.repos.edit(
        "berth.yaml",
        "    promotesTo: prod\n",
        &format!("    promotesTo: prod\n    checks:\n{checks}"),
    );
}

#[test]
fn checks_run_after_apply_with_the_release_in_their_environment_and_no_credentials() {
    let setup = Release::quickstart();
    with_checks(
        &setup,
        "      - name: smoke\n        run: 'echo \"channel=$BERTH_CHANNEL release=$BERTH_RELEASE_COMMIT \
         source=$BERTH_SOURCE_COMMIT context=$BERTH_CONTEXT token=${GITHUB_TOKEN:-withheld}\"'\n",
    );
    let release = setup.repos.git(&["rev-parse", "releases/test"]);
    let source = setup.repos.git(&["rev-parse", "HEAD"]);
    let mut command = setup.apply_command(&[]);
    command.env("GITHUB_TOKEN", "ghp_secret_value");
    let run = run(&mut command);
    run.succeeds();
    assert!(
        run.stdout.contains("check passed    smoke ("),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!(
            "| channel=test release={release} source={source} context=berth-test token=withheld"
        )),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("ghp_secret_value"));
    let record = setup.record();
    assert_eq!(record["data"]["result"], "succeeded");
    assert_eq!(record["data"]["checks"], "smoke passed\n");
    // The passing checks let test be promoted.
    berth(&setup, &["promote", "test"], &[]).succeeds();
}

#[test]
fn a_failed_or_timed_out_check_makes_the_apply_checks_failed_recorded_and_not_promoted() {
    let setup = Release::quickstart();
    with_checks(
        &setup,
        "      - name: smoke\n        run: 'true'\n\
         \x20     - name: login\n        run: 'echo cannot log in >&2; exit 3'\n\
         \x20     - name: slow\n        run: 'sleep 30'\n        timeout: 1s\n",
    );
    let started = std::time::Instant::now();
    let (code, report) = setup.apply_json(&[]);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert_eq!(code, 4, "{report:#}");
    assert_eq!(report["result"], "checks failed");
    let checks = report["checks"].as_array().unwrap();
    let results: Vec<(&str, &str)> = checks
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["result"].as_str().unwrap()))
        .collect();
    assert_eq!(
        results,
        [
            ("smoke", "passed"),
            ("login", "failed"),
            ("slow", "timed-out")
        ]
    );
    assert_eq!(checks[1]["code"], 3);
    assert_eq!(checks[1]["output"], "cannot log in\n");
    assert_eq!(checks[2]["output"], "stopped after 1s");
    let record = setup.record();
    assert_eq!(record["data"]["result"], "checks failed");
    assert_eq!(
        record["data"]["checks"],
        "smoke passed\nlogin failed\nslow timed-out\n"
    );
    berth(&setup, &["promote", "test"], &[]).fails_with(&[
        "cannot promote test to prod: its last apply",
        "checks failed",
    ]);
}

const SMOKE_JOB: &str = "apiVersion: batch/v1
kind: Job
metadata:
  name: smoke
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: smoke
          image: ghcr.io/example/shop-smoke:1
";

/// Wait (as the cluster's Job controller would) for the Job `shop/smoke` that is not `old`
/// (its uid), then set its status through the status subresource.
fn finish_job(setup: &Release, old: Option<&str>, status: &str) -> String {
    // Bounded, so that an apply that never makes the Job fails the test rather than hangs it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let uid = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "berth never made the Job"
        );
        let uid = setup
            .cluster
            .job("shop", "smoke")
            .and_then(|job| job["metadata"]["uid"].as_str().map(str::to_string));
        match uid {
            Some(uid) if Some(uid.as_str()) != old => break uid,
            _ => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    };
    assert!(
        setup.cluster.set_job_status("shop", "smoke", status),
        "the Job berth waits for vanished"
    );
    uid
}

/// `berth apply -c test -o json` run while `finish` plays the Job controller.
fn apply_with_job(setup: &Release, finish: impl FnOnce() -> String) -> (i32, Value, String) {
    let child = setup
        .apply_command(&["-o", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let uid = finish();
    let output = child.wait_with_output().unwrap();
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
    (output.status.code().unwrap(), report, uid)
}

#[test]
fn a_job_check_is_recreated_per_release_waited_for_through_its_status_and_recorded() {
    let setup = Release::quickstart();
    with_checks(&setup, "      - job: smoke\n        timeout: 2m\n");
    crate::support::write_files(&setup.repos.work(), &[("backups/smoke.yaml", SMOKE_JOB)]);
    setup.repos.commit_all("a smoke test job");
    setup.release();

    let complete = r#"{"status":{"succeeded":1,"conditions":[{"type":"Complete","status":"True","reason":"CompletionsReached"}]}}"#;
    let (code, report, first) = apply_with_job(&setup, || finish_job(&setup, None, complete));
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["result"], "succeeded");
    assert_eq!(report["checks"][0]["name"], "smoke");
    assert_eq!(report["checks"][0]["result"], "passed");
    assert_eq!(
        report["checks"][0]["output"],
        "Job shop/Job.batch/smoke: completed (CompletionsReached)"
    );
    // The Job is its check's, not the apply's: applied once, by the check.
    let keys: Vec<&str> = report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["key"].as_str().unwrap())
        .collect();
    assert!(!keys.contains(&"shop/Job.batch/smoke"), "{keys:?}");
    let job = setup.cluster.job("shop", "smoke").unwrap();
    assert_eq!(
        job["metadata"]["labels"]["app.kubernetes.io/managed-by"], "berth",
        "{job:#}"
    );
    let record = setup.record();
    assert_eq!(record["data"]["checks"], "smoke passed\n");
    assert!(
        record["data"]["inventory"]
            .as_str()
            .unwrap()
            .contains("shop/Job.batch/smoke batch/v1\n"),
        "{record:#}"
    );
    berth(&setup, &["promote", "test"], &[]).succeeds();

    // The next release runs it afresh (its last run deleted first), and this run fails.
    setup.change(|repos| repos.edit("apps/web/values-test.yaml", "replicas: 1", "replicas: 2"));
    let failed = r#"{"status":{"failed":1,"conditions":[{"type":"Failed","status":"True","reason":"BackoffLimitExceeded","message":"Job has reached the specified backoff limit"}]}}"#;
    let (code, report, second) =
        apply_with_job(&setup, || finish_job(&setup, Some(&first), failed));
    assert_ne!(first, second);
    assert_eq!(code, 4, "{report:#}");
    assert_eq!(report["result"], "checks failed");
    assert_eq!(report["checks"][0]["result"], "failed");
    let output = report["checks"][0]["output"].as_str().unwrap();
    assert!(
        output.starts_with("Job shop/Job.batch/smoke: the job failed")
            && output.contains(
                "Failed=True (BackoffLimitExceeded: Job has reached the specified backoff limit)"
            ),
        "{output}"
    );
    let record = setup.record();
    assert_eq!(record["data"]["result"], "checks failed");
    assert_eq!(record["data"]["checks"], "smoke failed\n");
    berth(&setup, &["promote", "test"], &[]).fails_with(&[
        "cannot promote test to prod: its last apply",
        "checks failed",
    ]);
}

#[test]
fn a_job_check_naming_no_job_of_the_release_is_refused_before_anything_is_applied() {
    let setup = Release::quickstart();
    with_checks(&setup, "      - job: smoke\n        namespace: shop\n");
    setup.apply(&[]).fails_with(&[
        "check `smoke` of channel test names Job smoke in namespace shop, which release",
        "does not hold; nothing was applied",
        "add the Job to an app of the channel",
    ]);
    assert!(setup.cluster.deployment("shop", "web").is_none());
}

#[test]
fn a_job_check_that_never_finishes_times_out_naming_where_the_job_stands() {
    let setup = Release::quickstart();
    with_checks(&setup, "      - job: smoke\n        timeout: 1s\n");
    crate::support::write_files(&setup.repos.work(), &[("backups/smoke.yaml", SMOKE_JOB)]);
    setup.repos.commit_all("a smoke test job");
    setup.release();
    // No controller finishes it.
    let (code, report) = setup.apply_json(&[]);
    assert_eq!(code, 4, "{report:#}");
    assert_eq!(report["checks"][0]["result"], "timed-out");
    assert_eq!(
        report["checks"][0]["output"],
        "Job shop/Job.batch/smoke: stopped waiting after 1s: the job has not completed"
    );
    assert_eq!(setup.record()["data"]["checks"], "smoke timed-out\n");
}
