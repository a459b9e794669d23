//! The rendered tree: one canonical YAML file per object, plus `.berth/release.yaml`. This
//! module owns the format (paths, the release manifest, reading objects back); `render` builds
//! trees, `git` stores them. Byte for byte the same for the same input, so the same render gives
//! the same git tree.

use crate::error::Problem;
use crate::object::{ObjectKey, TreeObject};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::path::Path;

pub const RELEASE_FILE: &str = ".berth/release.yaml";

/// berth's own files in a tree (not objects).
pub fn is_berth_file(path: &str) -> bool {
    path.starts_with(".berth/")
}

/// A commit id as berth shows it: its first 12 characters.
pub fn short_id(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// Path in the tree → file contents, in path order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RenderedTree {
    pub files: BTreeMap<String, Vec<u8>>,
}

/// A rendered tree and how reports name it.
#[derive(Debug, Clone)]
pub struct NamedTree {
    pub tree: RenderedTree,
    /// E.g. `candidates/test/feature (5d6e7f8…)` or `the working tree`.
    pub name: String,
    /// The commit the tree was rendered from, when known.
    pub source_commit: Option<String>,
    /// Object key → app, from its release manifest (read once, where the tree is checked).
    pub apps: BTreeMap<ObjectKey, String>,
    /// The git tree id, when the tree is a commit's (what a reviewed plan is keyed by).
    pub tree_id: Option<String>,
    /// The commit named on the command line (`diff --tree REV`): a candidate pull request's
    /// head, which its comment names.
    pub commit: Option<String>,
}

/// The commit a render was made from, when known.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Rendered from a hand-picked commit (`candidate --source REV`), not a branch's tip: its
    /// release is a manual deploy, never promoted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub manual: bool,
}

impl SourceInfo {
    pub fn short_commit(&self) -> Option<&str> {
        self.commit.as_deref().map(short_id)
    }
}

/// `.berth/release.yaml`: what a release holds, for humans and for later berth commands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseManifest {
    #[serde(default)]
    pub channel: String,
    #[serde(default)]
    pub source: SourceInfo,
    /// The berth version that rendered it.
    #[serde(default)]
    pub berth: String,
    #[serde(default)]
    pub apps: BTreeMap<String, AppManifest>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppManifest {
    #[serde(default)]
    pub driver: String,
    /// Where the app's files came from when not from this repository (`source:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<AppSource>,
    /// Object keys (`<namespace>/<Kind>.<group>/<name>`), sorted.
    #[serde(default)]
    pub objects: Vec<ObjectKey>,
}

/// The other repository an app was rendered from, and the commit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppSource {
    /// The repository URL, without credentials.
    pub repo: String,
    /// The ref as berth.yaml pins it (a tag, a commit id, or a floating branch).
    #[serde(rename = "ref")]
    pub reference: String,
    /// The commit rendered.
    pub commit: String,
    /// The app's directory in that repository ("" for its top).
    #[serde(default)]
    pub path: String,
}

impl ReleaseManifest {
    /// Object key → app.
    pub fn apps_of(&self) -> BTreeMap<ObjectKey, String> {
        self.apps
            .iter()
            .flat_map(|(app, entry)| entry.objects.iter().map(|key| (key.clone(), app.clone())))
            .collect()
    }

    pub fn to_yaml(&self) -> String {
        crate::yaml::to_string(self)
    }
}

impl RenderedTree {
    /// The release manifest, if the tree has one.
    pub fn manifest(&self) -> Result<Option<ReleaseManifest>, Problem> {
        let Some(bytes) = self.files.get(RELEASE_FILE) else {
            return Ok(None);
        };
        crate::yaml::from_str(&String::from_utf8_lossy(bytes))
            .map(Some)
            .map_err(|e| {
                Problem::new(format!(
                    "the release manifest cannot be read: {}",
                    e.message
                ))
                .in_file(RELEASE_FILE)
                .hint("rendered trees are written by berth; re-create the candidate")
            })
    }

    /// Object key → app, from the release manifest (empty without one).
    pub fn apps_of(&self) -> Result<BTreeMap<ObjectKey, String>, Problem> {
        Ok(self.manifest()?.map(|m| m.apps_of()).unwrap_or_default())
    }

    /// Every object file, by key; a file that is neither berth's nor an object's is refused.
    pub fn object_files(&self) -> Result<BTreeMap<ObjectKey, &[u8]>, Problem> {
        let mut files = BTreeMap::new();
        for (path, bytes) in &self.files {
            match ObjectKey::from_path(path) {
                Some(key) => {
                    files.insert(key, bytes.as_slice());
                }
                None if is_berth_file(path) => {}
                None => return Err(not_an_object(path)),
            }
        }
        Ok(files)
    }

    /// The first file that is neither berth's nor an object's.
    fn stray_file(&self) -> Option<&str> {
        self.files
            .keys()
            .map(String::as_str)
            .find(|path| !is_berth_file(path) && ObjectKey::from_path(path).is_none())
    }

    /// Refuse a tree berth did not render (a source commit named by mistake, a release branch
    /// someone added a file to), naming it as `name`; else its release manifest.
    pub fn check_rendered(&self, name: &str) -> Result<ReleaseManifest, Problem> {
        const LOOKS_LIKE: &str = "a rendered tree (a candidates/… or releases/… branch) holds \
            .berth/release.yaml and one <namespace>/<Kind>[.<group>]/<name>.yaml per object, \
            nothing else";
        let Some(manifest) = self.manifest()? else {
            return Err(Problem::new(format!(
                "{name} is not a rendered tree: it has no {RELEASE_FILE}"
            ))
            .hint(format!("name a candidate or release branch; {LOOKS_LIKE}")));
        };
        match self.stray_file() {
            Some(stray) => Err(Problem::new(format!(
                "{name} is not a rendered tree: {stray} is not an object's file"
            ))
            .in_file(stray)
            .hint(format!(
                "{LOOKS_LIKE}; remove the file from the branch or re-create it with berth"
            ))),
            None => Ok(manifest),
        }
    }

    /// The objects of the tree, with their apps from the release manifest; parsed on every
    /// core, as a large release is thousands of files.
    pub fn objects(&self) -> Result<Vec<TreeObject>, Problem> {
        self.objects_of(&self.apps_of()?, |_| true)
    }

    /// The objects whose key `keep` accepts, as [`objects`](Self::objects) reads them, with
    /// their apps from `apps` (the tree's [`apps_of`](Self::apps_of)).
    pub fn objects_of(
        &self,
        apps: &BTreeMap<ObjectKey, String>,
        keep: impl Fn(&ObjectKey) -> bool,
    ) -> Result<Vec<TreeObject>, Problem> {
        let files = self.object_files()?;
        parse_objects(files.into_iter().filter(|(key, _)| keep(key)), apps)
    }

    /// Write the tree to `dir`, replacing whatever was there: built beside it and swapped
    /// in, so `dir` never holds half a render or files of an older one. Only a tree berth
    /// wrote is replaced (see [`check_replaceable`]).
    pub fn write_to(&self, dir: &Path) -> io::Result<()> {
        check_replaceable(dir)?;
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

/// Whether `dir` may be replaced by a rendered tree: it does not exist, is empty, or holds
/// exactly what berth wrote there (`.berth/release.yaml` and the objects it lists). Anything
/// else (a file, a link, a directory someone keeps other files in, a file left inside a
/// rendered tree) is refused rather than deleted: berth cannot know it is disposable.
pub fn check_replaceable(dir: &Path) -> io::Result<()> {
    let meta = match dir.symlink_metadata() {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.is_dir() {
        return Err(io::Error::other(
            "it exists and is not a directory; move it away or choose another --out",
        ));
    }
    if dir.read_dir()?.next().is_none() {
        return Ok(());
    }
    let manifest = std::fs::read_to_string(dir.join(RELEASE_FILE)).map_err(|_| {
        io::Error::other(
            "it exists and is not a rendered tree (no .berth/release.yaml); choose another --out",
        )
    })?;
    let manifest: ReleaseManifest = crate::yaml::from_str(&manifest).map_err(|e| {
        io::Error::other(format!(
            "its {RELEASE_FILE} cannot be read ({}); move the directory away or choose another --out",
            e.message
        ))
    })?;
    let written: std::collections::BTreeSet<String> = manifest
        .apps
        .values()
        .flat_map(|app| app.objects.iter().map(ObjectKey::tree_path))
        .chain([RELEASE_FILE.to_string()])
        .collect();
    let mut foreign = Vec::new();
    for entry in walkdir::WalkDir::new(dir).min_depth(1) {
        let entry = entry.map_err(io::Error::from)?;
        if entry.file_type().is_dir() {
            continue;
        }
        let path = crate::source::to_slash(
            entry
                .path()
                .strip_prefix(dir)
                .expect("walkdir stays below its root"),
        );
        if !written.contains(&path) {
            foreign.push(path);
        }
    }
    if foreign.is_empty() {
        return Ok(());
    }
    let shown = foreign.len().min(5);
    let more = if foreign.len() > shown {
        format!(" and {} more", foreign.len() - shown)
    } else {
        String::new()
    };
    Err(io::Error::other(format!(
        "it holds files berth did not write: {}{more}; move them away (berth replaces the whole \
         tree) or choose another --out",
        foreign[..shown].join(", ")
    )))
}

/// The objects of `files` (as [`RenderedTree::object_files`] gives them), parsed on every
/// core, with their apps from `apps`.
pub fn parse_objects<'a>(
    files: impl IntoIterator<Item = (ObjectKey, &'a [u8])>,
    apps: &BTreeMap<ObjectKey, String>,
) -> Result<Vec<TreeObject>, Problem> {
    use rayon::prelude::*;
    let files: Vec<(ObjectKey, &[u8])> = files.into_iter().collect();
    files
        .into_par_iter()
        .map(|(key, bytes)| {
            let body = crate::yaml::parse_documents(&String::from_utf8_lossy(bytes))
                .ok()
                .filter(|docs| docs.len() == 1)
                .and_then(|docs| docs.into_iter().next())
                .map(|d| d.value)
                .ok_or_else(|| not_an_object(&key.tree_path()))?;
            Ok(TreeObject {
                app: apps.get(&key).cloned(),
                key,
                body,
            })
        })
        .collect()
}

fn not_an_object(path: &str) -> Problem {
    Problem::new("the rendered tree holds a file that is not one object")
        .in_file(path)
        .hint("rendered trees are written by berth; re-create the candidate")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> RenderedTree {
        RenderedTree {
            files: files
                .iter()
                .map(|(p, c)| (p.to_string(), c.as_bytes().to_vec()))
                .collect(),
        }
    }

    #[test]
    fn the_release_manifest_round_trips_and_names_each_objects_app() {
        let key = ObjectKey::parse("shop/Deployment.apps/web").unwrap();
        let manifest = ReleaseManifest {
            channel: "test".into(),
            source: SourceInfo {
                commit: Some("a".repeat(40)),
                branch: Some("main".into()),
                manual: false,
            },
            berth: "0.1.0".into(),
            apps: [(
                "web".to_string(),
                AppManifest {
                    driver: "template".into(),
                    source: None,
                    objects: vec![key.clone()],
                },
            )]
            .into(),
        };
        let text = manifest.to_yaml();
        assert!(text.starts_with("channel: test\nsource:\n"), "{text}");
        let tree = tree(&[
            (RELEASE_FILE, &text),
            (
                "shop/Deployment.apps/web.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\n",
            ),
        ]);
        assert_eq!(tree.manifest().unwrap(), Some(manifest));
        let objects = tree.objects().unwrap();
        assert_eq!(
            (objects[0].key.clone(), objects[0].app.as_deref()),
            (key, Some("web"))
        );
    }

    #[test]
    fn files_that_are_not_objects_are_refused_naming_the_file() {
        let stray = tree(&[("README.md", "hello")]);
        let err = stray.objects().unwrap_err().to_string();
        assert!(err.contains("README.md"), "{err}");
        let two = tree(&[("ns/ConfigMap/a.yaml", "a: 1\n---\nb: 2\n")]);
        assert!(two.objects().is_err());
        let bad_manifest = tree(&[(RELEASE_FILE, "apps: {web: {objects: [not-a-key]}}\n")]);
        assert!(
            bad_manifest
                .apps_of()
                .unwrap_err()
                .to_string()
                .contains(RELEASE_FILE)
        );
        assert_eq!(tree(&[]).apps_of().unwrap(), BTreeMap::new());
    }
}
