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
