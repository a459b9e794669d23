//! The HTTP server, its handle for tests, fault injection and counters.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use crate::api::{self, Api, Reply, WatchSpec};
use crate::faults::{Fault, FaultAction, Faults, RequestRecord};

type Body = BoxBody<Bytes, Infallible>;

pub(crate) struct State {
    pub api: Api,
    pub faults: Faults,
    pub log: Mutex<Vec<RequestRecord>>,
    pub in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
}

/// A running test API server on `127.0.0.1:<random port>`, stopped when dropped.
///
/// ```ignore
/// let srv = berth_testserver::TestServer::start().await;
/// let kubeconfig = srv.write_kubeconfig(dir.path().join("kubeconfig"))?;
/// srv.inject(Fault::status(503).times(2));
/// assert_eq!(srv.count_writes(), 0);
/// ```
pub struct TestServer {
    addr: SocketAddr,
    state: Arc<State>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Start a server (on its own thread and runtime, so it serves sync and async tests alike).
    pub async fn start() -> TestServer {
        Self::start_blocking()
    }

    /// Start a server from synchronous code.
    pub fn start_blocking() -> TestServer {
        // Load the recordings before accepting requests (panics clearly when missing).
        let _ = crate::recorded::recorded();
        let _ = crate::discovery::builtins();
        let state = Arc::new(State {
            api: Api::default(),
            faults: Faults::default(),
            log: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("local addr");
        let (tx, rx) = tokio::sync::oneshot::channel();
        let st = state.clone();
        let thread = std::thread::Builder::new()
            .name(format!("berth-testserver-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                rt.block_on(serve(listener, st, rx));
                rt.shutdown_timeout(Duration::from_millis(100));
            })
            .expect("spawn server thread");
        TestServer {
            addr,
            state,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A kubeconfig (context `berth-test`, namespace `default`, no credentials) pointing at the server.
    pub fn kubeconfig_yaml(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: berth-test\n  cluster:\n    server: {url}\ncontexts:\n- name: berth-test\n  context:\n    cluster: berth-test\n    user: berth-test\n    namespace: default\ncurrent-context: berth-test\nusers:\n- name: berth-test\n  user: {{}}\npreferences: {{}}\n",
            url = self.url()
        )
    }

    /// Write the kubeconfig to `path` and return the path.
    pub fn write_kubeconfig(&self, path: impl AsRef<Path>) -> std::io::Result<std::path::PathBuf> {
        std::fs::write(path.as_ref(), self.kubeconfig_yaml())?;
        Ok(path.as_ref().to_path_buf())
    }

    // ---- faults ----

    /// Add a fault rule (rules are tried in the order they were added).
    pub fn inject(&self, fault: Fault) {
        self.state.faults.rules.lock().unwrap().push(fault);
    }

    /// Answer the next `n` requests with `code`.
    pub fn fail_next(&self, n: usize, code: u16) {
        self.inject(Fault::status(code).times(n));
    }

    /// Remove all fault rules and the latency.
    pub fn clear_faults(&self) {
        self.state.faults.rules.lock().unwrap().clear();
        *self.state.faults.latency.lock().unwrap() = Duration::ZERO;
    }

    /// Delay every request by `latency` (inside the in-flight window).
    pub fn set_latency(&self, latency: Duration) {
        *self.state.faults.latency.lock().unwrap() = latency;
    }

    /// How long a deleted namespace stays `Terminating` before it (and its objects) disappear.
    pub fn set_namespace_termination_delay(&self, delay: Duration) {
        self.state.api.store.lock().unwrap().namespace_delay = delay;
    }

    // ---- counters ----

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.state.log.lock().unwrap().clone()
    }

    /// Requests that changed stored state or would have without dry run: POST/PUT/PATCH/DELETE
    /// without `dryRun=All`.
    pub fn count_writes(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.is_write() && !r.is_dry_run())
            .count()
    }

    /// Requests with this method and path.
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == method && r.path == path)
            .count()
    }

    /// Requests per method.
    pub fn counts_by_method(&self) -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for r in self.requests() {
            *m.entry(r.method).or_insert(0) += 1;
        }
        m
    }

    /// The most requests that were being handled at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    /// Forget the recorded requests and the in-flight maximum.
    pub fn reset_counters(&self) {
        self.state.log.lock().unwrap().clear();
        self.state.max_in_flight.store(0, Ordering::SeqCst);
    }

    // ---- direct store access ----

    fn call(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        content_type: &str,
        body: &Value,
    ) -> Result<Value, Value> {
        let body = serde_json::to_vec(body).unwrap_or_default();
        let req = api::Request {
            method,
            path,
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            accept: "application/json",
            content_type,
            user_agent: "berth-testserver",
            body: &body,
        };
        match api::handle(&self.state.api, &req) {
            Reply::Json(code, v) | Reply::JsonAs(code, _, v) if code < 300 => Ok(v),
            Reply::Json(_, v) | Reply::JsonAs(_, _, v) => Err(v),
            Reply::Raw(code, _, bytes) => {
                let v = serde_json::from_slice(&bytes).unwrap_or_default();
                if code < 300 { Ok(v) } else { Err(v) }
            }
            Reply::Text(code, t) => Err(api::status(code, Some("NotFound"), t.trim(), None)),
            _ => Err(Value::Null),
        }
    }

    /// Server-side apply `object` (force) as `manager`, without going through HTTP or the request
    /// log; for setting up live state. Returns the stored object, or the error `Status`.
    pub fn apply_object(&self, object: &Value, manager: &str) -> Result<Value, Value> {
        let path = object_path(&self.state.api, object).ok_or_else(|| {
            api::status(
                400,
                Some("BadRequest"),
                "cannot find the resource of this object",
                None,
            )
        })?;
        self.call(
            "PATCH",
            &path,
            &[("fieldManager", manager), ("force", "true")],
            "application/apply-patch+yaml",
            object,
        )
    }

    /// Play the Deployment controller for a finished rollout: status with `observedGeneration`,
    /// all replicas updated, ready and available, and the `Available`/`Progressing` conditions.
    pub fn mark_deployment_ready(&self, namespace: &str, name: &str) -> Result<Value, Value> {
        self.set_deployment_status(namespace, name, |replicas, generation, now| {
            json!({"status": {
                "observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas,
                "readyReplicas": replicas, "availableReplicas": replicas,
                "conditions": [
                    {"type": "Available", "status": "True", "lastUpdateTime": now, "lastTransitionTime": now, "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."},
                    {"type": "Progressing", "status": "True", "lastUpdateTime": now, "lastTransitionTime": now, "reason": "NewReplicaSetAvailable", "message": format!("ReplicaSet \"{name}\" has successfully progressed.")}
                ]
            }})
        })
    }

    /// Play the Deployment controller when its ReplicaSet cannot create pods (a quota, a
    /// missing ServiceAccount): no pods, and `ReplicaFailure=True (FailedCreate)` carrying the
    /// ReplicaSet controller's `message`.
    pub fn mark_deployment_failed_create(
        &self,
        namespace: &str,
        name: &str,
        message: &str,
    ) -> Result<Value, Value> {
        self.set_deployment_status(namespace, name, |replicas, generation, now| {
            json!({"status": {
                "observedGeneration": generation, "unavailableReplicas": replicas,
                "conditions": [
                    {"type": "Available", "status": "False", "lastUpdateTime": now, "lastTransitionTime": now, "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability."},
                    {"type": "ReplicaFailure", "status": "True", "lastUpdateTime": now, "lastTransitionTime": now, "reason": "FailedCreate", "message": message},
                    {"type": "Progressing", "status": "True", "lastUpdateTime": now, "lastTransitionTime": now, "reason": "ReplicaSetUpdated", "message": format!("ReplicaSet \"{name}\" is progressing.")}
                ]
            }})
        })
    }

    /// Merge-patch the status of a Deployment as the controller-manager does; `status` gets
    /// its `spec.replicas`, `metadata.generation` and the time.
    fn set_deployment_status(
        &self,
        namespace: &str,
        name: &str,
        status: impl FnOnce(Value, Value, String) -> Value,
    ) -> Result<Value, Value> {
        let path = format!("/apis/apps/v1/namespaces/{namespace}/deployments/{name}");
        let live = self.call("GET", &path, &[], "", &Value::Null)?;
        let replicas = live.pointer("/spec/replicas").cloned().unwrap_or(json!(1));
        let generation = live
            .pointer("/metadata/generation")
            .cloned()
            .unwrap_or(json!(1));
        let now = crate::store::now_rfc3339();
        self.call(
            "PATCH",
            &format!("{path}/status"),
            &[("fieldManager", "kube-controller-manager")],
            "application/merge-patch+json",
            &status(replicas, generation, now),
        )
    }

    /// The stored object (`group` "" for core), without going through HTTP.
    pub fn object(&self, group: &str, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        let st = self.state.api.store.lock().unwrap();
        st.objects
            .get(&(group.into(), plural.into(), namespace.into(), name.into()))
            .cloned()
    }

    /// Names (`namespace/name` or `name`) of stored objects of a resource.
    pub fn object_names(&self, group: &str, plural: &str) -> Vec<String> {
        let st = self.state.api.store.lock().unwrap();
        st.objects
            .keys()
            .filter(|k| k.0 == group && k.1 == plural)
            .map(|k| {
                if k.2.is_empty() {
                    k.3.clone()
                } else {
                    format!("{}/{}", k.2, k.3)
                }
            })
            .collect()
    }
}

/// The URL path of an object from its apiVersion, kind, namespace and name (built-in kinds and
/// custom resources of established CRDs are looked up in discovery).
fn object_path(api: &Api, obj: &Value) -> Option<String> {
    let api_version = obj.get("apiVersion")?.as_str()?;
    let kind = obj.get("kind")?.as_str()?;
    let name = obj.pointer("/metadata/name")?.as_str()?;
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let plural = crate::discovery::builtins()
        .iter()
        .find(|r| r.group == group && r.version == version && r.kind == kind)
        .map(|r| (r.plural.clone(), r.namespaced))
        .or_else(|| {
            let st = api.store.lock().unwrap();
            api::custom_resources(&st)
                .into_iter()
                .find(|r| r.group == group && r.version == version && r.kind == kind)
                .map(|r| (r.plural, r.namespaced))
        })?;
    let prefix = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    let ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    Some(if plural.1 {
        format!("{prefix}/namespaces/{ns}/{}/{name}", plural.0)
    } else {
        format!("{prefix}/{}/{name}", plural.0)
    })
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    state: Arc<State>,
    mut shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let st = state.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| handle(st.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        }
    }
}

/// The error that makes hyper drop the connection.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

fn json_response(code: u16, ct: &str, v: &Value) -> Response<Body> {
    let mut r = Response::new(full(serde_json::to_vec(v).unwrap_or_default()));
    *r.status_mut() =
        hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
    r
}

fn reason_for(code: u16) -> &'static str {
    match code {
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        409 => "Conflict",
        404 => "NotFound",
        403 => "Forbidden",
        401 => "Unauthorized",
        400 => "BadRequest",
        _ => "Unknown",
    }
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, Dropped> {
    let n = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(n, Ordering::SeqCst);
    let _guard = InFlight(&state.in_flight);

    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query_str = req.uri().query().unwrap_or_default().to_string();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let accept = header("accept");
    let content_type = header("content-type");
    let user_agent = header("user-agent");
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(Dropped),
    };

    let latency = *state.faults.latency.lock().unwrap();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let record = |status: u16| {
        state.log.lock().unwrap().push(RequestRecord {
            method: method.clone(),
            path: path.clone(),
            query: query_str.clone(),
            content_type: content_type.clone(),
            status,
        });
    };
    match state.faults.take(&method, &path) {
        Some(FaultAction::DropConnection) => {
            record(0);
            return Err(Dropped);
        }
        Some(FaultAction::Status { code, retry_after }) => {
            record(code);
            let mut msg = format!("injected fault: {code}");
            let mut details = None;
            if let Some(s) = retry_after {
                msg = format!(
                    "the server has received too many requests and has asked us to try again later (injected fault {code})"
                );
                details = Some(json!({"retryAfterSeconds": s}));
            }
            let mut r = json_response(
                code,
                "application/json",
                &api::status(code, Some(reason_for(code)), &msg, details),
            );
            if let Some(s) = retry_after {
                r.headers_mut().insert("retry-after", HeaderValue::from(s));
            }
            return Ok(r);
        }
        None => {}
    }

    let query: HashMap<String, String> = form_urlencoded::parse(query_str.as_bytes())
        .into_owned()
        .collect();
    let areq = api::Request {
        method: &method,
        path: &path,
        query,
        accept: &accept,
        content_type: &content_type,
        user_agent: &user_agent,
        body: &body,
    };
    let reply = api::handle(&state.api, &areq);
    let resp = match reply {
        Reply::Json(code, v) => json_response(code, "application/json", &v),
        Reply::JsonAs(code, ct, v) => json_response(code, ct, &v),
        Reply::Text(code, t) => {
            let mut r = Response::new(full(t));
            *r.status_mut() = hyper::StatusCode::from_u16(code).unwrap();
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            r.headers_mut().insert(
                "x-content-type-options",
                HeaderValue::from_static("nosniff"),
            );
            r
        }
        Reply::Raw(code, ct, bytes) => {
            let mut r = Response::new(full(bytes.as_ref().clone()));
            *r.status_mut() = hyper::StatusCode::from_u16(code).unwrap();
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
            r
        }
        Reply::Watch(spec) => watch_response(state.clone(), *spec),
    };
    record(resp.status().as_u16());
    Ok(resp)
}

fn watch_response(state: Arc<State>, spec: WatchSpec) -> Response<Body> {
    let deadline = tokio::time::Instant::now() + spec.timeout;
    let initial = if spec.initial {
        Vec::new()
    } else {
        api::watch_snapshot(&state.api, &spec)
    };
    struct W {
        state: Arc<State>,
        spec: WatchSpec,
        last: Vec<(crate::store::Key, Value)>,
        pending: std::collections::VecDeque<Bytes>,
        deadline: tokio::time::Instant,
        first: bool,
    }
    let w = W {
        state,
        spec,
        last: initial,
        pending: Default::default(),
        deadline,
        first: true,
    };
    let stream = futures_util::stream::unfold(w, |mut w| async move {
        loop {
            if let Some(b) = w.pending.pop_front() {
                return Some((Ok::<_, Infallible>(Frame::data(b)), w));
            }
            if tokio::time::Instant::now() >= w.deadline {
                return None;
            }
            if !w.first {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let now = api::watch_snapshot(&w.state.api, &w.spec);
            let mut events = Vec::new();
            for (k, v) in &now {
                match w.last.iter().find(|(lk, _)| lk == k) {
                    None => events.push(("ADDED", v.clone())),
                    Some((_, lv))
                        if lv.pointer("/metadata/resourceVersion")
                            != v.pointer("/metadata/resourceVersion") =>
                    {
                        events.push(("MODIFIED", v.clone()))
                    }
                    _ => {}
                }
            }
            for (lk, lv) in &w.last {
                if !now.iter().any(|(k, _)| k == lk) {
                    events.push(("DELETED", lv.clone()));
                }
            }
            if w.first && w.spec.bookmark {
                let rv = w.state.api.store.lock().unwrap().current_rv();
                events.push((
                    "BOOKMARK",
                    json!({"kind": w.spec.res.kind, "apiVersion": w.spec.res.api_version(), "metadata": {"resourceVersion": rv, "annotations": {"k8s.io/initial-events-end": "true"}}}),
                ));
            }
            w.first = false;
            w.last = now;
            for (t, o) in events {
                let mut line =
                    serde_json::to_vec(&json!({"type": t, "object": o})).unwrap_or_default();
                line.push(b'\n');
                w.pending.push_back(Bytes::from(line));
            }
        }
    });
    let mut r = Response::new(StreamBody::new(stream).boxed());
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r.headers_mut()
        .insert("transfer-encoding", HeaderValue::from_static("chunked"));
    r
}
