//! The CI run berth is part of (GitHub Actions), read once from the environment by the command
//! line and passed down: no module below it reads `GITHUB_*` variables itself.

use std::fmt;
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
    /// `GITHUB_SERVER_URL`, e.g. `https://github.com`: for compare links.
    pub server_url: Option<String>,
    /// `GITHUB_ACTOR`: who triggered the run.
    pub actor: Option<String>,
    pub job: Option<String>,
    pub run_attempt: Option<String>,
    /// `GITHUB_STEP_SUMMARY`: the job summary file of the current step.
    pub step_summary: Option<PathBuf>,
    /// `USER` and the host name, for runs outside CI.
    pub user: Option<String>,
    pub host: Option<String>,
    /// `GITHUB_ACTIONS=true`: workflow commands (`::error …::`) on stdout are read.
    pub github_actions: bool,
    /// `GITHUB_API_URL` (GitHub Enterprise Server: `https://HOST/api/v3`).
    pub api_url: Option<String>,
    /// `GITHUB_REPOSITORY`: `owner/name`.
    pub repository: Option<String>,
    /// `BERTH_GITHUB_TOKEN`, else `GITHUB_TOKEN`.
    pub token: Option<Token>,
    /// The pull request of `GITHUB_EVENT_PATH`'s payload (a `pull_request` event).
    pub pull_request: Option<PullRequestEvent>,
    /// Why `GITHUB_EVENT_PATH` could not be read, if it could not: only an error for commands
    /// that need the pull request.
    pub event_error: Option<String>,
}

/// A credential: shown nowhere (its `Debug` is `***`); only the GitHub client reads it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn new(value: impl Into<String>) -> Self {
        Token(value.into())
    }

    /// The value, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

/// What berth needs of a `pull_request` event's payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestEvent {
    /// The payload's `number`.
    pub number: u64,
    /// `pull_request.head.sha`: the commit the run is for.
    pub head_sha: Option<String>,
}

impl PullRequestEvent {
    /// From an event payload; `Ok(None)` for events of no pull request (e.g. `push`).
    pub fn from_payload(text: &str) -> Result<Option<Self>, String> {
        let payload: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let Some(pull_request) = payload.get("pull_request") else {
            return Ok(None);
        };
        let number = payload
            .get("number")
            .or_else(|| pull_request.get("number"))
            .and_then(serde_json::Value::as_u64)
            .ok_or("its pull_request has no number")?;
        let head_sha = pull_request
            .pointer("/head/sha")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string);
        Ok(Some(PullRequestEvent { number, head_sha }))
    }
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
        let (pull_request, event_error) = match var("GITHUB_EVENT_PATH") {
            None => (None, None),
            Some(path) => match std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|text| PullRequestEvent::from_payload(&text))
            {
                Ok(event) => (event, None),
                Err(e) => (None, Some(format!("GITHUB_EVENT_PATH {path}: {e}"))),
            },
        };
        CiEnv {
            head_ref: var("GITHUB_HEAD_REF"),
            ref_name: var("GITHUB_REF_NAME"),
            run_url,
            server_url: var("GITHUB_SERVER_URL"),
            actor: var("GITHUB_ACTOR"),
            job: var("GITHUB_JOB"),
            run_attempt: var("GITHUB_RUN_ATTEMPT"),
            step_summary: var("GITHUB_STEP_SUMMARY").map(PathBuf::from),
            user: var("USER"),
            host: var("HOSTNAME"),
            github_actions: var("GITHUB_ACTIONS").as_deref() == Some("true"),
            api_url: var("GITHUB_API_URL"),
            repository: var("GITHUB_REPOSITORY"),
            token: var("BERTH_GITHUB_TOKEN")
                .or_else(|| var("GITHUB_TOKEN"))
                // A secret pasted with its newline would make an invalid header.
                .map(|token| Token(token.trim().to_string())),
            pull_request,
            event_error,
        }
    }

    /// Append the Markdown `markdown` makes to the job summary, if there is one (and only
    /// then is it made: a report of thousands of objects is not built for nothing).
    pub fn append_step_summary(&self, markdown: impl FnOnce() -> String) -> std::io::Result<()> {
        let Some(path) = &self.step_summary else {
            return Ok(());
        };
        let markdown = markdown();
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

    #[test]
    fn a_pull_request_event_gives_its_number_and_head_and_a_push_none() {
        let event = PullRequestEvent::from_payload(
            r#"{"action":"synchronize","number":7,"pull_request":{"head":{"sha":"abc"}}}"#,
        );
        assert_eq!(
            event,
            Ok(Some(PullRequestEvent {
                number: 7,
                head_sha: Some("abc".into())
            }))
        );
        assert_eq!(
            PullRequestEvent::from_payload(r#"{"ref":"refs/heads/main"}"#),
            Ok(None)
        );
        assert!(PullRequestEvent::from_payload("{").is_err());
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let env = CiEnv {
            token: Some(Token::new("ghs_secret")),
            ..CiEnv::default()
        };
        assert!(!format!("{env:?}").contains("ghs_secret"));
    }
}
