//! Cluster: reach the API server the way kubectl does (kubeconfig, context, in-cluster, exec
//! plugins), discover what it serves once, and explain its refusals in words a reviewer can act on.

pub mod adopt;
pub mod diff;
pub mod inspect;
pub mod plan;

use crate::error::{Problem, kube_error};
use kube::api::{ApiResource, DynamicObject};
use kube::discovery::{ApiCapabilities, Discovery, Scope};
use kube::{Api, Client};
use std::path::Path;
use std::time::Duration;

/// A connected cluster, with what it serves.
pub struct Cluster {
    pub client: Client,
    discovery: Discovery,
    /// The API server's address, for messages.
    pub server: String,
    /// The kubeconfig context used, if any.
    pub context: Option<String>,
}

/// Where the kubeconfig and context come from: flags first, then the channel's `context`, then
/// `$KUBECONFIG` / `~/.kube/config` and its current context, then the in-cluster service account.
pub struct Target<'a> {
    pub kubeconfig: Option<&'a Path>,
    pub context: Option<&'a str>,
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
}

impl ClusterOptions {
    /// The target for `channel`: `--context` first, then the channel's own context.
    pub fn target<'a>(&'a self, channel: &'a crate::config::Channel) -> Target<'a> {
        Target {
            kubeconfig: self.kubeconfig.as_deref(),
            context: self.context.as_deref().or(channel.context.as_deref()),
        }
    }
}

/// Run `work` on a runtime of its own: the library's entry points are blocking calls.
pub fn block_on<T>(
    work: impl std::future::Future<Output = Result<T, Problem>>,
) -> Result<T, Problem> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Problem::new(format!("cannot start the async runtime: {e}")))?
        .block_on(work)
}

impl Cluster {
    /// Connect and run discovery. An unreachable or refusing cluster fails here, at once.
    pub async fn connect(target: &Target<'_>) -> Result<Cluster, Problem> {
        let options = kube::config::KubeConfigOptions {
            context: target.context.map(str::to_string),
            ..Default::default()
        };
        let config = match target.kubeconfig {
            Some(path) => {
                let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(|e| {
                    Problem::new(format!("cannot read the kubeconfig: {e}")).in_file(path)
                })?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &options).await
            }
            None if target.context.is_some() => kube::Config::from_kubeconfig(&options).await,
            None => {
                return Self::with_config(
                    kube::Config::infer().await.map_err(|e| {
                        Problem::new(format!("no cluster configured: {e}"))
                            .hint("set KUBECONFIG or --kubeconfig, or run inside a cluster")
                    })?,
                    None,
                )
                .await;
            }
        }
        .map_err(|e| {
            Problem::new(format!("cannot use the kubeconfig: {e}")).hint(
                "check --kubeconfig/KUBECONFIG, and that the context (--context or the channel's) exists",
            )
        })?;
        Self::with_config(config, target.context.map(str::to_string)).await
    }

    async fn with_config(
        mut config: kube::Config,
        context: Option<String>,
    ) -> Result<Cluster, Problem> {
        // Fail fast when the server does not answer; a slow answer is still waited for.
        config.connect_timeout = Some(Duration::from_secs(10));
        config.read_timeout = Some(Duration::from_secs(60));
        let server = config.cluster_url.to_string();
        let unreachable = |e: kube::Error| {
            Problem::new(format!(
                "cannot reach the cluster at {server}{}: {}",
                context.as_deref().map(|c| format!(" (context {c})")).unwrap_or_default(),
                kube_error(&e)
            ))
            .hint("check the kubeconfig, the context and the network; berth reports nothing rather than a partial answer")
        };
        let client = Client::try_from(config).map_err(unreachable)?;
        // Aggregated discovery: two requests (Kubernetes 1.26 and later); else one per group.
        let discovery = match Discovery::new(client.clone()).run_aggregated().await {
            Ok(discovery) => discovery,
            Err(_) => Discovery::new(client.clone())
                .run()
                .await
                .map_err(unreachable)?,
        };
        Ok(Cluster {
            client,
            discovery,
            server,
            context,
        })
    }

    /// Discover again, e.g. after CRDs were created.
    pub async fn refresh(&mut self) -> Result<(), Problem> {
        self.discovery = discover(&self.client)
            .await
            .map_err(|e| Problem::new(format!("discovery failed: {}", kube_error(&e))))?;
        Ok(())
    }

    /// How to reach objects of `api_version`/`kind`, if the cluster serves them.
    pub fn resolve(&self, api_version: &str, kind: &str) -> Option<(ApiResource, ApiCapabilities)> {
        let (group, version) = match api_version.rsplit_once('/') {
            Some((group, version)) => (group, version),
            None => ("", api_version),
        };
        self.discovery
            .resolve_gvk(&kube::api::GroupVersionKind::gvk(group, version, kind))
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
}

/// Aggregated discovery: two requests (Kubernetes 1.26 and later); else one per group.
async fn discover(client: &Client) -> Result<Discovery, kube::Error> {
    match Discovery::new(client.clone()).run_aggregated().await {
        Ok(discovery) => Ok(discovery),
        Err(_) => Discovery::new(client.clone()).run().await,
    }
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
