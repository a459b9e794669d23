//! The CI run berth is part of (GitHub Actions), read once from the environment by the command
//! line and passed down: no module below it reads `GITHUB_*` variables itself.

use std::path::PathBuf;

/// What the environment says about the run and the person behind it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CiEnv {
    /// `GITHUB_HEAD_REF`: a pull request's head branch.
    pub head_ref: Option<String>,
    /// `GITHUB_REF_NAME`: the pushed branch (the checkout is detached).
    pub ref_name: Option<String>,
    /// The workflow run's URL.
    pub run_url: Option<String>,
    /// `GITHUB_ACTOR`: who triggered the run.
    pub actor: Option<String>,
    pub job: Option<String>,
    pub run_attempt: Option<String>,
    /// `GITHUB_STEP_SUMMARY`: the job summary file of the current step.
    pub step_summary: Option<PathBuf>,
    /// `USER` and the host name, for runs outside CI.
    pub user: Option<String>,
    pub host: Option<String>,
}

/// The most a step summary may hold (GitHub's limit is 1 MiB per step).
pub const STEP_SUMMARY_LIMIT: usize = 1024 * 1024;

impl CiEnv {
    /// Read the process environment (the command line does, once).
    pub fn from_env() -> Self {
        let mut env = CiEnv::from_vars(|name| std::env::var(name).ok());
        env.host = env.host.or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
        });
        env
    }

    /// From any variable lookup; an empty variable counts as unset.
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let var = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let run_url = match (
            var("GITHUB_SERVER_URL"),
            var("GITHUB_REPOSITORY"),
            var("GITHUB_RUN_ID"),
        ) {
            (Some(server), Some(repository), Some(run)) => {
                Some(format!("{server}/{repository}/actions/runs/{run}"))
            }
            _ => None,
        };
        CiEnv {
            head_ref: var("GITHUB_HEAD_REF"),
            ref_name: var("GITHUB_REF_NAME"),
            run_url,
            actor: var("GITHUB_ACTOR"),
            job: var("GITHUB_JOB"),
            run_attempt: var("GITHUB_RUN_ATTEMPT"),
            step_summary: var("GITHUB_STEP_SUMMARY").map(PathBuf::from),
            user: var("USER"),
            host: var("HOSTNAME"),
        }
    }

    /// Append `markdown` to the job summary, if there is one.
    pub fn append_step_summary(&self, markdown: &str) -> std::io::Result<()> {
        let Some(path) = &self.step_summary else {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_url_needs_all_three_parts_and_empty_means_unset() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            CiEnv::from_vars(move |name| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            })
        };
        let run = vars(&[
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_REPOSITORY", "o/r"),
            ("GITHUB_RUN_ID", "7"),
            ("GITHUB_HEAD_REF", ""),
        ]);
        assert_eq!(
            run.run_url.as_deref(),
            Some("https://github.com/o/r/actions/runs/7")
        );
        assert_eq!(run.head_ref, None);
        let partial = vars(&[("GITHUB_SERVER_URL", "https://github.com"), ("USER", "ana")]);
        assert_eq!(partial.run_url, None);
        assert_eq!(partial.user.as_deref(), Some("ana"));
    }
}
