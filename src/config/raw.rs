//! `berth.yaml` exactly as written, with the source position of every value a later check may
//! point at. Validation (`super::validate`) turns it into the plain [`super::Config`].
//! The JSON Schema (`berth schema`) is generated from these same types.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;

/// A string with the line and column it was written at.
pub type Text = Spanned<String>;

/// Labels as written, each key with its position.
pub type Labels = IndexMap<Text, String>;

/// berth.yaml: the apps a repository renders and the channels they are released through.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "berth.yaml")]
pub struct RawConfig {
    /// The project this repository is: berth's records, lock and labels in a cluster are
    /// keyed by it, so two repositories with a channel of the same name never touch each
    /// other's objects. At most 63 lowercase letters, digits, `-` and `.`. Default: the path
    /// of the `origin` remote (`git@github.com:acme/shop.git` → `acme.shop`), else the name of
    /// the directory of berth.yaml.
    #[schemars(with = "Option<String>")]
    pub project: Option<Text>,
    /// Settings every app inherits.
    #[serde(default)]
    pub defaults: RawDefaults,
    /// Apps by name. A name is a DNS label: lowercase letters, digits and `-`.
    #[schemars(with = "BTreeMap<String, RawApp>")]
    pub apps: IndexMap<Text, RawApp>,
    /// Channels (environments) by name, e.g. `test` and `prod`.
    #[schemars(with = "BTreeMap<String, RawChannel>")]
    pub channels: IndexMap<Text, RawChannel>,
    /// Fields berth neither shows in diffs nor applies, e.g. replicas an autoscaler owns.
    #[serde(default)]
    pub ignore: Vec<RawIgnoreRule>,
    /// How `berth apply` keeps its lock and release records.
    #[serde(default)]
    pub apply: RawApply,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawApply {
    /// Namespace of the lock Leases (`berth-<project>.<channel>`) and release records
    /// (`berth-release-<project>.<channel>`). Default `berth-system`; created when missing.
    #[schemars(with = "Option<String>")]
    pub namespace: Option<Text>,
    /// Prune refuses to delete more than this share of the previous release's objects
    /// (0 to 1; default 0.5) without `--allow-mass-prune`.
    #[schemars(with = "Option<f64>")]
    pub max_prune_share: Option<Spanned<f64>>,
}

/// Fields to leave alone in the objects a rule matches (every given selector must match).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawIgnoreRule {
    /// Kind, e.g. `Deployment` (any when absent).
    pub kind: Option<String>,
    /// API group, e.g. `apps` (`""` for the core group; any when absent).
    pub group: Option<String>,
    /// Namespace (any when absent).
    pub namespace: Option<String>,
    /// Name; a trailing `*` matches any suffix (any when absent).
    pub name: Option<String>,
    /// JSON pointers (`/spec/replicas`) or field paths (`.spec.replicas`,
    /// `.metadata.annotations["example.com/x"]`).
    #[schemars(with = "Vec<String>")]
    pub paths: Vec<Text>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawDefaults {
    /// Namespace for namespaced objects that name none and whose app sets none. Default `default`.
    #[schemars(with = "Option<String>")]
    pub namespace: Option<Text>,
    /// Labels added to every rendered object.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub labels: Labels,
    /// Custom resource kinds that are cluster-scoped although their CRD is not part of the
    /// render, as `Kind.group` (e.g. `ClusterIssuer.cert-manager.io`).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub cluster_scoped: Vec<Text>,
}

/// How an app's manifests are produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DriverKind {
    /// A directory of minijinja templates (`*.yaml.j2`) and plain `*.yaml`.
    Template,
    /// A local Helm chart, rendered with `helm template`.
    Helm,
    /// A Kustomize overlay, built with `kustomize build` or `kubectl kustomize`.
    Kustomize,
    /// A directory of plain YAML (and JSON) manifests.
    Manifests,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawApp {
    /// `template`, `helm`, `kustomize` or `manifests`.
    #[schemars(with = "DriverKind")]
    pub driver: Spanned<DriverKind>,
    /// Directory, relative to berth.yaml: the templates, the chart, the overlay or the manifests.
    /// `{channel}` is replaced by the channel's name (e.g. `overlays/{channel}`).
    #[schemars(with = "String")]
    pub path: Option<Text>,
    /// Namespace for the app's namespaced objects that name none.
    #[schemars(with = "Option<String>")]
    pub namespace: Option<Text>,
    /// Values files, layered in order (later wins); `{channel}` is replaced by the channel's name.
    /// The channel's own values files and `--set` are layered on top. An entry
    /// `{file: values-{channel}.yaml, optional: true}` is skipped where the file does not exist.
    #[serde(default)]
    #[schemars(with = "Vec<RawValuesFile>")]
    pub values: Vec<Spanned<RawValuesFile>>,
    /// Helm only: the release name (`{channel}` is replaced). Default: the app's name.
    #[schemars(with = "Option<String>")]
    pub release: Option<Text>,
    /// The app's files come from another git repository, pinned to a tag or commit (its
    /// `path` is then `source.path`; values files stay relative to berth.yaml).
    pub source: Option<RawAppSource>,
    /// Labels added to every object of this app.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub labels: Labels,
    /// Per-channel variants, by channel name: each key given replaces the app's own for that
    /// channel (the app keeps its name, so its objects keep their `berth.dev/app` label).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawAppChannel>")]
    pub channels: IndexMap<Text, RawAppChannel>,
    /// Secrets whose values come from outside the repository, by name. The rendered tree holds
    /// only their metadata and key names; the values are read when `berth diff` and
    /// `berth apply` run.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawSecret>")]
    pub secrets: IndexMap<Text, RawSecret>,
    /// Add the app's namespace as a Namespace object (labelled as berth's) to the release, as
    /// `helm install --create-namespace` does. A Namespace some app renders itself is kept
    /// instead; two apps creating one namespace make one object, the first app's in berth.yaml.
    #[serde(default)]
    pub create_namespace: bool,
    /// How long `apply --wait` waits for this app's objects (e.g. `10m`), instead of
    /// `--timeout`; an app that is not ready by then is named in the report.
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Text>,
    /// `false`: the app's objects that left the release are never deleted, even when the
    /// channel prunes (the apply shows them as kept). Default true.
    pub prune: Option<bool>,
    /// Kustomize only: allow remote bases (`resources:` or `components:` entries that are
    /// URLs), which make the render depend on the network instead of the commit. Default false.
    #[serde(default)]
    pub allow_remote_bases: bool,
    /// Helm only: chart values read from a secret source at diff and apply time, by values
    /// path (`auth.password`). The candidate is rendered with a placeholder in their place,
    /// replaced by the value in the app's Secrets only (see the README).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawKeySource>")]
    pub secret_values: IndexMap<Text, RawKeySource>,
}

/// What one channel changes in an app. `{channel}` is replaced here as in the app's own keys.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawAppChannel {
    /// The app's directory in this channel.
    #[schemars(with = "Option<String>")]
    pub path: Option<Text>,
    /// Namespace for the app's namespaced objects that name none, in this channel.
    #[schemars(with = "Option<String>")]
    pub namespace: Option<Text>,
    /// Helm only: the release name in this channel.
    #[schemars(with = "Option<String>")]
    pub release: Option<Text>,
    /// Another repository, ref or directory for this channel, replacing the app's `source`.
    pub source: Option<RawAppSource>,
    /// Values files in this channel, replacing the app's list (the channel's own files and
    /// `--set` are still layered on top).
    #[schemars(with = "Option<Vec<RawValuesFile>>")]
    pub values: Option<Vec<Spanned<RawValuesFile>>>,
    /// Whether the app's namespace is created in this channel.
    pub create_namespace: Option<bool>,
    /// Helm only: other sources for some secret values in this channel (merged by values path).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawKeySource>")]
    pub secret_values: IndexMap<Text, RawKeySource>,
}

/// Another git repository an app's files come from. berth fetches the commit with the `git` CLI
/// (so git's credential helpers work) into this repository, under `refs/berth/sources/`; once
/// fetched, a tag or commit renders offline. The repository URL (without credentials) and the
/// commit are recorded in the release.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawAppSource {
    /// The repository, as `git fetch` takes it: `https://…`, `ssh://…`, `git@host:org/repo.git`,
    /// or a path. Leave credentials to git's credential helpers; any in the URL are never shown
    /// or recorded.
    #[schemars(with = "String")]
    pub repo: Text,
    /// A tag or a full commit id. A branch moves, so it is refused unless `allowFloating`.
    /// `{channel}` is replaced by the channel's name.
    #[serde(rename = "ref")]
    #[schemars(with = "String")]
    pub reference: Text,
    /// The app's directory in that repository (default: its top). `{channel}` is replaced.
    #[schemars(with = "Option<String>")]
    pub path: Option<Text>,
    /// Accept a branch as `ref`: fetched on every render, and the commit it pointed to is
    /// recorded. Default false.
    #[serde(default)]
    pub allow_floating: bool,
}

/// A values file: its path, or `{file: PATH, optional: true}` for one that need not exist.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RawValuesFile {
    /// Path relative to berth.yaml; it must exist.
    Path(String),
    Entry(RawValuesEntry),
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawValuesEntry {
    /// Path relative to berth.yaml.
    pub file: String,
    /// Skip the file where it does not exist (e.g. `values-{channel}.yaml` that only some
    /// channels have). Default false: a missing file is an error.
    #[serde(default)]
    pub optional: bool,
}

impl RawValuesFile {
    pub fn path(&self) -> &str {
        match self {
            RawValuesFile::Path(path) => path,
            RawValuesFile::Entry(entry) => &entry.file,
        }
    }

    pub fn optional(&self) -> bool {
        matches!(self, RawValuesFile::Entry(e) if e.optional)
    }
}

/// A Secret filled from external sources; under `channels:`, a channel's variant of it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawSecret {
    /// Default: the app's namespace.
    #[schemars(with = "Option<String>")]
    pub namespace: Option<Text>,
    /// The Secret's type. Default `Opaque`.
    #[serde(rename = "type")]
    pub secret_type: Option<String>,
    /// Each key of the Secret and where its value comes from.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawKeySource>")]
    pub keys: IndexMap<Text, RawKeySource>,
    /// Per channel: another namespace, type, or other sources for some keys (merged by key).
    /// Not in a variant itself.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawSecret>")]
    pub channels: IndexMap<Text, RawSecret>,
}

/// Where one value comes from: exactly one of `env`, `file`, `command` and `sops`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawKeySource {
    /// An environment variable of berth's process.
    pub env: Option<String>,
    /// An absolute path outside the repository (e.g. a secret file mounted in CI).
    pub file: Option<String>,
    /// A program and its arguments, run without a shell in the directory of berth.yaml. Its
    /// output (one trailing newline dropped) is the value; with `format`, a map of keys.
    pub command: Option<Vec<String>>,
    /// A SOPS-encrypted file of the repository (YAML, JSON or `.env`), decrypted with
    /// `sops --decrypt`: a map of keys.
    pub sops: Option<String>,
    /// `yaml`, `json` or `dotenv`: the command prints a map of keys.
    pub format: Option<crate::secret::external::Format>,
    /// The entry of the map (`format` or `sops`) to take. Default: the key's name (for a
    /// secret value, the last part of its path).
    pub key: Option<String>,
    /// How long the command or sops may take, e.g. `10s`. Default 30s.
    pub timeout: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawChannel {
    /// kubeconfig context of the channel's cluster. Default: the current context.
    pub context: Option<String>,
    /// Branch holding the channel's rendered release. Default `releases/<channel>`.
    #[schemars(with = "Option<String>")]
    pub release_branch: Option<Text>,
    /// Apps released through this channel. Default: all.
    #[schemars(with = "Option<Vec<String>>")]
    pub apps: Option<Vec<Text>>,
    /// Values files layered over every app's own values, in order.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub values: Vec<Text>,
    /// Image pins, as kustomize's `images:`: every container image named `name` is rewritten.
    #[serde(default)]
    pub images: Vec<RawImagePin>,
    /// Delete, on apply, objects that left the release (as `berth apply --prune`).
    #[serde(default)]
    pub prune: bool,
    /// The channel a release of this one is promoted to next (e.g. `test` → `prod`).
    #[schemars(with = "Option<String>")]
    pub promotes_to: Option<Text>,
    /// Let `berth promote --auto` fast-forward this channel's release branch directly (continuous
    /// delivery into it, without a pull request). Default false.
    #[serde(default)]
    pub auto_promote: bool,
    /// Commands run after each successful apply (and its wait), in order; a failure makes the
    /// apply's result "checks failed".
    #[serde(default)]
    pub checks: Vec<RawCheck>,
    /// Messages sent after each apply of the channel (success or failure), rollback, promotion
    /// to it, and drift found in it. URLs and keys are read from environment variables, never
    /// written here.
    #[serde(default)]
    pub notify: Vec<RawNotify>,
}

/// A chat to tell about applies.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub enum RawNotify {
    /// A Slack (or Slack-compatible: Mattermost, Rocket.Chat) incoming webhook.
    Slack(RawSlack),
    /// A Zulip stream, through `/api/v1/messages` with a bot's email and API key.
    Zulip(Box<RawZulip>),
    /// A Microsoft Teams channel, through a Workflows webhook ("Post to a channel when a webhook
    /// request is received"): an Adaptive Card.
    Teams(RawTeams),
    /// Any HTTP endpoint: a POST of the message's fields as a JSON object (see the README).
    Webhook(RawWebhook),
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawTeams {
    /// The environment variable holding the Workflows webhook URL (e.g. `TEAMS_WEBHOOK_URL`).
    #[schemars(with = "String")]
    pub webhook_env: Text,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawWebhook {
    /// The environment variable holding the URL to POST to (e.g. `DEPLOY_WEBHOOK_URL`).
    #[schemars(with = "String")]
    pub url_env: Text,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawSlack {
    /// The environment variable holding the webhook URL (e.g. `SLACK_WEBHOOK_URL`).
    #[schemars(with = "String")]
    pub webhook_env: Text,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawZulip {
    /// The environment variable holding the server's URL (e.g. `https://chat.example.com`).
    #[schemars(with = "String")]
    pub url_env: Text,
    /// The environment variable holding the bot's email.
    #[schemars(with = "String")]
    pub email_env: Text,
    /// The environment variable holding the bot's API key.
    #[schemars(with = "String")]
    pub api_key_env: Text,
    pub stream: String,
    /// Default: the channel's name.
    pub topic: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawCheck {
    /// What the check is called in reports and the release record (default: the Job's name;
    /// a command check needs one).
    #[schemars(with = "Option<String>")]
    pub name: Option<Text>,
    /// A shell command (`sh -c`), run with BERTH_CHANNEL, BERTH_RELEASE_COMMIT,
    /// BERTH_SOURCE_COMMIT, BERTH_CONTEXT (and KUBECONFIG when --kubeconfig is given).
    pub run: Option<String>,
    /// Instead of `run`: the name of a Job (batch/v1) of the release. berth keeps it out of
    /// the apply, and after each apply deletes its last run and creates it afresh, then waits
    /// for it to complete or fail.
    #[schemars(with = "Option<String>")]
    pub job: Option<Text>,
    /// The Job's namespace, when the release holds Jobs of that name in several.
    pub namespace: Option<String>,
    /// How long it may run (e.g. 90s, 5m); default 5m.
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Text>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawImagePin {
    /// Image name as written in manifests, without tag or digest.
    #[schemars(with = "String")]
    pub name: Text,
    /// Replacement image name (registry/repository).
    pub new_name: Option<String>,
    /// Replacement tag.
    pub new_tag: Option<String>,
    /// Replacement digest (`sha256:…`); wins over `newTag`.
    pub digest: Option<String>,
}
