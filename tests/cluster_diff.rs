//! `berth diff` against the test API server: exit codes, actions, notes, errors and masking of a
//! server-side dry-run diff.

use crate::support::small::{self, BERTH_YAML, CONFIG, deployment};
use crate::support::*;
use berth_testserver::Fault;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The changed lines of the diffs in a text report (`+`/`-`, without the file headers).
fn changed_lines(report: &str) -> Vec<&str> {
    report
        .lines()
        .filter(|l| (l.starts_with('+') || l.starts_with('-')) && !l.starts_with("+++"))
        .filter(|l| !l.starts_with("---"))
        .collect()
}

/// The line of a text report with the error of the object `key`.
#[track_caller]
fn error_line<'a>(run: &'a Run, key: &str) -> &'a str {
    let start = format!("error: {key}:");
    run.stdout
        .lines()
        .find(|l| l.starts_with(&start))
        .unwrap_or_else(|| panic!("no error line:\n{}", run.stdout))
}

#[track_caller]
fn assert_mentions(error: &str, needles: &[&str]) {
    for needle in needles {
        assert!(error.contains(needle), "{needle:?} missing: {error}");
    }
}

#[test]
fn unchanged_quickstart_exits_0() {
    let live = TestCluster::start();
    let repo = example_copy("quickstart");
    live.seed_rendered(repo.path(), &[]);
    let run = live.diff(repo.path(), &["--render"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("total: 0 to create, 0 to update, 0 to delete, 18 unchanged"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("could not be checked"));
}

#[test]
fn an_image_and_replicas_change_shows_only_those_lines() {
    let (live, repo) = small::live();
    std::fs::write(
        repo.path().join("web/deployment.yaml"),
        deployment("nginx:1.28", 3),
    )
    .unwrap();
    let run = live.diff(repo.path(), &["--render"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        changed_lines(&run.stdout),
        [
            "-  replicas: 2",
            "+  replicas: 3",
            "-        image: nginx:1.27",
            "+        image: nginx:1.28",
        ],
        "{}",
        run.stdout
    );
    for defaulted in [
        "progressDeadlineSeconds",
        "revisionHistoryLimit",
        "terminationMessagePath",
        "imagePullPolicy",
        "resourceVersion",
        "managedFields",
        "status",
    ] {
        assert!(
            !changed_lines(&run.stdout)
                .iter()
                .any(|l| l.contains(defaulted)),
            "{defaulted} shows as changed:\n{}",
            run.stdout
        );
    }
    assert!(
        run.stdout
            .contains("total: 0 to create, 1 to update, 0 to delete, 2 unchanged"),
        "{}",
        run.stdout
    );
}

#[test]
fn an_object_absent_from_the_cluster_is_a_create() {
    let live = TestCluster::start();
    let repo = small::repo();
    live.namespace("demo");
    live.seed_rendered(repo.path(), &["web-config"]);
    let (code, plan, run) = live.diff_json(repo.path(), &["--render"]);
    assert_eq!(code, 1, "{}", run.stderr);
    let config = report_object(&plan, "demo/ConfigMap/web-config");
    assert_eq!(config["action"], "create");
    assert!(
        config.get("note").is_none(),
        "validated by the server: {config}"
    );
    let diff = config["diff"].as_str().unwrap();
    assert!(
        diff.starts_with("--- /dev/null\n+++ b/demo/ConfigMap/web-config.yaml\n"),
        "{diff}"
    );
    assert!(diff.contains("+  greeting: hello"), "{diff}");
    assert_eq!(plan["counts"]["create"], 1);
    assert_eq!(plan["counts"]["unchanged"], 2);
}

#[test]
fn objects_that_left_the_release_are_pruned_only_when_berth_owns_them() {
    let live = TestCluster::start();
    let repo = small::repo();
    write_files(
        repo.path(),
        &[(
            "web/old.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-old\ndata:\n  a: b\n",
        )],
    );
    git_init(repo.path());
    // The release holds web-old; it is live, labelled for the test channel.
    let released = rendered_tree(repo.path());
    commit_tree(repo.path(), "releases/test", &released.path().join("test"));
    live.namespace("demo");
    live.seed_rendered(repo.path(), &[]);
    std::fs::remove_file(repo.path().join("web/old.yaml")).unwrap();

    let (code, plan, run) = live.diff_json(repo.path(), &["--render"]);
    assert_eq!(code, 1, "{}", run.stderr);
    let old = report_object(&plan, "demo/ConfigMap/web-old");
    assert_eq!(old["action"], "delete");
    assert_eq!(old["app"], "web");
    assert!(old["diff"].as_str().unwrap().contains("-  a: b"), "{old}");
    assert_eq!(plan["counts"]["delete"], 1);

    // Without berth's channel label it is not berth's to delete: not listed at all.
    let mut unlabelled = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "web-old", "namespace": "demo"}, "data": {"a": "b"}});
    live.seed(&unlabelled, "berth");
    unlabelled["metadata"]["labels"] = json!({"berth.dev/channel": "prod"});
    let (code, plan, run) = live.diff_json(repo.path(), &["--render"]);
    assert_eq!(code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        !run.stdout.contains("web-old"),
        "an object berth does not own is listed: {plan:#}"
    );
    // Labelled for another channel: not this channel's to delete either.
    live.seed(&unlabelled, "berth");
    let (code, _, run) = live.diff_json(repo.path(), &["--render"]);
    assert_eq!(code, 0, "{}", run.stdout);
    assert!(!run.stdout.contains("web-old"));
}

#[test]
fn objects_in_a_namespace_the_change_creates_are_unvalidated_creates() {
    let live = TestCluster::start();
    let repo = repo(&[
        ("berth.yaml", BERTH_YAML),
        (
            "web/ns.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n",
        ),
        ("web/config.yaml", CONFIG),
    ]);
    let (code, plan, run) = live.diff_json(repo.path(), &["--render"]);
    assert_eq!(code, 1, "{}", run.stderr);
    let ns = report_object(&plan, "_cluster/Namespace/demo");
    assert_eq!(ns["action"], "create");
    let config = report_object(&plan, "demo/ConfigMap/web-config");
    assert_eq!(config["action"], "create");
    assert!(
        config["note"]
            .as_str()
            .unwrap()
            .contains("not validated by the server"),
        "{config}"
    );
    assert!(config["note"].as_str().unwrap().contains("`demo`"));
    assert!(
        config["diff"]
            .as_str()
            .unwrap()
            .contains("+  greeting: hello")
    );
    assert_eq!(plan["counts"]["error"], 0);

    // A namespace that neither exists nor is created: an error, exit 2.
    std::fs::remove_file(repo.path().join("web/ns.yaml")).unwrap();
    let run = live.diff(repo.path(), &["--render"]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("error: demo/ConfigMap/web-config: namespace `demo` does not exist"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout
            .contains("0 to create, 0 to update, 0 to delete, 0 unchanged\n")
    );
}

#[test]
fn in_github_actions_refused_objects_are_error_annotations() {
    let live = TestCluster::start();
    // The namespace neither exists nor is created: the server refuses the ConfigMap.
    let repo = repo(&[("berth.yaml", BERTH_YAML), ("web/config.yaml", CONFIG)]);
    let annotation = "::error file=demo/ConfigMap/web-config.yaml,title=berth diff test::demo/ConfigMap/web-config: namespace `demo` does not exist";
    let run = crate::support::run(
        live.berth_command(repo.path(), &["diff", "-c", "test"], &["--render"])
            .env("GITHUB_ACTIONS", "true"),
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stdout.contains(annotation), "{}", run.stdout);
    // Outside GitHub Actions, and into JSON on stdout, no workflow commands.
    let run = live.diff(repo.path(), &["--render"]);
    assert!(!run.stdout.contains("::error"), "{}", run.stdout);
    let (_, _, run) = live.diff_json(repo.path(), &["--render"]);
    assert!(!run.stdout.contains("::error"));
}

#[test]
fn custom_resources_of_a_crd_the_change_creates_are_unvalidated_creates() {
    // The whole quickstart against an empty cluster: namespaces and the Backup CRD are created
    // by the same change as the objects that need them.
    let live = TestCluster::start();
    let repo = example_copy("quickstart");
    let (code, plan, run) = live.diff_json(repo.path(), &["--render"]);
    assert_eq!(code, 1, "{}", run.stderr);
    assert_eq!(plan["counts"]["error"], 0, "{plan:#}");
    assert_eq!(plan["counts"]["create"], 18);
    let backup = report_object(&plan, "shop/Backup.ops.example.com/api-nightly");
    assert_eq!(backup["action"], "create");
    assert!(
        backup["note"].as_str().unwrap().contains(
            "not validated by the server: its CustomResourceDefinition is created by this same change"
        ),
        "{backup}"
    );
    let crd = report_object(
        &plan,
        "_cluster/CustomResourceDefinition.apiextensions.k8s.io/backups.ops.example.com",
    );
    assert!(
        crd.get("note").is_none(),
        "the CRD itself is validated: {crd}"
    );

    // A kind the cluster does not serve and the change does not define: an error.
    let repo = small::repo();
    write_files(
        repo.path(),
        &[(
            "web/widget.yaml",
            "apiVersion: widgets.example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  size: 1\n",
        )],
    );
    live.namespace("demo");
    let run = live.diff(repo.path(), &["--render"]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(
            "error: demo/Widget.widgets.example.com/w: the cluster does not serve widgets.example.com/v1 Widget"
        ),
        "{}",
        run.stdout
    );
}

const OLD_PASSWORD: &str = "old-Pa55word!";
const NEW_PASSWORD: &str = "new-Pa55word?";
const SAME_TOKEN: &str = "same-t0ken-value";

fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[test]
fn secret_values_are_masked_in_every_output() {
    let live = TestCluster::start();
    let repo = small::repo();
    git_init(repo.path());
    live.namespace("demo");
    live.seed(
        &json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "creds", "namespace": "demo", "labels": {"berth.dev/channel": "test"}},
            "type": "Opaque",
            "data": {"password": b64(OLD_PASSWORD), "token": b64(SAME_TOKEN)}}),
        "berth",
    );
    // berth render refuses inline Secret data: the target tree is committed directly.
    let tree = tempfile::tempdir().unwrap();
    write_files(
        tree.path(),
        &[
            (
                ".berth/release.yaml",
                "channel: test\napps:\n  web:\n    driver: manifests\n    objects:\n      - demo/Secret/creds\n",
            ),
            (
                "demo/Secret/creds.yaml",
                &format!(
                    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: demo\n  labels:\n    berth.dev/channel: test\ntype: Opaque\ndata:\n  password: {}\n  token: {}\n",
                    b64(NEW_PASSWORD),
                    b64(SAME_TOKEN)
                ),
            ),
        ],
    );
    commit_tree(repo.path(), "secret-tree", tree.path());
    let secrets = [OLD_PASSWORD, NEW_PASSWORD, SAME_TOKEN]
        .into_iter()
        .flat_map(|s| [s.to_string(), b64(s)])
        .collect::<Vec<_>>();
    for format in ["text", "markdown", "json"] {
        let run = live.diff(repo.path(), &["--tree", "secret-tree", "-o", format]);
        assert_eq!(run.code, 1, "{format}: {}\n{}", run.stdout, run.stderr);
        assert!(
            run.stdout.contains("*** (before)"),
            "{format}: {}",
            run.stdout
        );
        assert!(
            run.stdout.contains("*** (after)"),
            "{format}: {}",
            run.stdout
        );
        for secret in &secrets {
            assert!(
                !run.stdout.contains(secret.as_str()) && !run.stderr.contains(secret.as_str()),
                "{format} leaks {secret:?}:\n{}\n{}",
                run.stdout,
                run.stderr
            );
        }
    }
    // The unchanged value is masked plainly; the text shows which key changed.
    let run = live.diff(repo.path(), &["--tree", "secret-tree"]);
    assert_eq!(
        changed_lines(&run.stdout),
        [
            "-  password: \"*** (before)\"",
            "+  password: \"*** (after)\""
        ],
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("   token: \"***\""), "{}", run.stdout);
}

#[test]
fn a_field_another_manager_owns_is_a_conflict() {
    let (live, repo) = small::live();
    // `kubectl edit`-style: another manager takes over .spec.replicas.
    live.seed(
        &json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "demo"}, "spec": {"replicas": 5}}),
        "kubectl-edit",
    );
    let run = live.diff(repo.path(), &["--render"]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    let error = error_line(&run, "demo/Deployment.apps/web");
    assert_mentions(
        error,
        &[
            "conflict",
            ".spec.replicas",
            "kubectl-edit",
            "--force-conflicts",
        ],
    );
    assert!(
        run.stdout.contains("1 could not be checked"),
        "{}",
        run.stdout
    );
}

#[test]
fn an_invalid_object_reports_the_causes_and_its_file() {
    let live = TestCluster::start();
    let repo = small::repo();
    git_init(repo.path());
    live.namespace("demo");
    // The template's labels no longer match the selector; render does not check that, the
    // API server does.
    let broken = deployment("nginx:1.27", 2).replace(
        "        app: web\n    spec:",
        "        app: not-web\n    spec:",
    );
    std::fs::write(repo.path().join("web/deployment.yaml"), broken).unwrap();
    let rendered = rendered_tree(repo.path());
    let tree = rendered.path().join("test");
    commit_tree(repo.path(), "broken", &tree);
    let run = live.diff(repo.path(), &["--tree", "broken"]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    let error = error_line(&run, "demo/Deployment.apps/web");
    assert_mentions(
        error,
        &[
            "invalid",
            "demo/Deployment.apps/web.yaml",
            "spec.template.metadata.labels",
            "`selector` does not match template `labels`",
        ],
    );
}

#[test]
fn a_forbidden_object_is_an_error_naming_it() {
    let (live, repo) = small::live();
    live.server
        .inject(Fault::status(403).on_path("/api/v1/namespaces/demo/configmaps/web-config"));
    // Per object: the incremental diff does not read an unchanged object on its own.
    let run = live.diff(repo.path(), &["--render", "--exact"]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    let error = error_line(&run, "demo/ConfigMap/web-config");
    assert!(error.contains("forbidden"), "{error}");
    assert!(
        run.stdout.contains("2 unchanged, 1 could not be checked"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_server_error_on_one_object_leaves_the_others_reported() {
    let (live, repo) = small::live();
    replace_in(
        repo.path(),
        "web/deployment.yaml",
        "nginx:1.27",
        "nginx:1.28",
    );
    live.server.inject(
        Fault::status(500)
            .on_method("PATCH")
            .on_path("/api/v1/namespaces/demo/configmaps/web-config"),
    );
    let (code, plan, run) = live.diff_json(repo.path(), &["--render", "--exact"]);
    assert_eq!(code, 2, "{}", run.stderr);
    let config = report_object(&plan, "demo/ConfigMap/web-config");
    assert_eq!(config["action"], "error");
    assert!(
        config["error"].as_str().unwrap().contains("500"),
        "{config}"
    );
    let web = report_object(&plan, "demo/Deployment.apps/web");
    assert_eq!(web["action"], "update");
    assert!(
        web["diff"]
            .as_str()
            .unwrap()
            .contains("+        image: nginx:1.28")
    );
    assert_eq!(
        report_object(&plan, "demo/Service/web")["action"],
        "unchanged"
    );
    // The text report shows both the change and the error.
    let run = live.diff(repo.path(), &["--render", "--exact"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stdout.contains("+        image: nginx:1.28"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("error: demo/ConfigMap/web-config:"),
        "{}",
        run.stdout
    );
}

#[test]
fn ignored_fields_are_not_shown() {
    let (live, repo) = small::live();
    std::fs::write(
        repo.path().join("berth.yaml"),
        format!("{BERTH_YAML}ignore:\n  - kind: Deployment\n    name: web\n    paths: [.spec.replicas]\n"),
    )
    .unwrap();
    replace_in(
        repo.path(),
        "web/deployment.yaml",
        "replicas: 2",
        "replicas: 7",
    );
    let run = live.diff(repo.path(), &["--render"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains("replicas"), "{}", run.stdout);
    assert!(run.stdout.contains("0 to update"), "{}", run.stdout);

    // Other changes to the same object still show.
    replace_in(
        repo.path(),
        "web/deployment.yaml",
        "nginx:1.27",
        "nginx:1.28",
    );
    let run = live.diff(repo.path(), &["--render"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        changed_lines(&run.stdout),
        ["-        image: nginx:1.27", "+        image: nginx:1.28"],
        "{}",
        run.stdout
    );
}

/// A kubeconfig in `dir` for a port nothing listens on, and that port.
fn closed_kubeconfig(dir: &std::path::Path) -> (std::path::PathBuf, u16) {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: closed\n  cluster:\n    server: http://127.0.0.1:{port}\ncontexts:\n- name: berth-test\n  context:\n    cluster: closed\n    user: u\ncurrent-context: berth-test\nusers:\n- name: u\n  user: {{}}\n"
        ),
    )
    .unwrap();
    (kubeconfig, port)
}

#[test]
fn an_unreadable_tree_is_named_even_when_the_cluster_is_unreachable() {
    // The tree is parsed while berth connects: its own fault still comes first.
    let repos = GitRepos::with_files(&[
        ("berth.yaml", BERTH_YAML),
        ("web/config.yaml", CONFIG),
        ("web/deployment.yaml", &deployment("nginx:1.27", 2)),
    ]);
    repos.git(&["checkout", "-q", "-b", "feature/x"]);
    repos.berth(&["candidate", "-c", "test"]).succeeds();
    let (broken, tree) = repos.break_rendered_tree("candidates/test/feature/x", "feature/x");
    let dir = tempfile::tempdir().unwrap();
    let (kubeconfig, _) = closed_kubeconfig(dir.path());
    let run = run(&mut berth_against(
        &kubeconfig,
        &repos.work(),
        &["diff", "-c", "test"],
        &["--tree", &tree],
    ));
    run.fails_with(&[&broken, "not one object"]);
    assert!(!run.stderr.contains("cannot reach"), "{}", run.stderr);
}

#[test]
fn an_unreachable_cluster_fails_fast_and_never_says_no_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (kubeconfig, port) = closed_kubeconfig(dir.path());
    let repo = small::repo();
    let started = Instant::now();
    let run = run(&mut berth_against(
        &kubeconfig,
        repo.path(),
        &["diff", "-c", "test"],
        &["--render"],
    ));
    let took = started.elapsed();
    run.fails_with(&["cannot reach", &format!("127.0.0.1:{port}")]);
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(!run.stdout.contains("0 to create"), "{}", run.stdout);
    assert!(
        !run.stdout.to_lowercase().contains("no changes"),
        "{}",
        run.stdout
    );
}

#[test]
fn dry_runs_are_parallel_bounded_and_never_write() {
    let live = TestCluster::start();
    let mut files = vec![("berth.yaml".to_string(), BERTH_YAML.to_string())];
    for i in 0..24 {
        files.push((
            format!("web/cm-{i}.yaml"),
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  n: \"{i}\"\n"
            ),
        ));
    }
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let repo = repo(&files);
    live.namespace("demo");
    live.seed_rendered(repo.path(), &["cm-0", "cm-1"]);
    replace_in(repo.path(), "web/cm-5.yaml", "n: \"5\"", "n: five");
    live.server.set_latency(Duration::from_millis(40));
    for concurrency in [4, 1] {
        live.server.reset_counters();
        let run = live.diff(
            repo.path(),
            &[
                "--render",
                "--exact",
                "--concurrency",
                &concurrency.to_string(),
            ],
        );
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(
            run.stdout
                .contains("total: 2 to create, 1 to update, 0 to delete, 21 unchanged"),
            "{}",
            run.stdout
        );
        let peak = live.server.max_in_flight();
        if concurrency > 1 {
            assert!(peak > 1 && peak <= concurrency, "peak {peak}");
        } else {
            assert_eq!(peak, 1, "one request at a time");
        }
        assert_eq!(live.server.count_writes(), 0, "a dry run wrote");
        let requests = live.server.requests();
        let patches: Vec<_> = requests.iter().filter(|r| r.method == "PATCH").collect();
        assert_eq!(patches.len(), 24);
        for patch in patches {
            assert!(patch.is_dry_run(), "{patch:?}");
            assert_eq!(patch.param("dryRun").as_deref(), Some("All"));
            assert_eq!(patch.param("fieldManager").as_deref(), Some("berth"));
            assert_eq!(patch.content_type, "application/apply-patch+yaml");
            assert_ne!(
                patch.param("force").as_deref(),
                Some("true"),
                "a diff never forces"
            );
        }
    }
    assert!(
        live.server
            .object("", "configmaps", "demo", "cm-0")
            .is_none()
    );
    assert_eq!(
        live.server
            .object("", "configmaps", "demo", "cm-5")
            .unwrap()["data"]["n"],
        "5"
    );
}

#[test]
fn discovery_asks_its_two_documents_at_once_unless_told_one_at_a_time() {
    use berth::cluster::{Cluster, Target};
    let live = TestCluster::start();
    live.server.set_latency(Duration::from_millis(100));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for concurrency in [16, 1] {
        live.server.reset_counters();
        let cluster = runtime
            .block_on(Cluster::connect(&Target {
                kubeconfig: Some(&live.kubeconfig),
                context: Some("berth-test"),
                timeouts: Default::default(),
                concurrency,
            }))
            .unwrap_or_else(|p| panic!("{p}"));
        let asked: Vec<String> = live.server.requests().into_iter().map(|r| r.path).collect();
        assert_eq!(asked.len(), 2, "{asked:?}");
        assert!(asked.contains(&"/apis".to_string()), "{asked:?}");
        assert!(asked.contains(&"/api/v1".to_string()), "{asked:?}");
        let at_once = if concurrency > 1 { 2 } else { 1 };
        assert_eq!(
            live.server.max_in_flight(),
            at_once,
            "--concurrency {concurrency}"
        );
        // Both documents were read: the core group's kinds and the other groups'.
        let (configmaps, caps) = cluster.resolve("v1", "ConfigMap").expect("core served");
        assert_eq!(configmaps.plural, "configmaps");
        assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
        assert!(cluster.resolve("v1", "Namespace").is_some());
        let (deployments, caps) = cluster
            .resolve("apps/v1", "Deployment")
            .expect("apps served");
        assert_eq!(deployments.plural, "deployments");
        assert!(
            caps.subresources
                .iter()
                .any(|(sub, _)| sub.plural == "scale")
        );
    }
}

#[test]
fn markdown_report_of_a_cluster_diff() {
    let (live, repo) = small::live();
    replace_in(
        repo.path(),
        "web/deployment.yaml",
        "nginx:1.27",
        "nginx:1.28",
    );
    replace_in(repo.path(), "web/config.yaml", "hello", "hi");
    let run = live.diff(repo.path(), &["--render", "-o", "markdown"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let text = redact_commits(&run.stdout).replace(&live.server.url(), "<server>");
    let text = text.replace(&live.dir.path().display().to_string(), "<dir>");
    insta::assert_snapshot!("cluster_markdown", text);
}

/// Property: whatever a Secret holds, its values never reach a report.
mod secret_masking {
    use super::*;
    use berth::cluster::plan::{Options, plan};
    use berth::cluster::{Cluster, Target};
    use berth::object::{ObjectKey, TreeObject};
    use berth::report::{Format, render};
    use proptest::prelude::*;
    use std::sync::OnceLock;

    pub(super) struct Shared {
        pub(super) live: TestCluster,
        pub(super) runtime: tokio::runtime::Runtime,
        pub(super) cluster: Cluster,
    }

    /// One server and one connection for all cases (the incremental diff's property too).
    pub(super) fn shared() -> &'static Shared {
        static SHARED: OnceLock<Shared> = OnceLock::new();
        SHARED.get_or_init(|| {
            let live = TestCluster::start();
            live.namespace("demo");
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let cluster = runtime
                .block_on(Cluster::connect(&Target {
                    kubeconfig: Some(&live.kubeconfig),
                    context: Some("berth-test"),
                    timeouts: Default::default(),
                    concurrency: 16,
                }))
                .unwrap_or_else(|p| panic!("{p}"));
            Shared {
                live,
                runtime,
                cluster,
            }
        })
    }

    fn secret(name: &str, data: &[(&str, &str)], annotations: &[(&str, String)]) -> Value {
        let data: serde_json::Map<String, Value> = data
            .iter()
            .map(|(k, v)| (k.to_string(), json!(b64(v))))
            .collect();
        let mut body = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": "demo",
                "labels": {"berth.dev/channel": "test"}},
            "type": "Opaque", "data": data});
        if !annotations.is_empty() {
            body["metadata"]["annotations"] = annotations
                .iter()
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect::<serde_json::Map<_, _>>()
                .into();
        }
        body
    }

    /// Every report format of the plan of `target` against the live `before`.
    fn reports(name: &str, before: &Value, target: &Value) -> Vec<String> {
        let shared = shared();
        shared.live.seed(before, "berth");
        let objects = [TreeObject {
            key: ObjectKey::parse(&format!("demo/Secret/{name}")).unwrap(),
            app: Some("web".into()),
            body: target.clone(),
        }];
        let options = Options {
            force: false,
            dry_run_creates: true,
            project: "default",
            channel: "test",
            ignore: &[],
            concurrency: 4,
            context_lines: 3,
            unpruned_apps: &Default::default(),
        };
        let changes = shared
            .runtime
            .block_on(plan(&shared.cluster, &objects, &[], &options));
        assert_eq!(changes.len(), 1);
        assert_ne!(
            changes[0].action,
            berth::plan::Action::Error,
            "{:?}",
            changes[0]
        );
        let report = berth::plan::Plan {
            channel: "test".into(),
            base: "the cluster".into(),
            target: "t".into(),
            source_commit: None,
            tree_commit: None,
            objects: changes,
            requests: None,
        };
        [Format::Text, Format::Markdown, Format::Json]
            .into_iter()
            .map(|f| render(&report, f, false))
            .chain([berth::report::markdown_limited(&report, 1000, None)])
            .collect()
    }

    /// A printable value with YAML-special characters around a distinctive core that no
    /// quoting or escaping can change.
    fn value() -> impl Strategy<Value = (String, String)> {
        (
            "[ -~]{0,12}",
            "[A-Za-z0-9]{12,24}",
            prop::sample::select(vec![
                "", ": ", "#", "'", "\"", "\\", "\n", "- ", "{", "&*!|>%@`",
            ]),
            "[ -~]{0,12}",
        )
            .prop_map(|(pre, core, special, post)| {
                (format!("{special}{pre}{core}{post}{special}"), core)
            })
    }

    fn leaks(reports: &[String], values: &[&(String, String)]) -> Option<String> {
        for report in reports {
            for (value, core) in values {
                for needle in [value.as_str(), core.as_str(), &b64(value)] {
                    if needle.trim().len() >= 8 && report.contains(needle) {
                        return Some(format!("{needle:?} in:\n{report}"));
                    }
                }
            }
        }
        None
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

        /// Changed, unchanged, added and removed keys, with kubectl's last-applied annotation
        /// (which repeats the whole Secret) on both sides.
        #[test]
        fn secret_values_never_reach_a_report(old in value(), new in value(), same in value(), gone in value(), added in value()) {
            prop_assume!(old.1 != new.1);
            let last_applied = |v: &(String, String)| -> String {
                secret("s", &[("changed", &v.0), ("same", &same.0)], &[]).to_string()
            };
            let before = secret("s", &[("changed", &old.0), ("same", &same.0), ("gone", &gone.0)],
                &[(berth::object::LAST_APPLIED, last_applied(&old))]);
            let target = secret("s", &[("changed", &new.0), ("same", &same.0), ("added", &added.0)],
                &[(berth::object::LAST_APPLIED, last_applied(&new))]);
            let reports = reports("s", &before, &target);
            prop_assert!(reports[0].contains("*** (before)") && reports[0].contains("*** (after)"), "{}", reports[0]);
            if let Some(leak) = leaks(&reports, &[&old, &new, &same, &gone, &added]) {
                prop_assert!(false, "leak: {}", leak);
            }
        }

        /// A custom annotation that repeats a value (some controllers and hand-written
        /// manifests do): the value must still not reach a report.
        #[test]
        fn secret_values_in_annotations_never_reach_a_report(old in value(), new in value()) {
            prop_assume!(old.1 != new.1);
            let before = secret("a", &[("password", &old.0)], &[("example.com/copy", old.0.clone())]);
            let target = secret("a", &[("password", &new.0)], &[("example.com/copy", new.0.clone())]);
            let reports = reports("a", &before, &target);
            if let Some(leak) = leaks(&reports, &[&old, &new]) {
                prop_assert!(false, "leak: {}", leak);
            }
        }
    }
}

/// Property: the incremental diff (labelled LISTs, dry runs only for what may have changed)
/// reports exactly what `--exact` (a dry run for every object) reports.
mod incremental_equivalence {
    use super::*;
    use berth::cluster::plan::{Options, list_for_plan, plan, plan_listed};
    use berth::object::{ObjectKey, TreeObject};
    use berth::release::outcome::Silent;
    use berth::report::{Format, render};
    use proptest::prelude::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::secret_masking::shared;

    /// What the live object is, against the object berth renders.
    #[derive(Debug, Clone, Copy)]
    enum Live {
        /// Applied by berth as rendered.
        Same,
        /// Applied by berth at another version.
        Changed,
        /// Not there.
        Absent,
        /// Applied by berth, then one field set otherwise by another manager (force).
        TakenOver,
        /// As rendered, but the tree lists the env items in another order.
        Reordered,
        /// As rendered, but the tree writes the CPU request as `0.1` (live: `100m`).
        Quantity,
        /// There, applied by kubectl without berth's labels.
        Unlabelled,
        /// There, labelled for another project.
        OtherProject,
    }

    const STATES: [Live; 8] = [
        Live::Same,
        Live::Changed,
        Live::Absent,
        Live::TakenOver,
        Live::Reordered,
        Live::Quantity,
        Live::Unlabelled,
        Live::OtherProject,
    ];

    /// Object `name` of kind `kind` (0 ConfigMap, 1 Service, 2 Deployment) at `version`.
    fn body(kind: usize, ns: &str, name: &str, version: u32, project: Option<&str>) -> Value {
        let mut labels = json!({"app": name});
        if let Some(project) = project {
            labels["berth.dev/project"] = json!(project);
            labels["berth.dev/channel"] = json!("test");
        }
        let metadata = json!({"name": name, "namespace": ns, "labels": labels});
        match kind {
            0 => json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata,
                "data": {"a": version.to_string(), "b": "same"}}),
            1 => json!({"apiVersion": "v1", "kind": "Service", "metadata": metadata,
                "spec": {"selector": {"app": name},
                    "ports": [{"name": "http", "port": 80 + version, "targetPort": 8080}]}}),
            _ => json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata,
                "spec": {"replicas": version,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}},
                        "spec": {"containers": [{"name": "main", "image": format!("x:{version}"),
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                            "resources": {"requests": {"cpu": "100m"}}}]}}}}),
        }
    }

    /// The one field another manager takes over.
    fn taken_over(kind: usize, ns: &str, name: &str) -> Value {
        let metadata = json!({"name": name, "namespace": ns});
        match kind {
            0 => {
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"a": "edited"}})
            }
            1 => json!({"apiVersion": "v1", "kind": "Service", "metadata": metadata,
                "spec": {"selector": {"app": "edited"}}}),
            _ => json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata,
                "spec": {"replicas": 7}}),
        }
    }

    /// Seed each object's live state in a fresh namespace; the tree objects.
    fn setup(objects: &[(usize, Live)]) -> Vec<TreeObject> {
        static CASE: AtomicUsize = AtomicUsize::new(0);
        let live = &shared().live;
        let ns = format!("eq-{}", CASE.fetch_add(1, Ordering::Relaxed));
        live.namespace(&ns);
        let ours = Some("acme.shop");
        let mut tree = Vec::new();
        for (i, (kind, state)) in objects.iter().enumerate() {
            let name = format!("o{i}");
            let rendered = body(*kind, &ns, &name, 1, ours);
            match state {
                Live::Same | Live::Reordered | Live::Quantity => live.seed(&rendered, "berth"),
                Live::Changed => live.seed(&body(*kind, &ns, &name, 2, ours), "berth"),
                Live::Absent => {}
                Live::TakenOver => {
                    live.seed(&rendered, "berth");
                    live.seed(&taken_over(*kind, &ns, &name), "editor");
                }
                Live::Unlabelled => live.seed(&body(*kind, &ns, &name, 1, None), "kubectl"),
                Live::OtherProject => {
                    live.seed(&body(*kind, &ns, &name, 1, Some("other.project")), "berth")
                }
            }
            let mut desired = rendered;
            if *kind == 2 {
                let container = &mut desired["spec"]["template"]["spec"]["containers"][0];
                match state {
                    Live::Reordered => container["env"].as_array_mut().unwrap().reverse(),
                    Live::Quantity => container["resources"]["requests"]["cpu"] = json!("0.1"),
                    _ => {}
                }
            }
            tree.push(TreeObject {
                key: ObjectKey::of(&desired),
                app: Some("web".into()),
                body: desired,
            });
        }
        tree.sort_by(|a, b| a.key.cmp(&b.key));
        tree
    }

    /// The JSON report of a plan of `tree`, and the requests it made.
    fn report(tree: &[TreeObject], exact: bool) -> (String, usize) {
        let shared = shared();
        let options = Options {
            force: false,
            dry_run_creates: true,
            project: "acme.shop",
            channel: "test",
            ignore: &[],
            concurrency: 4,
            context_lines: 3,
            unpruned_apps: &Default::default(),
        };
        let before = shared.cluster.requests();
        let changes = shared.runtime.block_on(async {
            if exact {
                plan(&shared.cluster, tree, &[], &options).await
            } else {
                let lists = list_for_plan(
                    &shared.cluster,
                    tree,
                    async { Default::default() },
                    &options,
                )
                .await;
                plan_listed(&shared.cluster, tree, &[], lists, &options, &Silent).await
            }
        });
        let requests = shared.cluster.requests() - before;
        let plan = berth::plan::Plan {
            channel: "test".into(),
            base: "the cluster".into(),
            target: "t".into(),
            source_commit: None,
            tree_commit: None,
            objects: changes,
            requests: None,
        };
        (render(&plan, Format::Json, false), requests)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn the_incremental_diff_reports_what_the_exact_one_does(
            objects in prop::collection::vec((0..3usize, prop::sample::select(STATES.to_vec())), 1..10)
        ) {
            let tree = setup(&objects);
            let (incremental, _) = report(&tree, false);
            let (exact, _) = report(&tree, true);
            prop_assert_eq!(incremental, exact, "{:?}", objects);
        }
    }

    /// Every state at once, and what the incremental diff costs: one LIST per kind and a
    /// request or two per object that may have changed, none per unchanged one.
    #[test]
    fn unchanged_objects_cost_no_request_of_their_own() {
        let all: Vec<(usize, Live)> = (0..3)
            .flat_map(|kind| STATES.iter().map(move |s| (kind, *s)))
            .collect();
        let tree = setup(&all);
        let (incremental, _) = report(&tree, false);
        let (exact, _) = report(&tree, true);
        assert_eq!(incremental, exact);
        let same: Vec<(usize, Live)> = (0..30).map(|i| (i % 3, Live::Same)).collect();
        let tree = setup(&same);
        let (text, requests) = report(&tree, false);
        assert!(text.contains("\"unchanged\": 30"), "{text}");
        assert_eq!(requests, 3, "one LIST per kind");
        let (_, exact_requests) = report(&tree, true);
        assert_eq!(exact_requests, 60, "a GET and a dry run each");
    }
}

#[test]
fn a_list_that_fails_is_said_and_its_objects_are_checked_one_by_one() {
    let (live, repo) = small::live();
    live.server.inject(
        Fault::status(500)
            .on_method("GET")
            .on_path("/api/v1/configmaps"),
    );
    let (code, plan, run) = live.diff_json(repo.path(), &["--render"]);
    assert_eq!(code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("warning: cannot list ConfigMap (v1) of channel test")
            && run.stderr.contains("checked one by one"),
        "{}",
        run.stderr
    );
    assert_eq!(
        report_object(&plan, "demo/ConfigMap/web-config")["action"],
        "unchanged"
    );
}

#[test]
fn the_diff_counts_its_requests_and_an_unchanged_release_costs_a_few() {
    let (live, repo) = small::live();
    live.server.reset_counters();
    let (code, plan, run) = live.diff_json(repo.path(), &["--render", "-v"]);
    assert_eq!(code, 0, "{}", run.stderr);
    let made = live.server.requests().len();
    assert_eq!(plan["requests"], made, "{plan:#}");
    assert!(
        run.stderr
            .contains(&format!("{made} requests to the API server at")),
        "{}",
        run.stderr
    );
    // Discovery, the release record, one LIST per kind: no request per object.
    let per_object = live
        .server
        .requests()
        .iter()
        .filter(|r| r.path.contains("/namespaces/demo/"))
        .count();
    assert_eq!(per_object, 0, "{:?}", live.server.requests());
    // Each kind listed once, whether its path told it or only its parsed file did.
    let lists: Vec<String> = live
        .server
        .requests()
        .iter()
        .filter(|r| r.query.contains("labelSelector"))
        .map(|r| r.path.clone())
        .collect();
    let kinds: std::collections::BTreeSet<&String> = lists.iter().collect();
    assert!(!lists.is_empty());
    assert_eq!(lists.len(), kinds.len(), "{lists:?}");
    live.server.reset_counters();
    let (_, exact, _) = live.diff_json(repo.path(), &["--render", "--exact"]);
    assert_eq!(exact["requests"], live.server.requests().len());
    assert!(exact["requests"].as_u64() > plan["requests"].as_u64());
}
