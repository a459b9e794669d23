//! Cluster: reach the API server the way kubectl does (kubeconfig, context, in-cluster, exec
//! plugins), discover what it serves once, and explain its refusals in words a reviewer can act on.

pub mod adopt;
pub mod connect;
pub mod diff;
pub mod inspect;
pub mod plan;
pub mod unowned;

use crate::error::{Problem, kube_error};
use connect::Timeouts;
use kube::api::{ApiResource, DynamicObject};
use kube::core::GroupVersion;
use kube::discovery::{ApiCapabilities, ApiGroup, Discovery, Scope};
use kube::{Api, Client};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A connected cluster, with what it serves.
#[derive(Clone)]
pub struct Cluster {
    pub client: Client,
    /// What the server serves, by (apiVersion, kind): discovery's answer indexed once, as every
    /// object is resolved several times (kube's own lookup copies a group version's list).
    served: Served,
    /// The API server's address, for messages.
    pub server: String,
    /// The kubeconfig context used, if any.
    pub context: Option<String>,
    /// Requests sent to the API server so far (discovery included).
    requests: Arc<AtomicUsize>,
    /// Whether discovery's two requests may go at once (`--concurrency` above 1).
    discover_at_once: bool,
}

/// Where the kubeconfig and context come from: flags first, then the channel's `context`, then
/// `$KUBECONFIG` / `~/.kube/config` and its current context, then the in-cluster service account.
pub struct Target<'a> {
    pub kubeconfig: Option<&'a Path>,
    pub context: Option<&'a str>,
    pub timeouts: Timeouts,
    /// Requests to the API server at once (`--concurrency`; 1 asks one thing at a time).
    pub concurrency: usize,
}

/// How to reach a channel's cluster, as the command line says it (kubectl's flags).
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// `--kubeconfig`.
    pub kubeconfig: Option<std::path::PathBuf>,
    /// `--context`: wins over the channel's `context`.
    pub context: Option<String>,
    /// Requests to the API server at once.
    pub concurrency: usize,
    /// `--connect-timeout`, `--request-timeout`, `--exec-timeout`.
    pub timeouts: Timeouts,
}

impl ClusterOptions {
    /// The target for `channel`: `--context` first, then the channel's own context.
    pub fn target<'a>(&'a self, channel: &'a crate::config::Channel) -> Target<'a> {
        Target {
            kubeconfig: self.kubeconfig.as_deref(),
            context: self.context.as_deref().or(channel.context.as_deref()),
            timeouts: self.timeouts,
            concurrency: self.concurrency,
        }
    }
}

/// Run `work` on a runtime of its own: the library's entry points are blocking calls.
pub fn block_on<T>(
    work: impl std::future::Future<Output = Result<T, Problem>>,
) -> Result<T, Problem> {
    runtime()?.block_on(work)
}

/// A runtime for a blocking entry point that enters it more than once (a client made in it
/// lives only as long as it).
pub fn runtime() -> Result<tokio::runtime::Runtime, Problem> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Problem::new(format!("cannot start the async runtime: {e}")))
}

impl Cluster {
    /// Connect and run discovery. An unreachable, silent or refusing cluster fails here, at
    /// once, saying which; no message carries a credential of the kubeconfig.
    pub async fn connect(target: &Target<'_>) -> Result<Cluster, Problem> {
        let (config, credentials) = connect::load(target, target.timeouts).await?;
        let context = target.context.map(str::to_string);
        // Userinfo in the URL is a credential.
        let server = crate::secret::redact_userinfo(&config.cluster_url.to_string());
        let refused = |e: kube::Error| {
            credentials.clean(connection_problem(
                &e,
                &server,
                context.as_deref(),
                target.timeouts,
            ))
        };
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let count = tower::util::MapRequestLayer::new(move |request| {
            counter.fetch_add(1, Ordering::Relaxed);
            request
        });
        let client = kube::client::ClientBuilder::try_from(config)
            .map_err(refused)?
            .with_layer(&count)
            .build();
        let discover_at_once = target.concurrency > 1;
        let served = discover(&client, discover_at_once).await.map_err(refused)?;
        Ok(Cluster {
            client,
            served,
            server,
            context,
            requests,
            discover_at_once,
        })
    }

    /// The cluster as reports name it: by context, else by address.
    pub fn describe(&self) -> String {
        match &self.context {
            Some(context) => format!("the cluster ({context})"),
            None => format!("the cluster at {}", self.server),
        }
    }

    /// How many requests this connection has sent to the API server.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    /// Discover again, e.g. after CRDs were created.
    pub async fn refresh(&mut self) -> Result<(), Problem> {
        self.served = discover(&self.client, self.discover_at_once)
            .await
            .map_err(|e| Problem::new(format!("discovery failed: {}", kube_error(&e))))?;
        Ok(())
    }

    /// How to reach objects of `api_version`/`kind`, if the cluster serves them.
    pub fn resolve(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Option<(&ApiResource, &ApiCapabilities)> {
        self.served
            .get(api_version)?
            .get(kind)
            .map(|(resource, caps)| (resource, caps))
    }

    /// The apiVersion serving `kind` of API `group`, when exactly one version serves it.
    pub fn only_version(&self, group: &str, kind: &str) -> Option<&str> {
        let mut versions = self.served.iter().filter(|(api_version, kinds)| {
            crate::object::group_of(api_version) == group && kinds.contains_key(kind)
        });
        match (versions.next(), versions.next()) {
            (Some((api_version, _)), None) => Some(api_version),
            _ => None,
        }
    }

    /// A LIST of `resource` (in `namespace`, or across all), decoded straight into `T`: a
    /// caller that keeps plain JSON, or only names, skips kube's typed objects and their copies.
    pub async fn list_as<T: serde::de::DeserializeOwned>(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        params: &kube::api::ListParams,
    ) -> Result<T, kube::Error> {
        self.client
            .request(list_request(resource, namespace, params)?)
            .await
    }

    /// The API of one object (namespaced or cluster-wide as the server says), or, without a
    /// namespace, of all objects of the kind.
    pub fn api(
        &self,
        resource: &ApiResource,
        caps: &ApiCapabilities,
        namespace: Option<&str>,
    ) -> Api<DynamicObject> {
        match (&caps.scope, namespace) {
            (Scope::Namespaced, Some(ns)) => {
                Api::namespaced_with(self.client.clone(), ns, resource)
            }
            (Scope::Namespaced, None) | (Scope::Cluster, _) => {
                Api::all_with(self.client.clone(), resource)
            }
        }
    }

    /// Server-side apply `body` to `name` through `api`, without decoding the answer: a write
    /// needs only whether it succeeded, and decoding each answer (the whole object with its
    /// managed fields) is CPU that thousands of writes on a busy machine do not need.
    pub async fn apply_unread(
        &self,
        api: &Api<DynamicObject>,
        name: &str,
        params: &kube::api::PatchParams,
        body: &serde_json::Value,
    ) -> Result<(), kube::Error> {
        let mut request = kube::core::Request::new(api.resource_url())
            .patch(name, params, &kube::api::Patch::Apply(body))
            .map_err(kube::Error::BuildRequest)?;
        request.extensions_mut().insert("patch");
        self.client.request_text(request).await.map(drop)
    }
}

/// Free `value` on a thread of its own: freeing thousands of listed or parsed objects (many
/// small JSON maps each) costs as much as comparing them, and nothing needs to wait for it.
pub fn drop_later<T: Send + 'static>(value: T) {
    std::thread::spawn(move || drop(value));
}

/// An item of a LIST as its object reads: items carry no apiVersion and kind of their own.
pub fn listed_object(mut item: serde_json::Value, resource: &ApiResource) -> serde_json::Value {
    item["apiVersion"] = serde_json::Value::String(resource.api_version.clone());
    item["kind"] = serde_json::Value::String(resource.kind.clone());
    item
}

/// The request of a LIST of `resource`, in `namespace` or across all.
pub fn list_request(
    resource: &ApiResource,
    namespace: Option<&str>,
    params: &kube::api::ListParams,
) -> Result<hyper::Request<Vec<u8>>, kube::Error> {
    use kube::Resource;
    let mut request = kube::core::Request::new(DynamicObject::url_path(resource, namespace))
        .list(params)
        .map_err(kube::Error::BuildRequest)?;
    request.extensions_mut().insert("list");
    Ok(request)
}

/// apiVersion → kind → how to reach it: looked up by borrowed names, with no key to build on
/// this per-object path.
type Served = HashMap<String, HashMap<String, (ApiResource, ApiCapabilities)>>;

/// Discovery's resources by (apiVersion, kind); of one kind listed twice in a group version,
/// the first, as kube's `resolve_gvk` picks.
fn index<'a>(groups: impl IntoIterator<Item = &'a ApiGroup>) -> Served {
    let mut served = Served::new();
    for group in groups {
        for version in group.versions() {
            for (resource, caps) in group.versioned_resources(version) {
                served
                    .entry(resource.api_version.clone())
                    .or_default()
                    .entry(resource.kind.clone())
                    .or_insert((resource, caps));
            }
        }
    }
    served
}

/// Aggregated discovery: two requests (Kubernetes 1.26 and later), at once when `at_once`:
/// the groups' document (`/apis`) and the core group's (`/api/v1`; kube's own aggregated
/// discovery would ask `/api` only once `/apis` answered). On an older server, one request per
/// group. A server that does not answer, or refuses the credentials, is not asked again the old
/// way.
async fn discover(client: &Client, at_once: bool) -> Result<Served, kube::Error> {
    let groups = Discovery::new(client.clone())
        .exclude(&[ApiGroup::CORE_GROUP])
        .run_aggregated();
    let core_version = GroupVersion::gv(ApiGroup::CORE_GROUP, "v1");
    let core = || kube::discovery::pinned_group(client, &core_version);
    let (groups, core_asked) = if at_once {
        let (groups, core) = futures_util::future::join(groups, core()).await;
        (groups, Some(core))
    } else {
        (groups.await, None)
    };
    match groups {
        Ok(groups) => {
            let core = match core_asked {
                Some(core) => core?,
                None => core().await?,
            };
            Ok(index(groups.groups().chain([&core])))
        }
        Err(e) if !aggregated_unsupported(&e) => Err(e),
        Err(_) => Ok(index(Discovery::new(client.clone()).run().await?.groups())),
    }
}

/// Whether aggregated discovery failed because the server does not offer it (an old server
/// answers 404/406 or the legacy document), rather than because it cannot be reached.
fn aggregated_unsupported(err: &kube::Error) -> bool {
    match err {
        kube::Error::Api(status) => !matches!(status.code, 401 | 403 | 500..),
        kube::Error::SerdeError(_) => true,
        _ => false,
    }
}

/// What timed out, if anything did: the connection or the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimedOut {
    Connect,
    Request,
}

fn timed_out(err: &kube::Error) -> Option<TimedOut> {
    let mut connecting = false;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        // hyper names the stage in its message: `client error (Connect)`.
        connecting |= e.to_string().contains("(Connect)");
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return Some(if connecting {
                TimedOut::Connect
            } else {
                TimedOut::Request
            });
        }
        source = e.source();
    }
    None
}

/// Why connecting and discovery failed, in words that say what went wrong: no connection, no
/// answer in time, or what the server answered.
fn connection_problem(
    err: &kube::Error,
    server: &str,
    context: Option<&str>,
    timeouts: Timeouts,
) -> Problem {
    let at = format!(
        "the API server at {server}{}",
        context
            .map(|c| format!(" (context {c})"))
            .unwrap_or_default()
    );
    let (message, hint) = match (err, timed_out(err)) {
        (kube::Error::Api(status), _) if status.code == 401 => (
            format!("{at} refused the credentials (401 Unauthorized)"),
            "the token or client certificate of the context's user is wrong or expired; get fresh credentials",
        ),
        (kube::Error::Api(status), _) if status.code == 403 => (
            format!("{at} forbids discovery (403 Forbidden): {}", status.message),
            "the context's user needs get on the discovery endpoints (/api, /apis)",
        ),
        (kube::Error::Api(status), _) => (
            format!(
                "{at} answered {} {} to discovery: {}",
                status.code, status.reason, status.message
            ),
            "check the API server's health; berth reports nothing rather than a partial answer",
        ),
        (kube::Error::Auth(_), _) => (
            format!("cannot authenticate to {at}: {}", kube_error(err)),
            "check the user of the context in the kubeconfig",
        ),
        (_, Some(TimedOut::Connect)) => (
            format!(
                "cannot reach the cluster: no connection to {at} within {} (--connect-timeout)",
                humantime::format_duration(timeouts.connect)
            ),
            "check the server address, the network and any proxy; or raise --connect-timeout",
        ),
        (_, Some(TimedOut::Request)) => (
            format!(
                "{at} accepted the connection but did not answer within {} (--request-timeout)",
                humantime::format_duration(timeouts.request)
            ),
            "check the API server's health (or what listens at that address); or raise --request-timeout",
        ),
        (_, None) => (
            format!("cannot reach the cluster: {at}: {}", kube_error(err)),
            "check the kubeconfig, the context and the network; berth reports nothing rather than a partial answer",
        ),
    };
    Problem::new(message).hint(hint)
}

/// Why the API server refused a request, in a reviewer's words. `file` is the object's file
/// in the rendered tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The object's namespace does not exist (404, details.kind `namespaces`).
    MissingNamespace(String),
    /// Anything else, described.
    Other(String),
}

impl Refusal {
    /// The refusal as a sentence.
    pub fn message(self) -> String {
        match self {
            Refusal::MissingNamespace(ns) => format!("namespace `{ns}` does not exist"),
            Refusal::Other(message) => message,
        }
    }
}

pub fn explain(err: &kube::Error, verb: &str, file: &str) -> Refusal {
    let kube::Error::Api(status) = err else {
        return Refusal::Other(format!("{verb} failed: {}", kube_error(err)));
    };
    let details = status.details.as_ref();
    let causes = details.map(|d| d.causes.as_slice()).unwrap_or_default();
    match status.code {
        404 if details.is_some_and(|d| d.kind == "namespaces") => {
            Refusal::MissingNamespace(details.map(|d| d.name.clone()).unwrap_or_default())
        }
        409 if status.reason == "Conflict"
            && causes.iter().any(|c| c.reason == "FieldManagerConflict") =>
        {
            let owners: Vec<String> = causes
                .iter()
                .map(|c| format!("{} ({})", c.field, c.message))
                .collect();
            Refusal::Other(format!(
                "conflict: fields another manager owns would change: {}; apply with --force-conflicts to take them over, or leave them out of the manifest",
                owners.join("; ")
            ))
        }
        422 => {
            let listed: Vec<String> = causes
                .iter()
                .map(|c| format!("{}: {}", c.field, c.message))
                .collect();
            Refusal::Other(format!(
                "invalid ({file}): {}",
                if listed.is_empty() {
                    status.message.clone()
                } else {
                    listed.join("; ")
                }
            ))
        }
        403 => Refusal::Other(format!(
            "forbidden: {} (berth needs get, list and patch on every kind it manages)",
            status.message
        )),
        // A wrong type or an unknown field comes back as 500 (`failed to create typed patch
        // object`): the object's fault, not the server's.
        500 if status
            .message
            .contains("failed to create typed patch object") =>
        {
            Refusal::Other(format!(
                "invalid ({file}): {}",
                typed_patch_detail(&status.message)
            ))
        }
        code => Refusal::Other(format!(
            "the API server answered {code} {} to {verb}: {}",
            status.reason, status.message
        )),
    }
}

/// `failed to create typed patch object (ns/name; apps/v1, Kind=Deployment): .spec.x: …`
/// → `.spec.x: …`.
fn typed_patch_detail(message: &str) -> &str {
    message
        .split_once("): ")
        .map_or(message, |(_, detail)| detail)
}
