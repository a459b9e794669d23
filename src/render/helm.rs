//! The `helm` driver: `helm template` of a local chart with the app's layered values.
//!
//! The helm binary is `$BERTH_HELM` or `helm` on PATH. CRDs in the chart's `crds/` are included:
//! berth manages them like any other object. Each object is traced back to the chart file
//! named in helm's `# Source:` comments.

use super::{AppInput, Manifest, parse_stream, run_tool};
use crate::config::chart;
use crate::error::{Location, Problem, Problems};
use crate::source::Source;
use std::process::Command;

pub fn render(input: &AppInput<'_>, chart: &str, release: &str) -> Result<Vec<Manifest>, Problems> {
    let shown_chart = input.source.display(chart);
    let root = input
        .source
        .on_disk()
        .map_err(|e| Problem::io(&shown_chart, &e))?;
    let values_file = tempfile::Builder::new()
        .prefix("berth-values-")
        .suffix(".yaml")
        .tempfile()
        .map_err(|e| Problem::new(format!("cannot write a temporary values file: {e}")))?;
    let mut values = input.values.clone();
    for value in input.app.secret_values_in(&input.channel.name) {
        let path: Vec<&str> = value.path.split('.').collect();
        super::values::set_path(&mut values, &path, value.placeholder().into());
    }
    std::fs::write(values_file.path(), crate::yaml::to_string(&values))
        .map_err(|e| Problem::new(format!("cannot write a temporary values file: {e}")))?;

    let (program, install_hint) = program();
    let staged = stage(input.source, chart)?;
    let chart_dir = match &staged {
        Some(dir) => dir.path().join(chart),
        None => root.join(chart),
    };
    let mut command = Command::new(program);
    command
        .arg("template")
        .arg(release)
        .arg(chart_dir)
        .arg("--namespace")
        .arg(&input.variant.namespace)
        .arg("--include-crds")
        .arg("--values")
        .arg(values_file.path());
    // The temporary values file is gone by the time a person reads the error: name the files
    // it was layered from instead.
    let layers: Vec<String> = input
        .variant
        .values
        .iter()
        .filter(|f| !f.optional || input.repository.kind(&f.path).is_some())
        .map(|f| &f.path)
        .chain(&input.channel.values)
        .map(|f| format!(" -f {}", input.repository.display(f).display()))
        .collect();
    let rerun = format!(
        "helm template {release} {} --namespace {} --include-crds{}",
        shown_chart.display(),
        input.variant.namespace,
        layers.concat()
    );
    let output = run_tool(
        command,
        "helm template",
        &shown_chart,
        &install_hint,
        &rerun,
        &|| crate::secret::secret_like_values(&input.values),
    )?;
    let mut manifests = split_by_source(&output, input.source, chart)?;
    // `helm test` hooks are run by hand against an installed release, never part of it.
    manifests.retain(|m| !crate::object::hook::Hook::is_test(&m.value));
    check_placeholders(input, &manifests)?;
    Ok(manifests)
}

/// Refuse a render in which a secret value's placeholder sits where it would not be replaced
/// (anywhere but a Secret's `data` and `stringData`), or sits in no Secret at all.
fn check_placeholders(input: &AppInput<'_>, manifests: &[Manifest]) -> Result<(), Problems> {
    let mut problems = Vec::new();
    for value in input.app.secret_values_in(&input.channel.name) {
        let placeholder = [value.placeholder()];
        let mut used = false;
        for manifest in manifests {
            let is_secret = crate::object::is_secret(&manifest.value);
            used |= is_secret && crate::secret::placeholder::used(&manifest.value, &placeholder)[0];
            let misplaced =
                crate::secret::placeholder::misplaced(&manifest.value, is_secret, &placeholder);
            if !misplaced.is_empty() {
                let object = format!(
                    "{} {}",
                    manifest.value["kind"].as_str().unwrap_or("object"),
                    manifest.value["metadata"]["name"].as_str().unwrap_or("?")
                );
                problems.push(
                    Problem::new(format!(
                        "secret value `{}` lands in {object} at {}: outside a Secret's data and stringData every diff and `kubectl get` would show it",
                        value.path,
                        misplaced.join(", ")
                    ))
                    .at(manifest.origin.clone())
                    .hint("use the value only in a Secret's data or stringData, and reference that Secret (env valueFrom.secretKeyRef, a secret volume)"),
                );
            }
        }
        if !used {
            problems.push(
                Problem::new(format!(
                    "secret value `{}` lands in no Secret: the chart does not use it, or changes it (e.g. hashes it) on the way",
                    value.path
                ))
                .at(value.origin.clone())
                .hint("pass the value unchanged into a Secret's data (b64enc is fine) or stringData, or remove it from `secretValues:`"),
            );
        }
    }
    Problems::check(problems)
}

/// When the chart has `file://` dependencies that are not in its `charts/`, a copy of it (at the
/// same relative path in a temporary directory) with them put there, as `helm dependency build`
/// would: helm renders only what `charts/` holds, and berth never fetches.
fn stage(source: &dyn Source, chart: &str) -> Result<Option<tempfile::TempDir>, Problem> {
    let shown = source.display(chart);
    let dependencies = dependencies(source, chart)?;
    if !dependencies
        .iter()
        .any(|d| matches!(d.found, chart::Found::Local(_)))
    {
        return Ok(None);
    }
    let dir = tempfile::Builder::new()
        .prefix("berth-chart-")
        .tempdir()
        .map_err(|e| Problem::io(&shown, &e))?;
    copy_chart(source, chart, &dir.path().join(chart), 0)?;
    Ok(Some(dir))
}

fn dependencies(source: &dyn Source, chart: &str) -> Result<Vec<chart::Dependency>, Problem> {
    chart::dependencies(source, chart).map_err(|why| {
        Problem::new(format!("cannot read the chart's Chart.yaml: {why}"))
            .in_file(source.display(chart))
    })
}

/// Copy the chart at `from` to `to`, and its `file://` dependencies (theirs too) into
/// `to/charts/<name>`.
fn copy_chart(
    source: &dyn Source,
    from: &str,
    to: &std::path::Path,
    depth: usize,
) -> Result<(), Problem> {
    let shown = source.display(from);
    if depth > 16 {
        return Err(Problem::new("file:// chart dependencies form a loop")
            .in_file(&shown)
            .hint("a chart may not depend on itself, directly or through others"));
    }
    for file in source
        .files_under(from)
        .map_err(|e| Problem::io(&shown, &e))?
    {
        let below = file
            .strip_prefix(from)
            .unwrap_or(&file)
            .trim_start_matches('/');
        let target = to.join(below);
        let bytes = source
            .read(&file)
            .map_err(|e| crate::source::read_problem(&source.display(&file), &e))?;
        std::fs::create_dir_all(target.parent().unwrap_or(to))
            .and_then(|()| std::fs::write(&target, bytes))
            .map_err(|e| Problem::io(&target, &e))?;
    }
    for dependency in dependencies(source, from)? {
        if let chart::Found::Local(dir) = dependency.found {
            copy_chart(
                source,
                &dir,
                &to.join("charts").join(&dependency.name),
                depth + 1,
            )?;
        }
    }
    Ok(())
}

/// The helm binary (`$BERTH_HELM` or `helm`), and what to do when it cannot be run.
pub fn program() -> (std::ffi::OsString, String) {
    match std::env::var_os("BERTH_HELM") {
        Some(path) => {
            let hint = format!(
                "BERTH_HELM={} cannot be run; point it at a helm binary",
                path.to_string_lossy()
            );
            (path, hint)
        }
        None => (
            "helm".into(),
            "install helm 3 or 4 (https://helm.sh), or set BERTH_HELM to its path".to_string(),
        ),
    }
}

/// Parse helm's output, attributing each document to the chart file of its `# Source:` line.
fn split_by_source(
    output: &str,
    source: &dyn Source,
    chart: &str,
) -> Result<Vec<Manifest>, Problems> {
    let manifests = parse_stream(output, source.display(chart), 0)?;
    let sources = source_comments(output);
    let starts: Vec<u64> = manifests
        .iter()
        .map(|m| m.origin.line.unwrap_or(0))
        .collect();
    Ok(manifests
        .into_iter()
        .enumerate()
        .map(|(i, mut manifest)| {
            // A document's own `# Source:` is on its first lines, before the next document.
            // (A template that renders only comments still gets one, with no document.)
            let (from, to) = (starts[i], starts.get(i + 1).copied().unwrap_or(u64::MAX));
            if let Some((_, file)) = sources.iter().find(|(l, _)| (from..to).contains(l)) {
                manifest.origin = Location::file(
                    source.display(&crate::source::join(chart, chart_relative(file))),
                );
            }
            manifest
        })
        .collect())
}

/// `# Source: <chart name>/templates/x.yaml` → `templates/x.yaml`. The chart's directory may be
/// named differently from the chart; older helm writes CRDs as `crds/x.yaml`, without the name.
fn chart_relative(source: &str) -> &str {
    if source.starts_with("crds/") || source.starts_with("templates/") {
        return source;
    }
    source.split_once('/').map_or(source, |(_, rest)| rest)
}

fn source_comments(output: &str) -> Vec<(u64, String)> {
    output
        .lines()
        .enumerate()
        .filter_map(|(i, line)| {
            line.strip_prefix("# Source: ")
                .map(|file| (i as u64 + 1, file.trim().to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_traced_to_their_chart_file() {
        // `optional.yaml` rendered only a comment: its `# Source:` line stands alone.
        let output = "---\n# Source: web/templates/optional.yaml\n# disabled\n---\n# Source: web/templates/service.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: a\n---\n# Source: web/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\n---\n# Source: crds/thing.yaml\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: things.example.com\n";
        let source = crate::source::DirSource::new("/repo");
        let manifests = split_by_source(output, &source, "charts/web").unwrap();
        let files: Vec<String> = manifests
            .iter()
            .map(|m| m.origin.file.display().to_string())
            .collect();
        assert_eq!(
            files,
            [
                "/repo/charts/web/templates/service.yaml",
                "/repo/charts/web/templates/deployment.yaml",
                "/repo/charts/web/crds/thing.yaml"
            ]
        );
    }
}
