//! A Helm chart's `dependencies`, found in what the commit holds: a chart vendored in its
//! `charts/` directory (unpacked or as `<name>-<version>.tgz`), or a `file://` chart elsewhere in
//! the repository. Nothing is fetched: a render depends on the commit only.

use crate::source::{self, EntryKind, Source};
use serde::Deserialize;

/// Where one dependency of a chart is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// In the chart's own `charts/`: helm finds it there.
    Vendored,
    /// A `file://` chart at this directory of the repository, not in `charts/`: berth hands it
    /// to helm in a copy of the chart's `charts/`.
    Local(String),
    /// Nowhere in the commit.
    Missing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub name: String,
    /// As written in Chart.yaml (`https://…`, `oci://…`, `file://…`, or empty).
    pub repository: String,
    pub version: Option<String>,
    pub found: Found,
}

#[derive(Deserialize)]
struct ChartFile {
    #[serde(default)]
    dependencies: Vec<ChartDependency>,
}

#[derive(Deserialize)]
struct ChartDependency {
    name: String,
    #[serde(default)]
    repository: Option<String>,
    #[serde(default)]
    version: Option<String>,
}

/// The dependencies of the chart in directory `chart`; an error when its Chart.yaml cannot be
/// read.
pub fn dependencies(source: &dyn Source, chart: &str) -> Result<Vec<Dependency>, String> {
    let file = source::join(chart, "Chart.yaml");
    let text = source::read_text(source, &file).map_err(|p| p.message)?;
    let parsed: ChartFile = crate::yaml::from_str(&text).map_err(|e| {
        format!(
            "{}:{}: {}",
            source.display(&file).display(),
            e.line.unwrap_or(0),
            e.message
        )
    })?;
    let vendored = source
        .files_under(&source::join(chart, "charts"))
        .unwrap_or_default();
    Ok(parsed
        .dependencies
        .into_iter()
        .map(|d| {
            let repository = d.repository.unwrap_or_default();
            let unpacked = source::join(chart, &format!("charts/{}/Chart.yaml", d.name));
            let packed_prefix = source::join(chart, &format!("charts/{}-", d.name));
            let found = if source.kind(&unpacked) == Some(EntryKind::File)
                || vendored.iter().any(|f| {
                    f.strip_prefix(&packed_prefix)
                        .is_some_and(|rest| rest.ends_with(".tgz") && !rest.contains('/'))
                }) {
                Found::Vendored
            } else {
                match repository
                    .strip_prefix("file://")
                    .and_then(|rel| source::resolve_relative(chart, rel))
                {
                    Some(dir)
                        if source.outside_link(&dir).is_none()
                            && source.kind(&source::join(&dir, "Chart.yaml"))
                                == Some(EntryKind::File) =>
                    {
                        Found::Local(dir)
                    }
                    _ => Found::Missing,
                }
            };
            Dependency {
                name: d.name,
                repository,
                version: d.version,
                found,
            }
        })
        .collect())
}
/// What is wrong with the chart at `chart` of `source`, as (message, hint): no Chart.yaml, one
/// that cannot be read, or dependencies the commit does not hold.
pub fn problems(source: &dyn Source, chart: &str) -> Vec<(String, String)> {
    let chart_file = source::join(chart, "Chart.yaml");
    if source.kind(&chart_file) != Some(EntryKind::File) {
        return vec![(
            format!(
                "{} is not a Helm chart (no Chart.yaml)",
                source.display(chart).display()
            ),
            "point `path` at the chart's directory".to_string(),
        )];
    }
    let shown = source.display(chart);
    let dependencies = match dependencies(source, chart) {
        Ok(dependencies) => dependencies,
        Err(why) => {
            return vec![(
                format!("cannot read the chart's Chart.yaml: {why}"),
                "fix Chart.yaml; `helm lint` shows what helm makes of it".to_string(),
            )];
        }
    };
    let mut problems = Vec::new();
    for dependency in dependencies {
        if dependency.found != Found::Missing {
            continue;
        }
        let name = &dependency.name;
        let (whence, hint) = match dependency.repository.strip_prefix("file://") {
            Some(_) => (
                "which is not a chart directory inside the repository".to_string(),
                format!(
                    "file:// paths are relative to {} and must name a directory with a \
                     Chart.yaml inside the repository",
                    shown.display()
                ),
            ),
            None => (
                "which the commit does not hold (berth never fetches charts)".to_string(),
                format!(
                    "vendor it: where a network exists, run `helm dependency build {}` and \
                     commit {}/charts/{name}-<version>.tgz (not ignored by .gitignore); or \
                     put the chart in the repository and set `repository: file://<path>`",
                    shown.display(),
                    shown.display()
                ),
            ),
        };
        let version = dependency
            .version
            .as_deref()
            .map(|v| format!(" {v}"))
            .unwrap_or_default();
        let repository = if dependency.repository.is_empty() {
            String::new()
        } else {
            format!(" from {}", dependency.repository)
        };
        problems.push((
            format!(
                "chart {} depends on `{name}`{version}{repository}, {whence}",
                shown.display()
            ),
            hint,
        ));
    }
    problems
}
