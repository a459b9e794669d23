//! Helm hooks applied in phases (issue 12, item 7): the helm stand-in's chart `shop`
//! (tests/fixtures/helm/shop, recorded as shop.yaml) has two pre-install/pre-upgrade Job hooks
//! of different weights, a post-install/post-upgrade Job hook deleted once it succeeded and a
//! `helm test` Pod; applied to the test API server while the test plays the Job and Deployment
//! controllers (Job status through its status subresource, as tests/promotion.rs does).

use crate::support::{GitRepos, TestCluster, berth_command, copy_dir, run};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

const BERTH_YAML: &str = "apps:
  shop:
    driver: helm
    path: charts/shop
    namespace: shop
  config:
    driver: manifests
    path: config
    namespace: shop
channels:
  test: {}
";

const SETTINGS: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  greeting: hello
";

const NAMESPACE: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n";

const COMPLETE: &str = r#"{"status":{"succeeded":1,"conditions":[{"type":"Complete","status":"True","reason":"CompletionsReached"}]}}"#;
const FAILED: &str = r#"{"status":{"failed":1,"conditions":[{"type":"Failed","status":"True","reason":"BackoffLimitExceeded","message":"Job has reached the specified backoff limit"}]}}"#;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/helm")
}

/// The shop repository on `feature/x`, released to the test channel, and a cluster.
struct Shop {
    repos: GitRepos,
    cluster: TestCluster,
}

impl Shop {
    fn new() -> Shop {
        Shop::with_config(BERTH_YAML)
    }

    fn with_config(berth_yaml: &str) -> Shop {
        let repos = GitRepos::with_files(&[
            ("berth.yaml", berth_yaml),
            ("config/settings.yaml", SETTINGS),
            ("config/namespace.yaml", NAMESPACE),
        ]);
        copy_dir(&fixtures().join("shop"), &repos.work().join("charts/shop"));
        repos.commit_all("the shop chart");
        repos.git(&["checkout", "-q", "-b", "feature/x"]);
        let shop = Shop {
            repos,
            cluster: TestCluster::start(),
        };
        shop.release();
        shop
    }

    /// Render the committed source with the helm stand-in and make it the test release.
    fn release(&self) {
        run(berth_command()
            .current_dir(self.repos.work())
            .env("BERTH_HELM", fixtures().join("helm"))
            .args(["candidate", "-c", "test"]))
        .succeeds();
        self.repos
            .git(&["branch", "-f", "releases/test", "candidates/test/feature/x"]);
    }

    /// `berth apply -c test -o json` while the test plays the controllers: each Job of `jobs`
    /// gets its status (once per run: per uid) as it appears, the Deployment is made ready.
    fn apply(&self, jobs: &[(&str, &str)]) -> (i32, Value) {
        let mut child = self
            .cluster
            .berth_command(
                &self.repos.work(),
                &["apply", "-c", "test"],
                &["-o", "json"],
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut finished: Vec<String> = Vec::new();
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                child.kill().unwrap();
                panic!("berth apply did not finish");
            }
            for (name, status) in jobs {
                let uid = self
                    .cluster
                    .job("shop", name)
                    .and_then(|job| job["metadata"]["uid"].as_str().map(str::to_string));
                let Some(uid) = uid.filter(|uid| !finished.contains(uid)) else {
                    continue;
                };
                // A run deleted between the read and the patch is not finished: its
                // successor is, on a later pass.
                if self.cluster.set_job_status("shop", name, status) {
                    finished.push(uid);
                }
            }
            let web = self.cluster.deployment("shop", "web");
            if web.is_some_and(|web| web["status"]["readyReplicas"].is_null()) {
                self.cluster
                    .server
                    .mark_deployment_ready("shop", "web")
                    .unwrap();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let output = child.wait_with_output().unwrap();
        let report = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
        (output.status.code().unwrap(), report)
    }

    /// berth's writes (applies and deletes that did something, no dry runs) to the shop's Jobs
    /// and Deployments, in order:
    /// `PATCH jobs/shop-schema`.
    fn writes(&self) -> Vec<String> {
        self.cluster
            .server
            .requests()
            .into_iter()
            // A delete of what does not exist (a first run) changed nothing: 404, left out.
            .filter(|r| r.is_write() && !r.is_dry_run() && r.status < 400)
            .filter(|r| !r.path.ends_with("/status"))
            .filter(|r| r.method == "DELETE" || r.query.contains("fieldManager=berth"))
            .filter_map(|r| {
                let (_, object) = r.path.split_once("/namespaces/shop/")?;
                (object.starts_with("jobs/") || object.starts_with("deployments/"))
                    .then(|| format!("{} {object}", r.method))
            })
            .collect()
    }
}

fn outcome<'a>(report: &'a Value, key: &str) -> &'a Value {
    crate::support::report_object(report, key)
}

#[test]
fn hooks_run_in_phases_by_weight_around_their_apps_objects() {
    let shop = Shop::new();
    let (code, report) = shop.apply(&[
        ("shop-schema", COMPLETE),
        ("shop-migrate", COMPLETE),
        ("shop-seed", COMPLETE),
    ]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["result"], "succeeded");
    // Weight -5 before weight 0 (helm prints migrate first), both before the Deployment; the
    // post-install hook after it is ready, and deleted once it succeeded.
    assert_eq!(
        shop.writes(),
        [
            "PATCH jobs/shop-schema",
            "PATCH jobs/shop-migrate",
            "PATCH deployments/web",
            "PATCH jobs/shop-seed",
            "DELETE jobs/shop-seed",
        ]
    );
    let schema = outcome(&report, "shop/Job.batch/shop-schema");
    assert_eq!(schema["stage"], "pre-install hooks", "{schema:#}");
    assert_eq!(
        schema["detail"],
        "pre-install hook (weight -5): completed (CompletionsReached)"
    );
    let seed = outcome(&report, "shop/Job.batch/shop-seed");
    assert_eq!(seed["stage"], "post-install hooks", "{seed:#}");
    assert_eq!(
        seed["detail"],
        "post-install hook (weight 0): completed (CompletionsReached); deleted (hook-succeeded)"
    );
    assert!(shop.cluster.job("shop", "shop-seed").is_none());
    // The hooks are the release's: in its record, so never pruned as objects that left it.
    let inventory = shop.cluster.record("test")["data"]["inventory"]
        .as_str()
        .unwrap()
        .to_string();
    for hook in ["shop-schema", "shop-migrate", "shop-seed"] {
        assert!(
            inventory.contains(&format!("shop/Job.batch/{hook} batch/v1\n")),
            "{inventory}"
        );
    }
    // The `helm test` Pod is no part of the release.
    let files = shop
        .repos
        .git(&["ls-tree", "-r", "--name-only", "releases/test"]);
    assert!(files.contains("shop/Job.batch/shop-seed.yaml"), "{files}");
    assert!(!files.contains("test-connection"), "{files}");

    // The seed Job deleted once it succeeded is no create (the diff exits 0: no changes), nor
    // drift; the diff names each hook.
    let diff = shop.cluster.diff(&shop.repos.work(), &[]);
    diff.succeeds();
    let drift = shop
        .cluster
        .berth(&shop.repos.work(), &["drift", "-c", "test"], &[]);
    assert_eq!(drift.code, 0, "{}\n{}", drift.stdout, drift.stderr);
    assert!(
        diff.stdout.contains(
            "hook post-install, post-upgrade (weight 0): shop/Job.batch/shop-seed (not live; apply runs it in its phase)"
        ),
        "{}",
        diff.stdout
    );
    assert!(
        diff.stdout.contains(
            "hook pre-install, pre-upgrade (weight 0): shop/Job.batch/shop-migrate (unchanged)"
        ),
        "{}",
        diff.stdout
    );
}

#[test]
fn an_upgrade_deletes_the_last_run_of_a_hook_before_creating_it_again() {
    let shop = Shop::new();
    let all = [
        ("shop-schema", COMPLETE),
        ("shop-migrate", COMPLETE),
        ("shop-seed", COMPLETE),
    ];
    let (code, report) = shop.apply(&all);
    assert_eq!(code, 0, "{report:#}");
    let first = shop.cluster.job("shop", "shop-migrate").unwrap()["metadata"]["uid"].clone();

    shop.repos
        .edit("config/settings.yaml", "greeting: hello", "greeting: hi");
    shop.repos.commit_all("a new greeting");
    shop.release();
    shop.cluster.server.reset_counters();
    let (code, report) = shop.apply(&all);
    assert_eq!(code, 0, "{report:#}");
    // The shop's objects are live: an upgrade. Each hook's last run is deleted (and gone)
    // before it is created again (before-hook-creation, also the default of shop-schema).
    assert_eq!(
        outcome(&report, "shop/Job.batch/shop-migrate")["stage"],
        "pre-upgrade hooks"
    );
    assert_eq!(
        outcome(&report, "shop/Job.batch/shop-seed")["stage"],
        "post-upgrade hooks"
    );
    assert_eq!(
        shop.writes(),
        [
            "DELETE jobs/shop-schema",
            "PATCH jobs/shop-schema",
            "DELETE jobs/shop-migrate",
            "PATCH jobs/shop-migrate",
            "PATCH jobs/shop-seed",
            "DELETE jobs/shop-seed",
        ]
    );
    let second = shop.cluster.job("shop", "shop-migrate").unwrap()["metadata"]["uid"].clone();
    assert_ne!(first, second);
}

#[test]
fn a_failed_pre_install_hook_stops_its_app() {
    let shop = Shop::new();
    let (code, report) = shop.apply(&[("shop-schema", FAILED)]);
    assert_ne!(code, 0, "{report:#}");
    assert_eq!(report["result"], "failed");
    let schema = outcome(&report, "shop/Job.batch/shop-schema");
    assert_eq!(schema["result"], "failed", "{schema:#}");
    let detail = schema["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("pre-install hook (weight -5) failed: the job failed")
            && detail.contains("BackoffLimitExceeded")
            && detail.ends_with("nothing after it of app shop ran"),
        "{detail}"
    );
    // Nothing else of the shop was written; the other app was.
    assert_eq!(shop.writes(), ["PATCH jobs/shop-schema"]);
    assert!(shop.cluster.deployment("shop", "web").is_none());
    assert!(
        shop.cluster
            .server
            .object("", "configmaps", "shop", "settings")
            .is_some()
    );
    assert_eq!(shop.cluster.record("test")["data"]["result"], "failed");
}

#[test]
fn a_hook_not_done_within_its_apps_timeout_fails_and_stops_the_app() {
    let shop = Shop::with_config(&BERTH_YAML.replace(
        "    path: charts/shop\n",
        "    path: charts/shop\n    timeout: 1s\n",
    ));
    // No controller finishes the Job.
    let (code, report) = shop.apply(&[]);
    assert_ne!(code, 0, "{report:#}");
    let schema = outcome(&report, "shop/Job.batch/shop-schema");
    assert_eq!(
        schema["detail"],
        "pre-install hook (weight -5) failed: not done after 1s; nothing after it of app shop ran"
    );
    assert!(shop.cluster.job("shop", "shop-migrate").is_none());
    assert!(shop.cluster.deployment("shop", "web").is_none());
}
