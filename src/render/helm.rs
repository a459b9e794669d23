//! The `helm` driver: `helm template` of a local chart with the app's layered values.
//!
//! The helm binary is `$BERTH_HELM` or `helm` on PATH. CRDs in the chart's `crds/` are included:
//! berth manages them like any other object. Each object is traced back to the chart file
//! named in helm's `# Source:` comments.

use super::{AppInput, Manifest, parse_stream, run_tool};
use crate::config::for_channel;
use crate::error::{Location, Problem, Problems};
use std::path::Path;
use std::process::Command;

pub fn render(input: &AppInput<'_>, chart: &str, release: &str) -> Result<Vec<Manifest>, Problems> {
    let chart = for_channel(chart, &input.channel.name);
    let shown_chart = input.source.display(&chart);
    let root = input
        .source
        .on_disk()
        .map_err(|e| Problem::io(&shown_chart, &e))?;
    let values_file = tempfile::Builder::new()
        .prefix("berth-values-")
        .suffix(".yaml")
        .tempfile()
        .map_err(|e| Problem::new(format!("cannot write a temporary values file: {e}")))?;
    std::fs::write(values_file.path(), crate::yaml::to_string(&input.values))
        .map_err(|e| Problem::new(format!("cannot write a temporary values file: {e}")))?;

    let program = std::env::var_os("BERTH_HELM").unwrap_or_else(|| "helm".into());
    let mut command = Command::new(program);
    command
        .arg("template")
        .arg(release)
        .arg(root.join(&chart))
        .arg("--namespace")
        .arg(&input.app.namespace)
        .arg("--include-crds")
        .arg("--values")
        .arg(values_file.path());
    let output = run_tool(
        command,
        "helm template",
        &shown_chart,
        "install helm 3 or 4 (https://helm.sh), or set BERTH_HELM to its path",
    )?;
    split_by_source(&output, root, &chart)
}

/// Parse helm's output, attributing each document to the chart file of its `# Source:` line.
fn split_by_source(output: &str, root: &Path, chart: &str) -> Result<Vec<Manifest>, Problems> {
    let manifests = parse_stream(output, root.join(chart), 0)?;
    let sources = source_comments(output);
    let starts: Vec<u64> = manifests
        .iter()
        .map(|m| m.origin.line.unwrap_or(0))
        .collect();
    Ok(manifests
        .into_iter()
        .enumerate()
        .map(|(i, mut manifest)| {
            // The `# Source:` comment between this document's start and the next one's.
            let (from, to) = (starts[i], starts.get(i + 1).copied().unwrap_or(u64::MAX));
            if let Some((_, file)) = sources.iter().rev().find(|(l, _)| (from..to).contains(l)) {
                // `# Source: <chart name>/templates/x.yaml`: the chart's own directory name
                // may differ from the chart's name, so keep the part after the first `/`.
                let relative = file.split_once('/').map_or(file.as_str(), |(_, rest)| rest);
                manifest.origin = Location::file(root.join(chart).join(relative));
            }
            manifest
        })
        .collect())
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
        let output = "---\n# Source: web/templates/service.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: a\n---\n# Source: web/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\n";
        let manifests = split_by_source(output, Path::new("/repo"), "charts/web").unwrap();
        let files: Vec<String> = manifests
            .iter()
            .map(|m| m.origin.file.display().to_string())
            .collect();
        assert_eq!(
            files,
            [
                "/repo/charts/web/templates/service.yaml",
                "/repo/charts/web/templates/deployment.yaml"
            ]
        );
    }
}
