//! `berth apply` against the test API server, from release branches in real repositories.

use crate::support::*;
use berth_testserver::Fault;
use serde_json::{Value, json};
use std::time::Duration;

/// Remove 11 of the quickstart test channel's 18 objects (most of the web and api apps).
fn remove_most_of_the_release(repos: &GitRepos) {
    let api = [
        "deployment.yaml.j2",
        "config.yaml.j2",
        "rbac.yaml.j2",
        "service.yaml",
        "cronjob.yaml.j2",
    ];
    let web = [
        "deployment.yaml.j2",
        "config.yaml.j2",
        "ingress.yaml.j2",
        "service.yaml.j2",
    ];
    for (app, files) in [("api", &api[..]), ("web", &web[..])] {
        for file in files {
            std::fs::remove_file(repos.work().join("apps").join(app).join(file)).unwrap();
        }
    }
}

/// The test channel's lock, held by `holder` for `seconds`.
fn lock_lease(holder: &str, seconds: u32, acquired: &str, renewed: &str) -> Value {
    json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "berth-acme.shop.test", "namespace": "berth-system"},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": seconds,
                 "acquireTime": acquired, "renewTime": renewed}})
}

fn result_of<'a>(report: &'a Value, key: &str) -> &'a str {
    report_object(report, key)["result"].as_str().unwrap()
}

#[test]
fn first_apply_creates_everything_in_order_and_records_the_release() {
    let setup = Release::quickstart();
    let (code, report) = setup.apply_json(&[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["result"], "succeeded");
    assert_eq!(report["summary"]["created"], 18);
    assert_eq!(
        setup.cluster.deployment("shop", "web").unwrap()["spec"]["replicas"],
        1
    );
    // The CRD and its custom resource in one release.
    assert!(
        setup
            .cluster
            .server
            .object("ops.example.com", "backups", "shop", "api-nightly")
            .is_some()
    );
    // Namespaces and CRDs went first, workloads after their configuration.
    let writes: Vec<String> = setup
        .cluster
        .server
        .requests()
        .into_iter()
        .filter(|r| {
            r.method == "PATCH"
                && !r.is_dry_run()
                && r.param("fieldManager").as_deref() == Some("berth")
        })
        .map(|r| r.path)
        .collect();
    let position = |needle: &str| {
        writes
            .iter()
            .position(|p| p.contains(needle))
            .unwrap_or_else(|| panic!("{needle} not in {writes:#?}"))
    };
    assert!(position("/namespaces/shop") < position("/configmaps/web-config"));
    assert!(position("customresourcedefinitions") < position("/backups/api-nightly"));
    assert!(position("/configmaps/web-config") < position("/deployments/web"));
    assert!(position("/services/web") < position("/deployments/web"));
    // Its CRD applied, discovery ran again (twice its two requests).
    let discovery = setup
        .cluster
        .server
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/v1" || r.path == "/apis")
        .count();
    assert_eq!(discovery, 4);
    // The record, in the cluster and in git.
    let record = setup.record();
    let release = setup.repos.git(&["rev-parse", "releases/test"]);
    assert_eq!(record["data"]["release"], release.as_str());
    assert_eq!(record["data"]["result"], "succeeded");
    assert!(
        record["data"]["inventory"]
            .as_str()
            .unwrap()
            .contains("shop/Deployment.apps/web apps/v1\n")
    );
    let note = setup
        .repos
        .git(&["notes", "--ref", "berth/test", "show", "releases/test"]);
    assert!(note.contains("berth apply test: succeeded"), "{note}");
    // The lock was given back.
    let lease = setup
        .cluster
        .server
        .object(
            "coordination.k8s.io",
            "leases",
            "berth-system",
            "berth-acme.shop.test",
        )
        .unwrap();
    assert!(lease["spec"]["holderIdentity"].is_null(), "{lease:#}");
}

#[test]
fn an_unchanged_reapply_writes_nothing() {
    let setup = Release::quickstart();
    setup.apply(&[]).succeeds();
    let generation =
        setup.cluster.deployment("shop", "web").unwrap()["metadata"]["generation"].clone();
    setup.cluster.server.reset_counters();
    let (code, report) = setup.apply_json(&[]);
    assert_eq!(code, 0);
    assert_eq!(report["result"], "no changes");
    assert_eq!(report["summary"]["unchanged"], 18);
    assert_eq!(
        setup.cluster.server.count_writes(),
        0,
        "{:#?}",
        setup.cluster.server.requests()
    );
    // Judged from one LIST per kind, not a GET and a dry run per object.
    let requests = setup.cluster.server.requests();
    assert!(requests.iter().all(|r| !r.is_dry_run()), "{requests:#?}");
    assert!(
        requests.len() < 25,
        "{} requests for 18 unchanged objects",
        requests.len()
    );
    assert_eq!(
        setup.cluster.deployment("shop", "web").unwrap()["metadata"]["generation"],
        generation
    );
}

#[test]
fn a_change_is_applied_and_what_left_the_release_is_pruned() {
    let setup = Release::quickstart();
    setup.apply(&[]).succeeds();
    setup.change(|repos| {
        repos.edit("apps/web/values-test.yaml", "replicas: 1", "replicas: 3");
        std::fs::remove_file(repos.work().join("apps/api/cronjob.yaml.j2")).unwrap();
    });
    setup.cluster.server.reset_counters();
    let (code, report) = setup.apply_json(&["--prune"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(result_of(&report, "shop/Deployment.apps/web"), "updated");
    assert_eq!(
        result_of(&report, "shop-jobs/CronJob.batch/api-cleanup"),
        "pruned"
    );
    assert_eq!(report["summary"]["unchanged"], 16);
    assert_eq!(
        setup.cluster.deployment("shop", "web").unwrap()["spec"]["replicas"],
        3
    );
    assert!(
        setup
            .cluster
            .server
            .object("batch", "cronjobs", "shop-jobs", "api-cleanup")
            .is_none()
    );
    let inventory = setup.record()["data"]["inventory"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!inventory.contains("api-cleanup"), "{inventory}");
    // Only the two changed objects were written (plus the lock and the record).
    let object_writes: Vec<_> = setup
        .cluster
        .server
        .requests()
        .into_iter()
        .filter(|r| r.is_write() && !r.is_dry_run())
        .filter(|r| !r.path.contains("/leases/") && !r.path.contains("berth-release-"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(object_writes.len(), 2, "{object_writes:#?}");
}

#[test]
fn without_prune_objects_that_left_stay_and_stay_in_the_inventory() {
    let setup = Release::quickstart();
    setup.apply(&[]).succeeds();
    setup.change(|repos| {
        std::fs::remove_file(repos.work().join("apps/api/cronjob.yaml.j2")).unwrap()
    });
    let (code, report) = setup.apply_json(&[]);
    assert_eq!(code, 0);
    assert!(
        result_of(&report, "shop-jobs/CronJob.batch/api-cleanup").contains("kept (prune is off)")
    );
    assert!(
        setup
            .cluster
            .server
            .object("batch", "cronjobs", "shop-jobs", "api-cleanup")
            .is_some()
    );
    assert!(
        setup.record()["data"]["inventory"]
            .as_str()
            .unwrap()
            .contains("api-cleanup")
    );
    // Kept again by a later apply (and shown by a diff): still the api's, from its label.
    let (_, report) = setup.apply_json(&[]);
    let kept = report_object(&report, "shop-jobs/CronJob.batch/api-cleanup");
    assert_eq!(kept["app"], "api", "{report:#}");
    let text = setup.apply(&[]);
    assert!(!text.stdout.contains("(no app)"), "{}", text.stdout);
    let diff = setup
        .cluster
        .diff(&setup.repos.work(), &["--render", "-o", "json"]);
    let (_, plan, _) = json_report(diff);
    assert_eq!(
        report_object(&plan, "shop-jobs/CronJob.batch/api-cleanup")["app"],
        "api",
        "{plan:#}"
    );
    // A later apply with --prune still removes it.
    let (code, report) = setup.apply_json(&["--prune"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        result_of(&report, "shop-jobs/CronJob.batch/api-cleanup"),
        "pruned"
    );
}

#[test]
fn the_prune_guard_refuses_a_mass_deletion_and_writes_nothing() {
    let setup = Release::quickstart();
    setup.apply(&[]).succeeds();
    setup.change(remove_most_of_the_release);
    setup.cluster.server.reset_counters();
    let run = setup.apply(&["--prune"]);
    run.fails_with(&[
        "refusing to prune 11 of the 18 objects",
        "--allow-mass-prune",
    ]);
    let writes: Vec<_> = setup
        .cluster
        .server
        .requests()
        .into_iter()
        .filter(|r| r.is_write() && !r.is_dry_run() && !r.path.contains("/leases/"))
        .collect();
    assert!(
        writes.is_empty(),
        "only the lock may be taken and given back: {writes:#?}"
    );
    assert!(setup.cluster.deployment("shop", "web").is_some());
    let (code, report) = setup.apply_json(&["--prune", "--allow-mass-prune"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["summary"]["pruned"], 11);
    assert!(setup.cluster.deployment("shop", "web").is_none());
}

#[test]
fn objects_annotated_or_unlabelled_are_never_pruned() {
    let setup = Release::quickstart();
    setup.apply(&[]).succeeds();
    // Someone marks the api Deployment to be kept, and takes the web Service away from berth.
    let keep = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": "shop",
        "annotations": {"berth.dev/prune": "disabled"}}});
    setup.cluster.seed(&keep, "operator");
    setup.cluster.kubectl(&[
        "-n",
        "shop",
        "label",
        "service",
        "web",
        "berth.dev/channel-",
    ]);
    setup.change(|repos| {
        std::fs::remove_file(repos.work().join("apps/api/deployment.yaml.j2")).unwrap();
        std::fs::remove_file(repos.work().join("apps/web/service.yaml.j2")).unwrap();
    });
    let (code, report) = setup.apply_json(&["--prune"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(result_of(&report, "shop/Deployment.apps/api"), "kept");
    assert!(setup.cluster.deployment("shop", "api").is_some());
    assert!(
        setup
            .cluster
            .server
            .object("", "services", "shop", "web")
            .is_some()
    );
    assert_eq!(report["summary"]["pruned"], 0);
}

#[test]
fn a_held_lock_makes_a_second_apply_wait_then_fail_naming_the_holder() {
    let setup = Release::quickstart();
    setup.apply(&[]).succeeds();
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let lease = lock_lease("https://ci.example/run/7 (alice, pid 1)", 600, &now, &now);
    setup.cluster.seed(&lease, "other-berth");
    setup.change(|repos| repos.edit("apps/web/values-test.yaml", "replicas: 1", "replicas: 2"));
    let started = std::time::Instant::now();
    let run = setup.apply(&["--lock-timeout", "2s"]);
    run.fails_with(&[
        "channel test is being applied by https://ci.example/run/7 (alice, pid 1)",
        "waited 2s",
    ]);
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert!(
        run.stderr.contains("waiting for the lock"),
        "{}",
        run.stderr
    );
    assert_eq!(
        setup.cluster.deployment("shop", "web").unwrap()["spec"]["replicas"],
        1,
        "nothing applied"
    );
}

#[test]
fn a_stale_lock_is_taken_over() {
    let setup = Release::quickstart();
    let lease = lock_lease(
        "crashed-job",
        2,
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:00:00Z",
    );
    setup.cluster.namespace("berth-system");
    setup.cluster.seed(&lease, "other-berth");
    // Its renewTime says nothing (clocks differ): the lease must stand still for its duration.
    let started = std::time::Instant::now();
    let run = setup.apply(&["--lock-timeout", "10s"]);
    run.succeeds();
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert!(
        run.stderr.contains("taking over the lock from crashed-job"),
        "{}",
        run.stderr
    );
}

#[test]
fn busy_servers_are_retried_with_backoff() {
    let setup = Release::quickstart();
    setup
        .cluster
        .server
        .inject(Fault::status(503).on_method("PATCH").times(4));
    setup
        .cluster
        .server
        .inject(Fault::too_many_requests(1).on_method("GET").times(3));
    let (code, report) = setup.apply_json(&[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["summary"]["created"], 18);
    let refused = setup
        .cluster
        .server
        .requests()
        .iter()
        .filter(|r| r.status == 503 || r.status == 429)
        .count();
    assert_eq!(refused, 7, "every injected refusal was met and retried");
}

#[test]
fn a_failure_on_one_object_fails_the_release_and_a_rerun_converges() {
    let setup = Release::quickstart();
    setup.cluster.server.inject(
        Fault::status(500)
            .on_path("/apis/apps/v1/namespaces/shop/deployments/api")
            .on_method("PATCH"),
    );
    let (code, report) = setup.apply_json(&[]);
    assert_eq!(code, 2, "{report:#}");
    assert_eq!(report["result"], "failed");
    assert_eq!(result_of(&report, "shop/Deployment.apps/api"), "failed");
    assert_eq!(result_of(&report, "shop/Deployment.apps/web"), "created");
    assert_eq!(report["summary"]["failed"], 1);
    assert!(setup.cluster.deployment("shop", "web").is_some());
    assert_eq!(setup.record()["data"]["result"], "failed");

    setup.cluster.server.clear_faults();
    let (code, report) = setup.apply_json(&[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(result_of(&report, "shop/Deployment.apps/api"), "created");
    assert_eq!(report["summary"]["unchanged"], 17);
    assert_eq!(setup.record()["data"]["result"], "succeeded");
}

#[test]
fn wait_succeeds_once_the_deployments_are_ready() {
    let setup = Release::quickstart();
    let mut command = setup.apply_command(&["--wait", "--timeout", "30s"]);
    let apply = std::thread::spawn(move || run(&mut command));
    // Play the controller: once the Deployments exist, report them rolled out.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut marked = 0;
    while marked < 2 && std::time::Instant::now() < deadline {
        marked = ["web", "api"]
            .iter()
            .filter(|name| {
                setup.cluster.deployment("shop", name).is_some()
                    && setup
                        .cluster
                        .server
                        .mark_deployment_ready("shop", name)
                        .is_ok()
            })
            .count();
        std::thread::sleep(Duration::from_millis(200));
    }
    let run = apply.join().unwrap();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("waiting for"),
        "progress is shown: {}",
        run.stderr
    );
}

#[test]
fn wait_times_out_naming_what_is_not_ready() {
    let setup = Release::quickstart();
    let started = std::time::Instant::now();
    let run = setup.apply(&["--wait", "--timeout", "2s"]);
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(
        run.stdout.contains("not ready  shop/Deployment.apps/web"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("the controller has not seen the latest spec yet"),
        "{}",
        run.stdout
    );
    assert_eq!(setup.record()["data"]["result"], "timed-out");
}

#[test]
fn wait_shows_why_pods_cannot_be_created() {
    let setup = Release::quickstart();
    let mut command = setup.apply_command(&["--wait", "--timeout", "3s"]);
    let apply = std::thread::spawn(move || run(&mut command));
    let why = "pods \"web-5d4f8-\" is forbidden: exceeded quota: compute, requested: cpu=500m, used: cpu=2, limited: cpu=2";
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        let web = setup.cluster.deployment("shop", "web").is_some()
            && setup
                .cluster
                .server
                .mark_deployment_failed_create("shop", "web", why)
                .is_ok();
        if web {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let run = apply.join().unwrap();
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains(&format!("ReplicaFailure=True (FailedCreate: {why})")),
        "{}",
        run.stdout
    );
}

#[test]
fn dry_run_writes_nothing_and_says_what_would_happen() {
    let setup = Release::quickstart();
    setup.cluster.server.reset_counters();
    let (code, report) = setup.apply_json(&["--dry-run"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["dry_run"], true);
    assert_eq!(
        result_of(&report, "shop/Deployment.apps/web"),
        "would create"
    );
    assert_eq!(setup.cluster.server.count_writes(), 0);
    assert!(setup.cluster.deployment("shop", "web").is_none());
}

#[test]
fn a_conflict_fails_that_object_unless_forced() {
    let setup = Release::quickstart();
    setup.apply(&[]).succeeds();
    // An operator scales web by hand: it now owns spec.replicas.
    let scaled = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"replicas": 5}});
    setup.cluster.seed(&scaled, "kubectl-edit");
    setup.change(|repos| repos.edit("apps/web/values-test.yaml", "replicas: 1", "replicas: 2"));
    let (code, report) = setup.apply_json(&[]);
    assert_eq!(code, 2, "{report:#}");
    let web = report_object(&report, "shop/Deployment.apps/web");
    assert_eq!(web["result"], "failed");
    assert!(
        web["detail"].as_str().unwrap().contains("kubectl-edit"),
        "{web:#}"
    );
    assert_eq!(
        setup.cluster.deployment("shop", "web").unwrap()["spec"]["replicas"],
        5
    );
    let (code, report) = setup.apply_json(&["--force-conflicts"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        setup.cluster.deployment("shop", "web").unwrap()["spec"]["replicas"],
        2
    );
}

#[test]
fn ignored_fields_keep_their_live_value_and_are_never_reset() {
    let setup = Release::quickstart();
    setup.change(|repos| repos.edit("apps/web/values-test.yaml", "replicas: 1", "replicas: 3"));
    setup.apply(&[]).succeeds();
    assert_eq!(
        setup.cluster.deployment("shop", "web").unwrap()["spec"]["replicas"],
        3
    );
    // From now on an autoscaler owns replicas: berth is told to leave them alone.
    setup.change(|repos| {
        let config = repos.work().join("berth.yaml");
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(
            &config,
            format!("{text}\nignore:\n  - kind: Deployment\n    paths: [.spec.replicas]\n"),
        )
        .unwrap();
        repos.edit("apps/web/values-test.yaml", "replicas: 3", "replicas: 5");
        repos.edit("apps/web/values.yaml", "memory: 256Mi", "memory: 300Mi");
    });
    let (code, report) = setup.apply_json(&[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(result_of(&report, "shop/Deployment.apps/web"), "updated");
    let web = setup.cluster.deployment("shop", "web").unwrap();
    assert_eq!(
        web["spec"]["replicas"], 3,
        "neither the manifest's 5 nor a server default"
    );
    assert_eq!(
        web["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"],
        "300Mi"
    );
    // The autoscaler moves it; berth does not fight it, and an unchanged re-apply stays quiet.
    let scaled = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"replicas": 6}});
    setup.cluster.seed(&scaled, "hpa");
    let (code, report) = setup.apply_json(&[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        setup.cluster.deployment("shop", "web").unwrap()["spec"]["replicas"],
        6
    );
}

#[test]
fn the_diff_previews_pruning_from_the_release_record() {
    let setup = Release::quickstart();
    setup.apply(&[]).succeeds();
    // The release no longer holds the CronJob; only the record in the cluster remembers it.
    setup.change(|repos| {
        std::fs::remove_file(repos.work().join("apps/api/cronjob.yaml.j2")).unwrap()
    });
    let (code, plan, run) = setup
        .cluster
        .diff_json(&setup.repos.work(), &["--tree", "releases/test"]);
    assert_eq!(code, 1, "{}", run.stderr);
    let deleted: Vec<&Value> = plan["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["action"] == "delete")
        .collect();
    assert_eq!(deleted.len(), 1, "{plan:#}");
    assert_eq!(deleted[0]["key"], "shop-jobs/CronJob.batch/api-cleanup");
}

#[test]
fn the_release_note_is_pushed_when_asked() {
    let setup = Release::quickstart();
    setup.apply(&["--push-notes"]).succeeds();
    let pushed = setup
        .repos
        .remote_ref("refs/notes/berth/test")
        .expect("the notes ref on origin");
    assert_eq!(
        pushed,
        setup.repos.git(&["rev-parse", "refs/notes/berth/test"])
    );
    // The next apply runs in a fresh clone without the notes: the history on origin stays.
    setup
        .repos
        .git(&["update-ref", "-d", "refs/notes/berth/test"]);
    setup.change(|repos| repos.edit("apps/web/values-test.yaml", "replicas: 1", "replicas: 2"));
    setup.apply(&["--push-notes"]).succeeds();
    let notes = git(
        &setup.repos.origin(),
        &["notes", "--ref", "berth/test", "list"],
    );
    assert_eq!(notes.lines().count(), 2, "{notes}");
}

#[test]
fn nothing_is_pruned_while_the_new_release_failed_to_apply() {
    let setup = Release::quickstart();
    setup.apply(&[]).succeeds();
    setup.change(|repos| {
        repos.edit("apps/web/values-test.yaml", "replicas: 1", "replicas: 2");
        std::fs::remove_file(repos.work().join("apps/api/cronjob.yaml.j2")).unwrap();
    });
    setup.cluster.server.inject(
        Fault::status(500)
            .on_path("/apis/apps/v1/namespaces/shop/deployments/web")
            .on_method("PATCH"),
    );
    let (code, report) = setup.apply_json(&["--prune"]);
    assert_eq!(code, 2, "{report:#}");
    assert_eq!(
        result_of(&report, "shop-jobs/CronJob.batch/api-cleanup"),
        "kept: not pruned, applying failed"
    );
    assert!(
        setup
            .cluster
            .server
            .object("batch", "cronjobs", "shop-jobs", "api-cleanup")
            .is_some()
    );
    setup.cluster.server.clear_faults();
    let (code, report) = setup.apply_json(&["--prune"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        result_of(&report, "shop-jobs/CronJob.batch/api-cleanup"),
        "pruned"
    );
}

#[test]
fn namespaces_and_crds_are_pruned_only_when_allowed() {
    let setup = Release::quickstart();
    setup.apply(&[]).succeeds();
    setup.change(|repos| {
        let namespaces = repos.work().join("platform/namespaces.yaml");
        let text = std::fs::read_to_string(&namespaces).unwrap();
        let kept = text.split("---\n").next().unwrap().to_string();
        std::fs::write(&namespaces, kept).unwrap();
        std::fs::remove_file(repos.work().join("apps/api/cronjob.yaml.j2")).unwrap();
    });
    let (code, report) = setup.apply_json(&["--prune"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(result_of(&report, "_cluster/Namespace/shop-jobs"), "kept");
    assert!(
        setup
            .cluster
            .server
            .object("", "namespaces", "", "shop-jobs")
            .is_some()
    );
    let (code, report) = setup.apply_json(&["--prune", "--allow-cascading-prune"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(result_of(&report, "_cluster/Namespace/shop-jobs"), "pruned");
}

#[test]
fn objects_gone_long_ago_do_not_water_the_prune_guard_down() {
    let setup = Release::quickstart();
    setup.apply(&[]).succeeds();
    // The record remembers many objects that no longer exist anywhere.
    let mut record = setup.record();
    let mut inventory = record["data"]["inventory"].as_str().unwrap().to_string();
    for n in 0..100 {
        inventory.push_str(&format!("shop/ConfigMap/ghost-{n} v1\n"));
    }
    record["data"]["inventory"] = json!(inventory);
    record["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("managedFields");
    setup.cluster.seed(&record, "berth");
    // A release that lost most of its objects must still be refused.
    setup.change(remove_most_of_the_release);
    setup
        .apply(&["--prune"])
        .fails_with(&["refusing to prune 11 of the 18 objects"]);
}

#[test]
fn a_custom_kind_taken_for_namespaced_is_refused_until_declared_cluster_scoped() {
    let setup = Release::quickstart();
    // A cluster-scoped kind whose CRD is installed outside the release.
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "globals.example.com"},
        "spec": {"group": "example.com", "scope": "Cluster",
            "names": {"kind": "Global", "plural": "globals", "singular": "global", "listKind": "GlobalList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}});
    setup.cluster.seed(&crd, "platform-team");
    std::thread::sleep(Duration::from_millis(200));
    setup.change(|repos| {
        std::fs::write(repos.work().join("backups/global.yaml"), "apiVersion: example.com/v1\nkind: Global\nmetadata:\n  name: settings\nspec:\n  tier: gold\n").unwrap();
    });
    // berth did not know the kind was cluster-scoped: its key carries a namespace, which the
    // reviewed tree showed. Discovery says otherwise: refused, nothing created.
    let render = setup.repos.berth(&["render", "-c", "test"]);
    render.succeeds();
    assert!(
        render
            .stderr
            .contains("channel test, app backups: the scope of Global.example.com is unknown")
            && render.stderr.contains("defaults.clusterScoped"),
        "{}",
        render.stderr
    );
    let diff = setup.cluster.diff(&setup.repos.work(), &[]);
    assert!(
        diff.stdout.contains(
            "Global.example.com is cluster-scoped on the cluster: add it to defaults.clusterScoped"
        ),
        "{}",
        diff.stdout
    );
    assert_eq!(diff.code, 2, "{}", diff.stderr);
    let (code, report) = setup.apply_json(&[]);
    assert_eq!(code, 2, "{report:#}");
    assert_eq!(
        result_of(&report, "shop/Global.example.com/settings"),
        "failed"
    );
    assert!(
        setup
            .cluster
            .server
            .object("example.com", "globals", "", "settings")
            .is_none()
    );
    setup.change(|repos| {
        let config = repos.work().join("berth.yaml");
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(
            &config,
            text.replacen(
                "defaults:\n",
                "defaults:\n  clusterScoped: [Global.example.com]\n",
                1,
            ),
        )
        .unwrap();
    });
    let (code, report) = setup.apply_json(&["--prune"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["summary"]["pruned"], 0, "{report:#}");
    assert_eq!(
        result_of(&report, "_cluster/Global.example.com/settings"),
        "created"
    );
    assert!(
        setup
            .cluster
            .server
            .object("example.com", "globals", "", "settings")
            .is_some(),
        "the object is still in the release"
    );
}

#[test]
fn an_object_of_the_last_release_that_lost_its_labels_is_never_created_over() {
    // web-config was applied, then its labels removed: the labelled LIST no longer returns
    // it. Its kind and namespace are listed unlabelled for two new ConfigMaps, a LIST started
    // before that was known; it was not asked about there, so it is read, not created.
    let setup = Release::quickstart();
    setup.apply(&[]).succeeds();
    setup.cluster.kubectl(&[
        "label",
        "configmap",
        "web-config",
        "-n",
        "shop",
        "berth.dev/channel-",
        "berth.dev/project-",
    ]);
    setup.change(|repos| {
        let extra = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra-a\ndata:\n  a: \"1\"\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra-b\ndata:\n  b: \"2\"\n";
        write_files(&repos.work(), &[("apps/web/extra.yaml", extra)]);
    });
    let (_, report) = setup.apply_json(&[]);
    assert_eq!(
        result_of(&report, "shop/ConfigMap/extra-a"),
        "created",
        "{report:#}"
    );
    assert_ne!(
        result_of(&report, "shop/ConfigMap/web-config"),
        "created",
        "{report:#}"
    );
}

#[test]
fn a_release_that_cannot_be_read_writes_nothing_and_gives_the_lock_back() {
    let setup = Release::quickstart();
    let (broken, commit) = setup
        .repos
        .break_rendered_tree("candidates/test/feature/x", "feature/x");
    setup.repos.git(&["branch", "-f", "releases/test", &commit]);
    let run = setup.apply(&[]);
    run.fails_with(&[&broken, "not one object"]);
    assert!(
        setup.cluster.deployment("shop", "web").is_none(),
        "nothing of the release is applied"
    );
    // The lock is taken while the files are parsed; a release that cannot be read gives it back.
    let lease = setup.cluster.server.object(
        "coordination.k8s.io",
        "leases",
        "berth-system",
        "berth-acme.shop.test",
    );
    assert!(
        lease.as_ref().is_none_or(|l| l["spec"]["holderIdentity"]
            .as_str()
            .is_none_or(str::is_empty)),
        "{lease:#?}"
    );
    setup.release();
    setup.apply(&["--lock-timeout", "1s"]).succeeds();
}

#[test]
fn a_lock_written_moments_ago_is_confirmed_without_a_request_but_one_taken_over_is_not() {
    use berth::apply::lock::{self, LockOptions};
    use berth::cluster::{Cluster, Target};
    use k8s_openapi::api::coordination::v1::Lease;
    let live = TestCluster::start();
    live.namespace("berth-system");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let cluster = Cluster::connect(&Target {
            kubeconfig: Some(&live.kubeconfig),
            context: Some("berth-test"),
            timeouts: Default::default(),
            concurrency: 16,
        })
        .await
        .unwrap_or_else(|p| panic!("{p}"));
        let options = LockOptions {
            namespace: "berth-system".into(),
            project: "acme.shop".into(),
            channel: "test".into(),
            wait: Duration::ZERO,
            lease: Duration::from_secs(3),
        };
        let silent = berth::release::outcome::Silent;
        let held = lock::acquire(&cluster.client, &options, "this-apply", &silent)
            .await
            .unwrap_or_else(|p| panic!("{p}"));
        live.server.reset_counters();
        held.confirm().await.unwrap_or_else(|p| panic!("{p}"));
        assert!(
            live.server.requests().is_empty(),
            "{:?}",
            live.server.requests()
        );
        // Taken by hand (no applier takes a lease renewed this recently): once a third of the
        // lease has passed, confirming asks the server, and fails.
        let leases: kube::Api<Lease> =
            kube::Api::namespaced(cluster.client.clone(), "berth-system");
        let mut lease = leases.get("berth-acme.shop.test").await.unwrap();
        lease.spec.as_mut().unwrap().holder_identity = Some("someone-else".into());
        leases
            .replace("berth-acme.shop.test", &Default::default(), &lease)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let lost = held
            .confirm()
            .await
            .expect_err("the lock is someone else's");
        assert!(lost.to_string().contains("no longer held"), "{lost}");
        held.release().await;
        let lease = leases.get("berth-acme.shop.test").await.unwrap();
        assert_eq!(
            lease.spec.unwrap().holder_identity.as_deref(),
            Some("someone-else"),
            "a lock taken over is not given back by its old holder"
        );
    });
}

#[test]
fn a_holder_that_keeps_renewing_is_never_taken_over_whatever_its_clock_says() {
    let setup = Release::quickstart();
    setup.cluster.namespace("berth-system");
    // The holder's clock is a year behind, but it renews every 300 ms: ten times per lease
    // duration, so a kubectl slowed down by a loaded machine still renews in time.
    let lease = |second: u32| {
        let time = format!("2025-01-01T00:00:{second:02}Z");
        lock_lease("slow-clock-runner", 3, "2025-01-01T00:00:00Z", &time)
    };
    setup.cluster.seed(&lease(0), "other-berth");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let renewer = {
        let stop = stop.clone();
        let kubeconfig = setup.cluster.kubeconfig.clone();
        std::thread::spawn(move || {
            let mut second = 1;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(300));
                // Panics unless kubectl (1.37) renews the lease.
                kubectl(
                    &kubeconfig,
                    &[
                        "apply",
                        "--server-side",
                        "--field-manager=other-berth",
                        "--validate=false",
                        "-f",
                        "-",
                    ],
                    &lease(second % 60).to_string(),
                );
                second += 1;
            }
        })
    };
    // Longer than two lease durations: judged by berth's clock the lease is a year old and
    // would be taken at once; judged by the renewals berth sees, it is held throughout.
    let run = setup.apply(&["--lock-timeout", "8s"]);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    renewer.join().unwrap();
    run.fails_with(&["channel test is being applied by slow-clock-runner"]);
    assert!(
        setup.cluster.deployment("shop", "web").is_none(),
        "nothing applied"
    );
}

#[test]
fn in_github_actions_the_job_summary_gets_the_outcome() {
    let setup = Release::quickstart();
    let summary = setup.repos.dir.path().join("summary.md");
    setup.cluster.server.inject(
        Fault::status(500)
            .on_path("/apis/apps/v1/namespaces/shop/deployments/api")
            .on_method("PATCH"),
    );
    let run = run(setup
        .apply_command(&[])
        .env("GITHUB_STEP_SUMMARY", &summary));
    assert_eq!(run.code, 2, "{}", run.stderr);
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(text.contains("### berth apply · `test`"), "{text}");
    assert!(
        text.contains("**failed** — 17 created, 0 updated, 0 unchanged, 0 pruned, 1 failed"),
        "{text}"
    );
    assert!(
        text.contains("- failed `shop/Deployment.apps/api`"),
        "{text}"
    );
}

/// `apply -o json` with `args`, run by `tester@testhost` outside GitHub Actions, so the record's
/// identity is known but for the process.
fn apply_json_as_tester(setup: &Release, args: &[&str]) -> (i32, Value) {
    let mut command = setup.apply_command(&[args, &["-o", "json"]].concat());
    command.env("USER", "tester").env("HOSTNAME", "testhost");
    for var in [
        "GITHUB_SERVER_URL",
        "GITHUB_REPOSITORY",
        "GITHUB_RUN_ID",
        "GITHUB_ACTOR",
        "GITHUB_STEP_SUMMARY",
    ] {
        command.env_remove(var);
    }
    let (code, report, _) = json_report(run(&mut command));
    (code, report)
}

/// A redaction of a full commit id (checked to be one).
fn commit_id() -> insta::internals::Redaction {
    insta::dynamic_redaction(|value, path| {
        let id = value.as_str().unwrap_or_default();
        assert!(
            id.len() == 40 && is_lower_hex(id),
            "{path}: {id:?} is not a commit id"
        );
        "[commit]"
    })
}

/// A redaction of a UTC timestamp (checked to be one, RFC 3339 with `Z`).
fn timestamp() -> insta::internals::Redaction {
    insta::dynamic_redaction(|value, path| {
        let time = value.as_str().unwrap_or_default();
        assert!(
            time.ends_with('Z') && time.parse::<k8s_openapi::jiff::Timestamp>().is_ok(),
            "{path}: {time:?} is not a UTC timestamp"
        );
        "[timestamp]"
    })
}

/// A redaction of the process in `tester@testhost (pid <pid>, <nonce>)` (checked to be so).
fn tester_identity() -> insta::internals::Redaction {
    insta::dynamic_redaction(|value, path| {
        let identity = value.as_str().unwrap_or_default();
        let process = identity
            .strip_prefix("tester@testhost (pid ")
            .and_then(|rest| rest.strip_suffix(')'))
            .and_then(|rest| rest.split_once(", "));
        assert!(
            process.is_some_and(|(pid, nonce)| {
                !pid.is_empty()
                    && pid.bytes().all(|b| b.is_ascii_digit())
                    && nonce.len() == 8
                    && is_lower_hex(nonce)
            }),
            "{path}: {identity:?} is not tester@testhost (pid <pid>, <nonce>)"
        );
        "tester@testhost (pid [pid], [nonce])"
    })
}

/// Snapshot `name` of the `data` of the release record `record`: its keys (in any order, as an
/// API server keeps them) and values, those that change from run to run checked and redacted.
#[track_caller]
fn assert_record_snapshot(name: &str, record: &Value) {
    insta::with_settings!({sort_maps => true}, {
        insta::assert_json_snapshot!(name, record["data"], {
            ".release" => commit_id(),
            ".sourceCommit" => commit_id(),
            ".appliedAt" => timestamp(),
            ".appliedBy" => tester_identity(),
        });
    });
}

/// Pins the JSON of `berth apply -o json` (first apply, dry runs of a change, a failed apply)
/// and of the release record's `data`: keys, their order and the format of every value.
#[test]
fn the_json_of_a_small_release_applied_and_recorded() {
    let setup = Release::new(GitRepos::with_files(&[
        ("berth.yaml", small::BERTH_YAML),
        ("web/namespace.yaml", small::NAMESPACE),
        ("web/config.yaml", small::CONFIG),
        ("web/deployment.yaml", &small::deployment("nginx:1.27", 2)),
    ]));
    let (code, report) = apply_json_as_tester(&setup, &[]);
    assert_eq!(code, 0, "{report:#}");
    insta::assert_json_snapshot!("small_first_apply", report, {".release" => commit_id()});
    let record = setup.record();
    assert_record_snapshot("small_first_apply_record", &record);

    // A change: a new image, the ConfigMap leaves the release, a Service joins it.
    setup.change(|repos| {
        repos.edit("web/deployment.yaml", "nginx:1.27", "nginx:1.28");
        std::fs::remove_file(repos.work().join("web/config.yaml")).unwrap();
        write_files(&repos.work(), &[("web/service.yaml", small::SERVICE)]);
    });
    for (args, name) in [
        (&["--dry-run"][..], "small_dry_run"),
        (&["--dry-run", "--prune"][..], "small_dry_run_prune"),
    ] {
        let (code, report) = apply_json_as_tester(&setup, args);
        assert_eq!(code, 0, "{report:#}");
        insta::assert_json_snapshot!(name, report, {".release" => commit_id()});
    }
    assert_eq!(setup.record(), record, "a dry run records nothing");

    // The change fails to apply: nothing is pruned, and the record says so.
    setup.cluster.server.inject(
        Fault::status(500)
            .on_path("/apis/apps/v1/namespaces/demo/deployments/web")
            .on_method("PATCH"),
    );
    let (code, report) = apply_json_as_tester(&setup, &["--prune"]);
    assert_eq!(code, 2, "{report:#}");
    insta::assert_json_snapshot!("small_failed_apply", report, {".release" => commit_id()});
    assert_record_snapshot("small_failed_apply_record", &setup.record());
}

/// Rendered objects of the test channel, by key (`<namespace>/<kind>/<name>` as kubectl lists).
fn rendered(setup: &Release, kind: &str, name: &str) -> Value {
    let run = setup.repos.berth(&["render", "-c", "test", "-o", "json"]);
    let list: Value = serde_json::from_str(&run.stdout).unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no rendered {kind} {name}"))
}

#[test]
fn objects_deployed_with_client_side_kubectl_apply_are_taken_over() {
    let setup = Release::quickstart();
    // Before berth, CI ran `kubectl apply` (client-side): it owns every field, and set a label
    // and a replica count this release does not have.
    let namespace = rendered(&setup, "Namespace", "shop");
    let mut web = rendered(&setup, "Deployment", "web");
    web["metadata"]["labels"]["tier"] = json!("front");
    web["spec"]["replicas"] = json!(5);
    let stream = format!("{namespace}\n---\n{web}\n");
    kubectl(&setup.cluster.kubeconfig, &["apply", "-f", "-"], &stream);
    let managers = |name: &str| -> Vec<String> {
        setup.cluster.deployment("shop", name).unwrap()["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                format!(
                    "{}/{}",
                    e["manager"].as_str().unwrap(),
                    e["operation"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(managers("web"), ["kubectl-client-side-apply/Update"]);

    // The diff says so, and does not stop at the old manager's fields.
    let diff = setup
        .cluster
        .diff(&setup.repos.work(), &["--tree", "releases/test"]);
    assert_eq!(diff.code, 1, "{}\n{}", diff.stdout, diff.stderr);
    assert!(
        diff.stdout
            .contains("shop/Deployment.apps/web: adopted from kubectl apply"),
        "{}",
        diff.stdout
    );

    // The first apply takes it over without --force-conflicts.
    let (code, report) = setup.apply_json(&[]);
    assert_eq!(code, 0, "{report:#}");
    let outcome = report_object(&report, "shop/Deployment.apps/web");
    assert_eq!(outcome["result"], "updated", "{outcome:#}");
    assert!(
        outcome["detail"]
            .as_str()
            .unwrap()
            .starts_with("adopted from kubectl apply")
    );
    let live = setup.cluster.deployment("shop", "web").unwrap();
    assert_eq!(managers("web"), ["berth/Apply"], "{live:#}");
    // The label only the old manager set is gone; the release's replica count holds.
    assert!(live["metadata"]["labels"].get("tier").is_none(), "{live:#}");
    let release = rendered(&setup, "Deployment", "web");
    assert_eq!(live["spec"]["replicas"], release["spec"]["replicas"]);
}

#[test]
fn a_client_side_object_another_manager_also_writes_still_conflicts() {
    let setup = Release::quickstart();
    let namespace = rendered(&setup, "Namespace", "shop");
    let mut web = rendered(&setup, "Deployment", "web");
    web["spec"]["replicas"] = json!(5);
    kubectl(
        &setup.cluster.kubeconfig,
        &["apply", "-f", "-"],
        &format!("{namespace}\n---\n{web}\n"),
    );
    // An autoscaler owns the replica count too: that is not berth's to take.
    let scaled = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"replicas": 7}});
    setup.cluster.seed(&scaled, "autoscaler");
    let (code, report) = setup.apply_json(&[]);
    assert_eq!(code, 2, "{report:#}");
    let outcome = report_object(&report, "shop/Deployment.apps/web");
    assert_eq!(outcome["result"], "failed", "{outcome:#}");
    assert!(
        outcome["detail"].as_str().unwrap().contains("conflict"),
        "{outcome:#}"
    );
    assert_eq!(
        setup.cluster.deployment("shop", "web").unwrap()["spec"]["replicas"],
        7
    );
}

/// `repos` on `feature/x`, rendered and made the test channel's release (as [`Release`] does,
/// for a second repository applying to the same cluster).
fn release_beside(repos: &GitRepos) {
    repos.git(&["checkout", "-q", "-b", "feature/x"]);
    repos.berth(&["candidate", "-c", "test"]).succeeds();
    repos.git(&["branch", "-f", "releases/test", "candidates/test/feature/x"]);
}

#[test]
fn two_repositories_with_a_channel_of_one_name_never_touch_each_others_objects() {
    // acme/shop (quickstart) is applied; acme/other, with its own channel `test`, shares the
    // cluster and berth's namespace.
    let shop = Release::quickstart();
    shop.apply(&["--prune"]).succeeds();
    let other = GitRepos::at(
        "acme/other.git",
        &[
            ("berth.yaml", small::BERTH_YAML),
            ("web/namespace.yaml", small::NAMESPACE),
            ("web/config.yaml", small::CONFIG),
        ],
    );
    release_beside(&other);
    let cluster = &shop.cluster;

    // Its diff plans its own objects only: nothing of acme/shop is to be deleted.
    let (code, plan, run) = cluster.diff_json(&other.work(), &["--render"]);
    assert_eq!(code, 1, "{}", run.stderr);
    assert_eq!(plan["counts"]["delete"], 0, "{plan:#}");
    assert!(!run.stdout.contains("shop/"), "{plan:#}");
    let shop_record = shop.record();

    // Its apply, pruning, leaves acme/shop's objects and record alone.
    let (code, report, run) =
        cluster.berth_json(&other.work(), &["apply", "-c", "test"], &["--prune"]);
    assert_eq!(code, 0, "{report:#}\n{}", run.stderr);
    assert_eq!(report["summary"]["created"], 2, "{report:#}");
    assert!(cluster.deployment("shop", "web").is_some());
    assert_eq!(shop.record(), shop_record);
    let record = cluster.project_record("acme.other", "test").unwrap();
    assert_eq!(
        record["data"]["inventory"],
        "_cluster/Namespace/demo v1\ndemo/ConfigMap/web-config v1\n"
    );
    assert_eq!(
        label(
            &cluster
                .server
                .object("", "configmaps", "demo", "web-config")
                .unwrap()
        ),
        "acme.other"
    );
    // And acme/shop's next apply (pruning) sees none of acme/other's.
    let (code, report) = shop.apply_json(&["--prune"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["result"], "no changes", "{report:#}");

    // An object both render is a conflict naming both projects: shown, and never applied.
    write_files(
        &other.work(),
        &[(
            "web/theirs.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\n  namespace: shop\ndata:\n  taken: over\n",
        )],
    );
    other.commit_all("take shop's config");
    other.berth(&["candidate", "-c", "test"]).succeeds();
    other.git(&["branch", "-f", "releases/test", "candidates/test/feature/x"]);
    let (code, plan, _) = cluster.diff_json(&other.work(), &["--render"]);
    assert_eq!(code, 2);
    let error = report_object(&plan, "shop/ConfigMap/web-config")["error"]
        .as_str()
        .unwrap();
    assert!(
        error.contains("acme.shop") && error.contains("acme.other"),
        "{error}"
    );
    let (code, report, _) =
        cluster.berth_json(&other.work(), &["apply", "-c", "test"], &["--prune"]);
    assert_eq!(code, 2, "{report:#}");
    assert_eq!(
        report_object(&report, "shop/ConfigMap/web-config")["result"],
        "failed"
    );
    let config = cluster
        .server
        .object("", "configmaps", "shop", "web-config")
        .unwrap();
    assert_eq!(label(&config), "acme.shop");
    assert!(config["data"].get("taken").is_none(), "{config:#}");
}

fn label(object: &Value) -> &str {
    object["metadata"]["labels"]["berth.dev/project"]
        .as_str()
        .unwrap_or_default()
}

#[test]
fn records_and_objects_written_before_projects_are_read_and_migrated() {
    // A record of the test channel as berth wrote it before projects, and its objects without
    // a project label.
    let setup = Release::new(GitRepos::with_files(&[
        ("berth.yaml", small::BERTH_YAML),
        ("web/namespace.yaml", small::NAMESPACE),
        ("web/config.yaml", small::CONFIG),
    ]));
    let cluster = &setup.cluster;
    let legacy = |name: &str| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "demo",
                "labels": {"app.kubernetes.io/managed-by": "berth", "berth.dev/channel": "test"}},
            "data": {"a": "b"}})
    };
    cluster.namespace("demo");
    cluster.namespace("berth-system");
    cluster.seed(&legacy("web-old"), "berth");
    // One of its objects was since taken by another project.
    let mut theirs = legacy("theirs");
    theirs["metadata"]["labels"]["berth.dev/project"] = json!("acme.other");
    cluster.seed(&theirs, "berth");
    cluster.seed(
        &json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "berth-release-test", "namespace": "berth-system"},
            "data": {"channel": "test", "release": "0000", "result": "succeeded",
                "inventory": "_cluster/Namespace/demo v1\ndemo/ConfigMap/web-config v1\ndemo/ConfigMap/web-old v1\ndemo/ConfigMap/theirs v1\n"}}),
        "berth",
    );

    let (code, report) = setup.apply_json(&["--prune"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(result_of(&report, "demo/ConfigMap/web-old"), "pruned");
    assert_eq!(result_of(&report, "demo/ConfigMap/theirs"), "kept");
    assert!(
        cluster
            .server
            .object("", "configmaps", "demo", "theirs")
            .is_some()
    );
    // The project's own record now, holding its own objects only; the old one stays.
    let record = setup.record();
    assert_eq!(record["data"]["project"], "acme.shop");
    assert_eq!(
        record["data"]["inventory"],
        "_cluster/Namespace/demo v1\ndemo/ConfigMap/web-config v1\n"
    );
    assert!(
        cluster
            .server
            .object("", "configmaps", "berth-system", "berth-release-test")
            .is_some()
    );
    let config = cluster
        .server
        .object("", "configmaps", "demo", "web-config")
        .unwrap();
    assert_eq!(label(&config), "acme.shop");
}

/// A first apply into a namespace the release creates: one write per object, and no GET of
/// any object in it (nothing can live in a namespace that did not exist).
#[test]
fn a_first_apply_into_a_new_namespace_reads_no_object_of_it() {
    let setup = Release::new(GitRepos::with_files(&[
        ("berth.yaml", small::BERTH_YAML),
        ("web/namespace.yaml", small::NAMESPACE),
        ("web/config.yaml", small::CONFIG),
        ("web/deployment.yaml", &small::deployment("nginx:1.27", 2)),
    ]));
    setup.cluster.server.reset_counters();
    let (code, report) = setup.apply_json(&[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["summary"]["created"], 3, "{report:#}");
    let requests = setup.cluster.server.requests();
    assert_eq!(report["requests"], requests.len());
    let in_demo: Vec<_> = requests
        .iter()
        .filter(|r| r.path.contains("/namespaces/demo/"))
        .map(|r| r.method.as_str())
        .collect();
    assert_eq!(in_demo, ["PATCH", "PATCH"], "{requests:?}");
}

/// Three ConfigMaps and two Services of app `web` in namespace `demo`, which the release does
/// not create.
fn release_in_existing_namespace() -> Release {
    let configs: String = ["web-config", "web-flags", "web-routes"]
        .iter()
        .map(|name| format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  greeting: hello\n"))
        .collect();
    let services = format!(
        "{}---\n{}",
        small::SERVICE,
        small::SERVICE.replace("name: web\n", "name: web-admin\n")
    );
    let setup = Release::new(GitRepos::with_files(&[
        ("berth.yaml", small::BERTH_YAML),
        ("web/config.yaml", &configs),
        ("web/service.yaml", &services),
    ]));
    setup.cluster.namespace("demo");
    setup
}

/// A first apply into a namespace that exists: one unlabelled LIST per kind in it tells that
/// nothing of those names exists, so each object is written once and none is read first; and
/// with no CRD applied, discovery runs once.
#[test]
fn a_first_apply_into_an_existing_namespace_reads_no_object_before_writing_it() {
    let setup = release_in_existing_namespace();
    // Another tool's object of another name in the namespace: listed, and left alone.
    setup.cluster.seed(
        &json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "dashboard", "namespace": "demo"}, "data": {"a": "b"}}),
        "other-tool",
    );
    setup.cluster.server.reset_counters();
    let (code, report) = setup.apply_json(&[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["summary"]["created"], 5, "{report:#}");
    let requests = setup.cluster.server.requests();
    assert_eq!(report["requests"], requests.len());
    let in_demo: Vec<String> = requests
        .iter()
        .filter(|r| r.path.contains("/namespaces/demo/"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let lists = in_demo.iter().filter(|r| r.starts_with("GET ")).count();
    let writes = in_demo.iter().filter(|r| r.starts_with("PATCH ")).count();
    assert_eq!((lists, writes, in_demo.len()), (2, 5, 7), "{in_demo:#?}");
    assert!(in_demo.contains(&"GET /api/v1/namespaces/demo/configmaps".to_string()));
    assert!(in_demo.contains(&"GET /api/v1/namespaces/demo/services".to_string()));
    let discovery = requests
        .iter()
        .filter(|r| r.path == "/api/v1" || r.path == "/apis")
        .count();
    assert_eq!(discovery, 2, "{requests:#?}");
    let dashboard = setup
        .cluster
        .server
        .object("", "configmaps", "demo", "dashboard")
        .unwrap();
    assert_eq!(label(&dashboard), "");
    assert_eq!(dashboard["data"], json!({"a": "b"}));
}

/// Among objects listed together, one of the same name another tool wrote is not taken over
/// (its field conflicts), and another project's is refused, as when each was read with a GET.
#[test]
fn listed_objects_of_another_tool_or_project_are_never_taken_over() {
    let setup = release_in_existing_namespace();
    let config = |name: &str, greeting: &str| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "demo"}, "data": {"greeting": greeting}})
    };
    setup
        .cluster
        .seed(&config("web-config", "from another tool"), "other-tool");
    let mut theirs = config("web-flags", "acme.other's");
    theirs["metadata"]["labels"] =
        json!({"berth.dev/project": "acme.other", "berth.dev/channel": "test"});
    setup.cluster.seed(&theirs, "berth");
    setup.cluster.server.reset_counters();

    let (code, report) = setup.apply_json(&[]);
    assert_eq!(code, 2, "{report:#}");
    let detail = |key: &str| {
        let outcome = report_object(&report, key);
        assert_eq!(outcome["result"], "failed", "{outcome:#}");
        outcome["detail"].as_str().unwrap().to_string()
    };
    assert!(
        detail("demo/ConfigMap/web-config").contains("conflict"),
        "{report:#}"
    );
    let refused = detail("demo/ConfigMap/web-flags");
    assert!(
        refused.contains("acme.other") && refused.contains("acme.shop"),
        "{refused}"
    );
    assert_eq!(result_of(&report, "demo/ConfigMap/web-routes"), "created");
    let live = |name: &str| {
        setup
            .cluster
            .server
            .object("", "configmaps", "demo", name)
            .unwrap()
    };
    assert_eq!(live("web-config")["data"]["greeting"], "from another tool");
    assert_eq!(label(&live("web-config")), "");
    assert_eq!(live("web-flags")["data"]["greeting"], "acme.other's");
    assert_eq!(label(&live("web-flags")), "acme.other");
    // Both were known from the LIST: no GET of either.
    let requests = setup.cluster.server.requests();
    assert!(
        !requests.iter().any(
            |r| r.method == "GET" && r.path.starts_with("/api/v1/namespaces/demo/configmaps/")
        ),
        "{requests:#?}"
    );
}

/// When the unlabelled LIST is refused, apply says so once and reads its objects one by one.
#[test]
fn a_refused_unlabelled_list_warns_and_falls_back_to_a_get_each() {
    let setup = release_in_existing_namespace();
    setup.cluster.server.inject(
        Fault::status(403)
            .on_method("GET")
            .on_path("/api/v1/namespaces/demo/configmaps"),
    );
    setup.cluster.server.reset_counters();
    let (code, report, run) =
        setup
            .cluster
            .berth_json(&setup.repos.work(), &["apply", "-c", "test"], &[]);
    assert_eq!(code, 0, "{report:#}\n{}", run.stderr);
    assert_eq!(report["summary"]["created"], 5, "{report:#}");
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("cannot list ConfigMap"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", run.stderr);
    assert!(
        warnings[0].contains("in namespace demo") && warnings[0].contains("with a GET each"),
        "{}",
        warnings[0]
    );
    let gets: Vec<String> = setup
        .cluster
        .server
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.starts_with("/api/v1/namespaces/demo/configmaps/"))
        .map(|r| r.path)
        .collect();
    assert_eq!(gets.len(), 3, "{gets:#?}");
}
