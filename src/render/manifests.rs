//! The `manifests` driver: every `*.yaml`, `*.yml` and `*.json` file below a directory, in path
//! order, taken as it is.

use super::{AppInput, Manifest, parse_stream};
use crate::error::Problems;

pub fn render(input: &AppInput<'_>, dir: &str) -> Result<Vec<Manifest>, Problems> {
    let files = input
        .source
        .files_under(dir)
        .map_err(|e| crate::source::read_problem(&input.source.display(dir), &e))?;
    let mut manifests = Vec::new();
    let mut problems = Vec::new();
    for path in files
        .iter()
        .filter(|p| {
            [".yaml", ".yml", ".json"]
                .iter()
                .any(|ext| p.ends_with(ext))
        })
        .filter(|p| !input.is_values_file(p))
    {
        let parsed = crate::source::read_text(input.source, path)
            .and_then(|text| parse_stream(&text, input.source.display(path), 0));
        match parsed {
            Ok(found) => manifests.extend(found),
            Err(problem) => problems.push(problem),
        }
    }
    Problems::check(problems)?;
    Ok(manifests)
}
