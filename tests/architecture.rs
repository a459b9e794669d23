//! The layering of `src/`: each module imports only modules before it in the pipeline, so the
//! code reads as the pipeline and no stage reaches into a later one. A new module gets a row
//! here, with the reason it sits where it does.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level modules in pipeline order, each with why it sits there. A module may import
/// those above it, never those below.
const LAYERS: &[(&str, &str)] = &[
    (
        "error",
        "problems and exit codes: every stage reports through them",
    ),
    (
        "yaml",
        "parsing and canonical writing of YAML, under every format",
    ),
    (
        "object",
        "the object vocabulary (keys, names, labels): imports nothing else of berth",
    ),
    (
        "plan",
        "the vocabulary of changes, shared by diff, cluster, apply and report",
    ),
    (
        "ci",
        "the CI run's environment, read once by the command line and passed down",
    ),
    (
        "source",
        "the files of a directory or a commit, for config and render",
    ),
    (
        "tree",
        "the rendered-tree format: a leaf over the object vocabulary",
    ),
    (
        "ignore",
        "ignore rules: config declares them, diff and apply honour them",
    ),
    (
        "secret",
        "masking and scrubbing of Secret values, and the external sources values are read from at diff and apply time (config declares them, diff and apply fill stubs)",
    ),
    ("config", "berth.yaml: the first stage"),
    (
        "render",
        "drivers turn config and sources into rendered trees",
    ),
    (
        "git",
        "trees stored as commits; refs moved by compare-and-swap",
    ),
    (
        "release",
        "which commit a release is, its record, notes and typed outcomes",
    ),
    (
        "github",
        "GitHub's REST API and berth's pull-request comments: needs only error and ci; candidate pull requests will use it, report names its comment marker",
    ),
    (
        "notify",
        "chat messages after an apply: reads the typed apply report and the channel's config, sends over github's HTTP client; apply calls it",
    ),
    (
        "candidate",
        "rendered trees committed on candidate branches; which tree a diff compares",
    ),
    (
        "diff",
        "tree against tree: knows nothing of config or the cluster",
    ),
    (
        "cluster",
        "the live cluster: connect, discover, dry-run plan, the live diff",
    ),
    (
        "status",
        "what runs where, history and drift: reads git, the release module and the live-diff machinery; writes nothing",
    ),
    (
        "report",
        "one printer per output format, for plans, apply reports and status",
    ),
    ("apply", "carries a release out on the cluster"),
    ("cli", "parses flags into library calls and prints: the top"),
];

/// The top-level modules `text` refers to as `crate::<module>`.
fn imports(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `use crate::{a::X, b};`
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.insert(name);
                }
            }
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            found.insert(name);
        }
    }
    found
}

/// Every `.rs` file below `src/`, by its top-level module.
fn modules() -> BTreeMap<String, Vec<(String, String)>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for entry in walkdir::WalkDir::new(&src) {
        let entry = entry.unwrap();
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let relative = path.strip_prefix(&src).unwrap();
        let first = relative.components().next().unwrap().as_os_str();
        let module = Path::new(first)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        modules
            .entry(module)
            .or_default()
            .push((relative.display().to_string(), text));
    }
    modules
}

#[test]
fn every_module_imports_only_earlier_stages() {
    let rank: BTreeMap<&str, usize> = LAYERS
        .iter()
        .enumerate()
        .map(|(i, (name, _))| (*name, i))
        .collect();
    let mut wrong = Vec::new();
    for (module, files) in modules() {
        let Some(&own) = rank.get(module.as_str()) else {
            wrong.push(format!(
                "src/{module}: not in LAYERS; add it where it belongs, with why"
            ));
            continue;
        };
        for (file, text) in files {
            for imported in imports(&text) {
                match rank.get(imported.as_str()) {
                    Some(&other) if other > own => wrong.push(format!(
                        "src/{file} ({module}) imports {imported}, a later stage"
                    )),
                    None if imported != module => wrong.push(format!(
                        "src/{file} imports crate::{imported}, not in LAYERS"
                    )),
                    _ => {}
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the layering is broken:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_layer_exists_and_the_scanner_sees_grouped_imports() {
    let modules = modules();
    for (name, _) in LAYERS {
        assert!(
            modules.contains_key(*name),
            "LAYERS names {name}, which src/ lacks"
        );
    }
    assert_eq!(
        imports("use crate::{object::ObjectKey, plan};\nlet x = crate::tree::short_id(a);"),
        ["object", "plan", "tree"].map(String::from).into()
    );
}
