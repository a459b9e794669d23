//! A [`Source`] read from a commit in git's object database: what was committed, never the
//! worktree, so uncommitted changes cannot reach a candidate.

use crate::source::{EntryKind, Source};
use git2::{Oid, Repository};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The files of one commit below `root` (the directory of berth.yaml), loaded once.
pub struct CommitSource {
    files: BTreeMap<String, Vec<u8>>,
    dirs: BTreeSet<String>,
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
        let (files, dirs) = super::load_tree(repo, &tree)?;
        Ok(CommitSource {
            files,
            dirs,
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

    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        self.files.get(path).cloned().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{path} is not in commit {}", self.commit),
            )
        })
    }

    fn files_under(&self, dir: &str) -> io::Result<Vec<String>> {
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
