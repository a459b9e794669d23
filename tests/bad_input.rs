//! Bad input: every case exits 2 with a message naming the file (and line where there is one),
//! the app or object, and a hint; nothing is written.

use crate::support::*;

mod corpus;

const ONE_APP: &str = "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test: {}\n";

fn template_repo(template: &str) -> tempfile::TempDir {
    repo(&[
        (
            "berth.yaml",
            "apps:\n  web:\n    driver: template\n    path: t\n    values: [t/values.yaml]\nchannels:\n  test: {}\n",
        ),
        ("t/values.yaml", "replicas: 2\n"),
        ("t/deploy.yaml.j2", template),
    ])
}

fn render(dir: &std::path::Path) -> Run {
    berth(dir, &["render"])
}

#[test]
fn malformed_yaml_in_a_manifest() {
    let r = repo(&[
        ("berth.yaml", ONE_APP),
        (
            "m/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata: [unclosed\n",
        ),
    ]);
    render(r.path()).fails_with(&["m/cm.yaml:5", "invalid YAML", "app web"]);
}

#[test]
fn malformed_yaml_after_other_documents_names_the_right_line() {
    let r = repo(&[
        ("berth.yaml", ONE_APP),
        (
            "m/two.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  labels: {x: [}\n",
        ),
    ]);
    render(r.path()).fails_with(&["m/two.yaml:10"]);
}

#[test]
fn malformed_berth_yaml() {
    let r = repo(&[("berth.yaml", "apps:\n  web:\n    driver: [manifests\n")]);
    render(r.path()).fails_with(&["berth.yaml:", "hint:"]);
}

#[test]
fn unclosed_template_tag() {
    let r = template_repo("replicas: {{ values.replicas\n");
    render(r.path()).fails_with(&["t/deploy.yaml.j2:1", "template syntax error", "app web"]);
}

#[test]
fn a_runaway_template_loop_stops_with_an_error_naming_the_template() {
    let r = template_repo(
        "{% for i in range(100000) %}{% for j in range(100000) %}{{ i }}{% endfor %}{% endfor %}\n",
    );
    let started = std::time::Instant::now();
    render(r.path()).fails_with(&["t/deploy.yaml.j2", "app web", "ran too long", "hint:"]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn unclosed_block_tag() {
    let r = template_repo("{% if values.replicas %}\nreplicas: 1\n");
    render(r.path()).fails_with(&["t/deploy.yaml.j2", "template syntax error"]);
}

#[test]
fn undefined_variable_names_the_file_line_and_variable() {
    let r = template_repo(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  x: {{ values.missing }}\n",
    );
    render(r.path()).fails_with(&[
        "t/deploy.yaml.j2:6",
        "undefined variable",
        "values.missing",
        "app web",
    ]);
}

#[test]
fn undefined_variable_in_an_included_template_names_that_template() {
    let r = repo(&[
        (
            "berth.yaml",
            "apps:\n  web:\n    driver: template\n    path: t\nchannels:\n  test: {}\n",
        ),
        ("t/_labels.j2", "team: {{ values.team }}\n"),
        (
            "t/cm.yaml.j2",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels:\n    {% include '_labels.j2' %}\n",
        ),
    ]);
    render(r.path()).fails_with(&["t/_labels.j2:1", "values.team"]);
}

#[test]
fn template_rendering_invalid_yaml() {
    let r =
        template_repo("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n    bad: indent\n");
    render(r.path()).fails_with(&[
        "t/deploy.yaml.j2:",
        "invalid YAML",
        "template rendered invalid YAML",
    ]);
}

#[test]
fn unknown_driver() {
    let r = repo(&[(
        "berth.yaml",
        "apps:\n  web:\n    driver: jsonnet\n    path: m\nchannels:\n  test: {}\n",
    )]);
    render(r.path()).fails_with(&[
        "berth.yaml:3:",
        "jsonnet",
        "drivers: template, helm, kustomize, manifests",
    ]);
}

#[test]
fn unknown_key() {
    let r = repo(&[(
        "berth.yaml",
        "apps:\n  web:\n    driver: manifests\n    path: m\n    replicas: 3\nchannels:\n  test: {}\n",
    )]);
    render(r.path()).fails_with(&["berth.yaml:5:", "replicas", "berth schema"]);
}

#[test]
fn channel_names_an_app_that_is_not_defined() {
    let r = repo(&[
        (
            "berth.yaml",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test:\n    apps: [web, wbe]\n",
        ),
        ("m/.keep", ""),
    ]);
    render(r.path()).fails_with(&["berth.yaml:7:", "`wbe`", "not defined", "apps defined: web"]);
}

#[test]
fn missing_directory() {
    let r = repo(&[("berth.yaml", ONE_APP)]);
    render(r.path()).fails_with(&["berth.yaml:4:", "directory m does not exist"]);
}

#[test]
fn missing_directory_for_one_channel_only() {
    let r = repo(&[
        (
            "berth.yaml",
            "apps:\n  q:\n    driver: kustomize\n    path: o/{channel}\nchannels:\n  test: {}\n  prod: {}\n",
        ),
        ("o/test/kustomization.yaml", "resources: []\n"),
    ]);
    render(r.path()).fails_with(&["berth.yaml:4:", "o/prod does not exist"]);
}

#[test]
fn missing_values_file() {
    let r = repo(&[
        (
            "berth.yaml",
            "apps:\n  web:\n    driver: manifests\n    path: m\n    values:\n      - v/{channel}.yaml\nchannels:\n  test: {}\n",
        ),
        ("m/.keep", ""),
    ]);
    render(r.path()).fails_with(&["berth.yaml:6:", "v/test.yaml does not exist"]);
}

#[test]
fn values_file_that_is_not_a_mapping() {
    let r = repo(&[
        (
            "berth.yaml",
            "apps:\n  web:\n    driver: template\n    path: t\n    values: [v.yaml]\nchannels:\n  test: {}\n",
        ),
        ("v.yaml", "- a\n- b\n"),
        ("t/x.yaml.j2", ""),
    ]);
    render(r.path()).fails_with(&["v.yaml", "mapping"]);
}

#[test]
fn path_outside_the_repository() {
    let r = repo(&[(
        "berth.yaml",
        "apps:\n  web:\n    driver: manifests\n    path: ../elsewhere\nchannels:\n  test: {}\n",
    )]);
    render(r.path()).fails_with(&["berth.yaml:4:", "leaves the repository"]);
}

#[test]
fn driver_field_missing() {
    let r = repo(&[(
        "berth.yaml",
        "apps:\n  chart:\n    driver: helm\nchannels:\n  test: {}\n",
    )]);
    render(r.path()).fails_with(&[
        "berth.yaml:3:",
        "the helm driver needs `path`",
        "chart directory",
    ]);
}

#[test]
fn helm_chart_directory_without_chart_yaml() {
    let r = repo(&[
        (
            "berth.yaml",
            "apps:\n  chart:\n    driver: helm\n    path: c\nchannels:\n  test: {}\n",
        ),
        ("c/values.yaml", ""),
    ]);
    render(r.path()).fails_with(&["berth.yaml:4:", "not a Helm chart"]);
}

#[test]
fn field_of_another_driver() {
    let r = repo(&[
        (
            "berth.yaml",
            "apps:\n  web:\n    driver: manifests\n    path: m\n    release: web\nchannels:\n  test: {}\n",
        ),
        ("m/.keep", ""),
    ]);
    render(r.path()).fails_with(&["berth.yaml:5:", "only to the helm driver"]);
}

#[test]
fn bad_app_and_channel_names() {
    let r = repo(&[
        (
            "berth.yaml",
            "apps:\n  Web_App:\n    driver: manifests\n    path: m\nchannels:\n  Prod: {}\n",
        ),
        ("m/.keep", ""),
    ]);
    let run = render(r.path());
    run.fails_with(&[
        "berth.yaml:2:",
        "app name `Web_App` is invalid",
        "berth.yaml:6:",
        "channel name `Prod`",
    ]);
}

#[test]
fn promotion_to_an_unknown_channel_and_loops() {
    let r = repo(&[
        (
            "berth.yaml",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test:\n    promotesTo: staging\n  a:\n    promotesTo: b\n  b:\n    promotesTo: a\n",
        ),
        ("m/.keep", ""),
    ]);
    render(r.path()).fails_with(&[
        "berth.yaml:7:",
        "`promotesTo: staging` names no channel",
        "promotion loops",
    ]);
}

#[test]
fn all_config_problems_are_reported_at_once() {
    let r = repo(&[(
        "berth.yaml",
        "apps:\n  a:\n    driver: manifests\n    path: nope\n  b:\n    driver: template\nchannels:\n  test:\n    apps: [a, c]\n",
    )]);
    let run = render(r.path());
    run.fails_with(&["berth.yaml:4:", "berth.yaml:6:", "berth.yaml:9:"]);
    assert_eq!(run.stderr.matches("error:").count(), 3, "{}", run.stderr);
}

#[test]
fn duplicate_object_across_two_apps_names_both_sources() {
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n  namespace: ns\n";
    let r = repo(&[
        (
            "berth.yaml",
            "apps:\n  one:\n    driver: manifests\n    path: a\n  two:\n    driver: manifests\n    path: b\nchannels:\n  test: {}\n",
        ),
        ("a/cm.yaml", cm),
        (
            "b/other.yaml",
            &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: unique\n---\n{cm}"),
        ),
    ]);
    render(r.path()).fails_with(&[
        "ns/ConfigMap/shared is rendered twice",
        "app one (a/cm.yaml:1)",
        "app two (b/other.yaml:6)",
    ]);
}

#[test]
fn inline_secret_data_is_refused_without_showing_the_value() {
    let r = repo(&[
        ("berth.yaml", ONE_APP),
        (
            "m/secret.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  password: aHVudGVyMg==\n",
        ),
    ]);
    let run = render(r.path());
    run.fails_with(&[
        "m/secret.yaml:1",
        "default/Secret/db",
        "inline data",
        "never be committed",
        "external secret",
    ]);
    assert!(
        !run.stderr.contains("aHVudGVyMg=="),
        "the secret value leaked: {}",
        run.stderr
    );
    assert!(!run.stdout.contains("aHVudGVyMg=="));
}

#[test]
fn inline_secret_string_data_is_refused() {
    let r = repo(&[
        ("berth.yaml", ONE_APP),
        (
            "m/secret.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: hunter2\n",
        ),
    ]);
    let run = render(r.path());
    run.fails_with(&["m/secret.yaml:1", "inline stringData"]);
    assert!(!run.stderr.contains("hunter2"));
}

#[test]
fn a_secret_whose_values_hide_in_the_last_applied_annotation_is_refused() {
    // `kubectl get -o yaml` of a Secret, its data removed by hand: kubectl's annotation still
    // holds it.
    let last_applied = r#"{"apiVersion":"v1","data":{"password":"aHVudGVyMg=="},"kind":"Secret","metadata":{"name":"db"}}"#;
    let r = repo(&[
        ("berth.yaml", ONE_APP),
        (
            "m/secret.yaml",
            &format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '{last_applied}'\n"
            ),
        ),
    ]);
    let out = r.path().join("out");
    let run = berth(r.path(), &["render", "--out", out.to_str().unwrap()]);
    run.fails_with(&[
        "m/secret.yaml:1",
        "default/Secret/db",
        "last-applied-configuration",
        "never be committed",
        "hint: remove the annotation",
    ]);
    for text in [&run.stderr, &run.stdout] {
        assert!(!text.contains("aHVudGVyMg=="), "the value leaked: {text}");
    }
    assert!(!out.exists(), "something was written");
}

#[test]
fn a_secret_without_data_is_fine() {
    let r = repo(&[
        ("berth.yaml", ONE_APP),
        (
            "m/token.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: sa-token\n  annotations:\n    kubernetes.io/service-account.name: web\ntype: kubernetes.io/service-account-token\n",
        ),
    ]);
    render(r.path()).succeeds();
}

#[test]
fn document_without_kind() {
    let r = repo(&[
        ("berth.yaml", ONE_APP),
        ("m/x.yaml", "apiVersion: v1\nmetadata:\n  name: a\n"),
    ]);
    render(r.path()).fails_with(&["m/x.yaml:1", "no `kind`"]);
}

#[test]
fn document_without_api_version() {
    let r = repo(&[
        ("berth.yaml", ONE_APP),
        ("m/x.yaml", "kind: ConfigMap\nmetadata:\n  name: a\n"),
    ]);
    render(r.path()).fails_with(&["m/x.yaml:1", "no `apiVersion`"]);
}

#[test]
fn document_without_name() {
    let r = repo(&[
        ("berth.yaml", ONE_APP),
        (
            "m/x.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels: {a: b}\n",
        ),
    ]);
    render(r.path()).fails_with(&["m/x.yaml:6", "ConfigMap has no metadata.name"]);
}

#[test]
fn generate_name_is_refused() {
    let r = repo(&[
        ("berth.yaml", ONE_APP),
        (
            "m/x.yaml",
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: migrate-\n",
        ),
    ]);
    render(r.path()).fails_with(&["m/x.yaml:1", "generateName", "fixed metadata.name"]);
}

#[test]
fn document_that_is_not_an_object() {
    let r = repo(&[("berth.yaml", ONE_APP), ("m/x.yaml", "- just\n- a list\n")]);
    render(r.path()).fails_with(&["m/x.yaml:1", "must be a Kubernetes object, found a list"]);
}

#[test]
fn invalid_object_name() {
    let r = repo(&[
        ("berth.yaml", ONE_APP),
        (
            "m/x.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: My_Web\n",
        ),
    ]);
    render(r.path()).fails_with(&["m/x.yaml:1", "Deployment name `My_Web` is invalid"]);
}

#[test]
fn invalid_namespace_on_an_object() {
    let r = repo(&[
        ("berth.yaml", ONE_APP),
        (
            "m/x.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: Team.A\n",
        ),
    ]);
    render(r.path()).fails_with(&["m/x.yaml:1", "namespace `Team.A` is invalid"]);
}

#[test]
fn unknown_channel_on_the_command_line() {
    let r = repo(&[("berth.yaml", ONE_APP), ("m/.keep", "")]);
    berth(r.path(), &["render", "--channel", "staging"]).fails_with(&[
        "berth.yaml",
        "unknown channel `staging`",
        "channels defined: test",
    ]);
}

#[test]
fn unknown_app_on_the_command_line() {
    let r = repo(&[("berth.yaml", ONE_APP), ("m/.keep", "")]);
    berth(r.path(), &["render", "--app", "wbe"]).fails_with(&[
        "berth.yaml",
        "unknown app `wbe`",
        "apps defined: web",
    ]);
}

#[test]
fn app_not_in_the_channel() {
    let r = repo(&[
        (
            "berth.yaml",
            "apps:\n  web:\n    driver: manifests\n    path: m\n  api:\n    driver: manifests\n    path: m\nchannels:\n  test:\n    apps: [web]\n",
        ),
        ("m/.keep", ""),
    ]);
    berth(r.path(), &["render", "-c", "test", "-a", "api"])
        .fails_with(&["app `api` is not released through channel `test`"]);
}

#[test]
fn no_config_found() {
    let r = tempfile::tempdir().unwrap();
    render(r.path()).fails_with(&["no berth.yaml", "-C DIR"]);
}

#[test]
fn malformed_set_is_a_usage_error() {
    let r = repo(&[("berth.yaml", ONE_APP), ("m/.keep", "")]);
    berth(r.path(), &["render", "--set", "novalue"]).fails_with(&["--set", "key=value"]);
}

#[test]
fn a_failed_render_leaves_the_previous_tree_untouched() {
    let r = repo(&[
        ("berth.yaml", ONE_APP),
        (
            "m/x.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
        ),
    ]);
    let out = tempfile::tempdir().unwrap();
    let out_arg = out.path().to_str().unwrap();
    berth(r.path(), &["render", "--out", out_arg]).succeeds();
    let before = read_tree(out.path());
    std::fs::write(r.path().join("m/y.yaml"), "kind: [\n").unwrap();
    berth(r.path(), &["render", "--out", out_arg]).fails_with(&["m/y.yaml:1"]);
    assert_eq!(read_tree(out.path()), before);
}

#[test]
fn problems_in_several_apps_are_all_reported() {
    let r = repo(&[
        (
            "berth.yaml",
            "apps:\n  a:\n    driver: manifests\n    path: a\n  b:\n    driver: manifests\n    path: b\nchannels:\n  test: {}\n",
        ),
        ("a/x.yaml", "kind: [\n"),
        (
            "b/y.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata: {k: dg==}\n",
        ),
    ]);
    render(r.path()).fails_with(&["a/x.yaml:1", "app a", "b/y.yaml:1", "app b"]);
}

#[test]
fn render_out_never_replaces_a_directory_that_is_not_a_rendered_tree() {
    let r = repo(&[
        ("berth.yaml", ONE_APP),
        (
            "m/x.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
        ),
        ("out/test/notes.txt", "mine\n"),
    ]);
    berth(r.path(), &["render", "--out", "out"]).fails_with(&["out/test", "not a rendered tree"]);
    assert_eq!(
        std::fs::read_to_string(r.path().join("out/test/notes.txt")).unwrap(),
        "mine\n"
    );
}

#[test]
fn an_api_version_that_climbs_out_of_the_tree_is_refused_and_nothing_is_written() {
    let r = repo(&[
        ("berth.yaml", ONE_APP),
        (
            "m/x.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n---\napiVersion: ../../../../../x/v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
        ),
    ]);
    let before = read_tree(r.path());
    berth(r.path(), &["render", "--out", "out"]).fails_with(&[
        "m/x.yaml:6",
        "apiVersion `../../../../../x/v1` is invalid",
        "hint:",
        "apps/v1",
    ]);
    assert_eq!(read_tree(r.path()), before);
    assert!(!r.path().join("out").exists());
}

#[test]
fn a_kind_that_is_not_an_identifier_is_refused() {
    let r = repo(&[
        ("berth.yaml", ONE_APP),
        (
            "m/x.yaml",
            "apiVersion: example.com/v1\nkind: ../../Widget\nmetadata:\n  name: a\n",
        ),
        (
            "m/y.yaml",
            "apiVersion: v1\nkind: Config/Map\nmetadata:\n  name: a\n",
        ),
    ]);
    let before = read_tree(r.path());
    berth(r.path(), &["render", "--out", "out"]).fails_with(&[
        "m/x.yaml:1",
        "kind `../../Widget` is invalid",
        "m/y.yaml:1",
        "`v1` has no kind `Config/Map`",
        "hint:",
    ]);
    assert_eq!(read_tree(r.path()), before);
}

#[test]
fn an_unknown_kind_in_a_built_in_api_version_is_refused_before_a_secret_reaches_git() {
    let r = repo(&[
        ("berth.yaml", ONE_APP),
        (
            "m/secret.yaml",
            "apiVersion: v1\nkind: secret\nmetadata:\n  name: db\nstringData:\n  password: hunter2\n",
        ),
        (
            "m/deploy.yaml",
            "apiVersion: apps/v1\nkind: Deploymnet\nmetadata:\n  name: web\n",
        ),
    ]);
    let run = berth(r.path(), &["render", "--out", "out"]);
    run.fails_with(&[
        "m/secret.yaml:1",
        "`v1` has no kind `secret`",
        "did you mean `kind: Secret`?",
        "m/deploy.yaml:1",
        "`apps/v1` has no kind `Deploymnet`",
        "apps/v1 serves: ControllerRevision, DaemonSet, Deployment",
    ]);
    assert!(!run.stderr.contains("hunter2"));
    assert!(!r.path().join("out").exists());
}

#[test]
fn candidate_refuses_a_bad_api_version_naming_the_file() {
    let repos = GitRepos::with_files(&[
        ("berth.yaml", ONE_APP),
        (
            "m/x.yaml",
            "apiVersion: ../../../x/v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
        ),
    ]);
    repos.berth(&["candidate"]).fails_with(&[
        "m/x.yaml:1",
        "apiVersion `../../../x/v1` is invalid",
        "hint:",
    ]);
    assert_eq!(repos.git(&["branch", "--list", "candidates/*"]), "");
}

#[test]
fn label_and_annotation_values_are_checked_at_render() {
    let r = repo(&[
        ("berth.yaml", ONE_APP),
        (
            "m/number.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels:\n    tier: 5\n",
        ),
        (
            "m/spaces.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  labels:\n    tier: a b c\n",
        ),
        (
            "m/annotation.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  annotations:\n    replicas: 3\n",
        ),
    ]);
    berth(r.path(), &["render", "--out", "out"]).fails_with(&[
        "m/number.yaml:1",
        "metadata.labels: `tier` must be a string, found a number",
        "m/spaces.yaml:1",
        "metadata.labels: `tier` is invalid: value `a b c`",
        "m/annotation.yaml:1",
        "metadata.annotations: `replicas` must be a string, found a number",
        "quote numbers",
        "default/ConfigMap/c",
    ]);
    assert!(!r.path().join("out").exists());
}

const ONE_CONFIG_MAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n";

#[test]
fn render_out_never_deletes_a_file_where_the_channel_directory_would_go() {
    let r = repo(&[
        ("berth.yaml", ONE_APP),
        ("m/x.yaml", ONE_CONFIG_MAP),
        ("out/test", "my notes\n"),
    ]);
    berth(r.path(), &["render", "--out", "out"]).fails_with(&[
        "out/test",
        "is not a directory",
        "choose another --out",
    ]);
    assert_eq!(
        std::fs::read_to_string(r.path().join("out/test")).unwrap(),
        "my notes\n"
    );
}

#[test]
fn render_out_never_deletes_a_file_left_inside_a_rendered_tree() {
    let r = repo(&[
        (
            "berth.yaml",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test: {}\n  prod: {}\n",
        ),
        ("m/x.yaml", ONE_CONFIG_MAP),
    ]);
    berth(r.path(), &["render", "--out", "out"]).succeeds();
    std::fs::write(r.path().join("out/prod/default/NOTES.md"), "mine\n").unwrap();
    std::fs::write(
        r.path().join("m/x.yaml"),
        ONE_CONFIG_MAP.replace("name: a", "name: b"),
    )
    .unwrap();
    let before = read_tree(&r.path().join("out"));
    berth(r.path(), &["render", "--out", "out"]).fails_with(&[
        "out/prod",
        "holds files berth did not write: default/NOTES.md",
        "move them away",
    ]);
    // Neither channel was written: test's tree still holds the old object.
    assert_eq!(read_tree(&r.path().join("out")), before);
}

#[test]
fn diff_against_a_commit_that_is_not_a_rendered_tree_names_the_ref() {
    let repos = GitRepos::with_files(&[("berth.yaml", ONE_APP), ("m/x.yaml", ONE_CONFIG_MAP)]);
    repos
        .berth(&["diff", "-c", "test", "--render", "--against", "HEAD"])
        .fails_with(&[
            "HEAD (",
            "is not a rendered tree: it has no .berth/release.yaml",
            "hint:",
            "candidate or release branch",
        ]);
}

#[test]
fn a_stray_file_in_a_release_branch_names_the_branch_and_the_file() {
    let repos = GitRepos::with_files(&[("berth.yaml", ONE_APP), ("m/x.yaml", ONE_CONFIG_MAP)]);
    repos.git(&["checkout", "-q", "-b", "feature/x"]);
    repos.berth(&["candidate", "-c", "test"]).succeeds();
    repos.git(&[
        "checkout",
        "-q",
        "-b",
        "releases/test",
        "candidates/test/feature/x",
    ]);
    std::fs::write(repos.work().join("README.md"), "notes\n").unwrap();
    repos.commit_all("a stray file");
    repos.git(&["checkout", "-q", "feature/x"]);
    repos
        .berth(&diff_rendered_against_release(&[]))
        .fails_with(&[
            "README.md",
            "releases/test (",
            "is not a rendered tree: README.md is not an object's file",
            "remove the file from the branch",
        ]);
}

/// A repository whose `m/x.yaml` and `links/...` are symbolic links; `outside/` beside the
/// work tree holds what the outside links point at.
fn linked_repo(links: &[(&str, &str)], config: &str) -> GitRepos {
    let repos = GitRepos::with_files(&[
        ("berth.yaml", config),
        ("shared/cm.yaml", ONE_CONFIG_MAP),
        ("values.yaml", "replicas: 1\n"),
    ]);
    let outside = repos.dir.path().join("outside");
    write_files(
        &outside,
        &[
            (
                "secret.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stolen\n",
            ),
            ("values.yaml", "replicas: 9\n"),
        ],
    );
    for (link, target) in links {
        let link = repos.work().join(link);
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, link).unwrap();
    }
    repos.commit_all("links");
    repos
}

#[test]
fn a_symbolic_link_out_of_the_repository_is_refused_by_render_and_candidate_alike() {
    let repos = linked_repo(
        &[
            ("m/cm.yaml", "../shared/cm.yaml"),
            ("m/stolen.yaml", "../../outside/secret.yaml"),
        ],
        ONE_APP,
    );
    let expected = [
        "m/stolen.yaml is a symbolic link to `../../outside/secret.yaml`, outside the repository",
        "hint:",
        "copy the file in",
    ];
    repos
        .berth(&["render", "--out", "out"])
        .fails_with(&expected);
    assert!(!repos.work().join("out").exists());
    repos.berth(&["candidate"]).fails_with(&expected);
    assert_eq!(repos.git(&["branch", "--list", "candidates/*"]), "");
}

#[test]
fn a_symbolic_link_to_a_directory_or_values_file_outside_is_named_in_berth_yaml() {
    let repos = linked_repo(
        &[("m", "../outside"), ("v.yaml", "../outside/values.yaml")],
        "apps:\n  web:\n    driver: manifests\n    path: m\n  t:\n    driver: manifests\n    path: shared\n    values: [v.yaml]\nchannels:\n  test: {}\n",
    );
    let expected = [
        "berth.yaml:4:",
        "m is a symbolic link to `../outside`, outside the repository",
        "berth.yaml:8:",
        "v.yaml is a symbolic link to `../outside/values.yaml`",
        "hint:",
    ];
    repos.berth(&["render"]).fails_with(&expected);
    repos.berth(&["candidate"]).fails_with(&expected);
}

#[test]
fn a_project_that_cannot_name_records_or_label_objects() {
    let r = repo(&[
        ("berth.yaml", &format!("project: Acme/Shop\n{ONE_APP}")),
        (
            "m/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
        ),
    ]);
    render(r.path()).fails_with(&["berth.yaml:1", "project `Acme/Shop` is invalid", "hint:"]);
}

/// `berth comment` with `env` set, in an empty directory (it needs no berth.yaml).
fn comment(files: &[(&str, &str)], env: &[(&str, &str)], args: &[&str]) -> Run {
    let r = repo(files);
    let mut command = berth_command();
    command
        .current_dir(r.path())
        .args(["comment", "-c", "test"])
        .args(args)
        .env("GITHUB_TOKEN", "ghs_x")
        .env("GITHUB_REPOSITORY", "o/r");
    for (name, value) in env {
        command.env(name, value);
    }
    let run = run(&mut command);
    assert!(!run.stderr.contains("ghs_x"));
    run
}

#[test]
fn a_broken_event_payload_is_named_when_the_pull_request_is_needed() {
    let marker = "<!-- berth:diff channel=test -->\n### berth diff · `test`\n";
    let run = comment(
        &[("event.json", "{ not json"), ("diff.md", marker)],
        &[("GITHUB_EVENT_PATH", "event.json")],
        &["--file", "diff.md"],
    );
    run.fails_with(&[
        "no pull request to comment on",
        "event.json",
        "not JSON",
        "hint: pass --pr",
    ]);
}

#[test]
fn a_report_longer_than_a_comment_is_refused_before_any_request() {
    let long = format!("<!-- berth:diff channel=test -->\n{}", "x".repeat(70_000));
    comment(
        &[("diff.md", &long)],
        &[],
        &["--file", "diff.md", "--pr", "1"],
    )
    .fails_with(&[
        "diff.md",
        "a GitHub comment holds 65536",
        "hint:",
        "--split",
    ]);
}

#[test]
fn a_github_api_url_that_is_not_http() {
    let marker = "<!-- berth:diff channel=test -->\n";
    comment(
        &[("diff.md", marker)],
        &[("GITHUB_API_URL", "api.github.com")],
        &["--file", "diff.md", "--pr", "1"],
    )
    .fails_with(&[
        "GITHUB_API_URL api.github.com is not an http(s) URL",
        "hint:",
    ]);
}

/// berth.yaml with one external Secret of `web`, its keys as given.
fn secret_repo(keys: &str) -> tempfile::TempDir {
    repo(&[
        (
            "berth.yaml",
            &format!(
                "apps:\n  web:\n    driver: manifests\n    path: m\n    secrets:\n      db:\n        keys:\n{keys}channels:\n  test: {{}}\n"
            ),
        ),
        ("m/x.yaml", ONE_CONFIG_MAP),
    ])
}

#[test]
fn a_secret_key_with_two_sources_or_none() {
    let r = secret_repo("          password: {env: A, file: /run/a}\n");
    render(r.path()).fails_with(&[
        "berth.yaml:8",
        "Secret `db`, key `password`: give exactly one source",
        "hint:",
    ]);
    let r = secret_repo("          password: {}\n");
    render(r.path()).fails_with(&["berth.yaml:8", "exactly one source"]);
    assert!(!r.path().join("out").exists());
}

#[test]
fn a_secret_file_inside_the_repository_is_refused() {
    let r = secret_repo("          password: {file: m/x.yaml}\n");
    render(r.path()).fails_with(&[
        "berth.yaml:8",
        "is in the repository or not an absolute path",
        "hint:",
        "sops",
    ]);
    // An absolute path into the repository is refused as well.
    let r = repo(&[("m/x.yaml", ONE_CONFIG_MAP)]);
    let own = r.path().canonicalize().unwrap().join("m/x.yaml");
    let keys = format!("          password: {{file: {}}}\n", own.display());
    let text = std::fs::read_to_string(secret_repo(&keys).path().join("berth.yaml")).unwrap();
    write_files(r.path(), &[("berth.yaml", &text)]);
    render(r.path()).fails_with(&["berth.yaml:8", "is in the repository"]);
}

#[test]
fn a_bad_secret_key_name_format_or_missing_sops_file() {
    let r = secret_repo("          \"pass word\": {env: A}\n");
    render(r.path()).fails_with(&["berth.yaml:8", "the key is invalid", "hint:"]);
    let r = secret_repo("          password: {env: A, format: json}\n");
    render(r.path()).fails_with(&["berth.yaml:8", "`format` applies only to `command`"]);
    let r = secret_repo("          password: {sops: secrets/db.enc.yaml}\n");
    render(r.path()).fails_with(&["berth.yaml:8", "secrets/db.enc.yaml does not exist"]);
    let r = secret_repo("          password: {command: [vault], timeout: soon}\n");
    render(r.path()).fails_with(&["berth.yaml:8", "timeout `soon` is not a duration"]);
}

#[test]
fn an_inline_secret_beside_an_external_one_of_the_same_name() {
    let r = repo(&[
        (
            "berth.yaml",
            "apps:\n  web:\n    driver: manifests\n    path: m\n    secrets:\n      db:\n        keys:\n          password: {env: A}\nchannels:\n  test: {}\n",
        ),
        (
            "m/db.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n",
        ),
    ]);
    render(r.path()).fails_with(&["Secret", "db", "rendered twice", "hint:"]);
}

#[test]
fn a_secret_variant_for_a_channel_that_does_not_release_the_app() {
    let r = repo(&[
        (
            "berth.yaml",
            "apps:\n  web:\n    driver: manifests\n    path: m\n    secrets:\n      db:\n        keys:\n          password: {env: A}\n        channels:\n          prod:\n            keys:\n              password: {env: B}\nchannels:\n  test: {}\n",
        ),
        ("m/x.yaml", ONE_CONFIG_MAP),
    ]);
    render(r.path()).fails_with(&[
        "berth.yaml:10",
        "channel `prod`, which does not release the app",
        "hint:",
    ]);
    let r = secret_repo(
        "          password: {env: A}\n        channels:\n          test:\n            channels:\n              test: {}\n",
    );
    render(r.path()).fails_with(&["berth.yaml:10", "has `channels:` of its own", "hint:"]);
}

#[test]
fn a_notification_with_a_url_instead_of_a_variable_name() {
    let r = repo(&[
        (
            "berth.yaml",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test:\n    notify:\n      - slack: {webhookEnv: \"https://hooks.slack.com/services/T/B/x\"}\n",
        ),
        ("m/x.yaml", ONE_CONFIG_MAP),
    ]);
    render(r.path()).fails_with(&[
        "berth.yaml:8",
        "is not an environment variable name",
        "hint:",
    ]);
}

// --- messages that say what to do (issue 11) -------------------------------------------------

#[test]
fn an_empty_berth_yaml_says_it_is_empty() {
    for text in ["", "\n# nothing yet\n"] {
        let r = repo(&[("berth.yaml", text)]);
        render(r.path())
            .fails_with(&["berth.yaml: berth.yaml is empty", "`apps:` and `channels:`"]);
    }
}

#[test]
fn a_file_that_is_not_utf8_names_the_line_and_offset() {
    let r = repo(&[("berth.yaml", ONE_APP), ("m/.keep", "")]);
    std::fs::write(
        r.path().join("m/cm.yaml"),
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: caf\xe9\n",
    )
    .unwrap();
    render(r.path()).fails_with(&[
        "m/cm.yaml:4:12",
        "not UTF-8: byte 0xe9 at offset 52",
        "save the file as UTF-8",
    ]);
    std::fs::write(r.path().join("berth.yaml"), b"apps: {}\n# \xff\n").unwrap();
    render(r.path()).fails_with(&["berth.yaml:2:3", "not UTF-8: byte 0xff at offset 11"]);
}

#[test]
fn a_channel_path_in_a_flow_sequence_hints_to_quote_it() {
    let r = repo(&[
        (
            "berth.yaml",
            "apps:\n  web:\n    driver: manifests\n    path: m\n    values: [v.yaml, v-{channel}.yaml]\nchannels:\n  test: {}\n",
        ),
        ("m/.keep", ""),
    ]);
    render(r.path()).fails_with(&["berth.yaml:5", "quote the path"]);
}

#[test]
fn an_invalid_branch_name_says_where_it_came_from() {
    let repos = GitRepos::new("quickstart");
    repos
        .berth(&["candidate", "--branch", "bad..name"])
        .fails_with(&[
            "`bad..name` (from --branch) is not a valid branch name",
            "git refuses",
        ]);
    let run = run(berth_command()
        .current_dir(repos.work())
        .env("GITHUB_HEAD_REF", "feature/x.lock")
        .args(["candidate"]));
    run.fails_with(&["(from GITHUB_HEAD_REF)", "trailing `.lock`"]);
}

#[test]
fn an_uncommitted_berth_yaml_hints_to_commit_it() {
    let repos = GitRepos::with_files(&[("README", "x\n")]);
    write_files(
        &repos.work(),
        &[
            ("berth.yaml", ONE_APP),
            (
                "m/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
            ),
        ],
    );
    repos.berth(&["candidate"]).fails_with(&[
        "no berth.yaml in commit",
        "in the working tree but not in that commit",
        "git add berth.yaml",
    ]);
}

#[test]
fn a_branch_name_git_cannot_hold_beside_another_is_explained() {
    let repos = GitRepos::new("quickstart");
    repos.git(&["checkout", "-q", "-b", "feature/x"]);
    repos.berth(&["candidate", "-c", "test"]).succeeds();
    let before = repos.git(&["for-each-ref"]);
    // A source branch named by CI, which git could not hold beside the first locally either.
    repos.berth(&["candidate", "-c", "test", "--branch", "feature"]).fails_with(&[
        "cannot make the candidate branch candidates/test/feature: the branch candidates/test/feature/x exists",
        "rename the source branch feature",
    ]);
    assert_eq!(repos.git(&["for-each-ref"]), before, "no ref was changed");
}

#[test]
fn pushing_to_a_missing_remote_names_the_remotes() {
    let repos = GitRepos::new("quickstart");
    repos.git(&["checkout", "-q", "-b", "feature/x"]);
    let before = repos.git(&["for-each-ref"]);
    let run = repos.berth(&["candidate", "--push", "upstream"]);
    run.fails_with(&["no remote `upstream`", "remotes: origin"]);
    assert!(!run.stderr.contains("someone else"), "{}", run.stderr);
    assert_eq!(
        repos.git(&["for-each-ref"]),
        before,
        "nothing was committed"
    );
}
