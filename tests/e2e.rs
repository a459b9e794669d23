//! The whole GitHub flow, end to end, as its workflows drive the berth binary: a bare `origin`
//! stands in for GitHub's git, the fake GitHub for its API and the test API server for the
//! cluster. Each job runs in a fresh clone, as on a runner.
//!
//! push a feature branch → candidate pushed and its pull request opened → the diff comment
//! (split, then shrunk back) and the reviewed plan → fast-forward merge into releases/test →
//! apply checks the reviewed plan and applies → a change removing an object → its comment shows
//! the prune → the live cluster edited after the review → apply refuses, naming the object →
//! `--accept-changed-plan` applies and prunes → promoted to prod with its pull request → merged and
//! applied to prod's cluster → test rolled back, applied, and the rollback never promoted.

use crate::support::*;
use berth_testserver::github::{BOT_LOGIN, GitHubServer, StoredIssue};
use std::path::PathBuf;

const TOKEN: &str = "ghs_e2eT0ken";

struct Flow {
    repos: GitRepos,
    cluster: TestCluster,
    gh: GitHubServer,
    runs: std::cell::Cell<usize>,
}

impl Flow {
    /// A fresh clone of origin at `rev`, as `actions/checkout` with `fetch-depth: 0` makes.
    fn checkout(&self, rev: &str) -> PathBuf {
        self.runs.set(self.runs.get() + 1);
        let dir = self
            .repos
            .dir
            .path()
            .join(format!("runner-{}", self.runs.get()));
        git(
            self.repos.dir.path(),
            &[
                "clone",
                "-q",
                self.repos.origin().to_str().unwrap(),
                dir.to_str().unwrap(),
            ],
        );
        git(&dir, &["checkout", "-q", rev]);
        dir
    }

    /// A job's step: `berth args…` in `dir`, against the cluster when `cluster` names the
    /// command (its other arguments follow), for the event payload `event`.
    fn step(
        &self,
        dir: &std::path::Path,
        cluster: Option<&[&str]>,
        args: &[&str],
        event: Option<&std::path::Path>,
    ) -> Run {
        let command = match cluster {
            Some(command) => self.cluster.berth_command(dir, command, args),
            None => {
                let mut command = berth_command();
                command.current_dir(dir).args(args);
                command
            }
        };
        run_step(command, &self.gh, event)
    }

    /// On a push of `feature/x`: the candidate pushed and its pull request opened or updated.
    fn candidates(&self) -> StoredIssue {
        let dir = self.checkout("feature/x");
        let run = self.step(
            &dir,
            None,
            &["candidate", "-c", "test", "--push", "--open-pr"],
            None,
        );
        run.succeeds();
        self.gh
            .pulls()
            .into_iter()
            .rfind(|p| p.state == "open")
            .unwrap_or_else(|| panic!("no open pull request: {}", run.stderr))
    }

    /// On the pull request `pull`: the diff of its head against the cluster, commented, its plan
    /// recorded and pushed. `extra` adds arguments.
    fn diff(&self, pull: &StoredIssue, extra: &[&str]) -> Run {
        let head = git(
            &self.repos.origin(),
            &["rev-parse", "candidates/test/feature/x"],
        );
        let dir = self.checkout("main");
        let event = dir.join("../event.json");
        write_pull_request_event(&event, pull.number, "candidates/test/feature/x", &head);
        let mut args = vec!["--tree", &head, "--comment", "--push-notes"];
        args.extend_from_slice(extra);
        self.step(&dir, Some(&["diff", "-c", "test"]), &args, Some(&event))
    }

    /// Merge `pull` as a fast-forward of releases/test, as GitHub does.
    fn merge(&self, pull: &StoredIssue) {
        git(
            &self.repos.origin(),
            &[
                "update-ref",
                "refs/heads/releases/test",
                "refs/heads/candidates/test/feature/x",
            ],
        );
        self.gh.merge_pull(pull.number);
    }

    /// On the push to releases/test: apply it, pruning what left the release.
    fn apply(&self, extra: &[&str]) -> Run {
        let dir = self.checkout("main");
        let mut args = vec!["--prune", "--push-notes", "--require-reviewed-plan"];
        args.extend_from_slice(extra);
        self.step(&dir, Some(&["apply", "-c", "test"]), &args, None)
    }

    /// berth's comments on `pull`, oldest first.
    fn comments(&self, pull: &StoredIssue) -> Vec<String> {
        self.gh
            .comments(pull.number)
            .into_iter()
            .filter(|c| c.login == BOT_LOGIN)
            .map(|c| c.body)
            .collect()
    }

    /// A commit on feature/x, pushed.
    fn push_change(&self, edit: impl FnOnce(&GitRepos)) {
        edit(&self.repos);
        self.repos.commit_all("change");
        self.repos.git(&["push", "-q", "origin", "feature/x"]);
    }
}

#[test]
fn a_change_goes_from_a_branch_through_a_reviewed_pull_request_to_the_cluster() {
    let flow = Flow {
        repos: GitRepos::new("quickstart"),
        cluster: TestCluster::start(),
        gh: GitHubServer::start(TOKEN),
        runs: Default::default(),
    };
    flow.repos.git(&["checkout", "-q", "-b", "feature/x"]);

    // 1. A feature branch is pushed: its candidate and the pull request into releases/test.
    flow.push_change(|repos| {
        repos.edit("apps/web/values-test.yaml", "replicas: 1", "replicas: 2");
        write_files(
            &repos.work(),
            &[(
                "apps/web/flags.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-flags\ndata:\n  beta: \"true\"\n",
            )],
        );
    });
    let pull = flow.candidates();
    assert_eq!(
        pull.pull.as_ref().unwrap().head,
        "candidates/test/feature/x"
    );
    assert_eq!(pull.pull.as_ref().unwrap().base, "releases/test");

    // 2. The pull request's diff comment, split into parts, then shrunk back to one.
    let run = flow.diff(&pull, &["--split", "--max-chars", "1000"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let parts = flow.comments(&pull);
    assert!(parts.len() > 1, "{parts:#?}");
    assert!(parts[0].starts_with("<!-- berth:diff channel=test part=1/"));
    let run = flow.diff(&pull, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let comments = flow.comments(&pull);
    assert_eq!(comments.len(), 1, "{comments:#?}");
    assert!(
        comments[0].contains("shop/ConfigMap/web-flags"),
        "{}",
        comments[0]
    );
    assert!(
        comments[0].contains("Reviewed plan `sha256:"),
        "{}",
        comments[0]
    );

    // 3. Merged as a fast-forward; the apply job checks the reviewed plan and applies it.
    flow.merge(&pull);
    let run = flow.apply(&[]);
    run.succeeds();
    assert!(
        run.stderr.contains("the plan is the one reviewed"),
        "{}",
        run.stderr
    );
    let deployment = flow.cluster.deployment("shop", "web").unwrap();
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert!(
        flow.cluster
            .server
            .object("", "configmaps", "shop", "web-flags")
            .is_some()
    );

    // 4. A change that removes an object: a new pull request, whose comment shows the prune.
    flow.push_change(|repos| {
        std::fs::remove_file(repos.work().join("apps/web/flags.yaml")).unwrap();
    });
    let second = flow.candidates();
    assert_ne!(
        second.number, pull.number,
        "the merged pull request stays merged"
    );
    let run = flow.diff(&second, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let comment = flow.comments(&second).pop().unwrap();
    assert!(comment.contains("| web | 0 | 0 | 1 | 5 |"), "{comment}");
    assert!(
        comment.contains("delete <code>shop/ConfigMap/web-flags</code>"),
        "{comment}"
    );
    // It names the pull request's head, the candidate commit: not outdated.
    let head = git(
        &flow.repos.origin(),
        &["rev-parse", "candidates/test/feature/x"],
    );
    assert!(
        comment.starts_with(&format!("<!-- berth:diff channel=test commit={head} -->")),
        "{comment}"
    );
    assert!(!comment.contains("Outdated"), "{comment}");

    // 5. Someone edits the live cluster after the review: apply refuses, naming the object, and
    // writes nothing.
    flow.cluster.kubectl(&[
        "--context",
        CONTEXT,
        "-n",
        "shop",
        "delete",
        "configmap",
        "api-config",
    ]);
    flow.merge(&second);
    flow.apply(&[]).fails_with(&[
        "not the one reviewed",
        "nothing was applied",
        "shop/ConfigMap/api-config: reviewed: unchanged, now: create",
        "--accept-changed-plan",
    ]);
    let configmap = |name: &str| flow.cluster.server.object("", "configmaps", "shop", name);
    assert!(configmap("web-flags").is_some(), "nothing pruned yet");

    // 6. Accepted as it is now: applied and pruned.
    let run = flow.apply(&["--accept-changed-plan"]);
    run.succeeds();
    assert!(configmap("api-config").is_some(), "{}", run.stderr);
    assert!(configmap("web-flags").is_none(), "{}", run.stderr);
    assert_eq!(flow.cluster.record("test")["data"]["result"], "succeeded");

    // 7. Promoted onward: prod's candidate of the source test applied, and its pull request.
    let dir = flow.checkout("main");
    let run = flow.step(
        &dir,
        Some(&["promote", "test", "--to", "prod", "--push", "--open-pr"]),
        &[],
        None,
    );
    run.succeeds();
    let source = flow.repos.git(&["rev-parse", "feature/x"]);
    let promoted = flow.gh.pulls().pop().unwrap();
    let branch = format!("candidates/prod/promote-{}", &source[..12]);
    assert_eq!(promoted.pull.as_ref().unwrap().head, branch);
    assert_eq!(promoted.pull.as_ref().unwrap().base, "releases/prod");
    assert!(
        promoted
            .body
            .as_deref()
            .unwrap()
            .contains(&format!("at {source}.")),
        "{promoted:#?}"
    );
    assert!(
        run.stderr.contains(&format!(
            "channel prod: pull request #{} opened",
            promoted.number
        )),
        "{}",
        run.stderr
    );

    // 8. Prod's pull request merged as a fast-forward; prod's apply job applies it to prod's
    // own cluster, and its record names the source commit test applied.
    let prod = TestCluster::start();
    git(
        &flow.repos.origin(),
        &["update-ref", "refs/heads/releases/prod", &branch],
    );
    flow.gh.merge_pull(promoted.number);
    let dir = flow.checkout("main");
    let run = run_step(
        prod.berth_command(&dir, &["apply", "-c", "prod"], &["--push-notes"]),
        &flow.gh,
        None,
    );
    run.succeeds();
    let record = prod.record("prod");
    assert_eq!(record["data"]["result"], "succeeded", "{record:#}");
    assert_eq!(
        record["data"]["sourceCommit"],
        source.as_str(),
        "{record:#}"
    );
    assert!(prod.deployment("shop", "web").is_some(), "{}", run.stderr);

    // 9. Test rolled back to its first release, pushed and applied: the pruned ConfigMap is
    // back, the record says rollback, and the rollback is never promoted onward.
    let released = git(&flow.repos.origin(), &["rev-parse", "releases/test"]);
    let dir = flow.checkout("main");
    let run = flow.step(
        &dir,
        Some(&["rollback", "-c", "test"]),
        &["--push", "--apply"],
        None,
    );
    run.succeeds();
    let rolled = git(&flow.repos.origin(), &["rev-parse", "releases/test"]);
    assert_eq!(
        git(&flow.repos.origin(), &["rev-parse", "releases/test^"]),
        released,
        "history only moves forward"
    );
    assert!(configmap("web-flags").is_some(), "{}", run.stderr);
    let record = flow.cluster.record("test");
    assert_eq!(record["data"]["deploy"], "rollback", "{record:#}");
    assert_eq!(record["data"]["release"], rolled.as_str(), "{record:#}");
    let dir = flow.checkout("main");
    let run = flow.step(
        &dir,
        Some(&["promote", "test", "--to", "prod", "--push", "--open-pr"]),
        &[],
        None,
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("is a rollback"), "{}", run.stderr);
}

/// `command` run as a job's step, with the GitHub environment (and the event payload `event`).
fn run_step(
    mut command: std::process::Command,
    gh: &GitHubServer,
    event: Option<&std::path::Path>,
) -> Run {
    let run = run(github_step(&mut command, gh, TOKEN, event));
    assert!(
        !run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN),
        "the token was printed"
    );
    run
}
