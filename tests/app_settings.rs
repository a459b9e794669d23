//! Per-app settings of berth.yaml and partial applies, on the test API server: `createNamespace`,
//! `timeout`, `prune: false`, `apply --app`.

use crate::drivers::{drivers_berth, render_objects, require_kubectl};
use crate::support::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// `render -c channel -o json` of `dir`: the objects by key (`_cluster/Namespace/x`, `ns/Kind/x`).
fn rendered(dir: &std::path::Path, channel: &str) -> BTreeMap<String, Value> {
    let mut command = berth_command();
    command.current_dir(dir);
    render_objects(command, channel, &[])
}

fn config_map(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: \"1\"\n")
}

#[test]
fn create_namespace_adds_one_labelled_namespace_unless_an_app_renders_it() {
    let config = "\
apps:
  first:
    driver: manifests
    path: first
    namespace: shared
    createNamespace: true
  second:
    driver: manifests
    path: second
    namespace: shared
    createNamespace: true
  asks:
    driver: manifests
    path: asks
    namespace: own
    createNamespace: true
  renders:
    driver: manifests
    path: renders
  varies:
    driver: manifests
    path: varies
    namespace: extra-{channel}
    createNamespace: true
    channels:
      prod: {createNamespace: false}
channels:
  test: {}
  prod: {}
";
    let dir = repo(&[
        ("berth.yaml", config),
        ("first/x.yaml", &config_map("first")),
        ("second/x.yaml", &config_map("second")),
        ("asks/x.yaml", &config_map("asks")),
        (
            "renders/ns.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: own\n  labels: {team: ops}\n",
        ),
        ("varies/x.yaml", &config_map("varies")),
    ]);
    let test = rendered(dir.path(), "test");
    let namespaces: Vec<&str> = test
        .keys()
        .filter(|k| k.starts_with("_cluster/Namespace/"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        namespaces,
        [
            "_cluster/Namespace/extra-test",
            "_cluster/Namespace/own",
            "_cluster/Namespace/shared"
        ]
    );
    // Two apps asking for one namespace: one object, the first app's, labelled as berth's.
    let labels = &test["_cluster/Namespace/shared"]["metadata"]["labels"];
    assert_eq!(labels["berth.dev/app"], "first", "{labels}");
    assert_eq!(labels["berth.dev/channel"], "test");
    assert_eq!(labels["app.kubernetes.io/managed-by"], "berth");
    assert!(labels["berth.dev/project"].is_string(), "{labels}");
    assert!(
        test["_cluster/Namespace/shared"]["metadata"]
            .get("namespace")
            .is_none()
    );
    // A Namespace an app renders itself is kept as rendered.
    let own = &test["_cluster/Namespace/own"]["metadata"]["labels"];
    assert_eq!(
        (&own["berth.dev/app"], &own["team"]),
        (&"renders".into(), &"ops".into())
    );
    assert_eq!(
        test["_cluster/Namespace/extra-test"]["metadata"]["labels"]["berth.dev/app"],
        "varies"
    );
    // The prod variant says no.
    let prod = rendered(dir.path(), "prod");
    assert!(prod.contains_key("extra-prod/ConfigMap/varies"));
    assert!(
        !prod.contains_key("_cluster/Namespace/extra-prod"),
        "{:?}",
        prod.keys()
    );
    assert!(prod.contains_key("_cluster/Namespace/shared"));
}

/// `examples/drivers` on a new branch `feature/x`, and a cluster.
struct Drivers {
    repos: GitRepos,
    cluster: TestCluster,
}

impl Drivers {
    fn new() -> Self {
        require_kubectl();
        let repos = GitRepos::new("drivers");
        repos.git(&["checkout", "-q", "-b", "feature/x"]);
        Drivers {
            repos,
            cluster: TestCluster::start(),
        }
    }

    /// Render the committed source with the helm stand-in and make it the test release.
    fn release(&self) {
        run(drivers_berth(&self.repos.work()).args(["candidate", "-c", "test"])).succeeds();
        self.repos
            .git(&["branch", "-f", "releases/test", "candidates/test/feature/x"]);
    }

    fn apply(&self) -> (i32, Value) {
        let (code, report, _) =
            self.cluster
                .berth_json(&self.repos.work(), &["apply", "-c", "test"], &[]);
        (code, report)
    }
}

#[test]
fn helm_and_kustomize_apps_apply_into_namespaces_they_create() {
    let setup = Drivers::new();
    setup.release();
    // Without the namespaces, the first release fails.
    let (code, report) = setup.apply();
    assert_eq!(code, 2, "{report:#}");
    assert_eq!(report["result"], "failed");

    for namespace in ["queue", "monitoring"] {
        setup.repos.edit(
            "berth.yaml",
            &format!("    namespace: {namespace}\n"),
            &format!("    namespace: {namespace}\n    createNamespace: true\n"),
        );
    }
    setup.repos.commit_all("create the namespaces");
    setup.release();
    let (code, report) = setup.apply();
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["result"], "succeeded");
    for (namespace, app) in [("queue", "queue"), ("monitoring", "metrics")] {
        let key = format!("_cluster/Namespace/{namespace}");
        assert_eq!(report_object(&report, &key)["stage"], "namespaces and CRDs");
        let live = setup
            .cluster
            .server
            .object("", "namespaces", "", namespace)
            .unwrap_or_else(|| panic!("no namespace {namespace}"));
        assert_eq!(live["metadata"]["labels"]["berth.dev/app"], app);
        assert_eq!(live["metadata"]["labels"]["berth.dev/channel"], "test");
    }
    assert!(
        setup
            .cluster
            .deployment("queue", "queue")
            .or_else(|| setup.cluster.deployment("monitoring", "metrics"))
            .is_some()
    );
}

/// The quickstart with `setting` added under app `app` in berth.yaml, released.
fn quickstart_with(app: &str, setting: &str) -> Release {
    let repos = GitRepos::new("quickstart");
    repos.edit(
        "berth.yaml",
        &format!("    path: apps/{app}\n"),
        &format!("    path: apps/{app}\n    {setting}\n"),
    );
    repos.commit_all(setting);
    Release::new(repos)
}

#[test]
fn an_app_with_its_own_timeout_times_out_alone_and_is_named() {
    let setup = quickstart_with("web", "timeout: 2s");
    // The channel's wait is long; web's own is short. api becomes ready, web never does.
    let mut command = setup.apply_command(&["--wait", "--timeout", "5m"]);
    let apply = std::thread::spawn(move || run(&mut command));
    while !apply.is_finished() {
        if setup.cluster.deployment("shop", "api").is_some() {
            let _ = setup.cluster.server.mark_deployment_ready("shop", "api");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let run = apply.join().unwrap();
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("not ready  shop/Deployment.apps/web"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("not ready  shop/Deployment.apps/api"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("apps not ready: web\n"),
        "{}",
        run.stdout
    );
    let record = setup.record();
    assert_eq!(record["data"]["result"], "timed-out");
    assert_eq!(record["data"]["timedOut"], "web");
}

#[test]
fn an_app_with_prune_false_keeps_what_left_it() {
    let setup = quickstart_with("web", "prune: false");
    setup.apply(&[]).succeeds();
    setup.change(|repos| {
        for file in ["apps/web/ingress.yaml.j2", "apps/api/cronjob.yaml.j2"] {
            std::fs::remove_file(repos.work().join(file)).unwrap();
        }
    });
    let ingress = "shop/Ingress.networking.k8s.io/web";
    // The diff says what apply will do: the app's object is kept, the other app's deleted.
    let (code, plan, run) = setup
        .cluster
        .diff_json(&setup.repos.work(), &["--tree", "releases/test"]);
    assert_eq!(code, 1, "{}", run.stderr);
    let action_of = |key: &str| {
        plan["objects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["key"] == key)
            .map(|o| o["action"].clone())
    };
    assert_eq!(action_of(ingress).unwrap(), "unchanged", "{plan:#}");
    assert_eq!(
        action_of("shop-jobs/CronJob.batch/api-cleanup").unwrap(),
        "delete",
        "{plan:#}"
    );
    let (code, report) = setup.apply_json(&["--prune"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        report_object(&report, ingress)["result"],
        "left the release; kept (app web has prune: false)"
    );
    assert_eq!(
        report_object(&report, "shop-jobs/CronJob.batch/api-cleanup")["result"],
        "pruned"
    );
    let server = &setup.cluster.server;
    assert!(
        server
            .object("networking.k8s.io", "ingresses", "shop", "web")
            .is_some()
    );
    assert!(
        server
            .object("batch", "cronjobs", "shop-jobs", "api-cleanup")
            .is_none()
    );
    // Still in the inventory, so that pruning it later is possible.
    let inventory = setup.record()["data"]["inventory"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(inventory.contains(ingress), "{inventory}");
    assert!(!inventory.contains("api-cleanup"), "{inventory}");
    // Kept is not a change: applying again writes nothing.
    let (code, report) = setup.apply_json(&["--prune"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["result"], "no changes");
}

#[test]
fn a_partial_apply_touches_only_its_apps_and_is_recorded_as_partial() {
    let setup = Release::quickstart();
    setup.apply(&[]).succeeds();
    // Both apps change and each loses an object.
    setup.change(|repos| {
        repos.edit("apps/web/values-test.yaml", "replicas: 1", "replicas: 3");
        repos.edit("apps/api/values-test.yaml", "workers: 1", "workers: 4");
        for file in ["apps/web/ingress.yaml.j2", "apps/api/cronjob.yaml.j2"] {
            std::fs::remove_file(repos.work().join(file)).unwrap();
        }
    });
    let api_config = || {
        setup
            .cluster
            .server
            .object("", "configmaps", "shop", "api-config")
            .unwrap()["data"]
            .clone()
    };
    let api_before = api_config();
    // The whole release is reviewed; the partial apply checks web's part of that review.
    setup
        .cluster
        .diff(&setup.repos.work(), &["--tree", "releases/test"]);
    let dry_run = setup.apply(&["-a", "web", "--prune", "--dry-run"]);
    assert!(
        dry_run
            .succeeds()
            .stdout
            .contains("  would prune shop/Ingress.networking.k8s.io/web\n"),
        "{}",
        dry_run.stdout
    );
    assert!(!dry_run.stdout.contains("api"), "{}", dry_run.stdout);
    let run = setup.apply(&["-a", "web", "--prune"]);
    run.succeeds();
    assert!(
        run.stderr.contains("the plan is the one reviewed"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains(" (only web): succeeded\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("  pruned     shop/Ingress.networking.k8s.io/web\n"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("api"), "{}", run.stdout);
    assert_eq!(
        setup.cluster.deployment("shop", "web").unwrap()["spec"]["replicas"],
        3
    );
    // api's change and its orphan are untouched.
    let server = &setup.cluster.server;
    assert_eq!(api_config(), api_before);
    assert!(
        server
            .object("batch", "cronjobs", "shop-jobs", "api-cleanup")
            .is_some()
    );
    let record = setup.record();
    assert_eq!(record["data"]["partial"], "web");
    let inventory = record["data"]["inventory"].as_str().unwrap();
    assert!(
        inventory.contains("shop-jobs/CronJob.batch/api-cleanup"),
        "{inventory}"
    );
    assert!(!inventory.contains("Ingress"), "{inventory}");

    // History and status say so, and promote refuses it.
    let history = setup.repos.berth(&["history", "-c", "test", "-n", "1"]);
    assert!(
        history
            .succeeds()
            .stdout
            .contains("succeeded (partial: web)"),
        "{}",
        history.stdout
    );
    let status = setup
        .cluster
        .berth(&setup.repos.work(), &["status"], &["-c", "test"]);
    assert!(
        status.stdout.contains("succeeded (partial: web)"),
        "{}\n{}",
        status.stdout,
        status.stderr
    );
    setup
        .cluster
        .berth(&setup.repos.work(), &["promote", "test"], &[])
        .fails_with(&["cannot promote test to prod", "was partial (only web)"]);

    // The whole release applied afterwards: api too, and the record is whole again.
    let (code, report) = setup.apply_json(&["--prune", "--accept-changed-plan"]);
    assert_eq!(code, 0, "{report:#}");
    assert!(report.get("partial").is_none(), "{report:#}");
    assert_ne!(api_config(), api_before);
    assert!(
        server
            .object("batch", "cronjobs", "shop-jobs", "api-cleanup")
            .is_none()
    );
    assert!(setup.record()["data"].get("partial").is_none());
    setup
        .cluster
        .berth(&setup.repos.work(), &["promote", "test"], &[])
        .succeeds();
}

#[test]
fn a_partial_apply_refuses_an_app_the_channel_does_not_release() {
    let repos = GitRepos::new("quickstart");
    repos.edit(
        "berth.yaml",
        "    promotesTo: prod\n",
        "    promotesTo: prod\n    apps: [platform, web, api]\n",
    );
    repos.commit_all("test without backups");
    let setup = Release::new(repos);
    setup.apply(&["-a", "backups"]).fails_with(&[
        "app `backups` is not released through channel `test`",
        "channel test has: platform, web, api",
    ]);
    assert!(setup.cluster.deployment("shop", "web").is_none());
}

#[test]
fn allow_remote_bases_lets_kustomize_fetch_them() {
    let config = "apps:\n  web:\n    driver: kustomize\n    path: overlay\nchannels:\n  test: {}\n";
    let dir = repo(&[
        ("berth.yaml", config),
        (
            "overlay/kustomization.yaml",
            "resources:\n  - https://github.com/acme/base//deploy?ref=v1\n",
        ),
        // Stands in for kustomize, which would fetch the base: it prints what it was given.
        (
            "kustomize.sh",
            "printf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: built\\n'\n",
        ),
    ]);
    let render = |dir: &std::path::Path| {
        let script = dir.join("kustomize.sh");
        run(berth_command()
            .current_dir(dir)
            .env("BERTH_KUSTOMIZE", format!("sh {}", script.display()))
            .args(["render", "-c", "test", "-o", "json"]))
    };
    render(dir.path()).fails_with(&["overlay/kustomization.yaml:2", "remote base"]);
    replace_in(
        dir.path(),
        "berth.yaml",
        "    path: overlay\n",
        "    path: overlay\n    allowRemoteBases: true\n",
    );
    let run = render(dir.path());
    assert!(
        run.succeeds().stdout.contains("\"name\": \"built\""),
        "{}",
        run.stdout
    );
}
