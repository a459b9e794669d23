//! `berth diff --against REF`: a rendered tree compared with a release branch, offline.

use crate::support::*;

/// A repository whose `releases/test` holds the test channel's candidate, and whose source
/// then changes: one update (web replicas), one create (a new ConfigMap), one delete (the api's
/// CronJob).
pub fn released_then_changed() -> GitRepos {
    let repos = GitRepos::new("quickstart");
    repos.git(&["checkout", "-q", "-b", "feature/x"]);
    let run = repos.berth(&["candidate", "-c", "test", "-o", "json"]);
    let outcomes: serde_json::Value = serde_json::from_str(&run.succeeds().stdout).unwrap();
    let released = outcomes[0]["commit"].as_str().unwrap();
    repos.git(&["branch", "releases/test", released]);
    repos.edit("apps/web/values-test.yaml", "replicas: 1", "replicas: 2");
    std::fs::remove_file(repos.work().join("apps/api/cronjob.yaml.j2")).unwrap();
    std::fs::write(
        repos.work().join("apps/web/flags.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-flags\ndata:\n  beta: \"true\"\n",
    )
    .unwrap();
    repos.commit_all("change");
    repos
}

#[test]
fn unchanged_exits_0() {
    let repos = GitRepos::new("quickstart");
    repos.git(&["checkout", "-q", "-b", "feature/x"]);
    repos.berth(&["candidate", "-c", "test"]).succeeds();
    repos.git(&["branch", "releases/test", "candidates/test/feature/x"]);
    let run = repos.berth(&["diff", "-c", "test", "--against", "releases/test"]);
    run.succeeds();
    assert!(
        run.stdout
            .contains("total: 0 to create, 0 to update, 0 to delete, 18 unchanged"),
        "{}",
        run.stdout
    );
}

#[test]
fn changes_exit_1_with_text_markdown_and_json_reports() {
    let repos = released_then_changed();
    let text = repos.berth(&diff_rendered_against_release(&[]));
    assert_eq!(text.code, 1, "{}", text.stderr);
    insta::assert_snapshot!("offline_text", redact_commits(&text.stdout));

    let markdown = repos.berth(&diff_rendered_against_release(&["-o", "markdown"]));
    assert_eq!(markdown.code, 1);
    insta::assert_snapshot!("offline_markdown", redact_commits(&markdown.stdout));

    let json = repos.berth(&diff_rendered_against_release(&["-o", "json"]));
    assert_eq!(json.code, 1);
    let plan: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(plan["counts"]["create"], 1);
    assert_eq!(plan["counts"]["update"], 1);
    assert_eq!(plan["counts"]["delete"], 1);
    assert_eq!(plan["counts"]["unchanged"], 16);
    let deleted: Vec<&serde_json::Value> = plan["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["action"] == "delete")
        .collect();
    assert_eq!(deleted[0]["key"], "shop-jobs/CronJob.batch/api-cleanup");
    assert_eq!(
        deleted[0]["app"], "api",
        "a deleted object keeps its app from the release"
    );
}

#[test]
fn a_candidate_tree_can_be_compared_instead_of_a_fresh_render() {
    let repos = released_then_changed();
    repos.berth(&["candidate", "-c", "test"]).succeeds();
    // The worktree changes again, but --tree compares the committed candidate.
    repos.edit("apps/web/values-test.yaml", "replicas: 2", "replicas: 7");
    let run = repos.berth(&[
        "diff",
        "-c",
        "test",
        "--against",
        "releases/test",
        "--tree",
        "candidates/test/feature/x",
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.contains("+  replicas: 2"), "{}", run.stdout);
    assert!(!run.stdout.contains("replicas: 7"));
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        plan["sourceCommit"].as_str().unwrap(),
        repos.git(&["rev-parse", "HEAD"])
    );
}

#[test]
fn the_report_can_go_to_a_file_and_context_is_adjustable() {
    let repos = released_then_changed();
    let file = repos.dir.path().join("diff.md");
    let mut args = diff_rendered_against_release(&["-o", "markdown", "-U", "0", "--out"]);
    args.push(file.to_str().unwrap());
    let run = repos.berth(&args);
    assert_eq!(run.code, 1);
    assert!(run.stdout.is_empty());
    let report = std::fs::read_to_string(file).unwrap();
    assert!(
        report.contains("@@ -13 +13 @@\n-  replicas: 1\n+  replicas: 2\n"),
        "{report}"
    );
}

#[test]
fn an_unknown_ref_is_an_error_not_no_changes() {
    let repos = released_then_changed();
    repos
        .berth(&[
            "diff",
            "-c",
            "test",
            "--render",
            "--against",
            "releases/nope",
        ])
        .fails_with(&["cannot resolve `releases/nope`", "fetch"]);
}

#[test]
fn colour_only_when_asked_or_on_a_terminal() {
    let repos = released_then_changed();
    let plain = repos.berth(&diff_rendered_against_release(&[]));
    assert!(!plain.stdout.contains('\x1b'));
    let mut args = vec!["--color", "always"];
    args.extend(diff_rendered_against_release(&[]));
    let coloured = repos.berth(&args);
    assert!(
        coloured.stdout.contains("\x1b[31m-  replicas: 1\x1b[0m"),
        "{}",
        coloured.stdout
    );
}

#[test]
fn in_github_actions_the_job_summary_gets_the_report() {
    let repos = released_then_changed();
    let summary = repos.dir.path().join("summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let run = run(berth_command()
        .current_dir(repos.work())
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args(diff_rendered_against_release(&[])));
    assert_eq!(run.code, 1, "{}", run.stderr);
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(
        text.starts_with("earlier step\n<!-- berth:diff channel=test commit="),
        "{text}"
    );
    assert!(text.contains("+  replicas: 2"), "{text}");
}

/// `--app` shows only those apps: web's update, none of api's deletion, and exit 1 only for
/// changes in them.
#[test]
fn a_partial_diff_shows_only_the_apps_named() {
    let repos = released_then_changed();
    // The change is compared through the branch's candidate.
    repos.berth(&["candidate", "-c", "test"]).succeeds();
    let json = |apps: &[&str]| {
        let mut args: Vec<&str> = "diff -c test --against releases/test -o json"
            .split(' ')
            .collect();
        for app in apps {
            args.extend(["-a", app]);
        }
        let run = repos.berth(&args);
        let plan: serde_json::Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr));
        let changed: Vec<(String, String)> = plan["objects"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["action"] != "unchanged")
            .map(|o| {
                (
                    o["app"].as_str().unwrap().to_string(),
                    o["action"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let apps: std::collections::BTreeSet<String> = plan["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["app"].as_str().unwrap().to_string())
            .collect();
        (
            run.code,
            changed,
            apps,
            plan["target"].as_str().unwrap().to_string(),
        )
    };
    let (code, changed, apps, target) = json(&["web"]);
    assert_eq!(code, 1);
    assert!(changed.iter().all(|(app, _)| app == "web"), "{changed:?}");
    assert!(
        changed.iter().any(|(_, action)| action == "update"),
        "{changed:?}"
    );
    assert_eq!(apps.into_iter().collect::<Vec<_>>(), ["web"]);
    assert!(target.ends_with("(only web)"), "{target}");

    let (_, changed, _, _) = json(&["api"]);
    assert!(
        changed
            .iter()
            .all(|(app, action)| app == "api" && action == "delete"),
        "{changed:?}"
    );
    repos
        .berth(&[
            "diff",
            "-c",
            "test",
            "--against",
            "releases/test",
            "-a",
            "wbe",
        ])
        .fails_with(&["unknown app `wbe`", "apps defined:"]);
}

#[test]
fn against_compares_the_branchs_candidate_like_a_live_diff() {
    let repos = released_then_changed();
    // The candidate was made before the change: without --render it is what is compared.
    let run = repos.berth(&["diff", "-c", "test", "--against", "releases/test"]);
    run.succeeds();
    assert!(
        run.stdout.contains("test: candidates/test/feature/x (")
            && run.stdout.contains("against releases/test ("),
        "{}",
        run.stdout
    );
    repos.berth(&["candidate", "-c", "test"]).succeeds();
    let run = repos.berth(&["diff", "-c", "test", "--against", "releases/test"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
}

#[test]
fn a_render_says_whether_it_had_uncommitted_changes() {
    let repos = released_then_changed();
    let head = repos.git(&["rev-parse", "HEAD"]);
    let args = diff_rendered_against_release(&["-o", "json"]);
    let (_, clean, _) = json_report(repos.berth(&args));
    assert_eq!(
        clean["target"],
        format!("the working tree at {}", &head[..12])
    );
    assert_eq!(clean["sourceCommit"], head.as_str());
    repos.edit("apps/web/values-test.yaml", "replicas: 2", "replicas: 7");
    let (_, dirty, _) = json_report(repos.berth(&args));
    assert_eq!(dirty["target"], "the working tree (uncommitted changes)");
    assert!(dirty["sourceCommit"].is_null(), "{dirty}");
    let markdown = repos.berth(&diff_rendered_against_release(&["-o", "markdown"]));
    assert!(!markdown.stdout.contains(&head[..7]), "{}", markdown.stdout);
}
