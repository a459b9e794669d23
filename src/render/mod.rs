//! Render: config + source files → the objects of each channel ([`RenderedSet`]).
//!
//! Each driver turns one app into [`Manifest`]s (YAML documents with where they came from);
//! [`postprocess`] then treats every driver's output the same way (namespace, labels, image
//! pins, checks) and makes the objects canonical. Apps render in parallel.

pub mod helm;
pub mod kinds;
pub mod kustomize;
pub mod manifests;
pub mod postprocess;
pub mod template;
pub mod values;

use crate::config::{App, Channel, Config, Driver, DriverKind, RemoteSource, Variant};
use crate::error::{Location, Problem, Problems};
use crate::object::ObjectKey;
use crate::source::{EntryKind, Source};
pub use crate::tree::SourceInfo;
use crate::tree::{AppManifest, AppSource, RELEASE_FILE, ReleaseManifest, RenderedTree};
use rayon::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// One YAML document a driver produced, with the file and line it came from.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub origin: Location,
    pub value: Value,
}

/// A rendered object, post-processed and canonical.
#[derive(Debug, Clone)]
pub struct RenderedObject {
    pub key: ObjectKey,
    pub app: String,
    pub origin: Location,
    pub body: Value,
}

/// Every object one channel renders to, sorted by tree path.
#[derive(Debug, Clone)]
pub struct RenderedSet {
    pub channel: String,
    pub source: SourceInfo,
    /// `(app, driver)` of each app rendered, in berth.yaml's order.
    pub apps: Vec<(String, &'static str)>,
    /// The other repository and commit of each app rendered from one (`source:`).
    pub sources: BTreeMap<String, AppSource>,
    pub objects: Vec<RenderedObject>,
    /// What berth had to assume (e.g. the scope of a custom kind it does not know).
    pub warnings: Vec<Problem>,
}

impl RenderedSet {
    /// The rendered tree of the set: one canonical file per object and the release manifest.
    pub fn tree(&self) -> RenderedTree {
        let set = self;
        let mut files: BTreeMap<String, Vec<u8>> = set
            .objects
            .par_iter()
            .map(|o| {
                (
                    o.key.tree_path(),
                    crate::yaml::to_string(&o.body).into_bytes(),
                )
            })
            .collect();
        files.insert(RELEASE_FILE.to_string(), release_manifest(set).into_bytes());
        RenderedTree { files }
    }
}

fn release_manifest(set: &RenderedSet) -> String {
    let mut apps: BTreeMap<String, AppManifest> = set
        .apps
        .iter()
        .map(|(name, driver)| {
            (
                name.clone(),
                AppManifest {
                    driver: driver.to_string(),
                    source: set.sources.get(name).cloned(),
                    objects: Vec::new(),
                },
            )
        })
        .collect();
    for object in &set.objects {
        if let Some(app) = apps.get_mut(object.app.as_str()) {
            app.objects.push(object.key.clone());
        }
    }
    ReleaseManifest {
        channel: set.channel.clone(),
        source: set.source.clone(),
        berth: env!("CARGO_PKG_VERSION").to_string(),
        apps,
    }
    .to_yaml()
}

/// Every warning of `sets`, each naming its channel, one per line: `warning: …`.
pub fn warnings(sets: &[RenderedSet]) -> String {
    let found = sets
        .iter()
        .flat_map(|s| s.warnings.iter().map(|w| (s.channel.clone(), w.clone())));
    Problems::merge_channels(found)
        .iter()
        .map(|w| format!("warning: {w}\n"))
        .collect()
}

/// All objects of `sets` as one YAML stream (`---` between documents).
pub fn yaml_stream(sets: &[RenderedSet]) -> String {
    let documents: Vec<String> = sets
        .iter()
        .flat_map(|s| &s.objects)
        .collect::<Vec<_>>()
        .par_iter()
        .map(|o| crate::yaml::to_string(&o.body))
        .collect();
    let mut out = String::with_capacity(documents.iter().map(|d| d.len() + 4).sum());
    for document in documents {
        out.push_str("---\n");
        out.push_str(&document);
    }
    out
}

/// All objects of `sets` as a `v1` `List`, as `kubectl get -o json` prints.
pub fn json_list(sets: &[RenderedSet]) -> String {
    let items: Vec<&serde_json::Value> = sets
        .iter()
        .flat_map(|s| &s.objects)
        .map(|o| &o.body)
        .collect();
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
    let mut out = serde_json::to_string_pretty(&list).expect("JSON values serialize");
    out.push('\n');
    out
}

/// What to render, beyond the config.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Only these apps (all of the channel's when empty).
    pub apps: Vec<String>,
    /// Skip the apps of `apps` a channel does not release instead of refusing them (`render -a`
    /// without `-c` renders each app in every channel that has it).
    pub skip_unreleased: bool,
    /// `--set key=value` overrides, layered last.
    pub sets: Vec<values::SetValue>,
    pub source: SourceInfo,
    /// The files of apps from other repositories, fetched beforehand (rendering never fetches).
    pub remotes: RemoteSources,
}

/// The fetched commits of the apps' other repositories (`source:`), by repository and ref as
/// berth.yaml writes them; a fetch that failed holds why, to fail only the apps that need it.
#[derive(Clone, Default)]
pub struct RemoteSources(pub BTreeMap<(String, String), Result<Arc<Fetched>, Problem>>);

/// One fetched commit of another repository.
pub struct Fetched {
    /// The repository URL, without credentials.
    pub repo: String,
    pub commit: String,
    pub files: Box<dyn Source + Send>,
}

impl RemoteSources {
    pub fn key(remote: &RemoteSource) -> (String, String) {
        (remote.repo.clone(), remote.reference.clone())
    }

    fn get(&self, remote: &RemoteSource) -> Result<&Fetched, Problem> {
        match self.0.get(&Self::key(remote)) {
            Some(Ok(fetched)) => Ok(fetched),
            Some(Err(problem)) => Err(problem.clone()),
            None => Err(Problem::new(format!(
                "{} at `{}` was not fetched",
                remote.shown_repo(),
                remote.reference
            ))
            .hint("this command renders only apps from this repository")),
        }
    }
}

impl std::fmt::Debug for RemoteSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fetched = self.0.iter().map(|((repo, reference), result)| {
            let repo = crate::secret::without_userinfo(repo);
            (
                format!("{repo}@{reference}"),
                result.as_ref().map(|f| &f.commit),
            )
        });
        f.debug_map().entries(fetched).finish()
    }
}

/// What a driver needs to render one app for one channel.
pub struct AppInput<'a> {
    pub config: &'a Config,
    pub app: &'a App,
    /// The app as this channel renders it.
    pub variant: &'a Variant,
    pub channel: &'a Channel,
    /// The app's files: this repository's, or the fetched commit of its `source:`.
    pub source: &'a dyn Source,
    /// This repository (berth.yaml's): values files are read from it.
    pub repository: &'a dyn Source,
    /// Values layered: app files, channel files, `--set`.
    pub values: Value,
    pub info: &'a SourceInfo,
}

/// Render `channels`, each in full; apps of all channels in parallel. Fails if any channel
/// fails, with every channel's problems.
pub fn render(
    config: &Config,
    channels: &[&Channel],
    source: &dyn Source,
    options: &Options,
) -> Result<Vec<RenderedSet>, Problems> {
    let mut sets = Vec::new();
    let mut problems = Vec::new();
    for (channel, result) in render_each(config, channels, source, options) {
        match result {
            Ok(set) => sets.push(set),
            Err(found) => problems.extend(found.0.into_iter().map(|p| (channel.clone(), p))),
        }
    }
    Problems::check(Problems::merge_channels(problems))?;
    Ok(sets)
}

/// Render `channels`, each on its own: one channel's broken app does not stop the others.
/// Problems do not name their channel yet (see [`Problems::merge_channels`]).
pub fn render_each(
    config: &Config,
    channels: &[&Channel],
    source: &dyn Source,
    options: &Options,
) -> Vec<(String, Result<RenderedSet, Problems>)> {
    let mut jobs = Vec::new();
    let mut selected = BTreeMap::new();
    for channel in channels {
        match select_apps(config, channel, options) {
            Ok(apps) => jobs.extend(apps.into_iter().map(|app| (*channel, app))),
            Err(problems) => {
                selected.insert(channel.name.as_str(), problems);
            }
        }
    }
    // An app whose paths are broken in a channel is reported for those, not for its tool.
    let runnable = |(channel, app): &&(&Channel, &App)| !app.broken.contains_key(&channel.name);
    let missing = missing_tools(jobs.iter().filter(runnable).map(|(_, app)| *app));
    type AppResult<'a> = (&'a Channel, &'a App, Result<Vec<Manifest>, Problems>);
    let results: Vec<AppResult> = jobs
        .par_iter()
        .map(|(channel, app)| {
            let result = match missing.get(&Tool::of(app.kind)) {
                Some(problem) if runnable(&&(*channel, *app)) => {
                    Err(Problems::one(problem.clone()))
                }
                _ => render_app(config, app, channel, source, options),
            };
            (*channel, *app, result)
        })
        .collect();

    let mut out = Vec::new();
    for channel in channels {
        if let Some(problems) = selected.remove(channel.name.as_str()) {
            out.push((channel.name.clone(), Err(problems)));
            continue;
        }
        let mut problems = Vec::new();
        let mut per_app = Vec::new();
        for (c, app, result) in &results {
            if c.name != channel.name {
                continue;
            }
            match result {
                Ok(manifests) => per_app.push((*app, manifests.as_slice())),
                Err(found) => problems.extend(found.0.iter().cloned()),
            }
        }
        let created = namespaces_to_create(config, channel, &per_app);
        let mut with_namespaces = per_app.clone();
        with_namespaces.extend(
            created
                .iter()
                .map(|(app, m)| (*app, std::slice::from_ref(m))),
        );
        // Apps that rendered are still checked, so one run reports every problem.
        let result = match postprocess::run(config, channel, &with_namespaces) {
            Ok((objects, warnings)) => Problems::check(problems).map(|()| RenderedSet {
                channel: channel.name.clone(),
                source: options.source.clone(),
                apps: per_app
                    .iter()
                    .map(|(app, _)| (app.name.clone(), app.driver_name()))
                    .collect(),
                sources: app_sources(&per_app, channel, &options.remotes),
                objects,
                warnings,
            }),
            Err(found) => {
                problems.extend(found.0);
                Err(Problems(problems))
            }
        };
        out.push((channel.name.clone(), result));
    }
    out
}

/// The Namespace objects `createNamespace: true` adds: one per namespace, owned by the first
/// app (in berth.yaml's order) asking for it, and none where an app renders it itself.
fn namespaces_to_create<'a>(
    config: &Config,
    channel: &Channel,
    per_app: &[(&'a App, &[Manifest])],
) -> Vec<(&'a App, Manifest)> {
    let mut present: std::collections::BTreeSet<&str> = per_app
        .iter()
        .flat_map(|(_, manifests)| manifests.iter())
        .filter(|m| m.value["apiVersion"] == "v1" && m.value["kind"] == "Namespace")
        .filter_map(|m| m.value["metadata"]["name"].as_str())
        .collect();
    let mut created = Vec::new();
    for (app, _) in per_app {
        let variant = app.in_channel(&channel.name);
        if variant.create_namespace && present.insert(&variant.namespace) {
            created.push((
                *app,
                Manifest {
                    origin: Location::file(&config.file),
                    value: serde_json::json!({
                        "apiVersion": "v1",
                        "kind": "Namespace",
                        "metadata": {"name": variant.namespace},
                    }),
                },
            ));
        }
    }
    created
}

/// The other repository and commit of each app of `per_app` that has one.
fn app_sources(
    per_app: &[(&App, &[Manifest])],
    channel: &Channel,
    remotes: &RemoteSources,
) -> BTreeMap<String, AppSource> {
    per_app
        .iter()
        .filter_map(|(app, _)| {
            let variant = app.in_channel(&channel.name);
            let remote = variant.source.as_ref()?;
            let fetched = remotes.get(remote).ok()?;
            Some((
                app.name.clone(),
                AppSource {
                    repo: fetched.repo.clone(),
                    reference: remote.reference.clone(),
                    commit: fetched.commit.clone(),
                    path: variant.driver.path().to_string(),
                },
            ))
        })
        .collect()
}

/// One problem for each tool the drivers of `apps` need and that cannot be found, by the
/// tool, naming the apps that need it: reported once, not once per app.
fn missing_tools<'a>(apps: impl Iterator<Item = &'a App>) -> BTreeMap<Tool, Problem> {
    let mut needed: BTreeMap<Tool, Vec<&str>> = BTreeMap::new();
    for app in apps {
        let names = needed.entry(Tool::of(app.kind)).or_default();
        if !names.contains(&app.name.as_str()) {
            names.push(&app.name);
        }
    }
    needed
        .into_iter()
        .filter_map(|(tool, apps)| {
            let (program, hint) = match tool {
                Tool::None => return None,
                Tool::Helm => helm::program(),
                Tool::Kustomize => kustomize::program(),
            };
            if program.is_empty() || findable(&program) {
                return None;
            }
            let problem = Problem::new(format!(
                "cannot find `{}`, needed to render {} {}",
                program.to_string_lossy(),
                if apps.len() == 1 { "app" } else { "apps" },
                apps.join(", ")
            ))
            .hint(hint);
            Some((tool, problem))
        })
        .collect()
}

/// The external tool a driver runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tool {
    None,
    Helm,
    Kustomize,
}

impl Tool {
    pub fn of(kind: DriverKind) -> Tool {
        match kind {
            DriverKind::Helm => Tool::Helm,
            DriverKind::Kustomize => Tool::Kustomize,
            DriverKind::Template | DriverKind::Manifests => Tool::None,
        }
    }
}

/// Whether `program` can be run: a path that is a file, or a name found on PATH.
pub(crate) fn findable(program: &std::ffi::OsStr) -> bool {
    let path = std::path::Path::new(program);
    if path.components().count() > 1 {
        return path.is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

fn select_apps<'a>(
    config: &'a Config,
    channel: &Channel,
    options: &Options,
) -> Result<Vec<&'a App>, Problems> {
    let wanted = &options.apps;
    config.check_apps(wanted)?;
    if !options.skip_unreleased {
        config.check_released(channel, wanted)?;
    }
    Ok(config
        .apps
        .iter()
        .filter(|a| channel.apps.contains(&a.name))
        .filter(|a| wanted.is_empty() || wanted.contains(&a.name))
        .collect())
}

fn render_app(
    config: &Config,
    app: &App,
    channel: &Channel,
    source: &dyn Source,
    options: &Options,
) -> Result<Vec<Manifest>, Problems> {
    if let Some(broken) = app.broken.get(&channel.name) {
        return Err(tag_app(Problems(broken.clone()), &app.name));
    }
    let variant = app.in_channel(&channel.name);
    let files = match &variant.source {
        Some(remote) => remote_files(remote, variant, options).map_err(|p| {
            let p = match p.location {
                Some(_) => p,
                None => p.at(remote.origin.clone()),
            };
            tag_app(Problems::one(p), &app.name)
        })?,
        None => source,
    };
    let values = match variant.driver {
        // Overlays take no values; a channel's values files do not concern them.
        Driver::Kustomize { .. } => Value::Object(Default::default()),
        _ => values::layer(variant, channel, source, &options.sets)
            .map_err(|p| tag_app(p, &app.name))?,
    };
    let input = AppInput {
        config,
        app,
        variant,
        channel,
        source: files,
        repository: source,
        values,
        info: &options.source,
    };
    let result = match &variant.driver {
        Driver::Template { dir } => template::render(&input, dir),
        Driver::Manifests { dir } => manifests::render(&input, dir),
        Driver::Helm { chart, release } => helm::render(&input, chart, release),
        Driver::Kustomize { overlay } => kustomize::render(&input, overlay),
    };
    let mut manifests = result.map_err(|p| tag_app(p, &app.name))?;
    // External Secrets: a stub each (no value); diff and apply fill it from its sources.
    let secrets = app.secrets.get(&channel.name).into_iter().flatten();
    manifests.extend(secrets.map(|secret| Manifest {
        origin: secret.origin.clone(),
        value: secret.stub(),
    }));
    Ok(manifests)
}

/// The fetched files of an app's other repository, holding the app's directory (a chart with
/// its dependencies, for helm: as berth.yaml's check does for this repository's charts).
fn remote_files<'a>(
    remote: &RemoteSource,
    variant: &Variant,
    options: &'a Options,
) -> Result<&'a dyn Source, Problem> {
    let fetched = options.remotes.get(remote)?;
    let files: &dyn Source = fetched.files.as_ref();
    let dir = variant.driver.path();
    let in_commit = format!(
        "{} at `{}` (commit {})",
        fetched.repo,
        remote.reference,
        crate::tree::short_id(&fetched.commit)
    );
    let found = match variant.driver {
        Driver::Helm { .. } => crate::config::chart::problems(files, dir)
            .into_iter()
            .next(),
        _ if files.kind(dir) == Some(EntryKind::Dir) => None,
        _ => Some((
            format!("has no directory `{dir}`"),
            "set `source.path` to the app's directory in that repository, or pin a ref that has it"
                .to_string(),
        )),
    };
    match found {
        Some((message, hint)) => Err(Problem::new(format!("{in_commit}: {message}")).hint(hint)),
        None => Ok(files),
    }
}

impl AppInput<'_> {
    /// The app's values files for every channel: they may sit beside its manifests, and are
    /// not manifests. (Another repository's files are none of them.)
    pub fn is_values_file(&self, path: &str) -> bool {
        self.variant.source.is_none() && self.app.values_files.contains(path)
    }
}

/// Name the app in every problem that does not name one yet.
fn tag_app(mut problems: Problems, app: &str) -> Problems {
    for problem in &mut problems.0 {
        if problem.app.is_none() {
            problem.app = Some(app.to_string());
        }
    }
    problems
}

/// Parse a YAML stream produced for `app` into manifests, locating errors in `file`.
pub(crate) fn parse_stream(
    text: &str,
    file: PathBuf,
    line_offset: u64,
) -> Result<Vec<Manifest>, Problem> {
    let documents = crate::yaml::parse_documents(text).map_err(|e| {
        Problem::new(format!("invalid YAML: {}", e.message))
            .at(Location::at(
                &file,
                e.line.map(|l| l + line_offset),
                e.column,
            ))
            .hint("fix the YAML syntax at that line")
    })?;
    Ok(documents
        .into_iter()
        .map(|d| Manifest {
            origin: Location::at(&file, Some(d.line + line_offset), None),
            value: d.value,
        })
        .collect())
}

/// Run an external renderer (helm, kustomize) and return its standard output.
/// A failure shows the command and its standard error.
/// Run a driver's tool. When it fails, its stderr is shown with `secrets()` (the values it was
/// given that may be secret) masked: tools echo their input in errors (kustomize repeats a
/// secretGenerator's literals, a chart's `fail` its values).
pub(crate) fn run_tool(
    mut command: std::process::Command,
    what: &str,
    at: &std::path::Path,
    install_hint: &str,
    rerun: &str,
    secrets: &dyn Fn() -> Vec<String>,
) -> Result<String, Problem> {
    let shown = format!(
        "{} {}",
        command.get_program().to_string_lossy(),
        command
            .get_args()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    // Not `shown`: its arguments may name temporary files, gone when the message is read.
    let output = command.output().map_err(|e| {
        Problem::new(format!(
            "cannot run `{}`: {e}",
            command.get_program().to_string_lossy()
        ))
        .in_file(at)
        .hint(install_hint.to_string())
    })?;
    if !output.status.success() {
        let stderr =
            crate::secret::scrub_values(&String::from_utf8_lossy(&output.stderr), &secrets());
        return Err(Problem::new(format!(
            "{what} failed ({}): `{shown}`\n{}",
            output.status,
            indent(stderr.trim_end())
        ))
        .in_file(at)
        .hint(format!("run `{rerun}` to see the error in place")));
    }
    String::from_utf8(output.stdout).map_err(|_| {
        Problem::new(format!(
            "{what} printed output that is not UTF-8: `{shown}`"
        ))
        .in_file(at)
    })
}

/// `text` with every line indented four spaces, as tool output shows under a message.
pub(crate) fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
