//! GitHub's REST API, for pull-request comments, candidate pull requests and drift issues: one
//! client over the HTTP stack kube already brings (hyper, hyper-util, rustls).
//!
//! Every request carries `Accept: application/vnd.github+json`, `X-GitHub-Api-Version` and a
//! `User-Agent`; lists are read 100 at a time following `Link: rel="next"`; 5xx answers and
//! rate limits (403/429 with `retry-after`, `x-ratelimit-reset` or `x-ratelimit-remaining: 0`)
//! are retried a few times, each wait capped; 401/403/404 name the permission the workflow's
//! token lacks. The token is only ever put in the `Authorization` header: errors name the
//! request by method and path, never with the token.

pub mod comments;
pub mod issues;
pub mod pulls;

use crate::ci::{CiEnv, Token};
use crate::error::Problem;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The most characters a comment (an issue or pull request comment) may hold.
pub const COMMENT_LIMIT: usize = 65_536;

/// The API version berth is written against.
pub const API_VERSION: &str = "2022-11-28";
const DEFAULT_API_URL: &str = "https://api.github.com";
const USER_AGENT: &str = concat!("berth/", env!("CARGO_PKG_VERSION"));

/// How hard to try: attempts per request, the longest wait before one, the first 5xx back-off.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub attempts: u32,
    pub max_wait: Duration,
    pub backoff: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 4,
            max_wait: Duration::from_secs(60),
            backoff: Duration::from_millis(500),
        }
    }
}

/// The permission a request needs of the workflow's token, named when GitHub refuses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// `pull-requests: write`: comment on a pull request.
    PullRequestsWrite,
    /// `pull-requests: read`: read a pull request and its comments.
    PullRequestsRead,
    /// `issues: write`: open, update and close issues.
    IssuesWrite,
    /// `issues: read`: list issues.
    IssuesRead,
}

impl Permission {
    fn as_str(self) -> &'static str {
        match self {
            Permission::PullRequestsWrite => "pull-requests: write",
            Permission::PullRequestsRead => "pull-requests: read",
            Permission::IssuesWrite => "issues: write",
            Permission::IssuesRead => "issues: read",
        }
    }
}

/// A request to the API: its method, path (below the API URL) and body.
struct Call<'a> {
    method: Method,
    url: String,
    body: Option<&'a Value>,
    needs: Permission,
}

/// An answer: status, headers and JSON body (`Null` when empty).
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

/// An HTTP(S) client over the system's CA certificates (GitHub's and chat webhooks').
pub type HttpClient = HyperClient<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A new [`HttpClient`]; it must be used inside a Tokio runtime.
pub fn http_client() -> Result<HttpClient, Problem> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| Problem::new(format!("cannot load the system's CA certificates: {e}")))?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(HyperClient::builder(hyper_util::rt::TokioExecutor::new()).build(connector))
}

/// A client for one repository.
pub struct Client {
    runtime: tokio::runtime::Runtime,
    http: HttpClient,
    /// The API URL without a trailing `/`.
    api: String,
    /// `owner/name`.
    repository: String,
    token: Token,
    retry: Retry,
}

impl Client {
    /// The client of the CI environment: its token, API URL and repository.
    pub fn from_ci(ci: &CiEnv) -> Result<Client, Problem> {
        let token = ci.token.clone().ok_or_else(|| {
            Problem::new("no GitHub token: GITHUB_TOKEN and BERTH_GITHUB_TOKEN are unset").hint(
                "in a workflow, add `env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}` to the step",
            )
        })?;
        let repository = ci
            .repository
            .clone()
            .filter(|r| r.split('/').filter(|p| !p.is_empty()).count() == 2)
            .ok_or_else(|| {
                Problem::new("GITHUB_REPOSITORY (owner/name) is unset or not owner/name")
                    .hint("GitHub Actions sets it; elsewhere set GITHUB_REPOSITORY=owner/name")
            })?;
        let api = ci
            .api_url
            .as_deref()
            .unwrap_or(DEFAULT_API_URL)
            .trim_end_matches('/')
            .to_string();
        if !(api.starts_with("https://") || api.starts_with("http://")) {
            return Err(Problem::new(format!(
                "GITHUB_API_URL {api} is not an http(s) URL"
            ))
            .hint("e.g. https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server"));
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Problem::new(format!("cannot start the GitHub client: {e}")))?;
        let http = http_client()?;
        Ok(Client {
            runtime,
            http,
            api,
            repository,
            token,
            retry: Retry::default(),
        })
    }

    /// The repository's owner: `head` filters name branches as `owner:branch`.
    pub fn owner(&self) -> &str {
        self.repository.split('/').next().unwrap_or_default()
    }

    /// `/repos/owner/name` + `rest`.
    fn repo_url(&self, rest: &str) -> String {
        format!("{}/repos/{}{rest}", self.api, self.repository)
    }

    /// Every item of a list, 100 a page, following `Link: rel="next"`; `path` may carry a
    /// query of its own (`/pulls?state=open`).
    pub fn list(&self, path: &str, needs: Permission) -> Result<Vec<Value>, Problem> {
        let join = if path.contains('?') { '&' } else { '?' };
        let mut url = self.repo_url(&format!("{path}{join}per_page=100"));
        let mut items = Vec::new();
        loop {
            let answer = self.send(&Call {
                method: Method::GET,
                url: url.clone(),
                body: None,
                needs,
            })?;
            match answer.body {
                Value::Array(page) => items.extend(page),
                _ => {
                    return Err(Problem::new(format!(
                        "GitHub answered GET {} with something other than a list",
                        self.shown(&url)
                    )));
                }
            }
            // Follow only links to the same API: the token goes with every request.
            match next_link(&answer.headers) {
                Some(next) if next.starts_with(&format!("{}/", self.api)) => url = next,
                _ => return Ok(items),
            }
        }
    }

    pub fn post(&self, path: &str, body: &Value, needs: Permission) -> Result<Value, Problem> {
        self.send(&Call {
            method: Method::POST,
            url: self.repo_url(path),
            body: Some(body),
            needs,
        })
        .map(|a| a.body)
    }

    pub fn patch(&self, path: &str, body: &Value, needs: Permission) -> Result<Value, Problem> {
        self.send(&Call {
            method: Method::PATCH,
            url: self.repo_url(path),
            body: Some(body),
            needs,
        })
        .map(|a| a.body)
    }

    pub fn delete(&self, path: &str, needs: Permission) -> Result<(), Problem> {
        self.send(&Call {
            method: Method::DELETE,
            url: self.repo_url(path),
            body: None,
            needs,
        })
        .map(|_| ())
    }

    /// The URL as errors show it: the path below the API URL.
    fn shown<'u>(&self, url: &'u str) -> &'u str {
        url.strip_prefix(&self.api).unwrap_or(url)
    }

    /// Send `call`, retrying 5xx answers and rate limits within [`Retry`]; any other answer
    /// that is not 2xx is an error naming what the token lacks.
    fn send(&self, call: &Call) -> Result<Answer, Problem> {
        let what = format!("{} {}", call.method, self.shown(&call.url));
        let mut backoff = self.retry.backoff;
        let mut attempt = 1;
        loop {
            let result = self.runtime.block_on(self.once(call));
            let wait = match &result {
                Ok(answer) if answer.status.is_success() => break result,
                Ok(answer) if answer.status.is_server_error() => Some(backoff),
                Ok(answer) => rate_limit_wait(answer, SystemTime::now()),
                // The connection failed before an answer: worth another try, like a 5xx.
                Err(_) => Some(backoff),
            };
            let Some(wait) = wait else { break result };
            if attempt >= self.retry.attempts || wait > self.retry.max_wait {
                break result;
            }
            std::thread::sleep(wait);
            backoff *= 2;
            attempt += 1;
        }
        .map_err(|e| {
            Problem::new(format!("cannot reach GitHub for {what}: {e}"))
                .hint("check GITHUB_API_URL and the network")
        })
        .and_then(|answer| {
            if answer.status.is_success() {
                Ok(answer)
            } else {
                Err(refused(&what, &answer, call.needs, attempt))
            }
        })
    }

    async fn once(&self, call: &Call<'_>) -> Result<Answer, String> {
        let body = match call.body {
            Some(body) => Full::new(Bytes::from(
                serde_json::to_vec(body).expect("JSON values serialize"),
            )),
            None => Full::new(Bytes::new()),
        };
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {}", self.token.expose()))
                .map_err(|_| "the GitHub token holds characters a header cannot".to_string())?;
        authorization.set_sensitive(true);
        let request = Request::builder()
            .method(call.method.clone())
            .uri(&call.url)
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", API_VERSION)
            .header("user-agent", USER_AGENT)
            .header("content-type", "application/json")
            .header("authorization", authorization)
            .body(body)
            .map_err(|e| format!("bad request: {e}"))?;
        let work = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| e.to_string())?;
            let (parts, body) = response.into_parts();
            let bytes = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
            Ok(Answer {
                status: parts.status,
                headers: parts.headers,
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            })
        };
        tokio::time::timeout(Duration::from_secs(60), work)
            .await
            .map_err(|_| "no answer within 60s".to_string())?
    }
}

/// How long to wait before retrying a rate-limited answer, `None` when it is not one: 403 and
/// 429 with `retry-after` (seconds), or with `x-ratelimit-remaining: 0` until
/// `x-ratelimit-reset` (epoch seconds), or a secondary limit's message (a minute, as GitHub
/// asks when it names no time).
fn rate_limit_wait(answer: &Answer, now: SystemTime) -> Option<Duration> {
    if !matches!(answer.status.as_u16(), 403 | 429) {
        return None;
    }
    let header = |name: &str| {
        answer
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    if let Some(seconds) = header("retry-after") {
        return Some(Duration::from_secs(seconds));
    }
    let message = answer.body["message"].as_str().unwrap_or_default();
    let exhausted = header("x-ratelimit-remaining") == Some(0);
    if exhausted && let Some(reset) = header("x-ratelimit-reset") {
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        return Some(Duration::from_secs(reset.saturating_sub(now)));
    }
    (exhausted || message.to_ascii_lowercase().contains("rate limit"))
        .then(|| Duration::from_secs(60))
}

/// The error for a refused request: what GitHub said and what the workflow should change.
fn refused(what: &str, answer: &Answer, needs: Permission, attempts: u32) -> Problem {
    let status = answer.status.as_u16();
    let message = answer.body["message"].as_str().unwrap_or("no message");
    let details: Vec<&str> = answer.body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["message"].as_str())
        .collect();
    let said = if details.is_empty() {
        message.to_string()
    } else {
        format!("{message}: {}", details.join("; "))
    };
    let tries = if attempts > 1 {
        format!(" (after {attempts} tries)")
    } else {
        String::new()
    };
    let problem = Problem::new(format!("GitHub refused {what}: {status} {said}{tries}"));
    let limited = rate_limit_wait(answer, SystemTime::now()).is_some();
    match status {
        401 => problem.hint("the token is invalid or expired: check GITHUB_TOKEN / BERTH_GITHUB_TOKEN"),
        403 | 429 if limited => problem.hint(
            "GitHub's rate limit: wait for it to reset, or make fewer requests (e.g. fewer parts)",
        ),
        403 | 404 => problem.hint(format!(
            "the token lacks `{}` (in the workflow: `permissions: {}`), or GITHUB_REPOSITORY and the pull request number are wrong",
            needs.as_str(),
            needs.as_str()
        )),
        _ => problem,
    }
}

/// The `rel="next"` URL of a `Link` header.
fn next_link(headers: &HeaderMap) -> Option<String> {
    let link = headers.get("link")?.to_str().ok()?;
    link.split(',').find_map(|entry| {
        let (url, params) = entry.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim() == "rel=\"next\"")
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

/// A workflow command: `::error file=F,title=T::message`, escaped as the runner expects.
pub fn error_annotation(file: &str, title: &str, message: &str) -> String {
    let data = |s: &str| {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    };
    let property = |s: &str| data(s).replace(':', "%3A").replace(',', "%2C");
    format!(
        "::error file={},title={}::{}",
        property(file),
        property(title),
        data(message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, headers: &[(&'static str, &str)], body: Value) -> Answer {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            headers: map,
            body,
        }
    }

    #[test]
    fn rate_limits_wait_for_retry_after_or_the_reset_and_other_403s_not_at_all() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let wait = |a: &Answer| rate_limit_wait(a, now);
        assert_eq!(
            wait(&answer(429, &[("retry-after", "3")], Value::Null)),
            Some(Duration::from_secs(3))
        );
        let exhausted = [
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1010"),
        ];
        assert_eq!(
            wait(&answer(403, &exhausted, Value::Null)),
            Some(Duration::from_secs(10))
        );
        let secondary = serde_json::json!({"message": "You have exceeded a secondary rate limit."});
        assert_eq!(
            wait(&answer(403, &[], secondary)),
            Some(Duration::from_secs(60))
        );
        let forbidden = serde_json::json!({"message": "Resource not accessible by integration"});
        assert_eq!(
            wait(&answer(403, &[("x-ratelimit-remaining", "10")], forbidden)),
            None
        );
        assert_eq!(
            wait(&answer(500, &[("retry-after", "1")], Value::Null)),
            None
        );
    }

    #[test]
    fn the_next_link_is_found_among_the_others() {
        let a = answer(
            200,
            &[(
                "link",
                r#"<https://api.github.com/r?page=1>; rel="prev", <https://api.github.com/r?page=3>; rel="next", <https://api.github.com/r?page=5>; rel="last""#,
            )],
            Value::Null,
        );
        assert_eq!(
            next_link(&a.headers).as_deref(),
            Some("https://api.github.com/r?page=3")
        );
        assert_eq!(next_link(&HeaderMap::new()), None);
    }

    #[test]
    fn annotations_escape_what_would_end_a_property_or_the_command() {
        assert_eq!(
            error_annotation("a,b:c.yaml", "t", "50% bad\nline"),
            "::error file=a%2Cb%3Ac.yaml,title=t::50%25 bad%0Aline"
        );
    }
}
