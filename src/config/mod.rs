//! `berth.yaml`: found, parsed and checked before any work starts, so that every mistake in it
//! is reported at once, with its file:line:column and a hint.

pub mod chart;
pub mod pins;
pub mod raw;

use crate::error::{Location, Problem, Problems};
use crate::secret::external::{ExternalSecret, KeySource, SecretValue, Source as SecretSource};
use crate::source::{self, EntryKind, Source};
pub use raw::DriverKind;
use raw::{
    Labels, RawApp, RawAppChannel, RawAppSource, RawChannel, RawConfig, RawKeySource, RawNotify,
    Text,
};
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "berth.yaml";

/// A checked berth.yaml. Paths are relative to `root` and may hold `{channel}`.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub file: PathBuf,
    /// The directory holding it: the root of every path in it.
    pub root: PathBuf,
    /// Who this repository is in a cluster (`project:`, or the default of [`default_project`]).
    pub project: String,
    pub defaults: Defaults,
    pub apps: Vec<App>,
    pub channels: Vec<Channel>,
    pub ignore: Vec<crate::ignore::IgnoreRule>,
    pub apply: ApplySettings,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApplySettings {
    pub namespace: String,
    pub max_prune_share: f64,
}

impl Default for ApplySettings {
    fn default() -> Self {
        ApplySettings {
            namespace: "berth-system".into(),
            max_prune_share: 0.5,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Defaults {
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    /// `(group, kind)` of custom resources known to be cluster-scoped.
    pub cluster_scoped: BTreeSet<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct App {
    pub name: String,
    pub kind: DriverKind,
    pub labels: BTreeMap<String, String>,
    /// The app as each channel releasing it renders it: `{channel}` replaced and the channel's
    /// overrides (`apps.<app>.channels.<channel>`) applied.
    pub variants: BTreeMap<String, Variant>,
    /// Every values file the app names for any channel: they may sit beside its manifests and
    /// are not manifests.
    pub values_files: BTreeSet<String>,
    /// The app's external Secrets (`secrets:`) by channel, variants merged.
    pub secrets: BTreeMap<String, Vec<ExternalSecret>>,
    /// Helm only: chart values from secret sources (`secretValues:`) by channel, variants merged.
    pub secret_values: BTreeMap<String, Vec<SecretValue>>,
    /// What is wrong with the app's paths, per channel: a missing chart fails only the
    /// channels that release the app, when they are rendered.
    pub broken: BTreeMap<String, Vec<Problem>>,
    /// How long `apply --wait` waits for the app's objects (`timeout:`); `None`: `--timeout`.
    pub timeout: Option<std::time::Duration>,
    /// `prune: false`: what of the app left the release is never deleted.
    pub prune: bool,
    /// Kustomize: remote bases are allowed (`allowRemoteBases: true`).
    pub allow_remote_bases: bool,
}

/// What of an app may differ per channel, concrete (no `{channel}` left).
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// The driver and its directory: in `source`'s repository when the app has one.
    pub driver: Driver,
    pub namespace: String,
    pub values: Vec<ValuesFile>,
    /// Add a Namespace object for `namespace` to the release (`createNamespace: true`).
    pub create_namespace: bool,
    /// Another repository holding the app's files (`source:`); values files stay in this one.
    pub source: Option<RemoteSource>,
}

/// The repository and ref an app's files are fetched from, for one channel.
#[derive(Clone, PartialEq, Eq)]
pub struct RemoteSource {
    /// The URL as written: it may hold credentials, so messages and records show
    /// [`RemoteSource::shown_repo`].
    pub repo: String,
    /// A tag, a full commit id, or (with `allow_floating`) a branch; `{channel}` replaced.
    pub reference: String,
    pub allow_floating: bool,
    /// Where berth.yaml sets it.
    pub origin: Location,
}

impl RemoteSource {
    /// The URL without credentials.
    pub fn shown_repo(&self) -> String {
        crate::secret::without_userinfo(&self.repo)
    }
}

/// Without the URL's credentials.
impl std::fmt::Debug for RemoteSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSource")
            .field("repo", &self.shown_repo())
            .field("reference", &self.reference)
            .field("allow_floating", &self.allow_floating)
            .field("origin", &self.origin)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValuesFile {
    pub path: String,
    /// Skipped where it does not exist, instead of an error.
    pub optional: bool,
}

impl App {
    /// The app's Helm secret values in `channel` (none where it is not released).
    pub fn secret_values_in(&self, channel: &str) -> &[SecretValue] {
        self.secret_values.get(channel).map_or(&[], Vec::as_slice)
    }

    /// The app in `channel`. Config holds a variant for every channel that releases the app,
    /// and only those channels render it.
    pub fn in_channel(&self, channel: &str) -> &Variant {
        self.variants
            .get(channel)
            .expect("config holds a variant for every channel releasing the app")
    }

    pub fn driver_name(&self) -> &'static str {
        driver_name(self.kind)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Driver {
    Template { dir: String },
    Helm { chart: String, release: String },
    Kustomize { overlay: String },
    Manifests { dir: String },
}

impl Driver {
    pub fn name(&self) -> &'static str {
        match self {
            Driver::Template { .. } => "template",
            Driver::Helm { .. } => "helm",
            Driver::Kustomize { .. } => "kustomize",
            Driver::Manifests { .. } => "manifests",
        }
    }

    /// The directory the driver reads, as written (may hold `{channel}`).
    pub fn path(&self) -> &str {
        match self {
            Driver::Template { dir } | Driver::Manifests { dir } => dir,
            Driver::Helm { chart, .. } => chart,
            Driver::Kustomize { overlay } => overlay,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Channel {
    pub name: String,
    pub context: Option<String>,
    pub release_branch: String,
    /// Names of the apps released through this channel, in berth.yaml's order.
    pub apps: Vec<String>,
    pub values: Vec<String>,
    pub images: Vec<ImagePin>,
    pub promotes_to: Option<String>,
    /// `promote --auto` may fast-forward its release branch.
    pub auto_promote: bool,
    pub prune: bool,
    /// Run after each successful apply.
    pub checks: Vec<Check>,
    pub notify: Vec<Notify>,
}

/// A chat (or endpoint) told about applies, rollbacks, promotions and drift; every field but the stream and topic names an environment
/// variable, read when the message is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notify {
    Slack {
        webhook_env: String,
    },
    Zulip {
        url_env: String,
        email_env: String,
        api_key_env: String,
        stream: String,
        topic: String,
    },
    Teams {
        webhook_env: String,
    },
    /// A POST of the message's fields as JSON.
    Webhook {
        url_env: String,
    },
}

/// A check run after a successful apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub run: CheckRun,
    pub timeout: std::time::Duration,
}

/// What a check runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckRun {
    /// A shell command.
    Command(String),
    /// A Job of the release, recreated for each release and waited for.
    Job {
        name: String,
        namespace: Option<String>,
    },
}

/// How long a check may run unless it says.
pub const CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePin {
    pub name: String,
    pub new_name: Option<String>,
    pub new_tag: Option<String>,
    pub digest: Option<String>,
}

impl Config {
    pub fn app(&self, name: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.name == name)
    }

    pub fn channel(&self, name: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.name == name)
    }

    /// Refuse app names berth.yaml does not define (e.g. from `--app`).
    pub fn check_apps(&self, names: &[String]) -> Result<(), Problems> {
        let known: Vec<&str> = self.apps.iter().map(|a| a.name.as_str()).collect();
        let mut problems = Vec::new();
        for (i, name) in names.iter().enumerate() {
            // `-a web -a web` names web once; an unknown app is reported once.
            if !names[..i].contains(name) && self.app(name).is_none() {
                problems.push(
                    Problem::new(format!("unknown app `{name}`"))
                        .in_file(&self.file)
                        .hint(format!("apps defined: {}", known.join(", "))),
                );
            }
        }
        Problems::check(problems)
    }

    /// Refuse apps (e.g. from `--app`) that `channel` does not release, each once.
    pub fn check_released(&self, channel: &Channel, names: &[String]) -> Result<(), Problems> {
        let mut problems = Vec::new();
        for (i, name) in names.iter().enumerate() {
            if !names[..i].contains(name) && !channel.apps.contains(name) {
                problems.push(
                    Problem::new(format!(
                        "app `{name}` is not released through channel `{}`",
                        channel.name
                    ))
                    .in_file(&self.file)
                    .hint(format!(
                        "channel {} has: {}",
                        channel.name,
                        channel.apps.join(", ")
                    )),
                );
            }
        }
        Problems::check(problems)
    }

    /// The apps whose objects are never pruned (`prune: false`).
    pub fn unpruned_apps(&self) -> BTreeSet<String> {
        self.apps
            .iter()
            .filter(|app| !app.prune)
            .map(|app| app.name.clone())
            .collect()
    }

    /// The external Secrets of the channel's apps.
    pub fn external_secrets(&self, channel: &Channel) -> Vec<ExternalSecret> {
        self.apps
            .iter()
            .filter(|a| channel.apps.contains(&a.name))
            .flat_map(|a| a.secrets.get(&channel.name).into_iter().flatten().cloned())
            .collect()
    }

    /// The Helm values from secret sources of the channel's apps.
    pub fn secret_values(&self, channel: &Channel) -> Vec<SecretValue> {
        self.apps
            .iter()
            .filter(|a| channel.apps.contains(&a.name))
            .flat_map(|a| a.secret_values_in(&channel.name).iter().cloned())
            .collect()
    }

    /// The channels named (all when none are), each once however often it is named, or an
    /// error naming the unknown ones.
    pub fn select_channels(&self, names: &[String]) -> Result<Vec<&Channel>, Problems> {
        if names.is_empty() {
            return Ok(self.channels.iter().collect());
        }
        let known: Vec<&str> = self.channels.iter().map(|c| c.name.as_str()).collect();
        let mut found = Vec::new();
        let mut problems = Vec::new();
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                continue;
            }
            match self.channel(name) {
                Some(channel) => found.push(channel),
                None => problems.push(
                    Problem::new(format!("unknown channel `{name}`"))
                        .in_file(&self.file)
                        .hint(format!("channels defined: {}", known.join(", "))),
                ),
            }
        }
        Problems::check(problems)?;
        Ok(found)
    }
}

/// Replace `{channel}` in a path from berth.yaml.
pub fn for_channel(path: &str, channel: &str) -> String {
    path.replace("{channel}", channel)
}

/// Find berth.yaml in `start` or the nearest directory above it.
pub fn find(start: &Path) -> Result<PathBuf, Problems> {
    let start = start.canonicalize().map_err(|e| Problem::io(start, &e))?;
    for dir in start.ancestors() {
        let candidate = dir.join(FILE_NAME);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    let rendered = start
        .ancestors()
        .any(|dir| dir.join(crate::tree::RELEASE_FILE).is_file());
    let hint = if rendered {
        "this checkout is a rendered tree (a candidate or release branch): run berth in a checkout \
         of the source, and keep candidates/** and releases/** out of the workflow that runs \
         `berth candidate`"
    } else {
        "run berth inside a repository with a berth.yaml, or pass -C DIR or --config FILE"
    };
    Err(Problem::new(format!(
        "no {FILE_NAME} in {} or any directory above it",
        start.display()
    ))
    .hint(hint)
    .into())
}

/// The project of a repository without `project:`: the path of its `origin` remote, which every
/// clone of it shares (so every clone renders the same labels); `default` without one.
pub fn default_project(root: &Path) -> String {
    git2::Repository::discover(root)
        .ok()
        .and_then(|repo| {
            let remote = repo.find_remote("origin").ok()?;
            remote.url().ok().map(crate::object::names::project_of_url)
        })
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "default".into())
}

/// Read and check the config at `file`, with the repository files read from `source`.
pub fn load(file: &Path, source: &dyn Source) -> Result<Config, Problems> {
    let bytes = std::fs::read(file).map_err(|e| {
        Problem::io(file, &e)
            .hint("check the path given to --config or -C, and that it is a readable file")
    })?;
    let text = source::utf8_text(bytes, file)?;
    parse(file, &text, source)
}

/// Parse and check config `text`, shown in messages as `file`.
pub fn parse(file: &Path, text: &str, source: &dyn Source) -> Result<Config, Problems> {
    let blank = text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
    if blank {
        return Err(Problem::new("berth.yaml is empty")
            .in_file(file)
            .hint("it needs `apps:` and `channels:` (the README has an example; `berth schema` lists every key)")
            .into());
    }
    let raw: RawConfig = crate::yaml::from_str(text).map_err(|mut e| {
        // serde's words for an untagged enum name a Rust type, not what to write.
        if e.message.contains("untagged enum RawValuesFile") {
            e.message = "a values entry is a path or `{file: PATH, optional: true}`, with no \
                         other keys"
                .into();
        }
        let line = e.line.and_then(|l| text.lines().nth(l.saturating_sub(1) as usize));
        let hint = if line.is_some_and(|l| l.contains('[') && l.contains("{channel}")) {
            "`{` starts a mapping inside `[ ]`: quote the path, e.g. [\"apps/web/values-{channel}.yaml\"], or list it on its own `- ` line"
        } else if e.message.contains("unknown field") {
            "`berth schema` prints every key berth.yaml accepts"
        } else if e.message.contains("unknown variant") {
            "drivers: template, helm, kustomize, manifests"
        } else {
            "berth.yaml must be valid YAML in the shape `berth schema` describes"
        };
        Problem::new(e.message)
            .at(Location::at(file, e.line, e.column))
            .hint(hint)
    })?;
    Validator {
        file,
        source,
        problems: Vec::new(),
    }
    .run(raw, file)
}

struct Validator<'a> {
    file: &'a Path,
    source: &'a dyn Source,
    problems: Vec<Problem>,
}

impl Validator<'_> {
    fn at<T>(&self, text: &Spanned<T>) -> Location {
        let line = text.referenced.line();
        if line == 0 {
            Location::file(self.file)
        } else {
            Location::at(self.file, Some(line), Some(text.referenced.column()))
        }
    }

    /// Report a problem at `text`, once: a key every channel shares would otherwise be
    /// reported once per channel.
    /// A positive duration (`90s`, `10m`), or a problem saying `what` is not one.
    fn duration(&mut self, text: &Text, what: &str) -> Option<std::time::Duration> {
        let parsed = humantime::parse_duration(&text.value)
            .ok()
            .filter(|t| !t.is_zero());
        if parsed.is_none() {
            self.report(
                text,
                format!("{what} `{}` is not a duration", text.value),
                "e.g. 90s, 10m or 1h",
            );
        }
        parsed
    }

    fn report<T>(&mut self, text: &Spanned<T>, message: String, hint: &str) {
        let problem = Problem::new(message).at(self.at(text)).hint(hint);
        if !self.problems.contains(&problem) {
            self.problems.push(problem);
        }
    }

    fn run(mut self, raw: RawConfig, file: &Path) -> Result<Config, Problems> {
        let root = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let defaults = self.defaults(&raw.defaults);
        let app_names: Vec<String> = raw.apps.keys().map(|k| k.value.clone()).collect();
        if raw.apps.is_empty() {
            self.problems.push(
                Problem::new("no apps defined")
                    .in_file(self.file)
                    .hint("add an app under `apps:`"),
            );
        }
        if raw.channels.is_empty() {
            self.problems.push(
                Problem::new("no channels defined")
                    .in_file(self.file)
                    .hint("add a channel under `channels:`, e.g. `test: {}`"),
            );
        }
        let channel_names: Vec<String> = raw.channels.keys().map(|k| k.value.clone()).collect();
        let channels: Vec<Channel> = raw
            .channels
            .iter()
            .map(|(name, channel)| self.channel(name, channel, &app_names, &channel_names))
            .collect();
        let apps: Vec<App> = raw
            .apps
            .iter()
            .map(|(name, app)| {
                let used_by: Vec<&str> = channels
                    .iter()
                    .filter(|c| c.apps.contains(&name.value))
                    .map(|c| c.name.as_str())
                    .collect();
                self.app(name, app, &defaults, &used_by, &channel_names)
            })
            .collect();
        self.check_promotion_cycles(&raw, &channels);
        let ignore = raw
            .ignore
            .iter()
            .map(|rule| self.ignore_rule(rule))
            .collect();
        let apply = self.apply_settings(&raw.apply);
        let project = match &raw.project {
            Some(project) => {
                self.check_project(project);
                project.value.clone()
            }
            None => default_project(&root),
        };
        if !self.problems.is_empty() {
            // The config fails anyway: its apps' broken paths too, so one run reports all.
            let broken = apps.iter().flat_map(|app| {
                app.broken.iter().flat_map(move |(channel, found)| {
                    found
                        .iter()
                        .map(move |p| (channel.clone(), p.clone().app(&app.name)))
                })
            });
            self.problems.extend(Problems::merge_channels(broken));
        }
        Problems::check(self.problems)?;
        Ok(Config {
            file: file.to_path_buf(),
            root,
            project,
            defaults,
            apps,
            channels,
            ignore,
            apply,
        })
    }

    fn defaults(&mut self, raw: &raw::RawDefaults) -> Defaults {
        let namespace = match &raw.namespace {
            Some(ns) => {
                self.check_dns_label(ns, "namespace");
                ns.value.clone()
            }
            None => "default".to_string(),
        };
        let mut cluster_scoped = BTreeSet::new();
        for kind in &raw.cluster_scoped {
            match kind.value.split_once('.') {
                Some((k, group)) if !k.is_empty() && !group.is_empty() => {
                    cluster_scoped.insert((group.to_string(), k.to_string()));
                }
                _ => self.report(
                    kind,
                    format!("`{}` is not of the form Kind.group", kind.value),
                    "e.g. ClusterIssuer.cert-manager.io",
                ),
            }
        }
        Defaults {
            namespace,
            labels: self.labels(&raw.labels, "defaults.labels"),
            cluster_scoped,
        }
    }

    fn channel(
        &mut self,
        name: &Text,
        raw: &RawChannel,
        app_names: &[String],
        channel_names: &[String],
    ) -> Channel {
        self.check_dns_label(name, "channel name");
        let apps = match &raw.apps {
            None => app_names.to_vec(),
            Some(listed) => {
                let mut seen = BTreeSet::new();
                for app in listed {
                    if !app_names.contains(&app.value) {
                        self.report(
                            app,
                            format!(
                                "channel `{}` names app `{}`, which is not defined",
                                name.value, app.value
                            ),
                            &format!("apps defined: {}", app_names.join(", ")),
                        );
                    } else if !seen.insert(app.value.clone()) {
                        self.report(
                            app,
                            format!("app `{}` is listed twice", app.value),
                            "list each app once",
                        );
                    }
                }
                // Keep berth.yaml's app order so output order does not depend on the list.
                app_names
                    .iter()
                    .filter(|a| listed.iter().any(|l| &l.value == *a))
                    .cloned()
                    .collect()
            }
        };
        if let Some(target) = &raw.promotes_to {
            if !channel_names.contains(&target.value) {
                self.report(
                    target,
                    format!("`promotesTo: {}` names no channel", target.value),
                    &format!("channels defined: {}", channel_names.join(", ")),
                );
            } else if target.value == name.value {
                self.report(
                    target,
                    format!("channel `{}` promotes to itself", name.value),
                    "name the next channel, e.g. test promotes to prod",
                );
            }
        }
        let release_branch = match &raw.release_branch {
            Some(branch) => {
                if !valid_branch_name(&branch.value) {
                    self.report(
                        branch,
                        format!("`{}` is not a valid branch name", branch.value),
                        "e.g. releases/prod",
                    );
                }
                branch.value.clone()
            }
            None => format!("releases/{}", name.value),
        };
        let values = raw
            .values
            .iter()
            .filter_map(|v| self.file_path(v, &v.value, Some(&name.value), EntryKind::File, false))
            .collect();
        let images = self.channel_pins(&name.value, &raw.images);
        Channel {
            name: name.value.clone(),
            context: raw.context.clone(),
            release_branch,
            apps,
            values,
            images,
            promotes_to: raw.promotes_to.as_ref().map(|t| t.value.clone()),
            auto_promote: raw.auto_promote,
            prune: raw.prune,
            checks: self.checks(name, &raw.checks),
            notify: raw
                .notify
                .iter()
                .map(|n| self.notify(n, &name.value))
                .collect(),
        }
    }

    /// The channel's image pins: those `berth set-image` recorded (its pins file) first, then
    /// berth.yaml's.
    fn channel_pins(&mut self, channel: &str, raw: &[raw::RawImagePin]) -> Vec<ImagePin> {
        let own = self.image_pins(raw);
        let file = pins::path(channel);
        if self.source.kind(&file) != Some(EntryKind::File) {
            return own;
        }
        let shown = self.source.display(&file);
        let text = self
            .source
            .read(&file)
            .map_err(|e| Problem::io(&shown, &e))
            .and_then(|bytes| source::utf8_text(bytes, &shown));
        let parsed = text.and_then(|text| pins::parse(&text, &shown));
        let recorded = match parsed {
            Ok(raw) => {
                let mut file_validator = Validator {
                    file: &shown,
                    source: self.source,
                    problems: Vec::new(),
                };
                let recorded = file_validator.image_pins(&raw.images);
                self.problems.append(&mut file_validator.problems);
                recorded
            }
            Err(problem) => {
                self.problems.push(problem);
                Vec::new()
            }
        };
        // A recorded pin keeps berth.yaml's newName for its image.
        let mut images: Vec<ImagePin> = recorded
            .into_iter()
            .map(|mut pin| {
                if pin.new_name.is_none() {
                    pin.new_name = own
                        .iter()
                        .find(|o| o.name == pin.name)
                        .and_then(|o| o.new_name.clone());
                }
                pin
            })
            .collect();
        images.extend(own);
        images
    }

    fn checks(&mut self, channel: &Text, raw: &[raw::RawCheck]) -> Vec<Check> {
        let mut seen = BTreeSet::new();
        raw.iter()
            .map(|check| {
                let run = match (&check.run, &check.job) {
                    (Some(command), None) => CheckRun::Command(command.clone()),
                    (None, Some(job)) => {
                        if let Err(why) = crate::object::names::check_subdomain(&job.value) {
                            self.report(
                                job,
                                format!("check job `{}` is not a Job name: {why}", job.value),
                                "name a Job of the release, e.g. `job: smoke`",
                            );
                        }
                        CheckRun::Job {
                            name: job.value.clone(),
                            namespace: check.namespace.clone(),
                        }
                    }
                    (run, job) => {
                        let at = check.name.as_ref().or(job.as_ref()).unwrap_or(channel);
                        let what = match run.is_some() {
                            true => "both `run` and `job`",
                            false => "neither `run` nor `job`",
                        };
                        self.report(
                            at,
                            format!("a check of channel `{}` has {what}", channel.value),
                            "give each check one: `run: <command>` or `job: <Job name>`",
                        );
                        CheckRun::Command(String::new())
                    }
                };
                if check.namespace.is_some() && check.job.is_none() {
                    let at = check.name.as_ref().unwrap_or(channel);
                    self.report(
                        at,
                        "`namespace` is for a job check".into(),
                        "leave it out of a `run` check",
                    );
                }
                let name = match (&check.name, &check.job) {
                    (Some(name), _) => {
                        if name.value.trim().is_empty() {
                            self.report(name, "a check needs a name".into(), "e.g. `name: smoke`");
                        }
                        Some(name)
                    }
                    (None, Some(job)) => Some(job),
                    (None, None) => {
                        if check.run.is_some() {
                            self.report(
                                channel,
                                format!("a `run` check of channel `{}` has no name", channel.value),
                                "e.g. `name: smoke`",
                            );
                        }
                        None
                    }
                };
                if let Some(name) = name
                    && !name.value.trim().is_empty()
                    && !seen.insert(name.value.clone())
                {
                    self.report(
                        name,
                        format!("check `{}` is listed twice", name.value),
                        "give each check of a channel its own name",
                    );
                }
                let timeout = check
                    .timeout
                    .as_ref()
                    .and_then(|text| self.duration(text, "check timeout"))
                    .unwrap_or(CHECK_TIMEOUT);
                Check {
                    name: name.map(|n| n.value.clone()).unwrap_or_default(),
                    run,
                    timeout,
                }
            })
            .collect()
    }

    fn image_pins(&mut self, pins: &[raw::RawImagePin]) -> Vec<ImagePin> {
        pins.iter()
            .map(|pin| {
                if pin.new_name.is_none() && pin.new_tag.is_none() && pin.digest.is_none() {
                    self.report(
                        &pin.name,
                        format!("image pin `{}` changes nothing", pin.name.value),
                        "set newName, newTag or digest",
                    );
                }
                if pin.name.value.contains('@')
                    || crate::object::image::tag_of(&pin.name.value).is_some()
                {
                    self.report(
                        &pin.name,
                        format!("image pin name `{}` has a tag or digest", pin.name.value),
                        "name the image without tag or digest; put the tag in newTag",
                    );
                }
                ImagePin {
                    name: pin.name.value.clone(),
                    new_name: pin.new_name.clone(),
                    new_tag: pin.new_tag.clone(),
                    digest: pin.digest.clone(),
                }
            })
            .collect()
    }

    fn app(
        &mut self,
        name: &Text,
        raw: &RawApp,
        defaults: &Defaults,
        used_by: &[&str],
        all_channels: &[String],
    ) -> App {
        self.check_dns_label(name, "app name");
        let kind = raw.driver.value;
        let overrides: Vec<(Option<&Text>, &RawAppChannel)> = raw
            .channels
            .iter()
            .map(|(channel, over)| (Some(channel), over))
            .collect();
        let releases = raw
            .release
            .iter()
            .chain(overrides.iter().filter_map(|(_, o)| o.release.as_ref()));
        for release in releases.filter(|_| kind != DriverKind::Helm) {
            self.report(
                release,
                format!(
                    "app `{}`: `release` applies only to the helm driver",
                    name.value
                ),
                "remove it, or set `driver: helm`",
            );
        }
        if kind == DriverKind::Kustomize {
            let first_values = raw.values.first().or_else(|| {
                overrides
                    .iter()
                    .find_map(|(_, o)| o.values.as_ref()?.first())
            });
            if let Some(values) = first_values {
                self.report(
                    values,
                    format!(
                        "app `{}`: kustomize overlays take no values files",
                        name.value
                    ),
                    "put per-channel settings in the overlay (the path may use {channel})",
                );
            }
        }
        for (channel, _) in &raw.channels {
            if !all_channels.contains(&channel.value) {
                self.report(
                    channel,
                    format!(
                        "app `{}` has settings for channel `{}`, which is not defined",
                        name.value, channel.value
                    ),
                    &format!("channels defined: {}", all_channels.join(", ")),
                );
            } else if !used_by.contains(&channel.value.as_str()) {
                self.report(
                    channel,
                    format!(
                        "app `{}` has settings for channel `{}`, which does not release it",
                        name.value, channel.value
                    ),
                    &format!(
                        "add the app to channel {}'s `apps:`, or remove these settings",
                        channel.value
                    ),
                );
            }
        }
        if raw.allow_remote_bases && kind != DriverKind::Kustomize {
            self.report(
                &raw.driver,
                format!(
                    "app `{}`: `allowRemoteBases` applies only to the kustomize driver",
                    name.value
                ),
                "remove it, or set `driver: kustomize`",
            );
        }
        let labels = self.labels(&raw.labels, &format!("apps.{}.labels", name.value));
        let mut variants = BTreeMap::new();
        let mut broken = BTreeMap::new();
        if used_by.is_empty() {
            // Released nowhere: still check what does not depend on a channel.
            let (_, found) = self.variant(name, raw, None, None, defaults);
            let named = found.into_iter().map(|p| p.app(&name.value));
            self.problems.extend(named);
        }
        for channel in used_by {
            let over = raw
                .channels
                .iter()
                .find(|(c, _)| c.value == *channel)
                .map(|(_, o)| o);
            let (variant, found) = self.variant(name, raw, over, Some(channel), defaults);
            variants.insert(channel.to_string(), variant);
            if !found.is_empty() {
                broken.insert(channel.to_string(), found);
            }
        }
        let secrets = used_by
            .iter()
            .map(|channel| {
                let secrets = raw
                    .secrets
                    .iter()
                    .filter_map(|(secret, spec)| {
                        self.external_secret(
                            &name.value,
                            &variants[*channel].namespace,
                            secret,
                            spec,
                            channel,
                        )
                    })
                    .collect();
                (channel.to_string(), secrets)
            })
            .collect();
        for (secret, spec) in &raw.secrets {
            for (variant, nested) in &spec.channels {
                if !nested.channels.is_empty() {
                    self.report(
                        variant,
                        format!(
                            "the `{}` variant of Secret `{}` has `channels:` of its own",
                            variant.value, secret.value
                        ),
                        "variants are one level deep: each channel's variant sits under the Secret's `channels:`",
                    );
                }
            }
            for variant in spec.channels.keys() {
                if !used_by.contains(&variant.value.as_str()) {
                    self.report(
                        variant,
                        format!(
                            "Secret `{}` of app `{}` has a variant for channel `{}`, which does not release the app",
                            secret.value, name.value, variant.value
                        ),
                        &format!("channels releasing it: {}", used_by.join(", ")),
                    );
                }
            }
        }
        // The app's own secret values, then each channel's (merged by values path).
        let own = self.secret_values(name, kind, &raw.secret_values);
        let secret_values = used_by
            .iter()
            .map(|channel| {
                let mut merged = own.clone();
                let over = raw
                    .channels
                    .iter()
                    .find(|(c, _)| c.value == *channel)
                    .map(|(_, o)| &o.secret_values);
                for value in over
                    .map(|o| self.secret_values(name, kind, o))
                    .unwrap_or_default()
                {
                    merged.retain(|v| v.path != value.path);
                    merged.push(value);
                }
                (channel.to_string(), merged)
            })
            .collect();
        // Values files of every channel, released through or not, are kept out of manifests.
        let mut values_files = BTreeSet::new();
        for values in
            std::iter::once(&raw.values).chain(raw.channels.values().flat_map(|o| &o.values))
        {
            for file in values {
                if let Ok(path) = source::normalize(file.value.path()) {
                    values_files.extend(all_channels.iter().map(|c| for_channel(&path, c)));
                }
            }
        }
        let timeout = raw
            .timeout
            .as_ref()
            .and_then(|text| self.duration(text, &format!("app `{}`: timeout", name.value)));
        App {
            name: name.value.clone(),
            kind,
            labels,
            variants,
            values_files,
            secrets,
            secret_values,
            broken,
            timeout,
            prune: raw.prune.unwrap_or(true),
            allow_remote_bases: raw.allow_remote_bases,
        }
    }

    /// The app in `channel` (`None`: released through no channel; only what does not name the
    /// channel is checked). Each key comes from the channel's override when it sets one.
    fn variant(
        &mut self,
        name: &Text,
        raw: &RawApp,
        over: Option<&RawAppChannel>,
        channel: Option<&str>,
        defaults: &Defaults,
    ) -> (Variant, Vec<Problem>) {
        let kind = raw.driver.value;
        let concrete = |text: &Text| Text {
            value: channel.map_or(text.value.clone(), |c| for_channel(&text.value, c)),
            referenced: text.referenced,
            defined: text.defined,
        };
        // Problems with the paths of the app (directory, chart, values files) are the
        // channel's: they fail it when it renders, not the whole config.
        let before = self.problems.len();
        let path_text = over.and_then(|o| o.path.as_ref()).or(raw.path.as_ref());
        let remote_raw = over.and_then(|o| o.source.as_ref()).or(raw.source.as_ref());
        // Another repository's files are checked once fetched, when the channel renders.
        let path = match remote_raw {
            Some(_) => None,
            None => path_text
                .and_then(|path| self.file_path(path, &path.value, channel, EntryKind::Dir, false)),
        };
        if let (DriverKind::Helm, Some(chart), Some(at)) = (kind, &path, path_text) {
            self.chart(at, chart);
        }
        let values = over
            .and_then(|o| o.values.as_ref())
            .unwrap_or(&raw.values)
            .iter()
            .filter_map(|file| {
                let optional = file.value.optional();
                let path =
                    self.file_path(file, file.value.path(), channel, EntryKind::File, optional)?;
                Some(ValuesFile { path, optional })
            })
            .collect();
        let broken = self.problems.drain(before..).collect();
        let (source, remote_path) = match remote_raw {
            Some(remote) => self.remote_source(name, remote, path_text, channel),
            None => (None, None),
        };
        if path_text.is_none() && remote_raw.is_none() {
            self.report(
                &raw.driver,
                format!(
                    "app `{}`: the {} driver needs `path`",
                    name.value,
                    driver_name(kind)
                ),
                match kind {
                    DriverKind::Helm => "path: the chart directory, e.g. charts/web",
                    DriverKind::Kustomize => "path: the overlay, e.g. apps/web/overlays/{channel}",
                    _ => "path: the directory of the app's manifests, e.g. apps/web",
                },
            );
        }
        let namespace = match over
            .and_then(|o| o.namespace.as_ref())
            .or(raw.namespace.as_ref())
        {
            Some(ns) if channel.is_some() || !ns.value.contains("{channel}") => {
                let ns = concrete(ns);
                self.check_dns_label(&ns, "namespace");
                ns.value
            }
            Some(_) => String::new(),
            None => defaults.namespace.clone(),
        };
        let release = match over
            .and_then(|o| o.release.as_ref())
            .or(raw.release.as_ref())
        {
            Some(release) if channel.is_some() || !release.value.contains("{channel}") => {
                let release = concrete(release);
                self.check_release_name(&release);
                release.value
            }
            Some(_) => String::new(),
            None => name.value.clone(),
        };
        let path = path.or(remote_path).unwrap_or_default();
        let driver = match kind {
            DriverKind::Template => Driver::Template { dir: path },
            DriverKind::Manifests => Driver::Manifests { dir: path },
            DriverKind::Kustomize => Driver::Kustomize { overlay: path },
            DriverKind::Helm => Driver::Helm {
                chart: path,
                release,
            },
        };
        let variant = Variant {
            driver,
            namespace,
            values,
            create_namespace: over
                .and_then(|o| o.create_namespace)
                .unwrap_or(raw.create_namespace),
            source,
        };
        (variant, broken)
    }

    /// An app's `source:` for `channel` (`None` for the channel: released nowhere), and the
    /// app's directory in that repository. Whether the ref and directory exist is known only
    /// once fetched.
    fn remote_source(
        &mut self,
        name: &Text,
        raw: &RawAppSource,
        path: Option<&Text>,
        channel: Option<&str>,
    ) -> (Option<RemoteSource>, Option<String>) {
        if let Some(path) = path {
            self.report(
                path,
                format!(
                    "app `{}` has both `path` and `source`: its files come from the other \
                     repository",
                    name.value
                ),
                "set the app's directory in that repository as `source.path`",
            );
        }
        let repo = &raw.repo.value;
        if repo.trim().is_empty() || repo.starts_with('-') || repo.chars().any(char::is_whitespace)
        {
            self.report(
                &raw.repo,
                format!(
                    "app `{}`: `{}` is not a repository URL",
                    name.value,
                    crate::secret::without_userinfo(repo)
                ),
                "write it as `git clone` takes it, e.g. https://github.com/org/charts.git",
            );
        }
        let concrete = |text: &str| channel.map(|c| for_channel(text, c));
        let reference = concrete(&raw.reference.value);
        let valid_ref = |r: &str| {
            !r.is_empty() && !r.starts_with('-') && valid_branch_name(r) && !r.contains('{')
        };
        if let Some(reference) = reference.as_deref().filter(|r| !valid_ref(r)) {
            self.report(
                &raw.reference,
                format!(
                    "app `{}`: `{reference}` is not a tag, branch or commit id",
                    name.value
                ),
                "pin a tag (e.g. v1.4.0) or a full commit id",
            );
        }
        let dir = raw.path.as_ref().map_or("", |p| p.value.as_str());
        let dir = match source::normalize(dir) {
            Ok(dir) => concrete(&dir),
            Err(message) => {
                let at = raw.path.as_ref().expect("only a written path is wrong");
                self.report(
                    at,
                    message,
                    "write the directory relative to the top of that repository",
                );
                None
            }
        };
        let source = reference.map(|reference| RemoteSource {
            repo: repo.clone(),
            reference,
            allow_floating: raw.allow_floating,
            origin: self.at(&raw.repo),
        });
        (source, dir)
    }

    /// A chart directory: it must hold a Chart.yaml. (The app is named when the channel
    /// renders.)
    fn chart(&mut self, at: &Text, chart: &str) {
        for (message, hint) in chart::problems(self.source, chart) {
            self.report(at, message, &hint);
        }
    }

    /// The Helm values of app `name` read from secret sources (`secretValues:`), by values path.
    fn secret_values(
        &mut self,
        name: &Text,
        kind: DriverKind,
        raw: &indexmap::IndexMap<Text, RawKeySource>,
    ) -> Vec<SecretValue> {
        let mut values = Vec::new();
        for (path, raw_source) in raw {
            if kind != DriverKind::Helm {
                self.report(
                    path,
                    format!(
                        "app `{}`: `secretValues` applies only to the helm driver",
                        name.value
                    ),
                    "declare the Secret under the app's `secrets:` instead",
                );
                continue;
            }
            let place = format!("app `{}`, secret value `{}`", name.value, path.value);
            if path.value.split('.').any(str::is_empty) {
                self.report(
                    path,
                    format!("{place}: a values path has no empty parts"),
                    "name the value as `--set` does, e.g. `auth.password`",
                );
                continue;
            }
            if let Some(source) = self.key_source(&place, path, raw_source) {
                values.push(SecretValue {
                    app: name.value.clone(),
                    path: path.value.clone(),
                    source,
                    origin: self.at(path),
                });
            }
        }
        values
    }

    /// One external Secret of `app` for `channel`, its channel variant merged; `None` (and
    /// problems) when it is wrong. Problems are reported for the first channel only, so each
    /// is reported once.
    fn external_secret(
        &mut self,
        app: &str,
        app_namespace: &str,
        name: &Text,
        raw: &raw::RawSecret,
        channel: &str,
    ) -> Option<ExternalSecret> {
        let before = self.problems.len();
        if let Err(why) = crate::object::names::check_subdomain(&name.value) {
            self.report(
                name,
                format!("Secret name `{}` is invalid: {why}", name.value),
                "lowercase letters, digits, `-` and `.`",
            );
        }
        let variant = raw
            .channels
            .iter()
            .find(|(c, _)| c.value == channel)
            .map(|(_, v)| v);
        let namespace = variant
            .and_then(|v| v.namespace.as_ref())
            .or(raw.namespace.as_ref());
        if let Some(ns) = namespace {
            self.check_dns_label(ns, "namespace");
        }
        let mut keys = BTreeMap::new();
        let variant_keys = variant.into_iter().flat_map(|v| v.keys.iter());
        for (key, source) in raw.keys.iter().chain(variant_keys) {
            let place = format!("Secret `{}`, key `{}`", name.value, key.value);
            if let Some(source) = self.key_source(&place, key, source) {
                keys.insert(key.value.clone(), source);
            }
        }
        if keys.is_empty() && self.problems.len() == before {
            self.report(
                name,
                format!("Secret `{}` of app `{app}` has no keys", name.value),
                "list each key and its source under `keys:`, e.g. `password: {env: DB_PASSWORD}`",
            );
        }
        if self.problems.len() > before {
            // Once for all channels: the same mistake is not reported per channel.
            let reported: Vec<Problem> = self.problems.drain(before..).collect();
            for problem in reported {
                if !self.problems.contains(&problem) {
                    self.problems.push(problem);
                }
            }
            return None;
        }
        Some(ExternalSecret {
            app: app.to_string(),
            name: name.value.clone(),
            namespace: namespace.map_or_else(|| app_namespace.to_string(), |n| n.value.clone()),
            secret_type: variant
                .and_then(|v| v.secret_type.clone())
                .or_else(|| raw.secret_type.clone())
                .unwrap_or_else(|| "Opaque".into()),
            keys,
            origin: self.at(name),
        })
    }

    /// The source of `key` (a Secret's key, or a values path), described in errors as `place`.
    fn key_source(&mut self, place: &str, key: &Text, raw: &RawKeySource) -> Option<KeySource> {
        if let Err(why) = crate::object::names::check_config_key(&key.value) {
            self.report(
                key,
                format!("{place}: the key is invalid: {why}"),
                "keys are letters, digits, `-`, `_` and `.`",
            );
            return None;
        }
        let given = [
            raw.env.is_some(),
            raw.file.is_some(),
            raw.command.is_some(),
            raw.sops.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            self.report(
                key,
                format!("{place}: give exactly one source of env, file, command and sops"),
                "e.g. `password: {env: DB_PASSWORD}` or `password: {command: [vault, kv, get, -field=password, secret/db]}`",
            );
            return None;
        }
        let timeout = match &raw.timeout {
            None => crate::secret::external::DEFAULT_TIMEOUT,
            Some(text) => match humantime::parse_duration(text) {
                Ok(timeout) if !timeout.is_zero() => timeout,
                _ => {
                    self.report(
                        key,
                        format!("{place}: timeout `{text}` is not a duration"),
                        "e.g. `timeout: 10s`",
                    );
                    return None;
                }
            },
        };
        if raw.format.is_some() && raw.command.is_none() {
            self.report(
                key,
                format!("{place}: `format` applies only to `command`"),
                "sops files are read in the format of their extension",
            );
            return None;
        }
        if raw.key.is_some() && raw.format.is_none() && raw.sops.is_none() {
            self.report(
                key,
                format!("{place}: `key` needs a source that gives a map"),
                "add `format: json|yaml|dotenv` to the command, or use sops",
            );
            return None;
        }
        let source = if let Some(name) = &raw.env {
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                self.report(
                    key,
                    format!("{place}: `{name}` is not an environment variable name"),
                    "e.g. `env: DB_PASSWORD`",
                );
                return None;
            }
            SecretSource::Env(name.clone())
        } else if let Some(path) = &raw.file {
            let path = std::path::PathBuf::from(path);
            // The repository is the git work tree around berth.yaml, else its directory.
            let root = self.root();
            let root = git2::Repository::discover(&root)
                .ok()
                .and_then(|r| r.workdir().map(Path::to_path_buf))
                .unwrap_or(root)
                .canonicalize()
                .ok();
            let full = path.canonicalize().unwrap_or_else(|_| path.clone());
            let inside = root.is_some_and(|root| full.starts_with(root));
            if !path.is_absolute() || inside {
                self.report(
                    key,
                    format!("{place}: file {} is in the repository or not an absolute path", path.display()),
                    "a secret file lives outside the repository (e.g. /run/secrets/db); for an encrypted file in the repository use `sops:`",
                );
                return None;
            }
            SecretSource::File(path)
        } else if let Some(argv) = &raw.command {
            if argv.first().is_none_or(|p| p.trim().is_empty()) {
                self.report(
                    key,
                    format!("{place}: the command is empty"),
                    "name a program and its arguments: `command: [vault, kv, get, ...]`",
                );
                return None;
            }
            SecretSource::Command {
                argv: argv.clone(),
                format: raw.format,
                timeout,
                dir: self.root(),
            }
        } else {
            let path = raw.sops.as_deref().unwrap_or_default();
            let at = Text {
                value: path.to_string(),
                referenced: key.referenced,
                defined: key.defined,
            };
            let checked = self.file_path(&at, &at.value, None, EntryKind::File, false)?;
            SecretSource::Sops {
                file: self.root().join(&checked),
                shown: checked,
                timeout,
            }
        };
        Some(KeySource {
            source,
            entry: raw.key.clone(),
        })
    }

    /// The directory of berth.yaml.
    fn root(&self) -> PathBuf {
        self.file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    }

    fn notify(&mut self, raw: &RawNotify, channel: &str) -> Notify {
        let mut env = |text: &Text| {
            let valid = !text.value.is_empty()
                && text
                    .value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                self.report(
                    text,
                    format!("`{}` is not an environment variable name", text.value),
                    "name the variable holding the URL or key (e.g. SLACK_WEBHOOK_URL), never the URL itself",
                );
            }
            text.value.clone()
        };
        match raw {
            RawNotify::Slack(slack) => Notify::Slack {
                webhook_env: env(&slack.webhook_env),
            },
            RawNotify::Zulip(zulip) => Notify::Zulip {
                url_env: env(&zulip.url_env),
                email_env: env(&zulip.email_env),
                api_key_env: env(&zulip.api_key_env),
                stream: zulip.stream.clone(),
                topic: zulip.topic.clone().unwrap_or_else(|| channel.to_string()),
            },
            RawNotify::Teams(teams) => Notify::Teams {
                webhook_env: env(&teams.webhook_env),
            },
            RawNotify::Webhook(webhook) => Notify::Webhook {
                url_env: env(&webhook.url_env),
            },
        }
    }

    /// Check a path from berth.yaml (written at `at`) for `channel`: inside the repository, and
    /// present as `kind` (a missing `optional` one is fine). Returns it with `{channel}` replaced;
    /// `None` when it is wrong, or names the channel and no channel is given.
    fn file_path<T>(
        &mut self,
        at: &Spanned<T>,
        path: &str,
        channel: Option<&str>,
        kind: EntryKind,
        optional: bool,
    ) -> Option<String> {
        let normalized = match source::normalize(path) {
            Ok(p) => p,
            Err(message) => {
                self.report(at, message, "write paths relative to berth.yaml");
                return None;
            }
        };
        let candidate = match channel {
            Some(channel) => for_channel(&normalized, channel),
            None if normalized.contains("{channel}") => return None,
            None => normalized,
        };
        if let Some(link) = self.source.outside_link(&candidate) {
            self.report(at, link.to_string(), source::OutsideLink::HINT);
            return None;
        }
        let found = self.source.kind(&candidate);
        if found != Some(kind) && !(optional && found.is_none()) {
            let what = match kind {
                EntryKind::Dir => "directory",
                EntryKind::File => "file",
            };
            let shown = self.source.display(&candidate);
            let (message, hint) = match found {
                None => (
                    format!("{what} {} does not exist", shown.display()),
                    if kind == EntryKind::File && path.contains("{channel}") {
                        "paths are relative to the directory of berth.yaml; a values file only \
                         some channels have is written `{file: PATH, optional: true}`"
                    } else {
                        "paths are relative to the directory of berth.yaml"
                    },
                ),
                Some(_) => (
                    format!("{} is not a {what}", shown.display()),
                    "paths are relative to the directory of berth.yaml",
                ),
            };
            self.report(at, message, hint);
            return None;
        }
        Some(candidate)
    }

    fn apply_settings(&mut self, raw: &raw::RawApply) -> ApplySettings {
        let mut settings = ApplySettings::default();
        if let Some(ns) = &raw.namespace {
            self.check_dns_label(ns, "apply.namespace");
            settings.namespace = ns.value.clone();
        }
        if let Some(share) = &raw.max_prune_share {
            if !(0.0..=1.0).contains(&share.value) {
                self.report(
                    share,
                    format!(
                        "apply.maxPruneShare is {}; it must be between 0 and 1",
                        share.value
                    ),
                    "e.g. 0.5: prune refuses to delete more than half of a release",
                );
            }
            settings.max_prune_share = share.value;
        }
        settings
    }

    fn ignore_rule(&mut self, raw: &raw::RawIgnoreRule) -> crate::ignore::IgnoreRule {
        let mut paths = Vec::new();
        for path in &raw.paths {
            match crate::ignore::parse_field_path(&path.value) {
                Ok(segments) => paths.push(segments),
                Err(why) => self.report(
                    path,
                    format!("ignore path `{}` is invalid: {why}", path.value),
                    "write a JSON pointer (/spec/replicas) or a field path (.spec.replicas)",
                ),
            }
        }
        crate::ignore::IgnoreRule {
            kind: raw.kind.clone(),
            group: raw.group.clone(),
            namespace: raw.namespace.clone(),
            name: raw.name.clone(),
            paths,
        }
    }

    fn check_project(&mut self, project: &Text) {
        let checked = subdomain_of_at_most(&project.value, 63);
        if let Err(why) = checked {
            self.report(
                project,
                format!("project `{}` is invalid: {why}", project.value),
                "it is a label value and part of object names: at most 63 lowercase letters, digits, `-` and `.`, e.g. `acme.shop`",
            );
        }
    }

    /// Helm's rule for release names: a DNS subdomain of at most 53 characters.
    fn check_release_name(&mut self, release: &Text) {
        let checked = subdomain_of_at_most(&release.value, 53);
        if let Err(why) = checked {
            self.report(
                release,
                format!("helm release name `{}` is invalid: {why}", release.value),
                "use lowercase letters, digits, `-` and `.`, at most 53 characters",
            );
        }
    }

    fn check_dns_label(&mut self, name: &Text, what: &str) {
        if let Err(why) = crate::object::names::check_dns_label(&name.value) {
            self.report(
                name,
                format!("{what} `{}` is invalid: {why}", name.value),
                "use lowercase letters, digits and `-`, starting and ending with a letter or digit, at most 63 characters",
            );
        }
    }

    /// The labels, each checked (a bad one is reported at its key).
    fn labels(&mut self, labels: &Labels, place: &str) -> BTreeMap<String, String> {
        for (key, value) in labels {
            if let Err(why) = crate::object::names::check_label(&key.value, value) {
                self.report(
                    key,
                    format!("{place}: label `{}: {value}` is invalid: {why}", key.value),
                    "label values are at most 63 characters of letters, digits, `-`, `_` and `.`",
                );
            }
        }
        labels
            .iter()
            .map(|(k, v)| (k.value.clone(), v.clone()))
            .collect()
    }

    fn check_promotion_cycles(&mut self, raw: &RawConfig, channels: &[Channel]) {
        for (name, _) in raw.channels.iter() {
            let mut seen = vec![name.value.as_str()];
            let mut current = name.value.as_str();
            while let Some(next) = channels
                .iter()
                .find(|c| c.name == current)
                .and_then(|c| c.promotes_to.as_deref())
            {
                if next == current {
                    break; // reported as "promotes to itself"
                }
                if seen.contains(&next) {
                    if next == name.value {
                        self.report(
                            name,
                            format!("promotion loops: {} → {next}", seen.join(" → ")),
                            "promotion must end at a last channel (e.g. prod)",
                        );
                    }
                    break;
                }
                seen.push(next);
                current = next;
            }
        }
    }
}

/// A DNS subdomain of at most `max` characters (a project, a Helm release name).
fn subdomain_of_at_most(name: &str, max: usize) -> Result<(), String> {
    crate::object::names::check_subdomain(name).and_then(|()| match name.len() {
        n if n > max => Err(format!("it is {n} characters long (at most {max})")),
        _ => Ok(()),
    })
}

fn driver_name(kind: DriverKind) -> &'static str {
    match kind {
        DriverKind::Template => "template",
        DriverKind::Helm => "helm",
        DriverKind::Kustomize => "kustomize",
        DriverKind::Manifests => "manifests",
    }
}

/// A conservative subset of git's ref-name rules.
fn valid_branch_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.ends_with('/')
        && !name.ends_with(".lock")
        && !name.contains("..")
        && !name.contains("//")
        && !name.contains("@{")
        && !name
            .chars()
            .any(|c| c.is_ascii_control() || " ~^:?*[\\".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_names() {
        assert!(valid_branch_name("releases/prod"));
        assert!(!valid_branch_name("releases/../prod"));
        assert!(!valid_branch_name("has space"));
    }
}
