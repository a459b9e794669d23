//! Property tests over what users write: random mutations of a valid berth.yaml, manifests
//! and kubeconfig go through the real library paths (config → render, kubeconfig loading).
//! Each must end, within a time bound, in a result or in `Problems` that name where (and what
//! to do); never in a panic.

use berth::Problems;
use berth::source::DirSource;
use proptest::prelude::*;
use proptest::sample::Index;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// A berth.yaml using every field, valid for [`write_repo`]'s files.
const BERTH_YAML: &str = "project: acme.shop
defaults:
  namespace: demo
  labels:
    team: web
  clusterScoped: [ClusterIssuer.cert-manager.io]
apps:
  web:
    driver: manifests
    path: m
    namespace: web
    labels:
      tier: front
  tpl:
    driver: template
    path: t
    values: [t/values.yaml, 'v/{channel}.yaml']
channels:
  test:
    apps: [web, tpl]
    values: [v/common.yaml]
    images:
      - name: nginx
        newTag: '1.28'
    promotesTo: prod
  prod:
    releaseBranch: releases/production
    context: prod-cluster
    prune: true
ignore:
  - kind: Deployment
    group: apps
    name: web*
    paths: [/spec/replicas, '.metadata.annotations[\"x/y\"]']
apply:
  namespace: berth-system
  maxPruneShare: 0.4
";

/// Manifests using lists, anchors, several documents and every metadata field.
const MANIFESTS: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: &labels
    app: web
  annotations:
    note: \"hello\"
spec:
  replicas: 2
  selector:
    matchLabels: *labels
  template:
    metadata:
      labels: *labels
    spec:
      containers:
        - name: web
          image: nginx:1.27
---
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata:
      name: cfg
      namespace: other
    data:
      a: \"1\"
---
apiVersion: v1
kind: Namespace
metadata:
  name: other
";

const TEMPLATE: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ values.name }}
data:
{% for key, value in values.data | items %}  {{ key }}: \"{{ value }}\"
{% endfor %}";

/// The repository [`BERTH_YAML`] describes, with `berth.yaml` and `m/web.yaml` as given.
fn write_repo(dir: &Path, berth_yaml: &[u8], manifests: &[u8]) {
    let files: [(&str, &[u8]); 7] = [
        ("berth.yaml", berth_yaml),
        ("m/web.yaml", manifests),
        ("t/cm.yaml.j2", TEMPLATE.as_bytes()),
        ("t/values.yaml", b"name: tpl\ndata:\n  x: 1\n"),
        ("v/common.yaml", b"data:\n  y: 2\n"),
        ("v/test.yaml", b"name: tpl-test\n"),
        ("v/prod.yaml", b"name: tpl-prod\n"),
    ];
    for (path, bytes) in files {
        let full = dir.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, bytes).unwrap();
    }
}

/// Config and render of the repository in `dir`, as `berth render` does them.
fn render(dir: &Path) -> Result<(), Problems> {
    let file = dir.join("berth.yaml");
    let source = DirSource::new(dir);
    let config = berth::config::load(&file, &source)?;
    let channels = config.select_channels(&[])?;
    berth::render::render(&config, &channels, &source, &Default::default())?;
    Ok(())
}

/// Run `work` on its own thread: its outcome, or a failure when it panics or outlives `limit`.
fn bounded<T: Send + 'static>(
    limit: Duration,
    work: impl FnOnce() -> T + Send + std::panic::UnwindSafe + 'static,
) -> Result<T, String> {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(std::panic::catch_unwind(work));
    });
    match receive.recv_timeout(limit) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(panic)) => Err(format!(
            "panicked: {}",
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        )),
        Err(_) => Err(format!("did not finish within {limit:?}")),
    }
}

/// Every problem names a place (under `dir`, or berth.yaml's) and says what to do.
fn check_problems(problems: &Problems, dir: &Path) -> Result<(), String> {
    for problem in &problems.0 {
        let Some(location) = &problem.location else {
            return Err(format!("no location: {problem}"));
        };
        if !location.file.starts_with(dir) && location.file.is_absolute() {
            return Err(format!("a location outside the repository: {problem}"));
        }
        if problem.hint.is_none() {
            return Err(format!("no hint: {problem}"));
        }
    }
    Ok(())
}

/// Render the repository with `berth_yaml` and `manifests`: no panic, no hang, and problems
/// with a location and a hint.
fn renders_or_explains(berth_yaml: Vec<u8>, manifests: Vec<u8>) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    write_repo(dir.path(), &berth_yaml, &manifests);
    let root: PathBuf = dir.path().to_path_buf();
    let outcome = bounded(Duration::from_secs(10), move || render(&root)).map_err(|e| {
        format!(
            "{e}\n--- berth.yaml:\n{}\n--- manifests:\n{}",
            String::from_utf8_lossy(&berth_yaml),
            String::from_utf8_lossy(&manifests)
        )
    })?;
    match outcome {
        Ok(()) => Ok(()),
        Err(problems) => check_problems(&problems, dir.path()).map_err(|e| {
            format!(
                "{e}\n--- berth.yaml:\n{}\n--- manifests:\n{}",
                String::from_utf8_lossy(&berth_yaml),
                String::from_utf8_lossy(&manifests)
            )
        }),
    }
}

/// A YAML value of any shape, written as flow YAML (JSON is YAML).
fn yaml_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("~".to_string()),
        Just("''".to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| format!("{n:?}")),
        Just(".nan".to_string()),
        Just("-.inf".to_string()),
        Just("'{channel}'".to_string()),
        Just("../../etc".to_string()),
        Just("/abs".to_string()),
        Just("*undefined".to_string()),
        Just("!!binary AA==".to_string()),
        Just("0777".to_string()),
        Just("yes".to_string()),
        "[a-zA-Z0-9 ./:@_-]{0,70}".prop_map(|s| format!("{s:?}")),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec(("[a-zA-Z]{1,8}", inner), 0..4).prop_map(|v| {
                let pairs: Vec<String> = v.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                format!("{{{}}}", pairs.join(", "))
            }),
        ]
    })
}

/// One mutation of a text.
#[derive(Debug, Clone)]
enum Mutation {
    /// Replace bytes at positions.
    Flip(Vec<(Index, u8)>),
    /// Keep only a prefix.
    Truncate(Index),
    /// Replace the value of a `key: value` line (or the whole line) with another value.
    Value(Index, String),
    /// Remove a line.
    DropLine(Index),
    /// Repeat a line.
    RepeatLine(Index),
    /// Indent a line by one more or one fewer space.
    Shift(Index, bool),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => prop::collection::vec((any::<Index>(), any::<u8>()), 1..4).prop_map(Mutation::Flip),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        3 => (any::<Index>(), yaml_value()).prop_map(|(i, v)| Mutation::Value(i, v)),
        1 => any::<Index>().prop_map(Mutation::DropLine),
        1 => any::<Index>().prop_map(Mutation::RepeatLine),
        1 => (any::<Index>(), any::<bool>()).prop_map(|(i, more)| Mutation::Shift(i, more)),
    ]
}

fn mutate(text: &str, mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    for mutation in mutations {
        let as_text = String::from_utf8_lossy(&bytes).into_owned();
        let mut lines: Vec<String> = as_text.lines().map(str::to_string).collect();
        if lines.is_empty() {
            lines.push(String::new());
        }
        match mutation {
            Mutation::Flip(flips) => {
                if !bytes.is_empty() {
                    for (at, byte) in flips {
                        let i = at.index(bytes.len());
                        bytes[i] = *byte;
                    }
                }
                continue;
            }
            Mutation::Truncate(at) => {
                bytes.truncate(at.index(bytes.len() + 1));
                continue;
            }
            Mutation::Value(at, value) => {
                let i = at.index(lines.len());
                let line = &lines[i];
                lines[i] = match line
                    .find(": ")
                    .or_else(|| line.strip_suffix(':').map(|s| s.len()))
                {
                    Some(colon) => format!("{}: {value}", &line[..colon]),
                    None => {
                        let indent = line.len() - line.trim_start().len();
                        let dash = if line.trim_start().starts_with("- ") {
                            "- "
                        } else {
                            ""
                        };
                        format!("{}{dash}{value}", &line[..indent])
                    }
                };
            }
            Mutation::DropLine(at) => {
                let i = at.index(lines.len());
                lines.remove(i);
            }
            Mutation::RepeatLine(at) => {
                let i = at.index(lines.len());
                lines.insert(i, lines[i].clone());
            }
            Mutation::Shift(at, more) => {
                let i = at.index(lines.len());
                lines[i] = if *more {
                    format!(" {}", lines[i])
                } else {
                    lines[i].strip_prefix(' ').unwrap_or(&lines[i]).to_string()
                };
            }
        }
        bytes = (lines.join("\n") + "\n").into_bytes();
    }
    bytes
}

#[test]
fn the_unmutated_repository_renders() {
    let dir = tempfile::tempdir().unwrap();
    write_repo(dir.path(), BERTH_YAML.as_bytes(), MANIFESTS.as_bytes());
    render(dir.path()).unwrap_or_else(|p| panic!("{p}"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_mutated_berth_yaml_renders_or_is_explained(mutations in prop::collection::vec(mutation(), 1..4)) {
        let text = mutate(BERTH_YAML, &mutations);
        if let Err(e) = renders_or_explains(text, MANIFESTS.as_bytes().to_vec()) {
            prop_assert!(false, "{}", e);
        }
    }

    #[test]
    fn mutated_manifests_render_or_are_explained(mutations in prop::collection::vec(mutation(), 1..4)) {
        let text = mutate(MANIFESTS, &mutations);
        if let Err(e) = renders_or_explains(BERTH_YAML.as_bytes().to_vec(), text) {
            prop_assert!(false, "{}", e);
        }
    }
}

/// A kubeconfig with a token user, a CA and a proxy: every part `load` reads.
const KUBECONFIG: &str = "apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==
    tls-server-name: kube
contexts:
- name: berth-test
  context:
    cluster: c
    user: u
    namespace: demo
current-context: berth-test
users:
- name: u
  user:
    token: s3cr3t-token-value
    impersonate: admin
";

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, failure_persistence: None, ..ProptestConfig::default() })]

    /// Mutated kubeconfigs load or fail with the file named, and the token in no message.
    #[test]
    fn a_mutated_kubeconfig_loads_or_is_explained(mutations in prop::collection::vec(mutation(), 1..4)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        std::fs::write(&path, mutate(KUBECONFIG, &mutations)).unwrap();
        let shown = path.clone();
        let outcome = bounded(Duration::from_secs(10), move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let target = berth::cluster::Target {
                kubeconfig: Some(&shown),
                context: None,
                timeouts: berth::cluster::connect::Timeouts {
                    connect: Duration::from_secs(1),
                    request: Duration::from_secs(1),
                    exec: Duration::from_secs(1),
                },
                concurrency: 16,
            };
            runtime
                .block_on(berth::cluster::connect::load(&target, target.timeouts))
                .map(|_| ())
        });
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        match outcome {
            Err(e) => prop_assert!(false, "{}\n--- kubeconfig:\n{}", e, text),
            Ok(Ok(())) => {}
            Ok(Err(problem)) => {
                let shown = problem.to_string();
                prop_assert!(problem.location.is_some(), "no location: {}\n--- kubeconfig:\n{}", shown, text);
                prop_assert!(problem.hint.is_some(), "no hint: {}\n--- kubeconfig:\n{}", shown, text);
                prop_assert!(!shown.contains("s3cr3t-token"), "the token leaked: {}", shown);
            }
        }
    }
}
