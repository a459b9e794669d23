//! The rendered tree: one canonical YAML file per object, plus `.berth/release.yaml`.
//! Byte for byte the same for the same input, so the same render gives the same git tree.

use crate::render::{RenderedSet, SourceInfo};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io;
use std::path::Path;

pub const RELEASE_FILE: &str = ".berth/release.yaml";

/// Path in the tree → file contents, in path order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RenderedTree {
    pub files: BTreeMap<String, Vec<u8>>,
}

/// `.berth/release.yaml`: what a release holds, for humans and for later berth commands.
#[derive(Debug, Serialize)]
pub struct ReleaseManifest<'a> {
    pub channel: &'a str,
    pub source: &'a SourceInfo,
    pub berth: &'static str,
    pub apps: BTreeMap<&'a str, AppManifest>,
}

#[derive(Debug, Serialize)]
pub struct AppManifest {
    pub driver: &'static str,
    /// Object keys (`<namespace>/<Kind>.<group>/<name>`), sorted.
    pub objects: Vec<String>,
}

impl RenderedTree {
    pub fn build(set: &RenderedSet) -> Self {
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

    /// Write the tree to `dir`, replacing whatever was there: built beside it and swapped
    /// in, so `dir` never holds half a render or files of an older one.
    pub fn write_to(&self, dir: &Path) -> io::Result<()> {
        // Only a rendered tree is ever replaced, never a directory someone keeps other files in.
        let occupied = dir
            .read_dir()
            .is_ok_and(|mut entries| entries.next().is_some());
        if occupied && !dir.join(RELEASE_FILE).is_file() {
            return Err(io::Error::other(
                "it exists and is not a rendered tree (no .berth/release.yaml); choose another --out",
            ));
        }
        let parent = dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent)?;
        let staging = tempfile::Builder::new()
            .prefix(".berth-render-")
            .tempdir_in(parent)?;
        let dirs: std::collections::BTreeSet<&str> = self
            .files
            .keys()
            .filter_map(|p| p.rsplit_once('/').map(|(dir, _)| dir))
            .collect();
        for dir in dirs {
            std::fs::create_dir_all(staging.path().join(dir))?;
        }
        for (path, bytes) in &self.files {
            std::fs::write(staging.path().join(path), bytes)?;
        }
        let staged = staging.keep();
        if dir.exists() {
            let old = tempfile::Builder::new()
                .prefix(".berth-old-")
                .tempdir_in(parent)?
                .keep();
            std::fs::rename(dir, old.join("tree"))?;
            std::fs::rename(&staged, dir)?;
            std::fs::remove_dir_all(old)?;
        } else {
            std::fs::rename(&staged, dir)?;
        }
        Ok(())
    }
}

fn release_manifest(set: &RenderedSet) -> String {
    let mut apps: BTreeMap<&str, AppManifest> = set
        .apps
        .iter()
        .map(|(name, driver)| {
            (
                name.as_str(),
                AppManifest {
                    driver,
                    objects: Vec::new(),
                },
            )
        })
        .collect();
    for object in &set.objects {
        if let Some(app) = apps.get_mut(object.app.as_str()) {
            app.objects.push(object.key.to_string());
        }
    }
    crate::yaml::to_string(&ReleaseManifest {
        channel: &set.channel,
        source: &set.source,
        berth: env!("CARGO_PKG_VERSION"),
        apps,
    })
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

/// The source commit and branch a rendered tree records in `.berth/release.yaml`.
pub fn release_info(tree: &RenderedTree) -> SourceInfo {
    let release: Option<serde_json::Value> = tree
        .files
        .get(RELEASE_FILE)
        .and_then(|bytes| crate::yaml::from_str(&String::from_utf8_lossy(bytes)).ok());
    let field = |name: &str| {
        release
            .as_ref()
            .and_then(|r| r["source"][name].as_str())
            .map(str::to_string)
    };
    SourceInfo {
        commit: field("commit"),
        branch: field("branch"),
    }
}
