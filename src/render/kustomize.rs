//! The `kustomize` driver: `kustomize build <overlay>`, or `kubectl kustomize <overlay>` when
//! no standalone kustomize is on PATH. `$BERTH_KUSTOMIZE` names another command
//! (e.g. `kubectl kustomize`); the overlay directory is appended to it.

use super::{AppInput, Manifest, parse_stream, run_tool};
use crate::error::{Location, Problem, Problems};
use crate::source::Source;
use std::process::Command;

pub fn render(input: &AppInput<'_>, overlay: &str) -> Result<Vec<Manifest>, Problems> {
    let shown = input.source.display(overlay);
    let root = input
        .source
        .on_disk()
        .map_err(|e| Problem::io(&shown, &e))?;
    if !input.app.allow_remote_bases {
        Problems::check(remote_bases(input.source, overlay))?;
    }
    let mut command = kustomize_command()?;
    command.arg(root.join(overlay));
    let rerun = {
        let mut words = vec![command.get_program().to_string_lossy().into_owned()];
        words.extend(command.get_args().map(|a| a.to_string_lossy().into_owned()));
        words.pop();
        words.push(shown.display().to_string());
        words.join(" ")
    };
    let output = run_tool(
        command,
        "kustomize build",
        &shown,
        INSTALL_HINT,
        &rerun,
        &|| secret_literals(input.source),
    )?;
    // Lines of kustomize's output mean nothing in the overlay: name the kustomization only.
    let kustomization =
        kustomization_in(input.source, overlay).unwrap_or_else(|| overlay.to_string());
    let origin = Location::file(input.source.display(&kustomization));
    let mut manifests = parse_stream(&output, shown, 0)?;
    for manifest in &mut manifests {
        manifest.origin = origin.clone();
    }
    Ok(manifests)
}

const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// The kustomization file of directory `dir`, if it has one.
fn kustomization_in(source: &dyn Source, dir: &str) -> Option<String> {
    KUSTOMIZATION_FILES
        .into_iter()
        .map(|name| crate::source::join(dir, name))
        .find(|path| source.kind(path) == Some(crate::source::EntryKind::File))
}

/// One problem per remote base (`resources:`, `components:` or `bases:` entry that is a URL)
/// of the overlay or of any base or component inside the repository it reaches: kustomize
/// would fetch it, making the render depend on the network instead of the commit.
fn remote_bases(source: &dyn Source, overlay: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut pending = vec![overlay.to_string()];
    while let Some(dir) = pending.pop() {
        if !seen.insert(dir.clone()) {
            continue;
        }
        let Some(file) = kustomization_in(source, &dir) else {
            continue;
        };
        // Unreadable or invalid: kustomize itself says what is wrong with it.
        let Ok(text) = crate::source::read_text(source, &file) else {
            continue;
        };
        let Ok(documents) = crate::yaml::parse_documents(&text) else {
            continue;
        };
        let entries = documents.iter().flat_map(|d| {
            // Every list kustomize loads the way it loads `resources:`.
            [
                "resources",
                "components",
                "bases",
                "generators",
                "transformers",
                "validators",
            ]
            .into_iter()
            .filter_map(|key| Some((key, d.value[key].as_array()?)))
            .flat_map(|(key, list)| list.iter().filter_map(move |e| Some((key, e.as_str()?))))
        });
        for (key, entry) in entries {
            if is_remote(entry) {
                // Its `- entry` line; else the first line naming it (a `[a, b]` list).
                let item = |l: &str| {
                    let value = l.trim_start().strip_prefix('-').unwrap_or_default().trim();
                    value.trim_matches(|c| c == '"' || c == '\'') == entry
                };
                let line = (text.lines().position(item))
                    .or_else(|| text.lines().position(|l| l.contains(entry)))
                    .map(|i| i as u64 + 1);
                problems.push(
                    Problem::new(format!(
                        "`{entry}` in `{key}:` is a remote base: kustomize would fetch it from \
                         the network, so the render would not be the commit's"
                    ))
                    .at(Location::at(source.display(&file), line, None))
                    .hint(
                        "vendor the base into the repository and refer to it by path, or \
                         render it as an app with `source:` (another repository, pinned); \
                         `allowRemoteBases: true` on the app allows it",
                    ),
                );
            } else if let Some(path) = crate::source::resolve_relative(&dir, entry)
                && source.kind(&path) == Some(crate::source::EntryKind::Dir)
            {
                pending.push(path);
            }
        }
    }
    problems
}

/// Whether a kustomization entry names something outside the repository: a URL, an scp-like
/// git address, or kustomize's `host/org/repo?ref=` form.
fn is_remote(entry: &str) -> bool {
    // kustomize matches hosts and `git@` whatever their case.
    let entry = entry.trim().to_ascii_lowercase();
    entry.contains("://")
        || entry.starts_with("git@")
        || entry.starts_with("gh:")
        || entry.starts_with("git::")
        || entry.contains("?ref=")
        || entry.contains("?version=")
        || ["github.com/", "gitlab.com/", "bitbucket.org/"]
            .iter()
            .any(|host| entry.starts_with(host))
}

/// Every secretGenerator literal of every kustomization of the repository (an overlay may reach
/// any base), whole (`password=hunter2`, or a bare `hunter2` written without its key) and its
/// value: kustomize repeats a generator's literals in its errors.
fn secret_literals(source: &dyn Source) -> Vec<String> {
    let is_kustomization = |path: &str| {
        let name = path.rsplit('/').next().unwrap_or(path);
        KUSTOMIZATION_FILES.contains(&name)
    };
    let mut literals = Vec::new();
    for path in source.files_under("").unwrap_or_default() {
        if !is_kustomization(&path) {
            continue;
        }
        let Ok(bytes) = source.read(&path) else {
            continue;
        };
        let documents =
            crate::yaml::parse_documents(&String::from_utf8_lossy(&bytes)).unwrap_or_default();
        for document in documents {
            let generators = document.value["secretGenerator"].as_array().cloned();
            for generator in generators.into_iter().flatten() {
                let entries = generator["literals"].as_array().cloned();
                for literal in entries.into_iter().flatten() {
                    let Some(literal) = literal.as_str() else {
                        continue;
                    };
                    if let Some((_, value)) = literal.split_once('=') {
                        literals.push(value.to_string());
                    }
                    literals.push(literal.to_string());
                }
            }
        }
    }
    literals
}

const INSTALL_HINT: &str =
    "install kubectl or kustomize, or set BERTH_KUSTOMIZE to the command to run";

/// The program run for kustomize builds, and what to do when it cannot be found.
pub fn program() -> (std::ffi::OsString, String) {
    let program = kustomize_command()
        .map(|c| c.get_program().to_os_string())
        .unwrap_or_default();
    (program, INSTALL_HINT.to_string())
}

fn kustomize_command() -> Result<Command, Problem> {
    if let Ok(configured) = std::env::var("BERTH_KUSTOMIZE") {
        let mut words = configured.split_whitespace();
        let program = words.next().ok_or_else(|| {
            Problem::new("BERTH_KUSTOMIZE is empty").hint("e.g. `kubectl kustomize`")
        })?;
        let mut command = Command::new(program);
        command.args(words);
        return Ok(command);
    }
    if super::findable("kustomize".as_ref()) {
        let mut command = Command::new("kustomize");
        command.arg("build");
        Ok(command)
    } else {
        let mut command = Command::new("kubectl");
        command.arg("kustomize");
        Ok(command)
    }
}

#[cfg(test)]
mod tests {
    use super::is_remote;

    #[test]
    fn remote_bases_are_told_from_paths() {
        for remote in [
            "https://github.com/acme/base//deploy?ref=v1",
            "http://example.com/base.yaml",
            "git@github.com:acme/base.git",
            "ssh://git@github.com/acme/base.git",
            "github.com/acme/base/deploy?ref=v1.2.0",
            "example.com/acme/base?ref=main",
            "gh:acme/base",
            "GitHub.com/acme/base/deploy",
            "Git@github.com:acme/base.git",
        ] {
            assert!(is_remote(remote), "{remote}");
        }
        for local in [
            "../base",
            "deployment.yaml",
            "components/github.com-like",
            "base",
        ] {
            assert!(!is_remote(local), "{local}");
        }
    }
}
