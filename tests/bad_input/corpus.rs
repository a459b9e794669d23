//! The table-driven corpus of what users get wrong: each case runs the real binary and must
//! exit 2, name the file (and line where there is one), give a hint for every error, and
//! write nothing (the repository, `--out` included, is byte for byte as before).

use crate::support::*;
use std::path::Path;

const ONE_APP: &str = "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test: {}\n";
const CONFIG_MAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n";
const TEMPLATE_APP: &str = "apps:\n  web:\n    driver: template\n    path: t\n    values: [t/values.yaml]\nchannels:\n  test: {}\n";

/// One bad input and what its message must hold.
struct Case {
    name: &'static str,
    files: Vec<(String, Vec<u8>)>,
    args: Vec<String>,
    expect: Vec<String>,
}

impl Case {
    /// A repository holding `files`, rendered with `render --out out`.
    fn new(name: &'static str, files: &[(&str, &str)], expect: &[&str]) -> Self {
        Case {
            name,
            files: files
                .iter()
                .map(|(p, t)| (p.to_string(), t.as_bytes().to_vec()))
                .collect(),
            args: ["render", "--out", "out"].map(String::from).to_vec(),
            expect: expect.iter().map(|e| e.to_string()).collect(),
        }
    }

    /// Another file (or the same path, replaced), as bytes.
    fn bytes(mut self, path: &str, bytes: &[u8]) -> Self {
        self.files.retain(|(p, _)| p != path);
        self.files.push((path.to_string(), bytes.to_vec()));
        self
    }

    fn file(self, path: &str, text: &str) -> Self {
        self.bytes(path, text.as_bytes())
    }

    fn args(mut self, args: &[&str]) -> Self {
        self.args = args.iter().map(|a| a.to_string()).collect();
        self
    }
}

/// berth.yaml `text` beside a valid app directory `m`.
fn config(name: &'static str, text: &str, expect: &[&str]) -> Case {
    Case::new(
        name,
        &[("berth.yaml", text), ("m/x.yaml", CONFIG_MAP)],
        expect,
    )
}

/// One app whose only manifest, `m/x.yaml`, is `text`.
fn manifest(name: &'static str, text: &str, expect: &[&str]) -> Case {
    Case::new(name, &[("berth.yaml", ONE_APP), ("m/x.yaml", text)], expect)
}

/// A template app whose only template, `t/x.yaml.j2`, is `text` (values: `replicas: 2`).
fn template(name: &'static str, text: &str, expect: &[&str]) -> Case {
    Case::new(
        name,
        &[
            ("berth.yaml", TEMPLATE_APP),
            ("t/values.yaml", "replicas: 2\n"),
            ("t/x.yaml.j2", text),
        ],
        expect,
    )
}

/// Every file below `dir`, as bytes (some cases hold files that are not UTF-8).
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| !e.file_type().is_dir())
        .map(|e| {
            let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
            (rel, std::fs::read(e.path()).unwrap_or_default())
        })
        .collect();
    files.sort();
    files
}

/// What is wrong with the run of `case`, if anything.
fn check(case: &Case) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    for (path, bytes) in &case.files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, bytes).unwrap();
    }
    let before = snapshot(dir.path());
    let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
    let started = std::time::Instant::now();
    let run = berth(dir.path(), &args);
    judge(case, &run, started, snapshot(dir.path()) != before)
}

/// What is wrong with `run` of `case` (started at `started`; `wrote` if anything changed).
fn judge(case: &Case, run: &Run, started: std::time::Instant, wrote: bool) -> Option<String> {
    let mut wrong = Vec::new();
    if run.code != 2 {
        wrong.push(format!("exit {} (not 2)", run.code));
    }
    for needle in &case.expect {
        if !run.stderr.contains(needle.as_str()) {
            wrong.push(format!("no {needle:?}"));
        }
    }
    // clap's own usage errors end in its tip instead of berth's `hint:`.
    let errors = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .count();
    let hints = run.stderr.matches("hint:").count() + run.stderr.matches("try '--help'").count();
    if errors == 0 || hints < errors {
        wrong.push(format!("{errors} errors but {hints} hints"));
    }
    if wrote {
        wrong.push("something was written".into());
    }
    if started.elapsed() > std::time::Duration::from_secs(20) {
        wrong.push(format!("took {:?}", started.elapsed()));
    }
    (!wrong.is_empty()).then(|| {
        format!(
            "{}: {}\n--- stderr:\n{}",
            case.name,
            wrong.join("; "),
            run.stderr
        )
    })
}

/// Run every case; fail listing every case that went wrong.
fn run_all(cases: Vec<Case>) {
    let mut names = std::collections::BTreeSet::new();
    for case in &cases {
        assert!(names.insert(case.name), "two cases are named {}", case.name);
    }
    let failures: Vec<String> = cases.iter().filter_map(check).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

#[test]
fn berth_yaml_types() {
    run_all(vec![
        config(
            "apps as a list",
            "apps: [web]\nchannels:\n  test: {}\n",
            &["berth.yaml:1:"],
        ),
        config(
            "apps as a string",
            "apps: web\nchannels:\n  test: {}\n",
            &["berth.yaml:1:"],
        ),
        config(
            "channels as a list",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels: [test]\n",
            &["berth.yaml:5:"],
        ),
        config(
            "an app as a string",
            "apps:\n  web: manifests\nchannels:\n  test: {}\n",
            &["berth.yaml:2:"],
        ),
        config(
            "driver as a number",
            "apps:\n  web:\n    driver: 5\n    path: m\nchannels:\n  test: {}\n",
            &["berth.yaml:3:"],
        ),
        config(
            "driver capitalised",
            "apps:\n  web:\n    driver: Manifests\n    path: m\nchannels:\n  test: {}\n",
            &["berth.yaml:3:", "Manifests"],
        ),
        config(
            "driver missing",
            "apps:\n  web:\n    path: m\nchannels:\n  test: {}\n",
            &["berth.yaml:", "driver"],
        ),
        config(
            "driver null",
            "apps:\n  web:\n    driver:\n    path: m\nchannels:\n  test: {}\n",
            &["berth.yaml:3:"],
        ),
        config(
            "path as a list",
            "apps:\n  web:\n    driver: manifests\n    path: [m]\nchannels:\n  test: {}\n",
            &["berth.yaml:4:"],
        ),
        config(
            "path as a mapping",
            "apps:\n  web:\n    driver: manifests\n    path: {dir: m}\nchannels:\n  test: {}\n",
            &["berth.yaml:4:"],
        ),
        config(
            "values as a string",
            "apps:\n  web:\n    driver: manifests\n    path: m\n    values: v.yaml\nchannels:\n  test: {}\n",
            &["berth.yaml:5:"],
        ),
        config(
            "labels as a list",
            "apps:\n  web:\n    driver: manifests\n    path: m\n    labels: [team]\nchannels:\n  test: {}\n",
            &["berth.yaml:5:"],
        ),
        config(
            "a label value as a mapping",
            "apps:\n  web:\n    driver: manifests\n    path: m\n    labels:\n      team: {name: a}\nchannels:\n  test: {}\n",
            &["berth.yaml:6:"],
        ),
        config(
            "prune as a word",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test:\n    prune: always\n",
            &["berth.yaml:7:"],
        ),
        config(
            "context as a list",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test:\n    context: [kind]\n",
            &["berth.yaml:7:"],
        ),
        config(
            "channel apps as a string",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test:\n    apps: web\n",
            &["berth.yaml:7:"],
        ),
        config(
            "promotesTo as a list",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test:\n    promotesTo: [prod]\n  prod: {}\n",
            &["berth.yaml:7:"],
        ),
        config(
            "images as a mapping",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test:\n    images: {name: nginx}\n",
            &["berth.yaml:7:"],
        ),
        config(
            "maxPruneShare as a word",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test: {}\napply:\n  maxPruneShare: half\n",
            &["berth.yaml:8:"],
        ),
        config(
            "clusterScoped as a string",
            "defaults:\n  clusterScoped: ClusterIssuer.cert-manager.io\napps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test: {}\n",
            &["berth.yaml:2:"],
        ),
        config(
            "ignore as a mapping",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test: {}\nignore:\n  kind: Deployment\n",
            &["berth.yaml:8:"],
        ),
        config(
            "ignore paths as a string",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test: {}\nignore:\n  - kind: Deployment\n    paths: /spec/replicas\n",
            &["berth.yaml:9:"],
        ),
        config(
            "project as a list",
            "project: [acme]\napps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test: {}\n",
            &["berth.yaml:1:"],
        ),
        config(
            "the whole file a list",
            "- apps\n- channels\n",
            &["berth.yaml:1:"],
        ),
        config("the whole file a word", "berth\n", &["berth.yaml:1"]),
        config("the whole file empty", "", &["berth.yaml"]),
        config("not UTF-8", "", &["berth.yaml:2", "not UTF-8"])
            .bytes("berth.yaml", b"apps:\n  w\xe9b:\n    driver: manifests\n"),
        config(
            "an alias bomb",
            &format!(
                "{ONE_APP}{}",
                alias_bomb(9).replace(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
                    ""
                )
            ),
            &["berth.yaml:"],
        ),
        config(
            "deep nesting",
            &format!("{ONE_APP}ignore: {}", nested(10_000)),
            &["berth.yaml:7"],
        ),
        config("only comments", "# nothing yet\n", &["berth.yaml"]),
        config(
            "apps missing",
            "channels:\n  test: {}\n",
            &["berth.yaml", "apps"],
        ),
        config(
            "channels missing",
            "apps:\n  web:\n    driver: manifests\n    path: m\n",
            &["berth.yaml", "channels"],
        ),
        config(
            "no apps",
            "apps: {}\nchannels:\n  test: {}\n",
            &["berth.yaml", "no apps defined"],
        ),
        config(
            "no channels",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels: {}\n",
            &["berth.yaml", "no channels defined"],
        ),
    ]);
}

#[test]
fn berth_yaml_unknown_keys_at_every_level() {
    run_all(vec![
        config(
            "top level",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test: {}\nversion: 2\n",
            &["berth.yaml:7:", "version", "berth schema"],
        ),
        config(
            "top level typo",
            "app:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test: {}\n",
            &["berth.yaml:1:", "app"],
        ),
        config(
            "defaults",
            "defaults:\n  nmespace: demo\napps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test: {}\n",
            &["berth.yaml:2:", "nmespace"],
        ),
        config(
            "app",
            "apps:\n  web:\n    driver: manifests\n    path: m\n    chart: c\nchannels:\n  test: {}\n",
            &["berth.yaml:5:", "chart"],
        ),
        config(
            "channel",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test:\n    promoteTo: prod\n",
            &["berth.yaml:7:", "promoteTo"],
        ),
        config(
            "image pin",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test:\n    images:\n      - name: nginx\n        tag: '1.27'\n",
            &["berth.yaml:9:", "tag"],
        ),
        config(
            "ignore rule",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test: {}\nignore:\n  - kind: Deployment\n    path: /spec/replicas\n",
            &["berth.yaml:9:", "path"],
        ),
        config(
            "apply",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test: {}\napply:\n  lockTimeout: 5m\n",
            &["berth.yaml:8:", "lockTimeout"],
        ),
        config(
            "snake case",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test:\n    release_branch: releases/test\n",
            &["berth.yaml:7:", "release_branch"],
        ),
        config(
            "CRLF line ends",
            "apps:\r\n  web:\r\n    driver: manifests\r\n    path: m\r\n    replicas: 3\r\nchannels:\r\n  test: {}\r\n",
            &["berth.yaml:5:", "replicas"],
        ),
        config(
            "after a byte order mark",
            "\u{feff}apps:\n  web:\n    driver: manifests\n    path: m\n    replicas: 3\nchannels:\n  test: {}\n",
            &["berth.yaml:5:", "replicas"],
        ),
    ]);
}

#[test]
fn berth_yaml_values_that_are_wrong() {
    run_all(vec![
        config(
            "app name too long",
            &format!(
                "apps:\n  {}:\n    driver: manifests\n    path: m\nchannels:\n  test: {{}}\n",
                "w".repeat(64)
            ),
            &["berth.yaml:2:", "app name"],
        ),
        config(
            "app name with a dot",
            "apps:\n  web.api:\n    driver: manifests\n    path: m\nchannels:\n  test: {}\n",
            &["berth.yaml:2:", "app name `web.api`"],
        ),
        config(
            "channel name with a space",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  my test: {}\n",
            &["berth.yaml:6:", "channel name"],
        ),
        config(
            "channel name empty",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  '': {}\n",
            &["berth.yaml:6:", "channel name"],
        ),
        config(
            "app listed twice",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test:\n    apps: [web, web]\n",
            &["berth.yaml:7:", "listed twice"],
        ),
        config(
            "the same app key twice",
            "apps:\n  web:\n    driver: manifests\n    path: m\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test: {}\n",
            &["berth.yaml:5:"],
        ),
        config(
            "the same top-level key twice",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test: {}\nchannels:\n  prod: {}\n",
            &["berth.yaml:7:"],
        ),
        config(
            "tab indentation",
            "apps:\n\tweb:\n\t\tdriver: manifests\nchannels:\n  test: {}\n",
            &["berth.yaml:2:"],
        ),
        config(
            "release branch climbing",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test:\n    releaseBranch: releases/../prod\n",
            &["berth.yaml:7:", "not a valid branch name"],
        ),
        config(
            "release branch with a space",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test:\n    releaseBranch: my releases\n",
            &["berth.yaml:7:", "not a valid branch name"],
        ),
        config(
            "release branch ending .lock",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test:\n    releaseBranch: releases/test.lock\n",
            &["berth.yaml:7:", "not a valid branch name"],
        ),
        config(
            "release branch empty",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test:\n    releaseBranch: ''\n",
            &["berth.yaml:7:", "not a valid branch name"],
        ),
        config(
            "promotes to itself",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test:\n    promotesTo: test\n",
            &["berth.yaml:7:", "promotes to itself"],
        ),
        config(
            "promotion loop of three",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  a:\n    promotesTo: b\n  b:\n    promotesTo: c\n  c:\n    promotesTo: a\n",
            &["berth.yaml:6:", "promotion loops"],
        ),
        config(
            "promotes to a misspelt channel",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test:\n    promotesTo: prd\n  prod: {}\n",
            &[
                "berth.yaml:7:",
                "`promotesTo: prd` names no channel",
                "channels defined: test, prod",
            ],
        ),
        config(
            "image pin that changes nothing",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test:\n    images:\n      - name: nginx\n",
            &["berth.yaml:8:", "changes nothing"],
        ),
        config(
            "image pin name with a tag",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test:\n    images:\n      - name: nginx:1.27\n        newTag: '1.28'\n",
            &["berth.yaml:8:", "has a tag or digest"],
        ),
        config(
            "image pin name with a digest",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test:\n    images:\n      - name: nginx@sha256:abc\n        newTag: '1.28'\n",
            &["berth.yaml:8:", "has a tag or digest"],
        ),
        config(
            "image pin without a name",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test:\n    images:\n      - newTag: '1.28'\n",
            &["berth.yaml:8:", "name"],
        ),
        config(
            "ignore path with an empty part",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test: {}\nignore:\n  - kind: Deployment\n    paths: [.spec..replicas]\n",
            &["berth.yaml:9:", "ignore path", "JSON pointer"],
        ),
        config(
            "ignore path with an unclosed bracket",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test: {}\nignore:\n  - paths: ['.metadata.annotations[\"x']\n",
            &["berth.yaml:8:", "not closed"],
        ),
        config(
            "ignore rule without paths",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test: {}\nignore:\n  - kind: Deployment\n",
            &["berth.yaml:8:", "paths"],
        ),
        config(
            "maxPruneShare above one",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test: {}\napply:\n  maxPruneShare: 1.5\n",
            &["berth.yaml:8:", "maxPruneShare"],
        ),
        config(
            "maxPruneShare negative",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test: {}\napply:\n  maxPruneShare: -0.1\n",
            &["berth.yaml:8:", "maxPruneShare"],
        ),
        config(
            "apply namespace invalid",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test: {}\napply:\n  namespace: Berth_System\n",
            &["berth.yaml:8:", "apply.namespace"],
        ),
        config(
            "default namespace invalid",
            "defaults:\n  namespace: Demo\napps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test: {}\n",
            &["berth.yaml:2:", "namespace `Demo`"],
        ),
        config(
            "app namespace empty",
            "apps:\n  web:\n    driver: manifests\n    path: m\n    namespace: ''\nchannels:\n  test: {}\n",
            &["berth.yaml:5:", "namespace"],
        ),
        config(
            "default label key invalid",
            "defaults:\n  labels:\n    'bad key': x\napps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test: {}\n",
            &["berth.yaml:3:", "defaults.labels"],
        ),
        config(
            "app label value too long",
            &format!(
                "apps:\n  web:\n    driver: manifests\n    path: m\n    labels:\n      team: {}\nchannels:\n  test: {{}}\n",
                "x".repeat(64)
            ),
            &["berth.yaml:6:", "apps.web.labels"],
        ),
        config(
            "clusterScoped without a group",
            "defaults:\n  clusterScoped: [ClusterIssuer]\napps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test: {}\n",
            &["berth.yaml:2:", "Kind.group"],
        ),
        config(
            "project with a slash",
            "project: acme/shop\napps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test: {}\n",
            &["berth.yaml:1:", "project `acme/shop` is invalid"],
        ),
        config(
            "project too long",
            &format!(
                "project: {}\napps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test: {{}}\n",
                "p".repeat(64)
            ),
            &["berth.yaml:1:", "at most 63"],
        ),
        config(
            "project empty",
            "project: ''\napps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test: {}\n",
            &["berth.yaml:1:", "project"],
        ),
        config(
            "project with {channel}",
            "project: 'shop-{channel}'\napps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test: {}\n",
            &["berth.yaml:1:", "project"],
        ),
        config(
            "release on a kustomize app",
            "apps:\n  web:\n    driver: kustomize\n    path: m\n    release: web\nchannels:\n  test: {}\n",
            &["berth.yaml:5:", "only to the helm driver"],
        ),
        config(
            "values on a kustomize app",
            "apps:\n  web:\n    driver: kustomize\n    path: m\n    values: [m/x.yaml]\nchannels:\n  test: {}\n",
            &["berth.yaml:5:", "take no values files"],
        ),
        config(
            "app timeout that is not a duration",
            "apps:\n  web:\n    driver: manifests\n    path: m\n    timeout: soon\nchannels:\n  test: {}\n",
            &[
                "berth.yaml:5:",
                "app `web`: timeout `soon` is not a duration",
                "10m",
            ],
        ),
        config(
            "app timeout of zero",
            "apps:\n  web:\n    driver: manifests\n    path: m\n    timeout: 0s\nchannels:\n  test: {}\n",
            &["berth.yaml:5:", "timeout `0s`"],
        ),
        config(
            "allowRemoteBases on a manifests app",
            "apps:\n  web:\n    driver: manifests\n    path: m\n    allowRemoteBases: true\nchannels:\n  test: {}\n",
            &[
                "berth.yaml:3:",
                "`allowRemoteBases` applies only to the kustomize driver",
            ],
        ),
        config(
            "createNamespace that is not a boolean",
            "apps:\n  web:\n    driver: manifests\n    path: m\n    createNamespace: sometimes\nchannels:\n  test: {}\n",
            &["berth.yaml:5:"],
        ),
        config(
            "template app without path",
            "apps:\n  web:\n    driver: template\nchannels:\n  test: {}\n",
            &["berth.yaml:3:", "needs `path`"],
        ),
        config(
            "kustomize app without path",
            "apps:\n  web:\n    driver: kustomize\nchannels:\n  test: {}\n",
            &["berth.yaml:3:", "needs `path`", "overlays/{channel}"],
        ),
    ]);
}

#[test]
fn berth_yaml_paths() {
    run_all(vec![
        config(
            "absolute path",
            "apps:\n  web:\n    driver: manifests\n    path: /etc\nchannels:\n  test: {}\n",
            &["berth.yaml:4:", "relative to berth.yaml"],
        ),
        config(
            "climbing path",
            "apps:\n  web:\n    driver: manifests\n    path: m/../../x\nchannels:\n  test: {}\n",
            &["berth.yaml:4:", "leaves the repository"],
        ),
        config(
            "path to a file",
            "apps:\n  web:\n    driver: manifests\n    path: m/x.yaml\nchannels:\n  test: {}\n",
            &["berth.yaml:4:", "m/x.yaml is not a directory"],
        ),
        config(
            "path misspelt",
            "apps:\n  web:\n    driver: manifests\n    path: manifests\nchannels:\n  test: {}\n",
            &["berth.yaml:4:", "directory manifests does not exist"],
        ),
        config(
            "home-relative path",
            "apps:\n  web:\n    driver: manifests\n    path: ~/m\nchannels:\n  test: {}\n",
            &["berth.yaml:4:"],
        ),
        config(
            "{channel} misspelt",
            "apps:\n  web:\n    driver: manifests\n    path: m/{chanel}\nchannels:\n  test: {}\n",
            &["berth.yaml:4:", "m/{chanel} does not exist"],
        ),
        config(
            "{channel} in capitals",
            "apps:\n  web:\n    driver: manifests\n    path: 'm/{CHANNEL}'\nchannels:\n  test: {}\n",
            &["berth.yaml:4:", "does not exist"],
        ),
        config(
            "{channel} with one channel missing",
            "apps:\n  web:\n    driver: manifests\n    path: '{channel}'\nchannels:\n  m: {}\n  prod: {}\n",
            &["berth.yaml:4:", "prod does not exist"],
        ),
        config(
            "{channel} unquoted makes a mapping",
            "apps:\n  web:\n    driver: manifests\n    path: {channel}\nchannels:\n  test: {}\n",
            &["berth.yaml:4:"],
        ),
        config(
            "${channel} shell style",
            "apps:\n  web:\n    driver: manifests\n    path: 'm/${channel}'\nchannels:\n  test: {}\n",
            &["berth.yaml:4:", "does not exist"],
        ),
        config(
            "values file missing",
            "apps:\n  web:\n    driver: manifests\n    path: m\n    values: [values.yaml]\nchannels:\n  test: {}\n",
            &["berth.yaml:5:", "values.yaml does not exist"],
        ),
        config(
            "values file is a directory",
            "apps:\n  web:\n    driver: manifests\n    path: m\n    values: [m]\nchannels:\n  test: {}\n",
            &["berth.yaml:5:", "m is not a file"],
        ),
        config(
            "values file outside",
            "apps:\n  web:\n    driver: manifests\n    path: m\n    values: [../values.yaml]\nchannels:\n  test: {}\n",
            &["berth.yaml:5:", "leaves the repository"],
        ),
        config(
            "channel values file missing",
            "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test:\n    values: ['values/{channel}.yaml']\n",
            &["berth.yaml:7:", "values/test.yaml does not exist"],
        ),
        config(
            "helm chart path without Chart.yaml",
            "apps:\n  web:\n    driver: helm\n    path: m\nchannels:\n  test: {}\n",
            &["berth.yaml:4:", "not a Helm chart"],
        ),
    ]);
}

/// `depth` nested flow sequences: `[[[…]]]`.
fn nested(depth: usize) -> String {
    format!("{}{}\n", "[".repeat(depth), "]".repeat(depth))
}

/// A billion laughs: ten aliases of ten aliases of …, `levels` deep.
fn alias_bomb(levels: usize) -> String {
    let mut text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\nx0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n".to_string();
    for level in 1..=levels {
        let prev = format!("*x{}", level - 1);
        text.push_str(&format!(
            "x{level}: &x{level} [{}]\n",
            [prev.as_str(); 10].join(", ")
        ));
    }
    text
}

#[test]
fn manifests_that_are_not_yaml_or_not_objects() {
    run_all(vec![
        manifest(
            "unclosed quote",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: \"a\n",
            &["m/x.yaml:5", "invalid YAML", "app web"],
        ),
        manifest(
            "bad indentation",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n   namespace: b\n",
            &["m/x.yaml:5", "invalid YAML"],
        ),
        manifest(
            "tab indentation",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: a\n",
            &["m/x.yaml:4", "invalid YAML"],
        ),
        manifest(
            "duplicate key",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n",
            &["m/x.yaml:5", "name"],
        ),
        manifest(
            "a word",
            "hello\n",
            &["m/x.yaml:1", "must be a Kubernetes object"],
        ),
        manifest(
            "a number",
            "42\n",
            &["m/x.yaml:1", "must be a Kubernetes object"],
        ),
        manifest(
            "a list after an object",
            &format!("{CONFIG_MAP}---\n- a\n"),
            &["m/x.yaml:6", "must be a Kubernetes object"],
        ),
        manifest(
            "undefined alias",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: *nope\n",
            &["m/x.yaml:4", "invalid YAML"],
        ),
        manifest(
            "alias bomb",
            &alias_bomb(9),
            &["m/x.yaml:", "exceeds berth's limits"],
        ),
        manifest(
            "deep nesting",
            &nested(100_000),
            &["m/x.yaml:1", "invalid YAML"],
        ),
        manifest(
            "deep nesting in an object",
            &format!("{CONFIG_MAP}data:\n  x: {}", nested(5_000)),
            &["m/x.yaml:6", "invalid YAML"],
        ),
        manifest(
            "a mapping key that is a list",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  ? [a, b]\n  : c\n",
            &["m/x.yaml:"],
        ),
        manifest(
            "a stray document end",
            &format!("{CONFIG_MAP}...\nkind: [\n"),
            &["m/x.yaml:6"],
        ),
        manifest(
            "CRLF line ends",
            "apiVersion: v1\r\nkind: ConfigMap\r\nmetadata:\r\n  name: a\r\ndata: [unclosed\r\n",
            &["m/x.yaml:5", "invalid YAML"],
        ),
        manifest(
            "after a byte order mark",
            "\u{feff}apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata: [unclosed\n",
            &["m/x.yaml:5", "invalid YAML"],
        ),
        manifest(
            "a byte order mark before a bad object",
            "\u{feff}apiVersion: v1\nmetadata:\n  name: a\n",
            &["m/x.yaml:1", "no `kind`"],
        ),
        manifest("not UTF-8", "", &["m/x.yaml:4", "not UTF-8"]).bytes(
            "m/x.yaml",
            b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: \xff\xfe\n",
        ),
        manifest("UTF-16", "", &["m/x.yaml:1", "not UTF-8"]).bytes("m/x.yaml", &utf16(CONFIG_MAP)),
        manifest("invalid JSON", "", &["m/x.json", "invalid YAML"]).file(
            "m/x.json",
            "{\"apiVersion\": \"v1\",\n \"kind\": \"ConfigMap\",\n",
        ),
        manifest(
            "a JSON array",
            "",
            &["m/x.json:1", "must be a Kubernetes object, found a list"],
        )
        .file("m/x.json", "[{\"apiVersion\": \"v1\"}]\n"),
        manifest("a bad .yml file", "", &["m/y.yml:1", "invalid YAML"])
            .file("m/y.yml", "kind: [\n"),
        manifest(
            "a NUL byte",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\0b\n",
            &["m/x.yaml:4"],
        ),
    ]);
}

/// `text` in UTF-16 with a byte order mark, as some Windows editors save it.
fn utf16(text: &str) -> Vec<u8> {
    let mut bytes = vec![0xff, 0xfe];
    for unit in text.encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    bytes
}

/// A ConfigMap with `metadata` lines `meta` (indented two spaces).
fn with_metadata(meta: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n{meta}")
}

#[test]
fn manifests_with_bad_fields() {
    run_all(vec![
        manifest("metadata a list", "apiVersion: v1\nkind: ConfigMap\nmetadata: [a]\n", &["m/x.yaml:1", "metadata"]),
        manifest("metadata a word", "apiVersion: v1\nkind: ConfigMap\nmetadata: a\n", &["m/x.yaml:1", "metadata"]),
        manifest("name a number", &with_metadata("  name: 5\n"), &["m/x.yaml:1", "name"]),
        manifest("name empty", &with_metadata("  name: ''\n"), &["m/x.yaml:1", "name"]),
        manifest("name too long", &with_metadata(&format!("  name: {}\n", "a".repeat(254))), &["m/x.yaml:1", "is invalid"]),
        manifest("name with a slash", &with_metadata("  name: a/b\n"), &["m/x.yaml:1", "is invalid"]),
        manifest("name climbing", &with_metadata("  name: ..\n"), &["m/x.yaml:1", "is invalid"]),
        manifest("name with capitals", &with_metadata("  name: Web\n"), &["m/x.yaml:1", "ConfigMap name `Web` is invalid"]),
        manifest("namespace climbing", &with_metadata("  name: a\n  namespace: ../etc\n"), &["m/x.yaml:1", "namespace `../etc` is invalid"]),
        manifest("namespace a number", &with_metadata("  name: a\n  namespace: 5\n"), &["m/x.yaml:1", "namespace"]),


        manifest("labels a list", &with_metadata("  name: a\n  labels: [a]\n"), &["m/x.yaml:1", "metadata.labels"]),
        manifest("label key with a space", &with_metadata("  name: a\n  labels:\n    'my team': x\n"), &["m/x.yaml:1", "metadata.labels"]),
        manifest("label key prefix too long", &with_metadata(&format!("  name: a\n  labels:\n    {}/team: x\n", "p".repeat(254))), &["m/x.yaml:1", "metadata.labels"]),
        manifest("label value too long", &with_metadata(&format!("  name: a\n  labels:\n    team: {}\n", "v".repeat(64))), &["m/x.yaml:1", "metadata.labels"]),
        manifest("label value a boolean", &with_metadata("  name: a\n  labels:\n    canary: yes\n"), &["m/x.yaml:1", "metadata.labels", "must be a string"]),
        manifest("annotations a list", &with_metadata("  name: a\n  annotations: [a]\n"), &["m/x.yaml:1", "metadata.annotations"]),
        manifest("annotation value a mapping", &with_metadata("  name: a\n  annotations:\n    note: {a: b}\n"), &["m/x.yaml:1", "metadata.annotations"]),
        manifest("kind a number", "apiVersion: v1\nkind: 5\nmetadata:\n  name: a\n", &["m/x.yaml:1", "kind"]),
        manifest("kind empty", "apiVersion: v1\nkind: ''\nmetadata:\n  name: a\n", &["m/x.yaml:1", "kind"]),
        manifest("kind lower case", "apiVersion: v1\nkind: configmap\nmetadata:\n  name: a\n", &["m/x.yaml:1", "did you mean `kind: ConfigMap`?"]),
        manifest("apiVersion a number", "apiVersion: 1\nkind: ConfigMap\nmetadata:\n  name: a\n", &["m/x.yaml:1", "apiVersion"]),
        manifest("apiVersion empty", "apiVersion: ''\nkind: ConfigMap\nmetadata:\n  name: a\n", &["m/x.yaml:1", "apiVersion"]),
        manifest("apiVersion with three parts", "apiVersion: a/b/v1\nkind: ConfigMap\nmetadata:\n  name: a\n", &["m/x.yaml:1", "apiVersion `a/b/v1` is invalid"]),

        manifest("the same object twice in a file", &format!("{CONFIG_MAP}---\n{CONFIG_MAP}"), &["default/ConfigMap/a is rendered twice", "m/x.yaml:1", "m/x.yaml:6"]),
        manifest("the same object in two files", CONFIG_MAP, &["default/ConfigMap/a is rendered twice", "m/x.yaml:1", "m/y.yaml:1"]).file("m/y.yaml", CONFIG_MAP),
        manifest("a List with a Secret", "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Secret\n    metadata:\n      name: s\n    stringData:\n      password: hunter2\n", &["m/x.yaml:", "inline stringData"]),
        manifest("a List with a bad item", "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: ConfigMap\n    metadata:\n      name: A_B\n", &["m/x.yaml:", "is invalid"]),
        manifest("a List whose items are not a list", "apiVersion: v1\nkind: List\nitems: {a: b}\n", &["m/x.yaml:1", "`List` must hold its objects in `items`, a list; found a map"]),
        manifest("a List without items", "apiVersion: v1\nkind: ConfigMapList\n", &["m/x.yaml:1", "`ConfigMapList` must hold its objects in `items`"]),
        manifest("a Namespace with a bad name", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: Team_A\n", &["m/x.yaml:1", "is invalid"]),
        manifest("a label key with two slashes", &with_metadata("  name: a\n  labels:\n    a/b/c: x\n"), &["m/x.yaml:1", "metadata.labels"]),
        manifest("a Secret in JSON", "", &["m/s.json:1", "inline data"]).file("m/s.json", "{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"metadata\": {\"name\": \"s\"}, \"data\": {\"k\": \"dg==\"}}\n"),
    ]);
}

#[test]
fn templates() {
    run_all(vec![
        template(
            "unknown filter",
            "x: {{ values.replicas | nope }}\n",
            &["t/x.yaml.j2:1", "nope"],
        ),
        template(
            "unknown function",
            "x: {{ nope() }}\n",
            &["t/x.yaml.j2:1", "nope"],
        ),
        template(
            "undefined below undefined",
            &format!("{CONFIG_MAP}data:\n  x: {{{{ values.a.b }}}}\n"),
            &["t/x.yaml.j2:6", "values.a"],
        ),
        template(
            "undefined top-level name",
            &format!("{CONFIG_MAP}data:\n  x: {{{{ replicas }}}}\n"),
            &["t/x.yaml.j2:6", "replicas"],
        ),
        template(
            "include of a missing template",
            "{% include 'missing.j2' %}\n",
            &["t/x.yaml.j2:1", "missing.j2"],
        ),
        template(
            "extends a missing template",
            "{% extends 'base.j2' %}\n",
            &["t/x.yaml.j2:1", "base.j2"],
        ),
        template(
            "endfor without for",
            "{% endfor %}\n",
            &["t/x.yaml.j2:1", "template syntax error"],
        ),
        template(
            "unclosed comment",
            "{# nothing\n",
            &["t/x.yaml.j2:", "template syntax error"],
        ),
        template("division by zero", "x: {{ 1 // 0 }}\n", &["t/x.yaml.j2:1"]),
        template(
            "adding a number to a word",
            "x: {{ values.replicas + 'a' }}\n",
            &["t/x.yaml.j2:1"],
        ),
        template(
            "including itself",
            "{% include 'x.yaml.j2' %}\n",
            &["t/x.yaml.j2"],
        ),
        template(
            "a macro calling itself",
            "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}\n",
            &["t/x.yaml.j2"],
        ),
        template(
            "rendering a list",
            "- a\n- b\n",
            &["t/x.yaml.j2:1", "must be a Kubernetes object"],
        ),
        template(
            "rendering a Secret from values",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  replicas: '{{ values.replicas }}'\n",
            &["t/x.yaml.j2:1", "inline stringData"],
        ),
        template(
            "a value that breaks the YAML",
            &format!("{CONFIG_MAP}data:\n  x: {{{{ values.text }}}}\n"),
            &["t/x.yaml.j2:", "invalid YAML"],
        )
        .file("t/values.yaml", "text: \"a: b: c\"\n"),
        template("not UTF-8", "", &["t/x.yaml.j2:1", "not UTF-8"])
            .bytes("t/x.yaml.j2", b"x: \xff\n"),
        template(
            "a partial not UTF-8",
            "{% include '_p.j2' %}\n",
            &["t/_p.j2:1", "not UTF-8"],
        )
        .bytes("t/_p.j2", b"\xff\xfe\n"),
        template(
            "a plain YAML file beside templates",
            "",
            &["t/plain.yaml:1", "invalid YAML"],
        )
        .file("t/plain.yaml", "kind: [\n"),
    ]);
}

#[test]
fn values_and_set() {
    let manifests_with_values = |name, values: &str, expect: &[&str]| {
        Case::new(
            name,
            &[
                (
                    "berth.yaml",
                    "apps:\n  web:\n    driver: template\n    path: t\n    values: [v.yaml]\nchannels:\n  test: {}\n",
                ),
                ("t/x.yaml.j2", CONFIG_MAP),
                ("v.yaml", values),
            ],
            expect,
        )
    };
    let set = |name, args: &[&str], expect: &[&str]| {
        let mut all = vec!["render", "--out", "out"];
        all.extend_from_slice(args);
        template(name, CONFIG_MAP, expect).args(&all)
    };
    run_all(vec![
        manifests_with_values("invalid YAML", "a: [\n", &["v.yaml:1", "app web"]),
        manifests_with_values("a word", "hello\n", &["v.yaml", "mapping"]),
        manifests_with_values("a list", "- a\n", &["v.yaml", "mapping"]),
        manifests_with_values("duplicate keys", "a: 1\na: 2\n", &["v.yaml:2"]),
        manifests_with_values(
            "an alias bomb",
            &alias_bomb(9),
            &["v.yaml:", "exceeds berth's limits"],
        ),
        manifests_with_values(
            "deep nesting",
            &format!("a: {}", nested(5_000)),
            &["v.yaml:1"],
        ),
        manifests_with_values("not UTF-8", "", &["v.yaml:1", "not UTF-8"])
            .bytes("v.yaml", b"a: \xff\n"),
        manifests_with_values("CRLF with an error", "a: 1\r\nb: [\r\n", &["v.yaml:2"]),
        manifests_with_values("tab indentation", "a:\n\tb: 1\n", &["v.yaml:2"]),
        set(
            "--set without a value",
            &["--set", "replicas"],
            &["--set", "key=value"],
        ),
        set(
            "--set with an empty key",
            &["--set", "=3"],
            &["--set", "empty key part"],
        ),
        set(
            "--set with an empty key part",
            &["--set", "a..b=3"],
            &["--set", "empty key part"],
        ),
        set(
            "--set with a trailing dot",
            &["--set", "a.=3"],
            &["--set", "empty key part"],
        ),
        set("--set given no argument", &["--set"], &["--set"]),
    ]);
}

#[test]
fn command_lines() {
    let cli = |name, args: &[&str], expect: &[&str]| {
        Case::new(
            name,
            &[("berth.yaml", ONE_APP), ("m/x.yaml", CONFIG_MAP)],
            expect,
        )
        .args(args)
    };
    run_all(vec![
        cli(
            "an unknown channel",
            &["render", "-c", "prod", "--out", "out"],
            &[
                "berth.yaml",
                "unknown channel `prod`",
                "channels defined: test",
            ],
        ),
        cli(
            "an unknown channel after a known one",
            &["render", "-c", "test", "-c", "tset", "--out", "out"],
            &["unknown channel `tset`"],
        ),
        cli(
            "an unknown app",
            &["render", "-a", "api", "--out", "out"],
            &["berth.yaml", "unknown app `api`"],
        ),
        cli(
            "an unknown flag",
            &["render", "--channels", "test"],
            &["--channels"],
        ),
        cli("an unknown command", &["deploy"], &["deploy"]),
        cli("an unknown format", &["render", "-o", "xml"], &["xml"]),
        cli(
            "--out without a directory",
            &["render", "--out"],
            &["--out"],
        ),
        cli(
            "--config that is missing",
            &["--config", "nope.yaml", "render", "--out", "out"],
            &["nope.yaml"],
        ),
        cli(
            "--config that is a directory",
            &["--config", "m", "render", "--out", "out"],
            &["m"],
        ),
        cli(
            "-C to a missing directory",
            &["-C", "nope", "render", "--out", "out"],
            &["nope"],
        ),
        cli(
            "--out that is a file",
            &["render", "--out", "m/x.yaml"],
            &["m/x.yaml"],
        ),
        cli(
            "diff with --render and --against",
            &["diff", "-c", "test", "--render", "--against", "HEAD"],
            &["--against"],
        ),
        cli(
            "diff with a context that is not a number",
            &["diff", "-c", "test", "--render", "-U", "many"],
            &["many"],
        ),
        cli(
            "apply with a wait timeout that is not a duration",
            &["apply", "-c", "test", "--timeout", "soon"],
            &["soon"],
        ),
        cli(
            "apply of an unknown app",
            &["apply", "-c", "test", "-a", "api"],
            &["berth.yaml", "unknown app `api`", "apps defined: web"],
        ),
        cli(
            "candidate outside git",
            &["candidate", "-c", "test"],
            &["git"],
        ),
        cli(
            "diff against a ref outside git",
            &["diff", "-c", "test", "--against", "releases/test"],
            &["releases/test"],
        ),
        Case::new(
            "no berth.yaml anywhere",
            &[("m/x.yaml", CONFIG_MAP)],
            &["no berth.yaml", "-C DIR"],
        ),
    ]);
}

/// A helm app whose chart's Chart.yaml is `chart`.
fn chart(name: &'static str, chart: &str, expect: &[&str]) -> Case {
    Case::new(
        name,
        &[
            (
                "berth.yaml",
                "apps:\n  web:\n    driver: helm\n    path: charts/web\nchannels:\n  test: {}\n",
            ),
            ("charts/web/Chart.yaml", chart),
            (
                "charts/other/Chart.yaml",
                "apiVersion: v2\nname: other\nversion: 1.0.0\n",
            ),
        ],
        expect,
    )
}

#[test]
fn helm_chart_dependencies() {
    const HEAD: &str = "apiVersion: v2\nname: web\nversion: 1.0.0\ndependencies:\n";
    run_all(vec![
        chart(
            "a dependency from a chart repository that is not vendored",
            &format!(
                "{HEAD}  - name: redis\n    version: 17.3.2\n    repository: https://charts.bitnami.com/bitnami\n"
            ),
            &[
                "berth.yaml:4:",
                "charts/web depends on `redis` 17.3.2 from https://charts.bitnami.com/bitnami",
                "never fetches",
                "helm dependency build",
                "charts/web/charts/redis-<version>.tgz",
            ],
        ),
        chart(
            "a file:// dependency that is not there",
            &format!("{HEAD}  - name: common\n    repository: file://../common\n"),
            &[
                "berth.yaml:4:",
                "depends on `common` from file://../common",
                "not a chart directory",
            ],
        ),
        chart(
            "a file:// dependency outside the repository",
            &format!("{HEAD}  - name: other\n    repository: file://../../../other\n"),
            &[
                "berth.yaml:4:",
                "depends on `other`",
                "inside the repository",
            ],
        ),
        chart(
            "a vendored directory without Chart.yaml",
            &format!("{HEAD}  - name: other\n    repository: https://example.com\n"),
            &["berth.yaml:4:", "depends on `other`"],
        )
        .file("charts/web/charts/other/values.yaml", "a: 1\n"),
        chart(
            "dependencies that are not a list",
            &format!("{HEAD}  name: redis\n"),
            &[
                "berth.yaml:4:",
                "cannot read the chart's Chart.yaml",
                "Chart.yaml:5",
            ],
        ),
    ]);
}

/// A kustomize app `web` whose overlay `overlay` has the kustomization `kustomization`, beside
/// a local base `base` (a ConfigMap).
fn overlay(name: &'static str, kustomization: &str, expect: &[&str]) -> Case {
    Case::new(
        name,
        &[
            (
                "berth.yaml",
                "apps:\n  web:\n    driver: kustomize\n    path: overlay\nchannels:\n  test: {}\n",
            ),
            ("overlay/kustomization.yaml", kustomization),
            ("base/kustomization.yaml", "resources:\n  - x.yaml\n"),
            ("base/x.yaml", CONFIG_MAP),
        ],
        expect,
    )
}

#[test]
fn kustomize_remote_bases() {
    const REFUSED: [&str; 4] = [
        "remote base",
        "vendor the base",
        "`source:`",
        "allowRemoteBases: true",
    ];
    let expect = |at: &'static str, entry: &'static str| -> Vec<&'static str> {
        let mut expect = vec![at, entry];
        expect.extend(REFUSED);
        expect
    };
    run_all(vec![
        overlay(
            "an https base in the overlay",
            "resources:\n  - ../base\n  - https://github.com/acme/base//deploy?ref=v1.2.0\n",
            &expect(
                "overlay/kustomization.yaml:3",
                "`https://github.com/acme/base//deploy?ref=v1.2.0` in `resources:`",
            ),
        ),
        overlay(
            "a github.com base with ?ref=",
            "# was: github.com/acme/base/deploy?ref=main\nresources:\n  - \"github.com/acme/base/deploy?ref=main\"\n",
            &expect(
                "overlay/kustomization.yaml:3",
                "`github.com/acme/base/deploy?ref=main`",
            ),
        ),
        overlay(
            "an ssh component",
            "resources:\n  - ../base\ncomponents:\n  - git@github.com:acme/parts.git//probes\n",
            &expect("overlay/kustomization.yaml:4", "in `components:`"),
        ),
        overlay(
            "a remote base inside a local base",
            "resources:\n  - ../base\n",
            &expect(
                "base/kustomization.yaml:3",
                "`ssh://git@example.com/acme/base.git` in `resources:`",
            ),
        )
        .file(
            "base/kustomization.yaml",
            "resources:\n  - x.yaml\n  - ssh://git@example.com/acme/base.git\n",
        ),
        overlay(
            "an http base in a nested component",
            "resources:\n  - ../base\ncomponents:\n  - ../parts\n",
            &expect("parts/kustomization.yaml:4", "`http://example.com/probes.yaml`"),
        )
        .file(
            "parts/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources:\n  - http://example.com/probes.yaml\n",
        ),
        overlay(
            "a remote transformer, host in capitals",
            "resources:\n  - ../base\ntransformers:\n  - GitHub.com/acme/transformers/labels\n",
            &expect(
                "overlay/kustomization.yaml:4",
                "`GitHub.com/acme/transformers/labels` in `transformers:`",
            ),
        ),
    ]);
}

/// Every branch and note of `dir` (a work tree or a bare repository).
/// An app `web` (manifests in `m`) released through test and prod, whose app keys are `keys`.
fn variant(name: &'static str, keys: &str, expect: &[&str]) -> Case {
    config(
        name,
        &format!(
            "apps:\n  web:\n    driver: manifests\n{keys}channels:\n  test: {{}}\n  prod: {{}}\n"
        ),
        expect,
    )
}

#[test]
fn per_channel_variants() {
    run_all(vec![
        variant(
            "settings for an undefined channel",
            "    path: m\n    channels:\n      staging:\n        namespace: x\n",
            &[
                "berth.yaml:6:",
                "channel `staging`, which is not defined",
                "test, prod",
            ],
        ),
        config(
            "settings for a channel that does not release the app",
            "apps:\n  web:\n    driver: manifests\n    path: m\n    channels:\n      prod:\n        namespace: x\nchannels:\n  test: {}\n  prod:\n    apps: []\n",
            &["berth.yaml:6:", "channel `prod`, which does not release it"],
        ),
        variant(
            "a namespace invalid in one channel",
            "    path: m\n    namespace: '{channel}_web'\n",
            &[
                "berth.yaml:5:",
                "namespace `test_web` is invalid",
                "namespace `prod_web` is invalid",
            ],
        ),
        variant(
            "an override path that does not exist",
            "    path: m\n    channels:\n      prod:\n        path: m-prod\n",
            &["berth.yaml:7:", "directory m-prod does not exist"],
        ),
        variant(
            "a path only one channel has, without an override",
            "    path: m-{channel}\n",
            &[
                "berth.yaml:4:",
                "m-test does not exist",
                "m-prod does not exist",
            ],
        ),
        variant(
            "a path missing everywhere is reported once",
            "    path: nowhere\n",
            &["berth.yaml:4:", "directory nowhere does not exist"],
        ),
        variant(
            "a release override on a manifests app",
            "    path: m\n    channels:\n      prod:\n        release: web-prod\n",
            &["berth.yaml:7:", "`release` applies only to the helm driver"],
        ),
        variant(
            "an unknown key in a channel's settings",
            "    path: m\n    channels:\n      prod:\n        replicas: 2\n",
            &["berth.yaml:7:", "replicas"],
        ),
        variant(
            "a values entry with a misspelt key",
            "    path: m\n    values:\n      - {file: m/x.yaml, optinal: true}\n",
            &[
                "berth.yaml:6:",
                "a values entry is a path or `{file: PATH, optional: true}`",
            ],
        ),
        variant(
            "an optional values file that is a directory",
            "    path: m\n    values:\n      - {file: m, optional: true}\n",
            &["berth.yaml:6:", "m is not a file"],
        ),
        variant(
            "a channel's values replacing the app's still need their files",
            "    path: m\n    values: [m/x.yaml]\n    channels:\n      prod:\n        values: [m/prod.yaml]\n",
            &["berth.yaml:8:", "m/prod.yaml does not exist"],
        ),
    ]);
}

fn refs(dir: &Path) -> String {
    git(dir, &["for-each-ref", "--format=%(refname) %(objectname)"])
}

/// Bad input in a repository: `berth candidate --push` refuses it and makes or moves no ref,
/// in the clone or in `origin`.
#[test]
fn candidate_moves_no_ref() {
    let cases = vec![
        config(
            "an unknown key",
            "apps:\n  web:\n    driver: manifests\n    path: m\n    replicas: 3\nchannels:\n  test: {}\n",
            &["berth.yaml:5:", "replicas"],
        ),
        config(
            "a missing directory",
            "apps:\n  web:\n    driver: manifests\n    path: mm\nchannels:\n  test: {}\n",
            &["berth.yaml:4:", "mm does not exist"],
        ),
        manifest("invalid YAML", "kind: [\n", &["m/x.yaml:1", "invalid YAML"]),
        manifest(
            "a name climbing",
            &with_metadata("  name: ..\n"),
            &["m/x.yaml:1", "is invalid"],
        ),
        manifest(
            "an inline Secret",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  k: hunter2\n",
            &["m/x.yaml:1", "inline stringData"],
        ),
        template(
            "an undefined value",
            &format!("{CONFIG_MAP}data:\n  x: {{{{ values.nope }}}}\n"),
            &["t/x.yaml.j2:6", "values.nope"],
        ),
        config("an unknown channel", ONE_APP, &["unknown channel `prod`"]).args(&[
            "candidate",
            "-c",
            "prod",
            "--push",
        ]),
    ];
    let mut failures = Vec::new();
    for case in &cases {
        let files: Vec<(&str, &str)> = case
            .files
            .iter()
            .map(|(p, b)| (p.as_str(), std::str::from_utf8(b).unwrap()))
            .collect();
        let repos = GitRepos::with_files(&files);
        repos.git(&["checkout", "-q", "-b", "feature/x"]);
        let before = (refs(&repos.work()), refs(&repos.origin()));
        let args: &[&str] = if case.args[0] == "candidate" {
            &["candidate", "-c", "prod", "--push"]
        } else {
            &["candidate", "-c", "test", "--push"]
        };
        let started = std::time::Instant::now();
        let run = repos.berth(args);
        let after = (refs(&repos.work()), refs(&repos.origin()));
        failures.extend(judge(case, &run, started, after != before));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn checks_image_pins_files_and_set_image_references() {
    let pins = |name: &'static str, text: &str, expect: &[&str]| {
        config(name, ONE_APP, expect).file(".berth/images/test.yaml", text)
    };
    run_all(vec![
        pins(
            "pins file: images is a mapping",
            "images: {name: web}\n",
            &[".berth/images/test.yaml:1:", "berth set-image"],
        ),
        pins(
            "pins file: a pin that changes nothing",
            "images:\n  - name: web\n",
            &[
                ".berth/images/test.yaml:2:",
                "image pin `web` changes nothing",
            ],
        ),
        pins(
            "pins file: unknown key",
            "images:\n  - name: web\n    tag: '1'\n",
            &[".berth/images/test.yaml:3:", "unknown field"],
        ),
        pins(
            "pins file: a name with a tag",
            "images:\n  - name: web:1\n    newTag: '2'\n",
            &[".berth/images/test.yaml:2:", "has a tag or digest"],
        ),
        config(
            "set-image: no tag or digest",
            ONE_APP,
            &["`web:1` is not an image pin", "NAME=TAG"],
        )
        .args(&["set-image", "-c", "test", "web:1"]),
        config("set-image: short digest", ONE_APP, &["digest `sha256:12`"]).args(&[
            "set-image",
            "-c",
            "test",
            "web@sha256:12",
        ]),
        config("set-image: unknown channel", ONE_APP, &["staging"]).args(&[
            "set-image",
            "-c",
            "staging",
            "web=1",
        ]),
        config(
            "check: both run and job",
            &channel_checks("      - {name: a, run: 'true', job: smoke}\n"),
            &[
                "berth.yaml:8:",
                "a check of channel `test` has both `run` and `job`",
                "`run: <command>` or `job: <Job name>`",
            ],
        ),
        config(
            "check: neither run nor job",
            &channel_checks("      - {name: a}\n"),
            &["berth.yaml:8:", "has neither `run` nor `job`"],
        ),
        config(
            "check: a command without a name",
            &channel_checks("      - {run: 'true'}\n"),
            &[
                "berth.yaml:6:",
                "a `run` check of channel `test` has no name",
            ],
        ),
        config(
            "check: a job name that is no name",
            &channel_checks("      - {job: Smoke_Test}\n"),
            &["berth.yaml:8:", "check job `Smoke_Test` is not a Job name"],
        ),
        config(
            "check: a namespace on a command",
            &channel_checks("      - {name: a, run: 'true', namespace: shop}\n"),
            &["berth.yaml:8:", "`namespace` is for a job check"],
        ),
        config(
            "check: a job check named like another",
            &channel_checks("      - {name: smoke, run: 'true'}\n      - {job: smoke}\n"),
            &["berth.yaml:9:", "check `smoke` is listed twice"],
        ),
    ]);
}

/// One app and a channel `test` with `checks` (YAML list items, indented for the channel).
fn channel_checks(checks: &str) -> String {
    format!(
        "apps:\n  web:\n    driver: manifests\n    path: m\nchannels:\n  test:\n    checks:\n{checks}"
    )
}

#[test]
fn helm_secret_values_paths() {
    run_all(vec![config(
        "a secret value path with an empty part",
        "apps:\n  metrics:\n    driver: helm\n    path: m\n    secretValues:\n      auth.: {env: METRICS_PASSWORD}\nchannels:\n  test: {}\n",
        &[
            "berth.yaml:6:",
            "secret value `auth.`: a values path has no empty parts",
            "auth.password",
        ],
    )]);
}
