//! `berth status`, `berth history` and `berth drift` on real repositories and test API servers:
//! the quickstart's two channels, `test` (context kind-test) promoting to `prod` (gke-prod),
//! each on a cluster of its own.

use crate::support::{GitRepos, Run, berth_command, redact_commits, run};
use crate::support::{PROJECT, TestCluster};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The quickstart on `feature/x`, a cluster per channel, and a kubeconfig whose contexts are
/// the channels' own (`kind-test`, `gke-prod`).
struct Channels {
    repos: GitRepos,
    test: TestCluster,
    prod: TestCluster,
    kubeconfig: PathBuf,
}

impl Channels {
    fn new() -> Self {
        let repos = GitRepos::new("quickstart");
        repos.git(&["checkout", "-q", "-b", "feature/x"]);
        let (test, prod) = (TestCluster::start(), TestCluster::start());
        let kubeconfig = repos.dir.path().join("kubeconfig");
        let channels = Channels {
            repos,
            test,
            prod,
            kubeconfig,
        };
        channels.point_prod_at(&channels.prod.server.url());
        channels
    }

    /// Write the kubeconfig with `gke-prod` at `url`.
    fn point_prod_at(&self, prod: &str) {
        std::fs::write(
            &self.kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {}\n\
                 - name: prod\n  cluster:\n    server: {prod}\ncontexts:\n\
                 - name: kind-test\n  context: {{cluster: test, user: u}}\n\
                 - name: gke-prod\n  context: {{cluster: prod, user: u}}\n\
                 current-context: kind-test\nusers:\n- name: u\n  user: {{}}\n",
                self.test.server.url()
            ),
        )
        .unwrap();
    }

    /// Render the committed source and make it the release of `channel`.
    fn release(&self, channel: &str) {
        self.repos.berth(&["candidate", "-c", channel]).succeeds();
        self.repos.git(&[
            "branch",
            "-f",
            &format!("releases/{channel}"),
            &format!("candidates/{channel}/feature/x"),
        ]);
    }

    /// `berth <args…> --kubeconfig K`, run as tester@testhost.
    fn berth(&self, args: &[&str]) -> Run {
        let mut command = berth_command();
        command
            .current_dir(self.repos.work())
            .args(args)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .env("USER", "tester")
            .env("HOSTNAME", "testhost");
        run(&mut command)
    }

    fn apply(&self, channel: &str) {
        self.berth(&["apply", "-c", channel]).succeeds();
    }

    /// Commit a change of the test channel's web replicas.
    fn change(&self, replicas: u32) -> String {
        let file = self.repos.work().join("apps/web/values-test.yaml");
        let text = std::fs::read_to_string(&file).unwrap();
        let text: String = text
            .lines()
            .map(|l| {
                if l.starts_with("replicas:") {
                    format!("replicas: {replicas}")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&file, text + "\n").unwrap();
        self.repos.commit_all(&format!("replicas {replicas}"))
    }

    fn status_json(&self, args: &[&str]) -> (i32, Value) {
        let mut all = vec!["status", "-o", "json"];
        all.extend_from_slice(args);
        let run = self.berth(&all);
        let report = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr));
        (run.code, report)
    }
}

/// Test applied at a newer source than prod, and a newer test release merged but not applied.
fn test_ahead_of_prod() -> (Channels, [String; 3]) {
    let setup = Channels::new();
    let first = setup.repos.git(&["rev-parse", "HEAD"]);
    setup.release("test");
    setup.release("prod");
    setup.apply("test");
    setup.apply("prod");
    let second = setup.change(2);
    setup.release("test");
    setup.apply("test");
    let third = setup.change(3);
    setup.release("test");
    (setup, [first, second, third])
}

fn channel<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == name)
        .unwrap_or_else(|| panic!("no channel {name} in {status:#}"))
}

#[test]
fn status_shows_what_runs_where_how_far_apart_and_what_is_pending() {
    let (setup, [first, second, _]) = test_ahead_of_prod();
    // A GitHub remote gives compare links (nothing is fetched from it).
    setup.repos.git(&[
        "remote",
        "set-url",
        "origin",
        "https://github.com/acme/shop.git",
    ]);
    let (code, status) = setup.status_json(&[]);
    assert_eq!(code, 0, "{status:#}");
    let test = channel(&status, "test");
    let prod = channel(&status, "prod");
    assert_eq!(test["pending"], "pending", "{test:#}");
    assert_eq!(prod["pending"], "applied", "{prod:#}");
    assert_eq!(test["cluster"]["state"], "reached");
    assert_eq!(
        test["cluster"]["applied"]["source"]["commit"],
        second.as_str()
    );
    assert_eq!(test["cluster"]["applied"]["result"], "succeeded");
    assert_eq!(
        prod["cluster"]["applied"]["source"]["commit"],
        first.as_str()
    );
    assert!(
        test["cluster"]["applied"]["appliedBy"]
            .as_str()
            .unwrap()
            .starts_with("tester@testhost"),
        "{test:#}"
    );
    assert_eq!(test["promotesTo"]["channel"], "prod");
    assert_eq!(test["promotesTo"]["behind"], 1);
    assert_eq!(
        test["promotesTo"]["compareUrl"],
        format!("https://github.com/acme/shop/compare/{first}...{second}")
    );
    assert_eq!(test["drift"]["state"], "none", "{test:#}");
    assert_eq!(prod["drift"]["state"], "none", "{prod:#}");
    // Images per app, as each channel pins them; web differs from prod's (its tag and replicas).
    assert_eq!(
        test["apps"]["web"]["images"],
        json!(["ghcr.io/example/shop-web:1.8.0-rc.1"])
    );
    assert_eq!(
        prod["apps"]["web"]["images"],
        json!(["ghcr.io/example/shop-web:1.7.2"])
    );
    assert_eq!(test["apps"]["web"]["differsFromNext"], true);
    assert_eq!(status["repositoryUrl"], "https://github.com/acme/shop");

    let text = setup.berth(&["status", "--no-drift-check"]);
    text.succeeds();
    let text = redact_commits(&text.stdout);
    for line in [
        "test\n  release:  releases/test <commit> (source <commit> on feature/x) [pending]\n",
        "  applied:  <commit> (source <commit> on feature/x) succeeded at ",
        "  drift:    not checked\n",
        "  promotes to prod: prod is 1 source commit behind (https://github.com/acme/shop/compare/<commit>...<commit>)\n",
        "  web: ghcr.io/example/shop-web:1.8.0-rc.1  [needs promotion]\n",
        "prod\n  release:  releases/prod <commit> (source <commit> on feature/x) [applied]\n",
    ] {
        assert!(text.contains(line), "{line:?} not in:\n{text}");
    }

    // Not GitHub-like: no compare link, the count stays.
    setup
        .repos
        .git(&["remote", "set-url", "origin", "/srv/git/acme/shop.git"]);
    let (_, status) = setup.status_json(&["--no-drift-check", "-c", "test", "-c", "prod"]);
    let test = channel(&status, "test");
    assert_eq!(test["promotesTo"]["behind"], 1);
    assert!(test["promotesTo"].get("compareUrl").is_none(), "{test:#}");
}

#[test]
fn an_unreachable_channel_is_reported_and_the_others_still_show() {
    let (setup, _) = test_ahead_of_prod();
    // Nothing listens on the discard port.
    setup.point_prod_at("http://127.0.0.1:9");
    let (code, status) = setup.status_json(&["--connect-timeout", "3s"]);
    assert_eq!(code, 2, "{status:#}");
    let prod = channel(&status, "prod");
    assert_eq!(prod["cluster"]["state"], "unreachable", "{prod:#}");
    assert!(
        prod["cluster"]["reason"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1:9"),
        "{prod:#}"
    );
    assert_eq!(prod["pending"], "unknown");
    let test = channel(&status, "test");
    assert_eq!(test["cluster"]["state"], "reached");
    assert_eq!(test["pending"], "pending");
    let text = setup.berth(&["status", "--connect-timeout", "3s"]);
    assert_eq!(text.code, 2);
    assert!(
        text.stdout.contains("  cluster:  unreachable: "),
        "{}",
        text.stdout
    );
}

#[test]
fn the_release_page_is_one_self_contained_file_a_browser_shows() {
    let (setup, _) = test_ahead_of_prod();
    let page = setup.repos.dir.path().join("status.html");
    let page_arg = page.to_str().unwrap();
    setup
        .berth(&["status", "-o", "html", "--out", page_arg])
        .succeeds();
    let html = std::fs::read_to_string(&page).unwrap();
    for external in ["<script", "<link", " src=", "@import", "url("] {
        assert!(!html.contains(external), "{external} in the page:\n{html}");
    }
    assert!(html.contains("name=\"viewport\""), "{html}");
    let Some(chromium) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must check the page in chromium (.ci/run installs it)"
        );
        // .ci/run installs it (in CI its absence fails); a developer's machine may not have it.
        eprintln!("chromium is not installed: the page was not checked in a browser");
        return;
    };
    let dom = browser(&chromium, &["--dump-dom", page_arg]);
    for text in [
        "<th scope=\"col\" data-channel=\"test\">test</th>",
        "<th scope=\"col\" data-channel=\"prod\">prod</th>",
        "ghcr.io/example/shop-web:1.8.0-rc.1",
        "ghcr.io/example/shop-web:1.7.2",
        "needs promotion",
        ">pending<",
        "by tester@testhost",
    ] {
        assert!(dom.contains(text), "{text:?} not in the DOM:\n{dom}");
    }
    let shot = setup.repos.dir.path().join("status.png");
    browser(
        &chromium,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=420,900",
            page_arg,
        ],
    );
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    if let Ok(keep) = std::env::var("BERTH_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}

fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Headless Chromium on `args`, with a profile of its own; its stdout.
fn browser(chromium: &Path, args: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .output()
        .expect("chromium runs");
    assert!(
        output.status.success(),
        "chromium {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn drift_is_none_after_apply_then_shows_edits_and_orphans_and_fails_unreachable() {
    let setup = Channels::new();
    setup.release("test");
    setup.apply("test");
    let drift = setup.berth(&["drift", "-c", "test"]);
    assert_eq!(drift.code, 0, "{}\n{}", drift.stdout, drift.stderr);
    assert!(
        drift.stdout.contains("the cluster holds releases/test"),
        "{}",
        drift.stdout
    );

    setup.test.kubectl(&[
        "--context",
        "berth-test",
        "scale",
        "deployment/web",
        "-n",
        "shop",
        "--replicas=5",
    ]);
    setup.test.seed(
        &json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "left-over", "namespace": "shop", "labels": {
                "berth.dev/project": PROJECT, "berth.dev/channel": "test"}},
            "data": {"a": "b"}}),
        "someone",
    );
    let drift = setup.berth(&["drift", "-c", "test", "-o", "json"]);
    assert_eq!(drift.code, 1, "{}\n{}", drift.stdout, drift.stderr);
    let report: Value = serde_json::from_str(&drift.stdout).unwrap();
    assert_eq!(report["drift"], true);
    let changed: Vec<&str> = report["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert_eq!(changed, ["shop/Deployment.apps/web"], "{report:#}");
    assert!(
        report["changed"][0]["diff"]
            .as_str()
            .unwrap()
            .contains("-  replicas: 5\n+  replicas: 1"),
        "{report:#}"
    );
    assert_eq!(report["orphans"], json!(["shop/ConfigMap/left-over"]));
    let markdown = setup.berth(&["drift", "-c", "test", "-o", "markdown"]);
    assert_eq!(markdown.code, 1);
    assert!(
        markdown
            .stdout
            .contains("| `shop/Deployment.apps/web` | update |"),
        "{}",
        markdown.stdout
    );
    assert!(
        markdown.stdout.contains("- `shop/ConfigMap/left-over`"),
        "{}",
        markdown.stdout
    );

    setup.point_prod_at("http://127.0.0.1:9");
    setup.release("prod");
    setup
        .berth(&["drift", "-c", "prod", "--connect-timeout", "3s"])
        .fails_with(&["cannot reach the cluster", "127.0.0.1:9"]);
}

#[test]
fn drift_of_a_large_unchanged_release_costs_a_handful_of_requests() {
    let mut files = vec![(
        "berth.yaml".to_string(),
        "apps:\n  many:\n    driver: manifests\n    path: many\nchannels:\n  test:\n    context: kind-test\n"
            .to_string(),
    )];
    files.push((
        "many/ns.yaml".into(),
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: many\n".into(),
    ));
    for i in 0..1000 {
        files.push((
            format!("many/cm-{i}.yaml"),
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\n  namespace: many\ndata:\n  n: \"{i}\"\n"),
        ));
    }
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let repos = GitRepos::with_files(&files);
    repos.git(&["checkout", "-q", "-b", "feature/x"]);
    let setup = Channels {
        repos,
        test: TestCluster::start(),
        prod: TestCluster::start(),
        kubeconfig: PathBuf::new(),
    };
    let setup = Channels {
        kubeconfig: setup.repos.dir.path().join("kubeconfig"),
        ..setup
    };
    setup.point_prod_at(&setup.prod.server.url());
    setup.release("test");
    setup.apply("test");
    setup.test.server.reset_counters();
    let drift = setup.berth(&["drift", "-c", "test"]);
    assert_eq!(drift.code, 0, "{}\n{}", drift.stdout, drift.stderr);
    let requests = setup.test.server.requests();
    assert!(
        requests.len() <= 10,
        "{} requests for 1,001 unchanged objects: {requests:#?}",
        requests.len()
    );
}

#[test]
fn history_lists_three_applies_newest_first() {
    let setup = Channels::new();
    let mut sources = Vec::new();
    for replicas in [1, 2, 3] {
        if replicas > 1 {
            setup.change(replicas);
        }
        sources.push(setup.repos.git(&["rev-parse", "HEAD"]));
        setup.release("test");
        setup.apply("test");
    }
    // A release merged and not applied is history too.
    setup.change(4);
    setup.release("test");
    let run = setup.repos.berth(&["history", "-c", "test", "-o", "json"]);
    run.succeeds();
    let entries: Value = serde_json::from_str(&run.stdout).unwrap();
    let entries = entries.as_array().unwrap();
    assert_eq!(entries[0]["applied"], Value::Null, "{entries:#?}");
    let applied: Vec<&Value> = entries.iter().filter(|e| !e["applied"].is_null()).collect();
    assert_eq!(applied.len(), 3, "{entries:#?}");
    let applied_sources: Vec<&str> = applied
        .iter()
        .map(|e| e["source"]["commit"].as_str().unwrap())
        .collect();
    sources.reverse();
    assert_eq!(applied_sources, sources);
    for entry in &applied {
        assert_eq!(entry["applied"]["result"], "succeeded");
        assert_eq!(entry["applied"]["appliedBy"], "tester@testhost");
        assert!(
            entry["applied"]["appliedAt"]
                .as_str()
                .unwrap()
                .ends_with('Z')
        );
    }
    let text = setup.repos.berth(&["history", "-c", "test", "-n", "2"]);
    text.succeeds();
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", text.stdout);
    assert!(lines[0].ends_with("not applied"), "{}", text.stdout);
    assert!(lines[1].contains(" succeeded at "), "{}", text.stdout);
    assert!(lines[1].contains(" by tester@testhost"), "{}", text.stdout);
}

#[test]
fn status_snapshots_of_two_channels_applied_at_different_source_commits() {
    let (setup, sources) = test_ahead_of_prod();
    setup.repos.git(&[
        "remote",
        "set-url",
        "origin",
        "https://github.com/acme/shop.git",
    ]);
    // Commits by the part they play (full and short ids), so the snapshots show which is which.
    let mut settings = insta::Settings::clone_current();
    let releases = [
        ("releases/test", "test-release-2"),
        ("releases/test~1", "test-release-1"),
        ("releases/prod", "prod-release"),
    ];
    let named = sources
        .iter()
        .enumerate()
        .map(|(i, commit)| (commit.clone(), format!("source-{}", i + 1)))
        .chain(
            releases
                .iter()
                .map(|(rev, name)| (setup.repos.git(&["rev-parse", rev]), name.to_string())),
        );
    for (commit, name) in named {
        settings.add_filter(&commit, format!("[{name}]"));
        settings.add_filter(&commit[..12], format!("[{name}]"));
    }
    settings.add_filter(r"http://127\.0\.0\.1:\d+/", "[server]/");
    settings.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "[time]");
    settings.add_filter(r"\(pid \d+, [0-9a-f]{8}\)", "(pid [pid], [nonce])");
    let _guard = settings.bind_to_scope();

    let (code, status) = setup.status_json(&[]);
    assert_eq!(code, 0, "{status:#}");
    insta::assert_json_snapshot!("status_two_channels_json", status);
    let text = setup.berth(&["status"]);
    text.succeeds();
    insta::assert_snapshot!("status_two_channels_text", text.stdout);
}
