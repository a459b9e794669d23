//! Pull-request comments (`berth diff --comment`, `berth comment`) against the fake GitHub of
//! `berth_testserver::github`: found by berth's marker, updated in place, split and shrunk,
//! marked outdated, replaced by the error of a failed diff; requests retried within bounds;
//! the token never shown.

use crate::offline_diff::released_then_changed;
use crate::support::*;
use berth_testserver::github::{BOT_LOGIN, Fault, GitHubServer, StoredIssue, StoredPull};
use std::path::Path;
use std::time::{Duration, Instant};

const TOKEN: &str = "ghs_s3cr3tT0kenValue";
const PR: u64 = 7;

/// `berth args…` in `dir` as a GitHub Actions step of a pull_request event for `head`.
fn berth_gh(gh: &GitHubServer, dir: &Path, head: &str, args: &[&str]) -> Run {
    let event = dir.join("../event.json");
    write_pull_request_event(&event, PR, "feature/x", head);
    let run = run(github_step(
        berth_command().current_dir(dir).args(args),
        gh,
        TOKEN,
        Some(&event),
    ));
    assert_no_token(&run);
    run
}

fn assert_no_token(run: &Run) {
    assert!(
        !run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN),
        "the token was printed:\n{}\n{}",
        run.stdout,
        run.stderr
    );
}

/// `berth diff … --comment` of the test channel's fresh render against its release.
fn diff() -> Vec<&'static str> {
    diff_rendered_against_release(&["--comment"])
}

/// A Markdown report of `repos`' diff, made earlier (as a workflow's artifact would be).
fn markdown_report(repos: &GitRepos) -> String {
    let report = repos.work().join("../diff.md");
    let file = report.to_str().unwrap();
    let run = repos.berth(&diff_rendered_against_release(&[
        "-o", "markdown", "--out", file,
    ]));
    assert_eq!(run.code, 1, "{}", run.stderr);
    file.to_string()
}

fn head(repos: &GitRepos) -> String {
    repos.git(&["rev-parse", "HEAD"]).trim().to_string()
}

/// The bodies of berth's comments on the pull request, oldest first.
fn ours(gh: &GitHubServer) -> Vec<String> {
    gh.comments(PR)
        .into_iter()
        .filter(|c| c.login == BOT_LOGIN)
        .map(|c| c.body)
        .collect()
}

#[test]
fn the_comment_is_created_then_updated_in_place_and_others_are_untouched() {
    // GitHub Enterprise Server: the API below /api/v3.
    let gh = GitHubServer::start_at(TOKEN, "/api/v3");
    let other = gh.seed_comment(PR, "codecov[bot]", "Coverage: 81%");
    let quote = gh.seed_comment(
        PR,
        "ana",
        "> <!-- berth:diff channel=test -->\n> ### berth diff · `test`\nwhy?",
    );
    let elsewhere = gh.seed_comment(8, BOT_LOGIN, "<!-- berth:diff channel=test -->\nother PR");
    let repos = released_then_changed();
    let sha = head(&repos);
    let run = berth_gh(&gh, &repos.work(), &sha, &diff());
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("pull request #7, channel test: comment created"),
        "{}",
        run.stderr
    );
    let bodies = ours(&gh);
    assert_eq!(bodies.len(), 1);
    assert!(
        bodies[0].starts_with(&format!("<!-- berth:diff channel=test commit={sha} -->\n")),
        "{}",
        bodies[0]
    );
    assert!(
        bodies[0].contains("1 to update") || bodies[0].contains("| **1** |"),
        "{}",
        bodies[0]
    );
    // Every request carried the headers GitHub asks for.
    for request in gh.requests() {
        let header = |name: &str| {
            request
                .headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(
            header("accept").as_deref(),
            Some("application/vnd.github+json")
        );
        assert_eq!(
            header("x-github-api-version").as_deref(),
            Some("2022-11-28")
        );
        assert!(header("user-agent").unwrap().starts_with("berth/"));
        assert!(
            request.path.starts_with("/api/v3/repos/octo/berth-config/"),
            "{}",
            request.path
        );
    }

    // A new commit with another change: the same comment, updated in place.
    repos.edit("apps/web/values-test.yaml", "replicas: 2", "replicas: 3");
    let sha2 = repos.commit_all("more");
    let first_id = gh
        .comments(PR)
        .iter()
        .find(|c| c.login == BOT_LOGIN)
        .unwrap()
        .id;
    let run = berth_gh(&gh, &repos.work(), &sha2, &diff());
    assert_eq!(run.code, 1, "{}", run.stderr);
    let comments = gh.comments(PR);
    assert_eq!(comments.len(), 3, "{comments:#?}");
    let ours_now = comments.iter().find(|c| c.login == BOT_LOGIN).unwrap();
    assert_eq!(ours_now.id, first_id);
    assert!(ours_now.body.contains(&format!("commit={sha2}")));
    assert!(ours_now.body.contains("replicas: 3"), "{}", ours_now.body);
    assert!(!ours_now.body.contains("Outdated"), "{}", ours_now.body);
    // Nobody else's comment, nor the other pull request's, was touched.
    for id in [other, quote, elsewhere] {
        assert!(
            gh.writes()
                .iter()
                .all(|w| !w.path.ends_with(&format!("/comments/{id}"))),
            "comment {id} was written"
        );
    }
    assert_eq!(gh.comments(8).len(), 1);
}

#[test]
fn split_parts_are_created_in_order_then_shrunk_back() {
    let gh = GitHubServer::start(TOKEN);
    // More comments than a page holds: berth reads them all (100 a page).
    for i in 0..120 {
        gh.seed_comment(PR, "ana", &format!("comment {i}"));
    }
    let repos = released_then_changed();
    let sha = head(&repos);
    let mut split = diff();
    split.extend(["--split", "--max-chars", "1000"]);
    let run = berth_gh(&gh, &repos.work(), &sha, &split);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let bodies = ours(&gh);
    let n = bodies.len();
    assert!(n > 1, "{bodies:#?}");
    for (i, body) in bodies.iter().enumerate() {
        assert!(
            body.starts_with(&format!(
                "<!-- berth:diff channel=test part={}/{n} commit={sha} -->",
                i + 1
            )),
            "{body}"
        );
        assert!(body.chars().count() <= 1000);
    }
    assert!(
        gh.requests()
            .iter()
            .any(|r| r.path.contains("per_page=100&page=2")),
        "the second page was not read"
    );

    // Unsplit again: the first part becomes the whole report, the others are deleted.
    let run = berth_gh(&gh, &repos.work(), &sha, &diff());
    assert_eq!(run.code, 1, "{}", run.stderr);
    let bodies = ours(&gh);
    assert_eq!(bodies.len(), 1, "{bodies:#?}");
    assert!(bodies[0].starts_with(&format!("<!-- berth:diff channel=test commit={sha} -->")));
    let deletes = gh.writes().iter().filter(|w| w.method == "DELETE").count();
    assert_eq!(deletes, n - 1);
    assert_eq!(gh.comments(PR).len(), 121);
}

#[test]
fn a_report_of_an_earlier_commit_is_marked_outdated() {
    let gh = GitHubServer::start(TOKEN);
    let repos = released_then_changed();
    let old = head(&repos);
    let file = &markdown_report(&repos);
    let run = berth_gh(
        &gh,
        &repos.work(),
        &old,
        &["comment", "-c", "test", "--file", file],
    );
    run.succeeds();
    assert!(!ours(&gh)[0].contains("Outdated"));

    // The pull request's head moves on: a diff of the new head first flags the old comment
    // (a run that fails before posting leaves no unflagged verdict), then replaces it.
    repos.edit("apps/web/values-test.yaml", "replicas: 2", "replicas: 3");
    let new = repos.commit_all("more");
    let writes_before = gh.writes().len();
    let run = berth_gh(&gh, &repos.work(), &new, &diff());
    assert_eq!(run.code, 1, "{}", run.stderr);
    let writes: Vec<_> = gh.writes().into_iter().skip(writes_before).collect();
    assert_eq!(writes.len(), 2, "{writes:#?}");
    let outdated = format!(
        "**Outdated**: this describes `{}`; the pull request's head is now `{}`",
        &old[..7],
        &new[..7]
    );
    assert!(writes[0].body.contains(&outdated), "{}", writes[0].body);
    let bodies = ours(&gh);
    assert_eq!(bodies.len(), 1);
    assert!(!bodies[0].contains("Outdated"), "{}", bodies[0]);
    assert!(bodies[0].contains(&format!("commit={new}")));

    // The old report posted again now says it is outdated, the marker still first.
    let run = berth_gh(
        &gh,
        &repos.work(),
        &new,
        &["comment", "-c", "test", "--file", file],
    );
    run.succeeds();
    let body = &ours(&gh)[0];
    assert!(
        body.starts_with(&format!("<!-- berth:diff channel=test commit={old} -->")),
        "{body}"
    );
    assert!(body.contains(&outdated), "{body}");
}

#[test]
fn a_failed_diff_replaces_the_comment_with_its_error() {
    let gh = GitHubServer::start(TOKEN);
    let repos = released_then_changed();
    let sha = head(&repos);
    let run = berth_gh(&gh, &repos.work(), &sha, &diff());
    assert_eq!(run.code, 1, "{}", run.stderr);
    let id = gh.comments(PR)[0].id;

    let run = berth_gh(
        &gh,
        &repos.work(),
        &sha,
        &[
            "diff",
            "-c",
            "test",
            "--render",
            "--against",
            "releases/gone",
            "--comment",
        ],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    let comments = gh.comments(PR);
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].id, id);
    let body = &comments[0].body;
    assert!(body.contains("**berth diff failed**"), "{body}");
    assert!(body.contains("releases/gone"), "{body}");
    assert!(
        !body.contains("| **total** |") && !body.contains("No changes"),
        "{body}"
    );
}

#[test]
fn server_errors_and_rate_limits_are_retried_within_bounds() {
    let gh = GitHubServer::start(TOKEN);
    let repos = released_then_changed();
    let sha = head(&repos);
    let file = &markdown_report(&repos);
    let comment = ["comment", "-c", "test", "--file", file];

    // Two 502s, then a secondary rate limit with retry-after: all retried, one comment.
    gh.fail_next(Fault::Status(502), 2);
    gh.fail_next(
        Fault::RateLimit {
            status: 429,
            retry_after: Some(1),
            reset_in: None,
        },
        1,
    );
    berth_gh(&gh, &repos.work(), &sha, &comment).succeeds();
    assert_eq!(ours(&gh).len(), 1);
    assert_eq!(gh.requests().len(), 5, "{:#?}", gh.requests());

    // The primary limit exhausted until x-ratelimit-reset: retried after the reset.
    gh.fail_next(
        Fault::RateLimit {
            status: 403,
            retry_after: None,
            reset_in: Some(1),
        },
        1,
    );
    berth_gh(&gh, &repos.work(), &sha, &comment).succeeds();

    // Server errors that do not stop: four tries, then an error.
    let before = gh.requests().len();
    gh.fail_next(Fault::Status(503), 10);
    let started = Instant::now();
    let run = berth_gh(&gh, &repos.work(), &sha, &comment);
    run.fails_with(&[
        "GitHub refused GET /repos/octo/berth-config/issues/7/comments",
        "503",
        "after 4 tries",
    ]);
    assert_eq!(gh.requests().len() - before, 4);
    assert!(started.elapsed() < Duration::from_secs(20));

    // A reset an hour away is longer than berth waits: no waiting, one try, the reason said.
    // (A fresh server: the six 503s left over from above would come first.)
    drop(gh);
    let gh = GitHubServer::start(TOKEN);
    gh.fail_next(
        Fault::RateLimit {
            status: 403,
            retry_after: None,
            reset_in: Some(3600),
        },
        1,
    );
    let started = Instant::now();
    let run = berth_gh(&gh, &repos.work(), &sha, &comment);
    run.fails_with(&["403", "API rate limit exceeded", "rate limit"]);
    assert_eq!(gh.requests().len(), 1);
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn refusals_name_the_missing_permission_and_never_the_token() {
    let gh = GitHubServer::start(TOKEN);
    let repos = released_then_changed();
    let sha = head(&repos);
    gh.fail_next(Fault::Forbidden, 1);
    let run = berth_gh(&gh, &repos.work(), &sha, &diff());
    run.fails_with(&[
        "403",
        "Resource not accessible by integration",
        "pull-requests: read",
    ]);

    // Another token: 401, and neither token is printed.
    let run = run_with_token(&gh, &repos.work(), "ghs_wrongToken123", &diff());
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("401 Bad credentials"), "{}", run.stderr);
    assert!(run.stderr.contains("GITHUB_TOKEN"), "{}", run.stderr);
    assert!(!run.stderr.contains("ghs_wrongToken123") && !run.stdout.contains("ghs_wrongToken123"));
    assert!(gh.comments(PR).is_empty());
}

fn run_with_token(gh: &GitHubServer, dir: &Path, token: &str, args: &[&str]) -> Run {
    run(berth_command()
        .current_dir(dir)
        .args(args)
        .args(["--pr", "7"])
        .env("GITHUB_API_URL", gh.api_url())
        .env("GITHUB_REPOSITORY", gh.repository())
        .env("BERTH_GITHUB_TOKEN", token))
}

#[test]
fn commenting_needs_a_token_a_pull_request_and_berths_report() {
    let repos = released_then_changed();
    // No token: exit 2 before any diff, saying what to set.
    let mut with_pr = diff();
    with_pr.extend(["--pr", "7"]);
    berth(&repos.work(), &with_pr).fails_with(&["no GitHub token", "GITHUB_TOKEN"]);
    // Not a pull request event and no --pr.
    let gh = GitHubServer::start(TOKEN);
    let run = run(berth_command()
        .current_dir(repos.work())
        .args(diff())
        .env("GITHUB_API_URL", gh.api_url())
        .env("GITHUB_REPOSITORY", gh.repository())
        .env("GITHUB_TOKEN", TOKEN));
    run.fails_with(&["no pull request to comment on", "--pr"]);
    // A file that is not berth's report of the channel.
    let file = repos.work().join("../notes.md");
    std::fs::write(&file, "# my notes\n").unwrap();
    let run = berth_gh(
        &gh,
        &repos.work(),
        "abc",
        &["comment", "-c", "test", "--file", file.to_str().unwrap()],
    );
    run.fails_with(&[
        "notes.md",
        "not berth's Markdown report of channel test",
        "berth diff -c test -o markdown",
    ]);
    assert!(gh.requests().is_empty());
}

/// `berth args…` in the work tree of `repos` as a step of a push workflow (no pull request).
fn berth_pushed(gh: &GitHubServer, repos: &GitRepos, args: &[&str]) -> Run {
    let run = run(github_step(
        berth_command().current_dir(repos.work()).args(args),
        gh,
        TOKEN,
        None,
    ));
    assert_no_token(&run);
    run
}

/// The quickstart with both channels released from `main` on origin, and on `feature/x` (pushed)
/// a change of test's web replicas.
fn released_then_feature() -> GitRepos {
    let repos = GitRepos::new("quickstart");
    repos.berth(&["candidate", "--push"]).succeeds();
    for channel in ["test", "prod"] {
        repos.git(&[
            "push",
            "-q",
            "origin",
            &format!("candidates/{channel}/main:refs/heads/releases/{channel}"),
        ]);
    }
    repos.git(&["fetch", "-q", "origin"]);
    repos.git(&["checkout", "-q", "-b", "feature/x"]);
    repos.edit("apps/web/values-test.yaml", "replicas: 1", "replicas: 2");
    repos.commit_all("two web replicas in test");
    repos.git(&["push", "-q", "origin", "feature/x"]);
    repos
}

fn pull<'a>(pulls: &'a [StoredIssue], head: &str) -> &'a StoredIssue {
    pulls
        .iter()
        .find(|p| p.pull.as_ref().is_some_and(|p| p.head == head))
        .unwrap_or_else(|| panic!("no pull request from {head}: {pulls:#?}"))
}

#[test]
fn candidate_pull_requests_are_opened_updated_and_closed_with_their_branch() {
    let gh = GitHubServer::start(TOKEN);
    let others = gh.seed_issue(
        "ana",
        "Fix the docs",
        "words",
        Some(StoredPull {
            head: "docs".into(),
            base: "main".into(),
            merged: false,
        }),
    );
    let repos = released_then_feature();
    let head = head(&repos);
    let run = berth_pushed(&gh, &repos, &["candidate", "--push", "--open-pr"]);
    run.succeeds();
    assert!(
        run.stderr
            .contains("channel prod: no object changes, no pull request opened"),
        "{}",
        run.stderr
    );
    let pulls = gh.pulls();
    assert_eq!(
        pulls.len(),
        2,
        "only test's candidate changes objects: {pulls:#?}"
    );
    let test = pull(&pulls, "candidates/test/feature/x");
    assert!(
        run.stderr.contains(&format!(
            "channel test: pull request #{} opened",
            test.number
        )),
        "{}",
        run.stderr
    );
    assert_eq!(test.pull.as_ref().unwrap().base, "releases/test");
    assert_eq!(test.title, "Release feature/x to test");
    let body = test.body.clone().unwrap();
    assert!(body.starts_with("<!-- berth:candidate channel=test branch=feature/x -->\n"));
    assert!(
        body.contains(&format!("rendered from `feature/x` at {head}.")),
        "{body}"
    );
    assert!(body.contains("| web | 0 | 1 | 0 | 4 |"), "{body}");
    let candidate = repos
        .remote_ref("refs/heads/candidates/test/feature/x")
        .unwrap();
    assert!(
        body.contains(&format!("`releases/test` to `{}`", &candidate[..12])),
        "{body}"
    );

    // Again with nothing new: found by head and base, left as it is.
    let writes = gh.writes().len();
    let run = berth_pushed(
        &gh,
        &repos,
        &["candidate", "--push", "--open-pr", "-o", "json"],
    );
    run.succeeds();
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json[0]["channel"], "test", "{json:#}");
    assert_eq!(json[0]["pullRequest"]["action"], "unchanged", "{json:#}");
    assert_eq!(json[0]["pullRequest"]["number"], test.number);
    assert_eq!(gh.writes().len(), writes);

    // A new commit from a pull request's run: the same pull request, updated in place, naming
    // the source pull request.
    repos.edit("apps/web/values-test.yaml", "replicas: 2", "replicas: 3");
    let newer = repos.commit_all("three");
    repos.git(&["push", "-q", "origin", "feature/x"]);
    let event = repos.dir.path().join("event.json");
    write_pull_request_event(&event, 12, "feature/x", &newer);
    let run = crate::support::run(github_step(
        berth_command()
            .current_dir(repos.work())
            .args(["candidate", "--push", "--open-pr"]),
        &gh,
        TOKEN,
        Some(&event),
    ));
    run.succeeds();
    assert!(
        run.stderr.contains("pull request #2 updated"),
        "{}",
        run.stderr
    );
    let pulls = gh.pulls();
    assert_eq!(pulls.len(), 2, "{pulls:#?}");
    let body = pull(&pulls, "candidates/test/feature/x")
        .body
        .clone()
        .unwrap();
    assert!(
        body.contains(&format!("at {newer} (pull request #12).")),
        "{body}"
    );

    // The source branch is deleted: its candidates go, and their pull request is closed.
    repos.git(&["push", "-q", "origin", ":feature/x"]);
    let run = berth_pushed(&gh, &repos, &["candidate", "--prune-stale", "--open-pr"]);
    run.succeeds();
    assert!(
        run.stdout
            .contains("deleted origin/candidates/test/feature/x\nclosed pull request #2\n"),
        "{}",
        run.stdout
    );
    let pulls = gh.pulls();
    assert_eq!(pull(&pulls, "candidates/test/feature/x").state, "closed");
    // Another's pull request is untouched.
    let theirs = pulls.iter().find(|p| p.number == others).unwrap();
    assert_eq!(
        (theirs.state.as_str(), theirs.body.as_deref()),
        ("open", Some("words"))
    );
}

#[test]
fn open_pr_needs_a_push_and_a_token_before_anything_is_pushed() {
    let repos = released_then_feature();
    repos
        .berth(&["candidate", "--open-pr"])
        .fails_with(&["--open-pr needs --push"]);
    repos
        .berth(&["candidate", "--push", "--open-pr"])
        .fails_with(&["no GitHub token"]);
    assert_eq!(
        repos.remote_ref("refs/heads/candidates/test/feature/x"),
        None
    );
}

#[test]
fn the_drift_issue_is_opened_updated_and_closed_and_others_are_untouched() {
    let gh = GitHubServer::start(TOKEN);
    let marker = "<!-- berth:drift project=acme.shop channel=test -->";
    let theirs = gh.seed_issue("ana", "Drift in channel test", "is it drifting?", None);
    let prod = gh.seed_issue(
        BOT_LOGIN,
        "Drift in channel prod (acme.shop)",
        "<!-- berth:drift project=acme.shop channel=prod -->\nprod drifts",
        None,
    );
    // The issues list holds pull requests too: one quoting the marker is not berth's issue.
    let quoting = gh.seed_issue(
        "ana",
        "Quote",
        &format!("{marker}\nquoted"),
        Some(StoredPull {
            head: "quote".into(),
            base: "main".into(),
            merged: false,
        }),
    );
    // More open issues than a page holds, berth's among the last: every page is read, the
    // state filter carried along.
    for i in 0..120 {
        gh.seed_issue("ana", &format!("issue {i}"), "text", None);
    }
    let setup = Release::quickstart();
    setup.apply(&[]).succeeds();
    let drift = |expected: i32| {
        let run = run(github_step(
            &mut setup.cluster.berth_command(
                &setup.repos.work(),
                &["drift", "-c", "test"],
                &["--issue"],
            ),
            &gh,
            TOKEN,
            None,
        ));
        assert_no_token(&run);
        assert_eq!(run.code, expected, "{}\n{}", run.stdout, run.stderr);
        run
    };
    let ours = || -> Vec<StoredIssue> {
        gh.issues()
            .into_iter()
            .filter(|i| {
                i.pull.is_none() && i.body.as_deref().is_some_and(|b| b.starts_with(marker))
            })
            .collect()
    };
    let run = drift(0);
    let pages: Vec<String> = gh
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/issues?"))
        .map(|r| r.path)
        .collect();
    assert_eq!(
        pages,
        [
            "/repos/octo/berth-config/issues?state=open&per_page=100",
            "/repos/octo/berth-config/issues?state=open&per_page=100&page=2"
        ]
    );
    assert!(
        run.stderr.contains("channel test: no drift issue open"),
        "{}",
        run.stderr
    );
    assert!(gh.writes().is_empty());

    let scale = |replicas: &str| {
        setup.cluster.kubectl(&[
            "--context",
            CONTEXT,
            "-n",
            "shop",
            "scale",
            "deployment/web",
            &format!("--replicas={replicas}"),
        ])
    };
    scale("5");
    let run = drift(1);
    let issues = ours();
    assert_eq!(issues.len(), 1, "{issues:#?}");
    let number = issues[0].number;
    assert!(
        run.stderr
            .contains(&format!("drift issue #{number} opened")),
        "{}",
        run.stderr
    );
    assert_eq!(issues[0].title, "Drift in channel test (acme.shop)");
    let body = issues[0].body.clone().unwrap();
    assert!(
        body.contains("| `shop/Deployment.apps/web` | update |"),
        "{body}"
    );
    assert!(body.contains("-  replicas: 5"), "{body}");

    scale("6");
    assert!(
        drift(1)
            .stderr
            .contains(&format!("drift issue #{number} updated"))
    );
    let issues = ours();
    assert_eq!(issues.len(), 1, "{issues:#?}");
    assert!(
        issues[0]
            .body
            .as_deref()
            .unwrap()
            .contains("-  replicas: 6")
    );
    assert!(
        drift(1)
            .stderr
            .contains(&format!("drift issue #{number} unchanged"))
    );

    // Back as released.
    scale("1");
    assert!(
        drift(0)
            .stderr
            .contains(&format!("drift issue #{number} closed"))
    );
    let issue = gh
        .issues()
        .into_iter()
        .find(|i| i.number == number)
        .unwrap();
    assert_eq!(
        (issue.state.as_str(), issue.state_reason.as_deref()),
        ("closed", Some("completed"))
    );
    // No drift and none open: nothing to do.
    drift(0);
    for (other, body) in [
        (theirs, "is it drifting?"),
        (
            prod,
            "<!-- berth:drift project=acme.shop channel=prod -->\nprod drifts",
        ),
        (quoting, &format!("{marker}\nquoted")),
    ] {
        let other = gh.issues().into_iter().find(|i| i.number == other).unwrap();
        assert_eq!(
            (other.state.as_str(), other.body.as_deref()),
            ("open", Some(body))
        );
    }
}
