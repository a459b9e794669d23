//! Fault injection (statuses, dropped connections, latency) and request counters.

use std::sync::Mutex;
use std::time::Duration;

/// What an injected fault does to a matching request.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultAction {
    /// Answer with this HTTP status and a `Status` body (and `Retry-After` if set).
    Status { code: u16, retry_after: Option<u32> },
    /// Close the connection without an answer.
    DropConnection,
}

/// A fault rule: which requests it matches, what it does, and how many times.
#[derive(Clone, Debug)]
pub struct Fault {
    pub(crate) method: Option<String>,
    pub(crate) path: Option<String>,
    pub(crate) path_prefix: bool,
    pub(crate) times: Option<usize>,
    pub(crate) action: FaultAction,
}

impl Fault {
    /// Answer with `code` (e.g. 500, 503) and a `Status` body, for every matching request until
    /// limited with [`Fault::times`].
    pub fn status(code: u16) -> Self {
        Fault {
            method: None,
            path: None,
            path_prefix: false,
            times: None,
            action: FaultAction::Status {
                code,
                retry_after: None,
            },
        }
    }

    /// `429 Too Many Requests` with `Retry-After: <secs>`.
    pub fn too_many_requests(retry_after_secs: u32) -> Self {
        Fault::status(429).retry_after(retry_after_secs)
    }

    /// Drop the connection without answering.
    pub fn drop_connection() -> Self {
        Fault {
            method: None,
            path: None,
            path_prefix: false,
            times: None,
            action: FaultAction::DropConnection,
        }
    }

    /// Add a `Retry-After` header (status faults only).
    pub fn retry_after(mut self, secs: u32) -> Self {
        if let FaultAction::Status { retry_after, .. } = &mut self.action {
            *retry_after = Some(secs);
        }
        self
    }

    /// Only the next `n` matching requests.
    pub fn times(mut self, n: usize) -> Self {
        self.times = Some(n);
        self
    }

    /// Only requests whose path is exactly `path` (no query).
    pub fn on_path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self.path_prefix = false;
        self
    }

    /// Only requests whose path starts with `prefix`.
    pub fn on_path_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.path = Some(prefix.into());
        self.path_prefix = true;
        self
    }

    /// Only requests with this HTTP method (`GET`, `PATCH`, …).
    pub fn on_method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into().to_ascii_uppercase());
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m == method)
            && self.path.as_deref().is_none_or(|p| {
                if self.path_prefix {
                    path.starts_with(p)
                } else {
                    p == path
                }
            })
    }
}

/// One request as the server saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    /// The raw query string (empty when none).
    pub query: String,
    /// The request's Content-Type (empty when none).
    pub content_type: String,
    /// The status answered (0 when the connection was dropped).
    pub status: u16,
}

impl RequestRecord {
    /// Whether this request changes (or would change, without dry run) stored state.
    pub fn is_write(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")
    }

    /// Whether the request was a dry run (`dryRun=All`).
    pub fn is_dry_run(&self) -> bool {
        form_urlencoded::parse(self.query.as_bytes()).any(|(k, v)| k == "dryRun" && v == "All")
    }

    /// A query parameter.
    pub fn param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

#[derive(Default)]
pub(crate) struct Faults {
    pub latency: Mutex<Duration>,
    pub rules: Mutex<Vec<Fault>>,
}

impl Faults {
    /// The action for a request, consuming one use of the first matching rule.
    pub fn take(&self, method: &str, path: &str) -> Option<FaultAction> {
        let mut rules = self.rules.lock().unwrap();
        rules.retain(|f| f.times != Some(0));
        let i = rules.iter().position(|f| f.matches(method, path))?;
        let action = rules[i].action.clone();
        if let Some(n) = &mut rules[i].times {
            *n -= 1;
            if *n == 0 {
                rules.remove(i);
            }
        }
        Some(action)
    }
}
