//! `berth render` on the quickstart example and on small repositories.

use crate::support::*;
use std::path::Path;

fn render_tree(repo: &Path, channel: &str, out: &Path) -> String {
    berth(
        repo,
        &[
            "render",
            "--channel",
            channel,
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .succeeds();
    tree_text(&out.join(channel))
}

#[test]
fn quickstart_test_channel_tree() {
    let repo = example_copy("quickstart");
    let out = tempfile::tempdir().unwrap();
    insta::assert_snapshot!(render_tree(repo.path(), "test", out.path()));
}

#[test]
fn quickstart_prod_channel_tree() {
    let repo = example_copy("quickstart");
    let out = tempfile::tempdir().unwrap();
    insta::assert_snapshot!(render_tree(repo.path(), "prod", out.path()));
}

#[test]
fn rendering_twice_gives_the_same_bytes() {
    let repo = example_copy("quickstart");
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    render_tree(repo.path(), "prod", first.path());
    render_tree(repo.path(), "prod", second.path());
    assert_eq!(
        read_tree(&first.path().join("prod")),
        read_tree(&second.path().join("prod"))
    );
    // And stdout, run after run.
    let one = berth(repo.path(), &["render"]);
    let two = berth(repo.path(), &["render"]);
    one.succeeds();
    assert_eq!(one.stdout, two.stdout);
}

#[test]
fn the_tree_layout_puts_each_object_at_its_key() {
    let repo = example_copy("quickstart");
    let out = tempfile::tempdir().unwrap();
    render_tree(repo.path(), "test", out.path());
    let paths: Vec<String> = read_tree(&out.path().join("test"))
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    for expected in [
        ".berth/release.yaml",
        "_cluster/Namespace/shop.yaml",
        "_cluster/ClusterRole.rbac.authorization.k8s.io/shop-reader.yaml",
        "_cluster/CustomResourceDefinition.apiextensions.k8s.io/backups.ops.example.com.yaml",
        "shop/Deployment.apps/web.yaml",
        "shop/ConfigMap/web-config.yaml",
        "shop/Backup.ops.example.com/api-nightly.yaml",
        "shop-jobs/CronJob.batch/api-cleanup.yaml",
    ] {
        assert!(
            paths.contains(&expected.to_string()),
            "{expected} missing from {paths:#?}"
        );
    }
}

#[test]
fn a_second_render_replaces_the_tree_and_leaves_no_stale_files() {
    let repo = example_copy("quickstart");
    let out = tempfile::tempdir().unwrap();
    render_tree(repo.path(), "test", out.path());
    std::fs::remove_file(repo.path().join("backups/nightly.yaml")).unwrap();
    render_tree(repo.path(), "test", out.path());
    let tree = tree_text(&out.path().join("test"));
    assert!(!tree.contains("api-nightly"), "stale object left behind");
    let leftovers: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(leftovers, ["test"], "temporary directories left behind");
}

#[test]
fn image_pins_differ_per_channel() {
    let repo = example_copy("quickstart");
    let test = berth(repo.path(), &["render", "-c", "test", "--app", "web"]);
    let prod = berth(repo.path(), &["render", "-c", "prod", "--app", "api"]);
    assert!(
        test.succeeds()
            .stdout
            .contains("image: ghcr.io/example/shop-web:1.8.0-rc.1")
    );
    let prod_out = &prod.succeeds().stdout;
    assert!(
        prod_out.contains("image: ghcr.io/example/shop-api@sha256:4f8e2b0c"),
        "{prod_out}"
    );
    assert!(
        !prod_out.contains("shop-api:3.2.1"),
        "every container, init containers too, is pinned"
    );
}

#[test]
fn values_layer_app_then_channel_then_set() {
    let repo = example_copy("quickstart");
    let run = berth(
        repo.path(),
        &[
            "render",
            "-c",
            "prod",
            "-a",
            "web",
            "--set",
            "replicas=7",
            "--set",
            "domain=x.example.org",
        ],
    );
    let out = &run.succeeds().stdout;
    assert!(out.contains("replicas: 7"), "{out}");
    assert!(out.contains("host: x.example.org"), "{out}");
    // prod's own file still applies where --set says nothing.
    assert!(out.contains("memory: 512Mi"), "{out}");
    assert!(
        !out.contains("kind: Service\nmetadata:\n  name: api"),
        "--app web renders only web"
    );
}

#[test]
fn json_output_is_a_list_of_the_same_objects() {
    let repo = example_copy("quickstart");
    let yaml = berth(repo.path(), &["render", "-c", "test"]);
    let json = berth(repo.path(), &["render", "-c", "test", "-o", "json"]);
    let list: serde_json::Value = serde_json::from_str(&json.succeeds().stdout).unwrap();
    assert_eq!(list["kind"], "List");
    let items = list["items"].as_array().unwrap();
    assert_eq!(
        items.len(),
        yaml.succeeds().stdout.matches("\n---\n").count() + 1
    );
    assert!(
        items
            .iter()
            .all(|i| i["metadata"]["labels"]["berth.dev/channel"] == "test")
    );
}

#[test]
fn strings_yaml_1_1_would_misread_stay_quoted() {
    let repo = example_copy("quickstart");
    let out = berth(repo.path(), &["render", "-c", "test", "-a", "api"]);
    let text = &out.succeeds().stdout;
    assert!(text.contains("maintenance: \"off\""), "{text}");
    assert!(text.contains("retries: \"010\""), "{text}");
    // `defaultMode: 0444` is octal, as kubectl reads it.
    assert!(text.contains("defaultMode: 292"), "{text}");
}

#[test]
fn release_manifest_names_the_source_commit_and_branch() {
    let repo = example_copy("quickstart");
    let git = |args: &[&str]| {
        let status = std::process::Command::new("git")
            .args(args)
            .current_dir(repo.path())
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .unwrap();
        assert!(status.status.success(), "{status:?}");
        String::from_utf8(status.stdout).unwrap()
    };
    git(&["init", "-q", "-b", "feature/x"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "init"]);
    let head = git(&["rev-parse", "HEAD"]).trim().to_string();
    let out = tempfile::tempdir().unwrap();
    render_tree(repo.path(), "test", out.path());
    let release = std::fs::read_to_string(out.path().join("test/.berth/release.yaml")).unwrap();
    assert!(release.contains(&format!("commit: {head}")), "{release}");
    assert!(release.contains("branch: feature/x"), "{release}");
    assert!(release.contains("channel: test"), "{release}");
}

#[test]
fn schema_describes_berth_yaml() {
    let run = berth(Path::new("."), &["schema"]);
    let schema: serde_json::Value = serde_json::from_str(&run.succeeds().stdout).unwrap();
    assert_eq!(schema["title"], "berth.yaml");
    let app = &schema["$defs"]["RawApp"]["properties"];
    for key in [
        "driver",
        "path",
        "namespace",
        "values",
        "release",
        "labels",
        "createNamespace",
        "timeout",
        "prune",
        "allowRemoteBases",
        "source",
    ] {
        assert!(app.get(key).is_some(), "schema lacks apps.*.{key}: {app}");
    }
    let source = &schema["$defs"]["RawAppSource"];
    for key in ["repo", "ref", "path", "allowFloating"] {
        assert!(
            source["properties"].get(key).is_some(),
            "schema lacks apps.*.source.{key}: {source}"
        );
    }
    assert_eq!(source["required"], serde_json::json!(["repo", "ref"]));
    let variant = &schema["$defs"]["RawAppChannel"]["properties"];
    assert!(variant.get("source").is_some(), "{variant}");
    let drivers = schema["$defs"]["DriverKind"].to_string();
    for driver in ["template", "helm", "kustomize", "manifests"] {
        assert!(drivers.contains(driver), "{drivers}");
    }
    assert_eq!(schema["$defs"]["RawChannel"]["additionalProperties"], false);
    assert!(
        schema["$defs"]["RawAppChannel"]["properties"]
            .get("createNamespace")
            .is_some()
    );
}

#[test]
fn config_is_found_from_a_subdirectory_and_with_flags() {
    let repo = example_copy("quickstart");
    let from_sub = berth(
        &repo.path().join("apps/web"),
        &["render", "-c", "test", "-a", "web"],
    );
    from_sub.succeeds();
    let with_c = berth(
        Path::new("/"),
        &[
            "-C",
            repo.path().to_str().unwrap(),
            "render",
            "-c",
            "test",
            "-a",
            "web",
        ],
    );
    assert_eq!(from_sub.stdout, with_c.succeeds().stdout);
    let config = repo.path().join("berth.yaml");
    let with_config = berth(
        Path::new("/"),
        &[
            "--config",
            config.to_str().unwrap(),
            "render",
            "-c",
            "test",
            "-a",
            "web",
        ],
    );
    assert_eq!(from_sub.stdout, with_config.succeeds().stdout);
}

#[test]
fn objects_keep_their_own_namespace_and_labels_win_over_defaults() {
    let repo = repo(&[
        (
            "berth.yaml",
            "defaults:\n  labels:\n    team: platform\napps:\n  a:\n    driver: manifests\n    path: m\n    namespace: apps\nchannels:\n  test: {}\n",
        ),
        (
            "m/x.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: own\n  namespace: elsewhere\n  labels:\n    team: payments\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: defaulted\n",
        ),
    ]);
    let out = berth(repo.path(), &["render", "-o", "json"]);
    let list: serde_json::Value = serde_json::from_str(&out.succeeds().stdout).unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items[0]["metadata"]["name"], "defaulted");
    assert_eq!(items[0]["metadata"]["namespace"], "apps");
    assert_eq!(items[0]["metadata"]["labels"]["team"], "platform");
    assert_eq!(items[1]["metadata"]["namespace"], "elsewhere");
    assert_eq!(items[1]["metadata"]["labels"]["team"], "payments");
}

#[test]
fn cluster_scoped_kinds_get_no_namespace_even_from_crds_in_the_render() {
    let repo = repo(&[
        (
            "berth.yaml",
            "defaults:\n  clusterScoped: [ClusterIssuer.cert-manager.io]\napps:\n  a:\n    driver: manifests\n    path: m\nchannels:\n  test: {}\n",
        ),
        (
            "m/crd.yaml",
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: globals.example.com\nspec:\n  group: example.com\n  scope: Cluster\n  names: {kind: Global, plural: globals}\n  versions: []\n",
        ),
        (
            "m/cr.yaml",
            "apiVersion: example.com/v1\nkind: Global\nmetadata:\n  name: one\n  namespace: ignored\n---\napiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata:\n  name: le\n---\napiVersion: example.com/v1\nkind: Local\nmetadata:\n  name: two\n",
        ),
    ]);
    let out = tempfile::tempdir().unwrap();
    let tree = render_tree(repo.path(), "test", out.path());
    assert!(
        tree.contains("=== _cluster/Global.example.com/one.yaml"),
        "{tree}"
    );
    assert!(
        tree.contains("=== _cluster/ClusterIssuer.cert-manager.io/le.yaml"),
        "{tree}"
    );
    assert!(
        tree.contains("=== default/Local.example.com/two.yaml"),
        "{tree}"
    );
    assert!(!tree.contains("namespace: ignored"), "{tree}");
}

#[test]
fn lists_are_expanded_and_empty_documents_dropped() {
    let repo = repo(&[
        (
            "berth.yaml",
            "apps:\n  a:\n    driver: manifests\n    path: m\nchannels:\n  test: {}\n",
        ),
        (
            "m/list.yaml",
            "---\n# nothing here\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: one}\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: two}\n---\n",
        ),
    ]);
    let out = berth(repo.path(), &["render"]);
    let text = &out.succeeds().stdout;
    assert_eq!(text.matches("kind: ConfigMap").count(), 2, "{text}");
}

#[test]
fn the_built_in_scope_table_covers_every_cluster_scoped_kind_the_api_server_serves() {
    let recorded = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/k8s-recorded/discovery");
    let mut checked = 0;
    for file in ["aggregated_api.json", "aggregated_apis.json"] {
        let text = std::fs::read_to_string(recorded.join(file))
            .unwrap_or_else(|e| panic!("{}: {e}", recorded.join(file).display()));
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        for group in doc["body"]["items"].as_array().unwrap() {
            let name = group["metadata"]["name"].as_str().unwrap_or("");
            for version in group["versions"].as_array().unwrap() {
                for resource in version["resources"].as_array().unwrap() {
                    let kind = resource["responseKind"]["kind"].as_str().unwrap();
                    let cluster = resource["scope"] == "Cluster";
                    let table = berth::render::kinds::CLUSTER_SCOPED.contains(&(name, kind));
                    assert_eq!(cluster, table, "{name}/{kind}: cluster-scoped is {cluster}");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 50, "only {checked} resources read");
}

#[test]
fn a_channel_or_app_named_twice_is_rendered_once() {
    let repo = example_copy("quickstart");
    let once = berth(repo.path(), &["render", "-c", "test", "-a", "web"]);
    let twice = berth(
        repo.path(),
        &[
            "render", "-c", "test", "-c", "test", "-a", "web", "-a", "web",
        ],
    );
    assert_eq!(twice.succeeds().stdout, once.succeeds().stdout);
    let out = tempfile::tempdir().unwrap();
    let out_arg = out.path().to_str().unwrap();
    let written = berth(
        repo.path(),
        &["render", "-c", "test", "-c", "test", "--out", out_arg],
    );
    assert_eq!(
        written.succeeds().stderr.matches("channel test:").count(),
        1,
        "{}",
        written.stderr
    );
}

#[test]
fn the_built_in_kinds_table_is_what_the_api_server_serves() {
    let recorded = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/k8s-recorded/discovery");
    let mut served: Vec<(String, Vec<String>)> = Vec::new();
    for file in ["aggregated_api.json", "aggregated_apis.json"] {
        let text = std::fs::read_to_string(recorded.join(file)).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        for group in doc["body"]["items"].as_array().unwrap() {
            let name = group["metadata"]["name"].as_str().unwrap_or("");
            for version in group["versions"].as_array().unwrap() {
                let version_name = version["version"].as_str().unwrap();
                let api_version = if name.is_empty() {
                    version_name.to_string()
                } else {
                    format!("{name}/{version_name}")
                };
                let mut kinds: Vec<String> = version["resources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["responseKind"]["kind"].as_str().unwrap().to_string())
                    .collect();
                kinds.sort();
                kinds.dedup();
                served.push((api_version, kinds));
            }
        }
    }
    served.sort();
    let table: Vec<(String, Vec<String>)> = berth::render::kinds::BUILT_IN_KINDS
        .iter()
        .map(|(version, kinds)| {
            (
                version.to_string(),
                kinds.iter().map(|k| k.to_string()).collect(),
            )
        })
        .collect();
    assert_eq!(table, served);
}

#[test]
fn symbolic_links_inside_the_repository_are_followed_by_render_and_candidate_alike() {
    let repos = GitRepos::with_files(&[
        (
            "berth.yaml",
            "apps:\n  web:\n    driver: manifests\n    path: m\n  t:\n    driver: template\n    path: t\n    values: [v.yaml]\nchannels:\n  test: {}\n",
        ),
        (
            "shared/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: linked\n",
        ),
        ("config/values.yaml", "name: from-values\n"),
        (
            "t/cm.yaml.j2",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ values.name }}\n",
        ),
    ]);
    std::os::unix::fs::symlink("shared", repos.work().join("m")).unwrap();
    std::os::unix::fs::symlink("config/values.yaml", repos.work().join("v.yaml")).unwrap();
    repos.commit_all("links");
    let rendered = repos.berth(&["render"]);
    let text = &rendered.succeeds().stdout;
    assert!(text.contains("name: linked"), "{text}");
    assert!(text.contains("name: from-values"), "{text}");
    repos.git(&["checkout", "-q", "-b", "feature/x"]);
    repos.berth(&["candidate", "-c", "test"]).succeeds();
    let files = repos.git(&["ls-tree", "-r", "--name-only", "candidates/test/feature/x"]);
    assert!(files.contains("default/ConfigMap/linked.yaml"), "{files}");
    assert!(
        files.contains("default/ConfigMap/from-values.yaml"),
        "{files}"
    );
}

#[test]
fn kubectls_last_applied_annotation_is_not_rendered() {
    let r = repo(&[
        (
            "berth.yaml",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test: {}\n",
        ),
        (
            "m/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '{\"data\":{\"k\":\"old\"}}'\n    keep: me\ndata:\n  k: v\n",
        ),
        (
            "m/cm2.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '{}'\n",
        ),
    ]);
    let out = r.path().join("out");
    let tree = render_tree(r.path(), "test", &out);
    assert!(!tree.contains("last-applied"), "{tree}");
    assert!(tree.contains("keep: me"), "{tree}");
    let b = std::fs::read_to_string(out.join("test/default/ConfigMap/b.yaml")).unwrap();
    assert!(!b.contains("annotations"), "{b}");
}

/// One app, three channels: `{channel}` in its namespace and values, an optional values file
/// only prod has, and a `channels:` override giving prod its own path and namespace. The app
/// keeps its name (and `berth.dev/app` label) in every channel.
#[test]
fn an_app_varies_per_channel_without_being_split() {
    let repo = repo(&[
        (
            "berth.yaml",
            "apps:\n  web:\n    driver: template\n    path: web/base\n    namespace: web-{channel}\n    values:\n      - web/values.yaml\n      - {file: 'web/values-{channel}.yaml', optional: true}\n    channels:\n      prod:\n        path: web/prod\n        namespace: web\nchannels:\n  dev: {}\n  test: {}\n  prod: {}\n",
        ),
        ("web/values.yaml", "size: small\n"),
        ("web/values-test.yaml", "size: medium\n"),
        ("web/values-prod.yaml", "size: large\n"),
        (
            "web/base/cm.yaml.j2",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  size: {{ values.size }}\n  ns: {{ namespace }}\n",
        ),
        (
            "web/prod/cm.yaml.j2",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-prod-only\ndata:\n  size: {{ values.size }}\n",
        ),
    ]);
    let out = berth(repo.path(), &["render", "-o", "json"]);
    let list: serde_json::Value = serde_json::from_str(&out.succeeds().stdout).unwrap();
    let seen: Vec<(String, String, String, String)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let m = &o["metadata"];
            (
                m["labels"]["berth.dev/channel"].as_str().unwrap().into(),
                format!(
                    "{}/{}",
                    m["namespace"].as_str().unwrap(),
                    m["name"].as_str().unwrap()
                ),
                o["data"]["size"].as_str().unwrap().into(),
                m["labels"]["berth.dev/app"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expected = [
        ("dev", "web-dev/web", "small", "web"),
        ("test", "web-test/web", "medium", "web"),
        ("prod", "web/web-prod-only", "large", "web"),
    ]
    .map(|(c, k, s, a)| (c.to_string(), k.to_string(), s.to_string(), a.to_string()));
    assert_eq!(seen, expected);
    // Templates see the channel's namespace.
    let dev = berth(repo.path(), &["render", "-c", "dev"]);
    assert!(
        dev.succeeds().stdout.contains("ns: web-dev"),
        "{}",
        dev.stdout
    );
}

/// A channel's variant with a broken path fails that channel alone, when it is rendered.
#[test]
fn a_variants_broken_path_fails_only_its_channel() {
    let repo = repo(&[
        (
            "berth.yaml",
            "apps:\n  web:\n    driver: manifests\n    path: m\n    channels:\n      prod:\n        path: gone\nchannels:\n  test: {}\n  prod: {}\n",
        ),
        (
            "m/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n",
        ),
    ]);
    berth(repo.path(), &["render", "-c", "test"]).succeeds();
    berth(repo.path(), &["render", "-c", "prod"]).fails_with(&[
        "berth.yaml:7:",
        "channel prod, app web",
        "directory gone does not exist",
    ]);
}

/// A values file only some channels have is skipped where it is optional; one that is not
/// optional is still required in every channel.
#[test]
fn a_missing_values_file_is_an_error_unless_optional() {
    let with_entry = |entry: &str| {
        repo(&[
            (
                "berth.yaml",
                &format!(
                    "apps:\n  web:\n    driver: template\n    path: t\n    values:\n      - {entry}\nchannels:\n  test: {{}}\n  prod: {{}}\n"
                ),
            ),
            ("v-prod.yaml", "size: large\n"),
            (
                "t/cm.yaml.j2",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  size: {{ values.size | default('none') }}\n",
            ),
        ])
    };
    let optional = with_entry("{file: 'v-{channel}.yaml', optional: true}");
    let out = berth(optional.path(), &["render"]);
    let out = &out.succeeds().stdout;
    assert!(
        out.contains("size: large") && out.contains("size: none"),
        "{out}"
    );

    let required = with_entry("'v-{channel}.yaml'");
    berth(required.path(), &["render"]).fails_with(&[
        "berth.yaml:6:",
        "v-test.yaml does not exist",
        "optional: true",
    ]);
}

/// `render -a APP` without `-c` renders the app in every channel that releases it (and no
/// other channel), instead of failing on the first channel that does not.
#[test]
fn an_app_alone_renders_in_every_channel_that_has_it() {
    let repo = repo(&[
        (
            "berth.yaml",
            "apps:\n  web:\n    driver: manifests\n    path: m\n    namespace: web\n  api:\n    driver: manifests\n    path: m\n    namespace: api\nchannels:\n  test:\n    apps: [web]\n  staging:\n    apps: [web, api]\n  prod:\n    apps: [api]\n",
        ),
        (
            "m/x.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
        ),
    ]);
    let rendered = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["render", "-o", "json"];
        all.extend(args);
        let out = berth(repo.path(), &all);
        let list: serde_json::Value = serde_json::from_str(&out.succeeds().stdout).unwrap();
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                format!(
                    "{} {}",
                    o["metadata"]["labels"]["berth.dev/channel"]
                        .as_str()
                        .unwrap(),
                    o["metadata"]["labels"]["berth.dev/app"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(rendered(&["-a", "api"]), ["staging api", "prod api"]);
    assert_eq!(
        rendered(&["-a", "web", "-a", "api"]),
        ["test web", "staging api", "staging web", "prod api"]
    );
    // Naming the channel still refuses an app it does not release.
    berth(repo.path(), &["render", "-c", "test", "-a", "api"])
        .fails_with(&["app `api` is not released through channel `test`"]);
}
