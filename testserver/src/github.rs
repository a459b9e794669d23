//! A fake GitHub REST API for the operations berth uses (issue comments, pull requests,
//! issues), on `127.0.0.1`, built from `shared/github-rest` (operations.json, errors.json and
//! its README's facts): it
//! requires `Authorization` (401 without or with another token) and a `User-Agent` (403
//! without), paginates at `per_page` (default 30) with `Link` headers carrying `per_page`,
//! answers 422 for a body over 65,536 characters, sends the `x-ratelimit-*` headers on every
//! answer, and 403/429 rate limits or 5xx when told to.
//!
//! ```ignore
//! let gh = berth_testserver::github::GitHubServer::start("ghs_test");
//! gh.seed_comment(7, "codecov[bot]", "Coverage: 80%");
//! gh.fail_next(Fault::RateLimit { status: 429, retry_after: Some(1), reset_in: None }, 1);
//! ```

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

/// The login the fake gives comments made with its token (GitHub Actions' own).
pub const BOT_LOGIN: &str = "github-actions[bot]";
/// A comment's most characters (only known from real 422 answers: see the README).
pub const BODY_LIMIT: usize = 65_536;
const RATE_LIMIT: u64 = 1_000;

/// A comment the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredComment {
    pub id: u64,
    pub issue: u64,
    pub login: String,
    pub body: String,
}

/// A request the fake answered.
#[derive(Debug, Clone)]
pub struct GitHubRequest {
    pub method: String,
    /// Path and query, below the API URL.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub status: u16,
}

/// An answer to give instead of the real one.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// A server error, e.g. 502.
    Status(u16),
    /// 403 for a token without the permission (GitHub's answer to a `GITHUB_TOKEN` lacking it).
    Forbidden,
    /// A rate limit (403 or 429): `retry_after` seconds, or the primary limit exhausted until
    /// `reset_in` seconds from now; neither gives a secondary limit's message alone.
    RateLimit {
        status: u16,
        retry_after: Option<u64>,
        reset_in: Option<u64>,
    },
}

/// An issue or pull request the fake holds (GitHub numbers both in one sequence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredIssue {
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    /// `open` or `closed`.
    pub state: String,
    pub state_reason: Option<String>,
    pub labels: Vec<String>,
    pub login: String,
    /// For a pull request: its head and base branches.
    pub pull: Option<StoredPull>,
}

impl StoredIssue {
    /// A new open issue (a pull request with `pull`).
    fn open(number: u64, login: &str, title: String, body: Option<String>) -> StoredIssue {
        StoredIssue {
            number,
            title,
            body,
            state: "open".to_string(),
            state_reason: None,
            labels: Vec::new(),
            login: login.to_string(),
            pull: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPull {
    /// The head branch (of the repository itself: no forks here).
    pub head: String,
    pub base: String,
    pub merged: bool,
}

#[derive(Default)]
struct Data {
    comments: Vec<StoredComment>,
    issues: Vec<StoredIssue>,
    next_id: u64,
    used: u64,
}

struct State {
    token: String,
    /// The API URL's path, e.g. `/api/v3` for GitHub Enterprise Server, or empty.
    prefix: String,
    repository: String,
    addr: SocketAddr,
    data: Mutex<Data>,
    log: Mutex<Vec<GitHubRequest>>,
    faults: Mutex<VecDeque<Fault>>,
}

/// A running fake on `127.0.0.1:<random port>`, stopped when dropped.
pub struct GitHubServer {
    state: Arc<State>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GitHubServer {
    /// A fake of api.github.com for the repository `octo/berth-config`, accepting `token`.
    pub fn start(token: &str) -> GitHubServer {
        Self::start_at(token, "")
    }

    /// A fake whose API lives below `prefix` (GitHub Enterprise Server: `/api/v3`).
    pub fn start_at(token: &str, prefix: &str) -> GitHubServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(State {
            token: token.to_string(),
            prefix: prefix.trim_end_matches('/').to_string(),
            repository: "octo/berth-config".to_string(),
            addr,
            data: Mutex::new(Data {
                next_id: 1_000,
                ..Data::default()
            }),
            log: Mutex::new(Vec::new()),
            faults: Mutex::new(VecDeque::new()),
        });
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fake-github-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                rt.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    loop {
                        tokio::select! {
                            _ = &mut rx => return,
                            accepted = listener.accept() => {
                                let Ok((stream, _)) = accepted else { continue };
                                let st = st.clone();
                                tokio::spawn(async move {
                                    let svc = hyper::service::service_fn(move |req| handle(st.clone(), req));
                                    let _ = hyper::server::conn::http1::Builder::new()
                                        .serve_connection(TokioIo::new(stream), svc)
                                        .await;
                                });
                            }
                        }
                    }
                });
            })
            .expect("spawn the fake GitHub");
        GitHubServer {
            state,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.state.addr
    }

    /// The value for `GITHUB_API_URL`.
    pub fn api_url(&self) -> String {
        format!("http://{}{}", self.state.addr, self.state.prefix)
    }

    /// The value for `GITHUB_REPOSITORY`.
    pub fn repository(&self) -> &str {
        &self.state.repository
    }

    /// A comment on `issue` by `login` (e.g. another bot), as if made earlier.
    pub fn seed_comment(&self, issue: u64, login: &str, body: &str) -> u64 {
        let mut data = self.state.data.lock().unwrap();
        data.next_id += 1;
        let id = data.next_id;
        data.comments.push(StoredComment {
            id,
            issue,
            login: login.to_string(),
            body: body.to_string(),
        });
        id
    }

    /// The comments of `issue`, oldest first.
    pub fn comments(&self, issue: u64) -> Vec<StoredComment> {
        let data = self.state.data.lock().unwrap();
        data.comments
            .iter()
            .filter(|c| c.issue == issue)
            .cloned()
            .collect()
    }

    /// An issue or pull request (`pull`) by `login`, as if made earlier; its number.
    pub fn seed_issue(
        &self,
        login: &str,
        title: &str,
        body: &str,
        pull: Option<StoredPull>,
    ) -> u64 {
        let mut data = self.state.data.lock().unwrap();
        let number = data.issues.len() as u64 + 1;
        data.issues.push(StoredIssue {
            pull,
            ..StoredIssue::open(number, login, title.to_string(), Some(body.to_string()))
        });
        number
    }

    /// Every issue and pull request, by number.
    pub fn issues(&self) -> Vec<StoredIssue> {
        self.state.data.lock().unwrap().issues.clone()
    }

    /// Close pull request `number` as merged, as GitHub does once its head is in its base (e.g.
    /// a fast-forward push of the base branch).
    pub fn merge_pull(&self, number: u64) {
        let mut data = self.state.data.lock().unwrap();
        let pull = data
            .issues
            .iter_mut()
            .find(|i| i.number == number && i.pull.is_some())
            .expect("a pull request");
        pull.state = "closed".to_string();
        pull.pull.as_mut().unwrap().merged = true;
    }

    /// The pull requests, by number.
    pub fn pulls(&self) -> Vec<StoredIssue> {
        let mut pulls = self.issues();
        pulls.retain(|i| i.pull.is_some());
        pulls
    }

    /// Answer the next `times` requests with `fault`.
    pub fn fail_next(&self, fault: Fault, times: usize) {
        let mut faults = self.state.faults.lock().unwrap();
        faults.extend(std::iter::repeat_n(fault, times));
    }

    /// Every request answered so far.
    pub fn requests(&self) -> Vec<GitHubRequest> {
        self.state.log.lock().unwrap().clone()
    }

    /// The requests that changed something (POST, PATCH, DELETE) and succeeded.
    pub fn writes(&self) -> Vec<GitHubRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method != "GET" && r.status < 300)
            .collect()
    }
}

impl Drop for GitHubServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type Body = Full<Bytes>;

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .unwrap_or_default();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let reply = answer(&state, &method, &path, header, &body);
    state.log.lock().unwrap().push(GitHubRequest {
        method,
        path,
        headers: headers.clone(),
        body,
        status: reply.status,
    });
    Ok(reply.into_response(&state))
}

struct Reply {
    status: u16,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    /// 201 Created, with the `Location` of what was made (its API `url`).
    fn created(value: Value) -> Reply {
        let location = value["url"].as_str().unwrap_or_default().to_string();
        let mut reply = Reply::json(201, value);
        reply.headers.push(("location", location));
        reply
    }

    /// `basic-error`, as errors.json gives it.
    fn error(status: u16, message: &str, docs: &str) -> Reply {
        Reply::json(
            status,
            json!({"message": message, "documentation_url": docs, "status": status.to_string()}),
        )
    }

    fn into_response(self, state: &State) -> Response<Body> {
        let bytes = self
            .body
            .map(|b| serde_json::to_vec(&b).unwrap())
            .unwrap_or_default();
        let mut builder = Response::builder().status(self.status);
        if !bytes.is_empty() {
            builder = builder.header("content-type", "application/json; charset=utf-8");
        }
        let used = {
            let mut data = state.data.lock().unwrap();
            data.used += 1;
            data.used
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut headers = vec![
            ("x-github-api-version-selected", "2022-11-28".to_string()),
            ("x-ratelimit-limit", RATE_LIMIT.to_string()),
            (
                "x-ratelimit-remaining",
                RATE_LIMIT.saturating_sub(used).to_string(),
            ),
            ("x-ratelimit-used", used.to_string()),
            ("x-ratelimit-reset", (now + 3600).to_string()),
            ("x-ratelimit-resource", "core".to_string()),
        ];
        // The fault's own values win over the defaults.
        headers.retain(|(name, _)| !self.headers.iter().any(|(n, _)| n == name));
        headers.extend(self.headers);
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        builder.body(Full::new(Bytes::from(bytes))).unwrap()
    }
}

const DOCS_COMMENTS: &str = "https://docs.github.com/rest/issues/comments";
const DOCS_PULLS: &str = "https://docs.github.com/rest/pulls/pulls";
const DOCS_ISSUES: &str = "https://docs.github.com/rest/issues/issues";

fn answer<'h>(
    state: &State,
    method: &str,
    path_and_query: &str,
    header: impl Fn(&str) -> Option<&'h str>,
    body: &str,
) -> Reply {
    // Authentication first: GitHub checks credentials before anything else.
    let expected = [
        format!("Bearer {}", state.token),
        format!("token {}", state.token),
    ];
    match header("authorization") {
        None => {
            return Reply::error(
                401,
                "Requires authentication",
                "https://docs.github.com/rest",
            );
        }
        Some(given) if !expected.iter().any(|e| e == given) => {
            return Reply::error(401, "Bad credentials", "https://docs.github.com/rest");
        }
        Some(_) => {}
    }
    if header("user-agent").is_none_or(str::is_empty) {
        return Reply::error(
            403,
            "Request forbidden by administrative rules. Please make sure your request has a User-Agent header",
            "https://docs.github.com/rest/using-the-rest-api/getting-started-with-the-rest-api",
        );
    }
    if let Some(fault) = state.faults.lock().unwrap().pop_front() {
        return fault_reply(fault);
    }
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let Some(rest) = path
        .strip_prefix(state.prefix.as_str())
        .and_then(|p| p.strip_prefix("/repos/"))
        .and_then(|p| p.strip_prefix(state.repository.as_str()))
    else {
        return Reply::error(404, "Not Found", "https://docs.github.com/rest");
    };
    let segments: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    let param = |name: &str| {
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    match (method, segments.as_slice()) {
        ("GET", ["issues", number, "comments"]) => {
            let Ok(issue) = number.parse::<u64>() else {
                return Reply::error(404, "Not Found", DOCS_COMMENTS);
            };
            list_comments(state, path, query, issue)
        }
        ("POST", ["issues", number, "comments"]) => {
            let Ok(issue) = number.parse::<u64>() else {
                return Reply::error(404, "Not Found", DOCS_COMMENTS);
            };
            let text = match comment_body(body, "create-an-issue-comment") {
                Ok(text) => text,
                Err(reply) => return reply,
            };
            let mut data = state.data.lock().unwrap();
            data.next_id += 1;
            let comment = StoredComment {
                id: data.next_id,
                issue,
                login: BOT_LOGIN.to_string(),
                body: text,
            };
            data.comments.push(comment.clone());
            Reply::created(comment_json(state, &comment))
        }
        ("GET", ["pulls"]) => {
            let owner = state.repository.split('/').next().unwrap_or_default();
            let head = param("head");
            let base = param("base");
            let wanted = param("state").unwrap_or_else(|| "open".to_string());
            let data = state.data.lock().unwrap();
            let items = data
                .issues
                .iter()
                .rev() // sort=created, direction=desc: newest first
                .filter(|i| {
                    let Some(pull) = &i.pull else { return false };
                    (wanted == "all" || i.state == wanted)
                        && head
                            .as_ref()
                            .is_none_or(|h| *h == format!("{owner}:{}", pull.head))
                        && base.as_ref().is_none_or(|b| *b == pull.base)
                })
                .map(|i| pull_json(state, i))
                .collect();
            paginate(state, path, query, items)
        }
        ("POST", ["pulls"]) => create_pull(state, body),
        (method, ["pulls", number]) => {
            let mut data = state.data.lock().unwrap();
            let Some(at) = find_issue(&data, number, true) else {
                return Reply::error(404, "Not Found", DOCS_PULLS);
            };
            match method {
                "GET" => Reply::json(200, pull_json(state, &data.issues[at])),
                "PATCH" => match update_issue(&mut data.issues[at], body, "PullRequest") {
                    Ok(()) => Reply::json(200, pull_json(state, &data.issues[at])),
                    Err(reply) => reply,
                },
                _ => Reply::error(404, "Not Found", DOCS_PULLS),
            }
        }
        ("GET", ["issues"]) => {
            let wanted = param("state").unwrap_or_else(|| "open".to_string());
            let labels: Vec<String> = param("labels")
                .map(|l| l.split(',').map(str::to_string).collect())
                .unwrap_or_default();
            let data = state.data.lock().unwrap();
            // Pull requests are issues too: GitHub lists them, marked by `pull_request`.
            let items = data
                .issues
                .iter()
                .rev()
                .filter(|i| {
                    (wanted == "all" || i.state == wanted)
                        && labels.iter().all(|l| i.labels.contains(l))
                })
                .map(|i| issue_json(state, i))
                .collect();
            paginate(state, path, query, items)
        }
        ("POST", ["issues"]) => create_issue(state, body),
        ("PATCH", ["issues", number]) => {
            let mut data = state.data.lock().unwrap();
            let Some(at) = find_issue(&data, number, false) else {
                return Reply::error(404, "Not Found", DOCS_ISSUES);
            };
            match update_issue(&mut data.issues[at], body, "Issue") {
                Ok(()) => Reply::json(200, issue_json(state, &data.issues[at])),
                Err(reply) => reply,
            }
        }
        (method, ["issues", "comments", id]) => {
            let mut data = state.data.lock().unwrap();
            let Some(at) = id
                .parse::<u64>()
                .ok()
                .and_then(|id| data.comments.iter().position(|c| c.id == id))
            else {
                return Reply::error(404, "Not Found", DOCS_COMMENTS);
            };
            match method {
                "GET" => Reply::json(200, comment_json(state, &data.comments[at])),
                "PATCH" => match comment_body(body, "update-an-issue-comment") {
                    Ok(text) => {
                        data.comments[at].body = text;
                        Reply::json(200, comment_json(state, &data.comments[at]))
                    }
                    Err(reply) => reply,
                },
                "DELETE" => {
                    data.comments.remove(at);
                    Reply {
                        status: 204,
                        body: None,
                        headers: Vec::new(),
                    }
                }
                _ => Reply::error(404, "Not Found", DOCS_COMMENTS),
            }
        }
        _ => Reply::error(404, "Not Found", "https://docs.github.com/rest"),
    }
}

/// The `body` of a create or update request, or the 422 GitHub gives.
fn comment_body(body: &str, operation: &str) -> Result<String, Reply> {
    let docs = format!("{DOCS_COMMENTS}#{operation}");
    let Some(text) = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["body"].as_str().map(str::to_string))
    else {
        return Err(Reply::json(
            422,
            json!({"message": "Validation Failed", "errors": [{"resource": "IssueComment", "code": "missing_field", "field": "body"}], "documentation_url": docs}),
        ));
    };
    if text.chars().count() > BODY_LIMIT {
        return Err(Reply::json(
            422,
            json!({"message": "Validation Failed", "errors": [{"resource": "IssueComment", "code": "unprocessable", "field": "data", "message": "Body is too long (maximum is 65536 characters)"}], "documentation_url": docs}),
        ));
    }
    Ok(text)
}

fn list_comments(state: &State, path: &str, query: &str, issue: u64) -> Reply {
    let data = state.data.lock().unwrap();
    let all: Vec<Value> = data
        .comments
        .iter()
        .filter(|c| c.issue == issue)
        .map(|c| comment_json(state, c))
        .collect();
    drop(data);
    paginate(state, path, query, all)
}

/// One page of `all`, with the `Link` header GitHub sends (carrying the other parameters of
/// `query`).
fn paginate(state: &State, path: &str, query: &str, all: Vec<Value>) -> Reply {
    let param = |name: &str| {
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let others: String = form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k != "per_page" && k != "page")
        .map(|(k, v)| {
            form_urlencoded::Serializer::new(String::new())
                .append_pair(&k, &v)
                .finish()
                + "&"
        })
        .collect();
    let (per_page, page) = (param("per_page"), param("page"));
    let per_page = per_page
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page = page
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let last = all.len().div_ceil(per_page).max(1);
    let items: Vec<Value> = all
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let mut reply = Reply::json(200, Value::Array(items));
    if last > 1 {
        // As GitHub: no prev on page 1, no next on the last; per_page carried along.
        let link = |n: usize, rel: &str| {
            format!(
                "<http://{}{path}?{others}per_page={per_page}&page={n}>; rel=\"{rel}\"",
                state.addr
            )
        };
        let mut links = Vec::new();
        if page > 1 {
            links.push(link(page - 1, "prev"));
        }
        if page < last {
            links.push(link(page + 1, "next"));
            links.push(link(last, "last"));
        }
        if page > 1 {
            links.push(link(1, "first"));
        }
        reply.headers.push(("link", links.join(", ")));
    }
    reply
}

fn comment_json(state: &State, c: &StoredComment) -> Value {
    let api = format!("http://{}{}", state.addr, state.prefix);
    let repo = &state.repository;
    let bot = c.login.ends_with("[bot]");
    json!({
        "id": c.id,
        "node_id": format!("IC_{}", c.id),
        "url": format!("{api}/repos/{repo}/issues/comments/{}", c.id),
        "html_url": format!("https://github.com/{repo}/pull/{}#issuecomment-{}", c.issue, c.id),
        "issue_url": format!("{api}/repos/{repo}/issues/{}", c.issue),
        "body": c.body,
        "user": user_json(&c.login),
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "author_association": if bot { "NONE" } else { "MEMBER" },
    })
}

fn fault_reply(fault: Fault) -> Reply {
    match fault {
        Fault::Status(status) => {
            Reply::error(status, "Server Error", "https://docs.github.com/rest")
        }
        Fault::Forbidden => Reply::error(
            403,
            "Resource not accessible by integration",
            "https://docs.github.com/rest/issues/comments#create-an-issue-comment",
        ),
        Fault::RateLimit {
            status,
            retry_after,
            reset_in,
        } => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let mut reply = if reset_in.is_some() {
                Reply::error(
                    status,
                    "API rate limit exceeded for installation.",
                    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
                )
            } else {
                Reply::error(
                    status,
                    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
                )
            };
            if let Some(seconds) = retry_after {
                reply.headers.push(("retry-after", seconds.to_string()));
            }
            if let Some(seconds) = reset_in {
                reply
                    .headers
                    .push(("x-ratelimit-remaining", "0".to_string()));
                reply
                    .headers
                    .push(("x-ratelimit-reset", (now + seconds).to_string()));
            }
            reply
        }
    }
}

/// Where issue (or, with `pull`, pull request) `number` is in `data.issues`.
fn find_issue(data: &Data, number: &str, pull: bool) -> Option<usize> {
    let number = number.parse::<u64>().ok()?;
    data.issues
        .iter()
        .position(|i| i.number == number && (!pull || i.pull.is_some()))
}

/// `validation-error` with one item, as errors.json gives it.
fn invalid(docs: String, resource: &str, code: &str, field: &str, message: Option<&str>) -> Reply {
    let mut item = json!({"resource": resource, "code": code, "field": field});
    if let Some(message) = message {
        item["message"] = json!(message);
    }
    Reply::json(
        422,
        json!({"message": "Validation Failed", "errors": [item], "documentation_url": docs}),
    )
}

/// A request's JSON object, or the 400 GitHub gives for a body that is not one.
fn json_object(body: &str) -> Result<serde_json::Map<String, Value>, Reply> {
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Reply::error(
            400,
            "Problems parsing JSON",
            "https://docs.github.com/rest",
        )),
    }
}

/// A string field of `fields`: `Ok(None)` when absent, a 422 when not a string or, for a
/// `body`, over the limit (real answers quote `Resource:Issue Field:body Code:custom`).
fn text_field(
    fields: &serde_json::Map<String, Value>,
    name: &str,
    resource: &str,
    docs: &str,
) -> Result<Option<String>, Reply> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if name == "body" && text.chars().count() > BODY_LIMIT => {
            Err(invalid(
                docs.to_string(),
                resource,
                "custom",
                "body",
                Some("body is too long (maximum is 65536 characters)"),
            ))
        }
        Some(Value::String(text)) => Ok(Some(text.clone())),
        // The issue title may be an integer (operations.json: oneOf string, integer).
        Some(Value::Number(n)) if name == "title" => Ok(Some(n.to_string())),
        Some(_) => Err(invalid(docs.to_string(), resource, "invalid", name, None)),
    }
}

fn create_pull(state: &State, body: &str) -> Reply {
    let docs = format!("{DOCS_PULLS}#create-a-pull-request");
    let fields = match json_object(body) {
        Ok(fields) => fields,
        Err(reply) => return reply,
    };
    let text = |name| text_field(&fields, name, "PullRequest", &docs);
    let (head, base, title, text_body) =
        match (text("head"), text("base"), text("title"), text("body")) {
            (Ok(h), Ok(b), Ok(t), Ok(body)) => (h, b, t, body),
            (Err(r), ..) | (_, Err(r), ..) | (_, _, Err(r), _) | (.., Err(r)) => return r,
        };
    let owner = state.repository.split('/').next().unwrap_or_default();
    let (Some(head), Some(base)) = (head, base) else {
        let missing = if fields.contains_key("head") {
            "base"
        } else {
            "head"
        };
        return invalid(docs, "PullRequest", "missing_field", missing, None);
    };
    let Some(title) = title else {
        return invalid(docs, "PullRequest", "missing_field", "title", None);
    };
    // `owner:branch` names a branch of the owner's repository: this one.
    let head = head
        .strip_prefix(&format!("{owner}:"))
        .unwrap_or(&head)
        .to_string();
    let mut data = state.data.lock().unwrap();
    let exists = data.issues.iter().any(|i| {
        i.state == "open"
            && i.pull
                .as_ref()
                .is_some_and(|p| p.head == head && p.base == base)
    });
    if exists {
        // The answer real clients quote (github/VisualStudio#453, vsoch/pull-request-action#86).
        let message = format!("A pull request already exists for {owner}:{head}.");
        let mut reply = invalid(docs, "PullRequest", "custom", "head", Some(&message));
        reply.body.as_mut().unwrap()["errors"][0]
            .as_object_mut()
            .unwrap()
            .remove("field");
        return reply;
    }
    let number = data.issues.len() as u64 + 1;
    let pull = StoredIssue {
        pull: Some(StoredPull {
            head,
            base,
            merged: false,
        }),
        ..StoredIssue::open(number, BOT_LOGIN, title, text_body)
    };
    data.issues.push(pull.clone());
    Reply::created(pull_json(state, &pull))
}

fn create_issue(state: &State, body: &str) -> Reply {
    let docs = format!("{DOCS_ISSUES}#create-an-issue");
    let fields = match json_object(body) {
        Ok(fields) => fields,
        Err(reply) => return reply,
    };
    let text = |name| text_field(&fields, name, "Issue", &docs);
    let (title, text_body) = match (text("title"), text("body")) {
        (Ok(t), Ok(b)) => (t, b),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let Some(title) = title else {
        return invalid(docs, "Issue", "missing_field", "title", None);
    };
    let labels = match labels(&fields, &docs) {
        Ok(labels) => labels.unwrap_or_default(),
        Err(reply) => return reply,
    };
    let mut data = state.data.lock().unwrap();
    let number = data.issues.len() as u64 + 1;
    let issue = StoredIssue {
        labels,
        ..StoredIssue::open(number, BOT_LOGIN, title, text_body)
    };
    data.issues.push(issue.clone());
    Reply::created(issue_json(state, &issue))
}

/// `labels`: names, or objects with a `name`.
fn labels(
    fields: &serde_json::Map<String, Value>,
    docs: &str,
) -> Result<Option<Vec<String>>, Reply> {
    let Some(value) = fields.get("labels") else {
        return Ok(None);
    };
    value
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .map(|l| {
                    l.as_str()
                        .or_else(|| l["name"].as_str())
                        .map(str::to_string)
                })
                .collect::<Option<Vec<_>>>()
        })
        .map(Some)
        .ok_or_else(|| invalid(docs.to_string(), "Issue", "invalid", "labels", None))
}

/// Apply an update (issues/update or pulls/update) to `issue`.
fn update_issue(issue: &mut StoredIssue, body: &str, resource: &str) -> Result<(), Reply> {
    let docs = match resource {
        "PullRequest" => format!("{DOCS_PULLS}#update-a-pull-request"),
        _ => format!("{DOCS_ISSUES}#update-an-issue"),
    };
    let fields = json_object(body)?;
    let text = |name| text_field(&fields, name, resource, &docs);
    let (title, text_body, new_state, base) =
        (text("title")?, text("body")?, text("state")?, text("base")?);
    if let Some(new_state) = &new_state
        && new_state != "open"
        && new_state != "closed"
    {
        return Err(invalid(docs, resource, "invalid", "state", None));
    }
    let labels = match resource {
        "Issue" => labels(&fields, &docs)?,
        _ => None,
    };
    if let Some(title) = title {
        issue.title = title;
    }
    if fields.contains_key("body") {
        issue.body = text_body;
    }
    if let Some(labels) = labels {
        issue.labels = labels;
    }
    if let (Some(base), Some(pull)) = (base, issue.pull.as_mut()) {
        pull.base = base;
    }
    if let Some(new_state) = new_state
        && new_state != issue.state
    {
        // `state_reason` is "ignored unless `state` is changed".
        issue.state_reason = match new_state.as_str() {
            "closed" => Some(text("state_reason")?.unwrap_or_else(|| "completed".to_string())),
            _ => Some("reopened".to_string()),
        };
        issue.state = new_state;
    }
    Ok(())
}

fn user_json(login: &str) -> Value {
    let bot = login.ends_with("[bot]");
    json!({"login": login, "id": 41898282, "node_id": "MDM6Qm90NDE4OTgyODI=",
        "type": if bot { "Bot" } else { "User" }, "site_admin": false})
}

/// The `issue` schema (a pull request's carries `pull_request`).
fn issue_json(state: &State, i: &StoredIssue) -> Value {
    let api = format!("http://{}{}", state.addr, state.prefix);
    let repo = &state.repository;
    let mut value = json!({
        "id": 5_000_000 + i.number,
        "node_id": format!("I_{}", i.number),
        "url": format!("{api}/repos/{repo}/issues/{}", i.number),
        "repository_url": format!("{api}/repos/{repo}"),
        "html_url": format!("https://github.com/{repo}/issues/{}", i.number),
        "number": i.number,
        "state": i.state,
        "state_reason": i.state_reason,
        "title": i.title,
        "body": i.body,
        "user": user_json(&i.login),
        "labels": i.labels.iter().map(|l| json!({"name": l})).collect::<Vec<_>>(),
        "assignee": null,
        "milestone": null,
        "locked": false,
        "comments": 0,
        "closed_at": if i.state == "closed" { json!("2026-01-01T00:00:00Z") } else { Value::Null },
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
    });
    if i.pull.is_some() {
        value["html_url"] = json!(format!("https://github.com/{repo}/pull/{}", i.number));
        value["pull_request"] = json!({
            "url": format!("{api}/repos/{repo}/pulls/{}", i.number),
            "html_url": format!("https://github.com/{repo}/pull/{}", i.number),
            "diff_url": format!("https://github.com/{repo}/pull/{}.diff", i.number),
            "patch_url": format!("https://github.com/{repo}/pull/{}.patch", i.number),
            "merged_at": match &i.pull { Some(p) if p.merged => json!("2026-01-01T00:00:00Z"), _ => Value::Null },
        });
    }
    value
}

/// The `pull-request` schema's fields berth and the tests read (`head.sha` is not known
/// here: the fake holds no git data).
fn pull_json(state: &State, i: &StoredIssue) -> Value {
    let api = format!("http://{}{}", state.addr, state.prefix);
    let repo = &state.repository;
    let owner = repo.split('/').next().unwrap_or_default();
    let pull = i.pull.as_ref().expect("a pull request");
    let branch = |name: &str| {
        json!({"label": format!("{owner}:{name}"), "ref": name, "sha": "",
            "user": user_json(owner), "repo": {"full_name": repo}})
    };
    json!({
        "id": 6_000_000 + i.number,
        "node_id": format!("PR_{}", i.number),
        "url": format!("{api}/repos/{repo}/pulls/{}", i.number),
        "html_url": format!("https://github.com/{repo}/pull/{}", i.number),
        "issue_url": format!("{api}/repos/{repo}/issues/{}", i.number),
        "number": i.number,
        "state": i.state,
        "locked": false,
        "title": i.title,
        "body": i.body,
        "user": user_json(&i.login),
        "labels": [],
        "head": branch(&pull.head),
        "base": branch(&pull.base),
        "draft": false,
        "merged": pull.merged,
        "merged_at": if pull.merged { json!("2026-01-01T00:00:00Z") } else { Value::Null },
        "closed_at": if i.state == "closed" { json!("2026-01-01T00:00:00Z") } else { Value::Null },
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
    })
}
