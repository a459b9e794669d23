//! GitHub Actions: what the environment says about the run berth is part of.

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The URL of the current workflow run, when running in GitHub Actions.
pub fn run_url() -> Option<String> {
    Some(format!(
        "{}/{}/actions/runs/{}",
        var("GITHUB_SERVER_URL")?,
        var("GITHUB_REPOSITORY")?,
        var("GITHUB_RUN_ID")?
    ))
}

/// Who triggered the run.
pub fn actor() -> Option<String> {
    var("GITHUB_ACTOR")
}

/// The job summary file of the current step, when running in GitHub Actions.
pub fn step_summary() -> Option<std::path::PathBuf> {
    var("GITHUB_STEP_SUMMARY").map(std::path::PathBuf::from)
}

/// The most a step summary may hold (GitHub's limit is 1 MiB per step).
pub const STEP_SUMMARY_LIMIT: usize = 1024 * 1024;

/// Append `markdown` to the job summary, if there is one.
pub fn append_step_summary(markdown: &str) -> std::io::Result<()> {
    let Some(path) = step_summary() else {
        return Ok(());
    };
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(markdown.as_bytes())?;
    file.write_all(b"\n")
}
