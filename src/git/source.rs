//! A [`Source`] read from a commit in git's object database: what was committed, never the
//! worktree, so uncommitted changes cannot reach a candidate.

use crate::source::{EntryKind, OutsideLink, Source};
use git2::{Oid, Repository};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The files of one commit below `root` (the directory of berth.yaml), loaded once.
pub struct CommitSource {
    files: BTreeMap<String, Vec<u8>>,
    dirs: BTreeSet<String>,
    /// Links that leave the root: link → what it says.
    outside: BTreeMap<String, String>,
    commit: Oid,
    /// How paths are shown: the directory of berth.yaml in the repository.
    shown_root: PathBuf,
    /// Written out on first use, for helm and kustomize.
    exported: OnceLock<Result<tempfile::TempDir, String>>,
}

impl CommitSource {
    /// Load the tree of `commit` below the repository-relative directory `root` ("" for all).
    pub fn load(
        repo: &Repository,
        commit: Oid,
        root: &str,
        shown_root: &Path,
    ) -> Result<Self, git2::Error> {
        let mut tree = repo.find_commit(commit)?.tree()?;
        if !root.is_empty() {
            let entry = tree.get_path(Path::new(root))?;
            tree = repo.find_tree(entry.id())?;
        }
        let (mut files, mut dirs, links) = super::load_tree(repo, &tree)?;
        let outside = follow_links(&mut files, &mut dirs, links);
        Ok(CommitSource {
            files,
            dirs,
            outside,
            commit,
            shown_root: shown_root.to_path_buf(),
            exported: OnceLock::new(),
        })
    }

    /// A file's text, if it exists and is UTF-8.
    pub fn text(&self, path: &str) -> Option<String> {
        String::from_utf8(self.files.get(path)?.clone()).ok()
    }
}

impl Source for CommitSource {
    fn kind(&self, path: &str) -> Option<EntryKind> {
        if self.files.contains_key(path) {
            Some(EntryKind::File)
        } else if self.dirs.contains(path) {
            Some(EntryKind::Dir)
        } else {
            None
        }
    }

    fn outside_link(&self, path: &str) -> Option<OutsideLink> {
        // The link may be `path` itself or a directory above it.
        let mut prefix = String::new();
        for part in path.split('/') {
            prefix = crate::source::join(&prefix, part);
            if let Some(target) = self.outside.get(&prefix) {
                return Some(OutsideLink {
                    link: self.display(&prefix),
                    target: target.clone(),
                });
            }
        }
        None
    }

    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        if let Some(link) = self.outside_link(path) {
            return Err(io::Error::other(link));
        }
        self.files.get(path).cloned().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{path} is not in commit {}", self.commit),
            )
        })
    }

    fn files_under(&self, dir: &str) -> io::Result<Vec<String>> {
        let below = |path: &str| dir.is_empty() || path.starts_with(&format!("{dir}/"));
        if let Some(link) = self.outside_link(dir).or_else(|| {
            let (link, _) = self.outside.iter().find(|(link, _)| below(link))?;
            self.outside_link(link)
        }) {
            return Err(io::Error::other(link));
        }
        if dir.is_empty() {
            return Ok(self.files.keys().cloned().collect());
        }
        let prefix = format!("{dir}/");
        Ok(self
            .files
            .range(prefix.clone()..)
            .take_while(|(path, _)| path.starts_with(&prefix))
            .map(|(path, _)| path.clone())
            .collect())
    }

    fn on_disk(&self) -> io::Result<&Path> {
        let exported = self.exported.get_or_init(|| {
            let dir = tempfile::Builder::new()
                .prefix("berth-source-")
                .tempdir()
                .map_err(|e| e.to_string())?;
            for (path, bytes) in &self.files {
                let file = dir.path().join(path);
                if let Some(parent) = file.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
                }
                std::fs::write(file, bytes).map_err(|e| e.to_string())?;
            }
            Ok(dir)
        });
        match exported {
            Ok(dir) => Ok(dir.path()),
            Err(e) => Err(io::Error::other(e.clone())),
        }
    }

    fn display(&self, path: &str) -> PathBuf {
        self.shown_root.join(path)
    }
}

/// Follow the symbolic links of a commit as a checkout of it would be read: a link to a file or
/// directory inside the root becomes a copy of it; one that leaves the root is returned (link
/// → target), to be refused by name; one that leads nowhere is dropped, as a dangling link on
/// disk is not a file.
fn follow_links(
    files: &mut BTreeMap<String, Vec<u8>>,
    dirs: &mut BTreeSet<String>,
    links: BTreeSet<String>,
) -> BTreeMap<String, String> {
    let mut outside = BTreeMap::new();
    let mut pending: BTreeMap<String, String> = links
        .into_iter()
        .filter_map(|link| {
            let target = String::from_utf8_lossy(&files.remove(&link)?).into_owned();
            Some((link, target))
        })
        .collect();
    let under = |dir: &str, path: &str| dir.is_empty() || path.starts_with(&format!("{dir}/"));
    // A link to a link, or to a directory holding one, resolves in a later round.
    while !pending.is_empty() {
        let mut progress = false;
        let waiting: Vec<String> = pending.keys().cloned().collect();
        for (link, target) in std::mem::take(&mut pending) {
            let Some(resolved) = link_target(&link, &target) else {
                outside.insert(link, target);
                progress = true;
                continue;
            };
            if let Some(bytes) = files.get(&resolved).cloned() {
                files.insert(link, bytes);
                progress = true;
            } else if dirs.contains(&resolved)
                && !waiting.iter().any(|other| under(&resolved, other))
                && !under(&link, &resolved)
            {
                let copies: Vec<(String, Vec<u8>)> = files
                    .iter()
                    .filter(|(path, _)| under(&resolved, path))
                    .map(|(path, bytes)| (relink(&link, &resolved, path), bytes.clone()))
                    .collect();
                let copied_dirs: Vec<String> = dirs
                    .iter()
                    .filter(|path| under(&resolved, path))
                    .map(|path| relink(&link, &resolved, path))
                    .collect();
                let copied_outside: Vec<(String, String)> = outside
                    .iter()
                    .filter(|(path, _)| under(&resolved, path))
                    .map(|(path, target)| (relink(&link, &resolved, path), target.clone()))
                    .collect();
                files.extend(copies);
                dirs.extend(copied_dirs);
                dirs.insert(link);
                outside.extend(copied_outside);
                progress = true;
            } else {
                pending.insert(link, target);
            }
        }
        if !progress {
            break; // what is left dangles or loops
        }
    }
    outside
}

/// `path` below `from` moved below `to`.
fn relink(to: &str, from: &str, path: &str) -> String {
    crate::source::join(to, path[from.len()..].trim_start_matches('/'))
}

/// Where the link at `link` saying `target` leads, relative to the root; `None` if it leaves
/// the root.
fn link_target(link: &str, target: &str) -> Option<String> {
    let dir = link.rsplit_once('/').map_or("", |(dir, _)| dir);
    crate::source::resolve_relative(dir, target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_followed_inside_the_root_only() {
        let mut files: BTreeMap<String, Vec<u8>> = [
            ("base/a.yaml", "a"),
            ("app/values.yaml", "../base/a.yaml"),
            ("app/shared", "../base"),
            ("app/chain", "values.yaml"),
            ("app/secret", "../../../etc/passwd"),
            ("app/abs", "/etc/passwd"),
            ("app/dangling", "nope.yaml"),
        ]
        .into_iter()
        .map(|(path, text)| (path.to_string(), text.as_bytes().to_vec()))
        .collect();
        let mut dirs: BTreeSet<String> = ["", "base", "app"].map(String::from).into();
        let links = [
            "app/values.yaml",
            "app/shared",
            "app/chain",
            "app/secret",
            "app/abs",
            "app/dangling",
        ]
        .map(String::from)
        .into();
        let outside = follow_links(&mut files, &mut dirs, links);
        assert_eq!(files["app/values.yaml"], b"a");
        assert_eq!(files["app/chain"], b"a");
        assert_eq!(files["app/shared/a.yaml"], b"a");
        assert!(dirs.contains("app/shared"));
        assert!(!files.contains_key("app/dangling"));
        assert_eq!(
            outside.keys().collect::<Vec<_>>(),
            ["app/abs", "app/secret"]
        );
        assert_eq!(link_target("a/b", "../../x"), None);
        assert_eq!(link_target("a/b", "./c/../d").as_deref(), Some("a/d"));
    }
}
