//! The example workflows call berth only with commands and flags it has; actionlint passes every
//! workflow (the repository's and the example's) and the action they use; the action's own
//! shape and shell pass their checks.

use crate::support::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
fn the_example_workflows_use_only_flags_berth_has() {
    let dir = example("quickstart").join(".github/workflows");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        // A command may continue over lines ending in `\`; the action's `args:` is a berth
        // command line without the `berth`.
        let joined = text.replace("\\\n", " ").replace("args: ", "args: berth ");
        for line in joined.lines() {
            let Some(at) = line.find("berth ").filter(|_| !line.contains("install")) else {
                continue;
            };
            let words: Vec<&str> = line[at..].split_whitespace().collect();
            let (Some(command), true) = (words.get(1), words[0] == "berth") else {
                continue;
            };
            if command.starts_with('-') || command.contains('.') {
                continue; // prose, e.g. "berth's"
            }
            let help = berth(&dir, &[command, "--help"]);
            help.succeeds();
            for flag in words.iter().filter(|w| w.starts_with("--")) {
                let flag = flag
                    .split('=')
                    .next()
                    .unwrap()
                    .trim_end_matches([')', '`', ',']);
                // The whole flag: `--require-reviewed` is no `--require-reviewed-plan`.
                let whole = help.stdout.match_indices(flag).any(|(at, _)| {
                    let next = help.stdout[at + flag.len()..].chars().next();
                    !next.is_some_and(|c| c.is_alphanumeric() || c == '-')
                });
                assert!(whole, "{}: berth {command} has no {flag}", path.display());
                checked += 1;
            }
        }
    }
    assert!(checked >= 8, "only {checked} flags found");
}

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every workflow file of the repository and of its examples.
fn workflows() -> Vec<PathBuf> {
    let mut found = Vec::new();
    for dir in [
        repository().join(".github/workflows"),
        example("quickstart").join(".github/workflows"),
    ] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// A linter from `.ci/run`'s PyPI packages; CI must have it, elsewhere the check says so.
fn linter(name: &str) -> Option<&str> {
    let found = Command::new(name).arg("--version").output().is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run {name} (.ci/run installs it from PyPI)"
        );
        eprintln!("{name} is not installed: not checked");
    }
    found.then_some(name)
}

#[test]
fn actionlint_passes_every_workflow_and_the_action() {
    let Some(actionlint) = linter("actionlint") else {
        return;
    };
    let files = workflows();
    assert!(
        files.iter().any(|f| f.ends_with("release.yml")),
        "{files:?}"
    );
    // The action's metadata (action.yml) is checked where a workflow uses it: ci.yml's `uses: ./`
    // (actionlint reads action.yml only through a workflow; given alone, it lints it as one).
    let ci = std::fs::read_to_string(repository().join(".github/workflows/ci.yml")).unwrap();
    assert!(ci.contains("uses: ./\n"), "ci.yml runs the action");
    let output = Command::new(actionlint)
        .current_dir(repository())
        .args(&files)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "actionlint:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn action() -> Value {
    let text = std::fs::read_to_string(repository().join("action.yml")).unwrap();
    berth::yaml::from_str(&text).expect("action.yml parses")
}

#[test]
fn the_action_is_a_composite_that_installs_with_the_tested_script() {
    let action = action();
    assert_eq!(action["runs"]["using"], "composite");
    for input in ["version", "args"] {
        let declared = &action["inputs"][input];
        assert_eq!(declared["required"], false, "{input}");
        assert_eq!(declared["default"], "", "{input}");
    }
    let steps = action["runs"]["steps"].as_array().unwrap();
    let mut calls_script = 0;
    for step in steps.iter().filter(|s| s.get("run").is_some()) {
        let run = step["run"].as_str().unwrap();
        // A composite's run step must name its shell; values come in through `env:`, never
        // `${{ … }}` inside the script (which would be injected as shell code).
        assert_eq!(step["shell"], "bash", "{run}");
        assert!(
            !run.contains("${{"),
            "expression inside a run script: {run}"
        );
        calls_script += run
            .matches("\"$GITHUB_ACTION_PATH/scripts/install.sh\"")
            .count();
    }
    assert_eq!(calls_script, 2, "the action resolves, then installs");
    assert!(steps.iter().any(|s| {
        s["uses"]
            .as_str()
            .is_some_and(|u| u.starts_with("actions/cache@"))
    }));
    // Each input is documented in the README's table of the action's inputs.
    let readme = std::fs::read_to_string(repository().join("README.md")).unwrap();
    for input in action["inputs"].as_object().unwrap().keys() {
        assert!(
            readme.contains(&format!("\n| `{input}` |")),
            "README.md does not document the action's input {input}"
        );
    }
    let script = repository().join("scripts/install.sh");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&script).unwrap().permissions().mode();
    assert_ne!(mode & 0o111, 0, "scripts/install.sh is executable");
}

#[test]
fn shellcheck_passes_the_install_script_and_the_actions_steps() {
    let Some(shellcheck) = linter("shellcheck") else {
        return;
    };
    let steps = tempfile::tempdir().unwrap();
    let mut files = vec![repository().join("scripts/install.sh")];
    for (i, step) in action()["runs"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        if let Some(run) = step["run"].as_str() {
            let file = steps.path().join(format!("step-{i}.sh"));
            std::fs::write(&file, format!("#!/usr/bin/env bash\nset -e\n{run}")).unwrap();
            files.push(file);
        }
    }
    assert!(files.len() >= 4, "{files:?}");
    let output = Command::new(shellcheck).args(&files).output().unwrap();
    assert!(
        output.status.success(),
        "shellcheck:\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
}
