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
    let kustomization = ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .into_iter()
        .map(|name| crate::source::join(overlay, name))
        .find(|path| input.source.kind(path).is_some())
        .unwrap_or_else(|| overlay.to_string());
    let origin = Location::file(input.source.display(&kustomization));
    let mut manifests = parse_stream(&output, shown, 0)?;
    for manifest in &mut manifests {
        manifest.origin = origin.clone();
    }
    Ok(manifests)
}

/// Every secretGenerator literal of every kustomization of the repository (an overlay may reach
/// any base), whole (`password=hunter2`, or a bare `hunter2` written without its key) and its
/// value: kustomize repeats a generator's literals in its errors.
fn secret_literals(source: &dyn Source) -> Vec<String> {
    let is_kustomization = |path: &str| {
        let name = path.rsplit('/').next().unwrap_or(path);
        matches!(
            name,
            "kustomization.yaml" | "kustomization.yml" | "Kustomization"
        )
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
