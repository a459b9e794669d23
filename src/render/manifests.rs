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
        let shown = input.source.display(path);
        let parsed = input
            .source
            .read(path)
            .map_err(|e| crate::source::read_problem(&shown, &e))
            .and_then(|bytes| crate::source::utf8_text(bytes, &shown))
            .and_then(|text| parse_stream(&text, shown.clone(), 0));
        match parsed {
            Ok(found) => manifests.extend(found),
            Err(problem) => problems.push(problem),
        }
    }
    Problems::check(problems)?;
    Ok(manifests)
}
