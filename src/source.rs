//! Where an app's input files come from. Rendering reads through [`Source`] so the same code
//! renders a working directory (`berth render`) or a commit read from git's object database
//! (`berth candidate`, where uncommitted changes must not leak in).
//!
//! Paths are relative to the repository root (the directory of berth.yaml), `/`-separated.

use crate::error::Problem;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
}

pub trait Source: Sync {
    /// What is at `path`, if anything (links followed).
    fn kind(&self, path: &str) -> Option<EntryKind>;
    /// The symbolic link that takes `path` out of the root, if one does. Links that stay
    /// inside are followed, by every source alike; [`Source::read`] and
    /// [`Source::files_under`] refuse a path (or a file below a directory) with such a link.
    fn outside_link(&self, path: &str) -> Option<OutsideLink>;
    /// The bytes of the file at `path`.
    fn read(&self, path: &str) -> io::Result<Vec<u8>>;
    /// Every file below directory `dir`, recursively, as paths relative to the root, sorted.
    fn files_under(&self, dir: &str) -> io::Result<Vec<String>>;
    /// A directory on disk holding the whole source, for tools that read files themselves
    /// (helm, kustomize: an overlay may reach `../base`).
    fn on_disk(&self) -> io::Result<&Path>;
    /// How to show `path` in messages.
    fn display(&self, path: &str) -> PathBuf;
}

/// A symbolic link whose target is outside the root: a render of the working tree would read
/// a file the commit does not hold (and a candidate cannot), so both refuse it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutsideLink {
    /// The link, as messages show it.
    pub link: PathBuf,
    /// What the link says.
    pub target: String,
}

impl OutsideLink {
    pub const HINT: &str = "symbolic links may point only inside the repository (a candidate \
                            holds the link, not what it points to); copy the file in instead";

    fn into_io(self) -> io::Error {
        io::Error::other(self)
    }
}

impl std::fmt::Display for OutsideLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is a symbolic link to `{}`, outside the repository",
            self.link.display(),
            self.target
        )
    }
}

impl std::error::Error for OutsideLink {}

/// The problem of a failed read of `shown`: a link out of the repository is named with its
/// hint.
pub fn read_problem(shown: &Path, err: &io::Error) -> Problem {
    match err.get_ref().and_then(|e| e.downcast_ref::<OutsideLink>()) {
        Some(link) => Problem::new(link.to_string())
            .in_file(&link.link)
            .hint(OutsideLink::HINT),
        None => Problem::io(shown, err),
    }
}

/// The text of the file at `path` of `source`: manifests, templates and values are UTF-8.
pub fn read_text(source: &dyn Source, path: &str) -> Result<String, Problem> {
    let shown = source.display(path);
    let bytes = source.read(path).map_err(|e| read_problem(&shown, &e))?;
    utf8_text(bytes, &shown)
}

/// `bytes` of the file `shown` as text; if they are not UTF-8, a problem at the line and
/// column of the first bad byte, with its offset, as an editor would find it.
pub fn utf8_text(bytes: Vec<u8>, shown: &Path) -> Result<String, Problem> {
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let before = &e.as_bytes()[..offset];
        let line = before.iter().filter(|b| **b == b'\n').count() as u64 + 1;
        let line_start = before
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
        // Characters, not bytes, before it on its line.
        let column = String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count() as u64
            + 1;
        Problem::new(format!(
            "not UTF-8: byte 0x{:02x} at offset {offset} is not valid text",
            e.as_bytes()[offset]
        ))
        .at(crate::error::Location::at(shown, Some(line), Some(column)))
        .hint("save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)")
    })
}

/// A directory on disk, read as it is (the working tree).
pub struct DirSource {
    root: PathBuf,
    /// `root` with every link resolved, to tell where a link leads.
    real_root: PathBuf,
}

impl DirSource {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let real_root = root.canonicalize().unwrap_or_else(|_| root.clone());
        DirSource { root, real_root }
    }

    /// The link at `full` (a path on disk below the root), if it leads out of the root.
    fn leaves_root(&self, full: &Path) -> Option<OutsideLink> {
        let real = full.canonicalize().ok()?;
        if real.starts_with(&self.real_root) {
            return None;
        }
        // The first link on the way is the one to name.
        let (mut at, below) = if self.root == Path::new(".") {
            (PathBuf::new(), full)
        } else {
            (self.root.clone(), full.strip_prefix(&self.root).ok()?)
        };
        for part in below.components() {
            at.push(part);
            let outside = at
                .canonicalize()
                .is_ok_and(|real| !real.starts_with(&self.real_root));
            if outside && at.is_symlink() {
                return Some(OutsideLink {
                    target: std::fs::read_link(&at).ok()?.to_string_lossy().into_owned(),
                    link: at,
                });
            }
        }
        None
    }

    fn full(&self, path: &str) -> PathBuf {
        if self.root == Path::new(".") && !path.is_empty() {
            PathBuf::from(path)
        } else if path.is_empty() {
            self.root.clone()
        } else {
            self.root.join(path)
        }
    }
}

impl Source for DirSource {
    fn kind(&self, path: &str) -> Option<EntryKind> {
        let meta = std::fs::metadata(self.full(path)).ok()?;
        Some(if meta.is_dir() {
            EntryKind::Dir
        } else {
            EntryKind::File
        })
    }

    fn outside_link(&self, path: &str) -> Option<OutsideLink> {
        self.leaves_root(&self.full(path))
    }

    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        if let Some(link) = self.outside_link(path) {
            return Err(link.into_io());
        }
        std::fs::read(self.full(path))
    }

    fn files_under(&self, dir: &str) -> io::Result<Vec<String>> {
        if let Some(link) = self.outside_link(dir) {
            return Err(link.into_io());
        }
        let mut files = Vec::new();
        let base = self.full(dir);
        for entry in walkdir::WalkDir::new(&base).follow_links(true) {
            let entry = entry.map_err(io::Error::from)?;
            if entry.path_is_symlink()
                && let Some(link) = self.leaves_root(entry.path())
            {
                return Err(link.into_io());
            }
            if entry.file_type().is_file() {
                let below = entry
                    .path()
                    .strip_prefix(&base)
                    .expect("walkdir stays below its root");
                files.push(join(dir, &to_slash(below)));
            }
        }
        files.sort();
        Ok(files)
    }

    fn on_disk(&self) -> io::Result<&Path> {
        Ok(&self.root)
    }

    fn display(&self, path: &str) -> PathBuf {
        self.full(path)
    }
}

/// A relative path as a [`Source`] (and a rendered tree) writes it: `/`-separated.
pub fn to_slash(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Join a directory and a name the way paths in a [`Source`] are written.
pub fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() || dir == "." {
        name.to_string()
    } else {
        format!("{}/{}", dir.trim_end_matches('/'), name)
    }
}

/// `rel` (a relative link or `file://` path) taken from the directory `dir`, both relative to
/// the root; `None` when it is absolute or leaves the root.
pub fn resolve_relative(dir: &str, rel: &str) -> Option<String> {
    if rel.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

/// Normalise a path from berth.yaml: strip `./`, reject absolute paths and `..`, so that every
/// input is inside the repository (and so inside the commit a candidate is rendered from).
pub fn normalize(path: &str) -> Result<String, String> {
    if path.starts_with('/') || path.contains('\\') {
        return Err(format!(
            "`{path}` must be a relative path inside the repository, with `/` separators"
        ));
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(format!(
                    "`{path}` leaves the repository: paths may not contain `..`"
                ));
            }
            other => parts.push(other),
        }
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_resolve_inside_the_root_only() {
        assert_eq!(
            resolve_relative("charts/web", "../common").as_deref(),
            Some("charts/common")
        );
        assert_eq!(
            resolve_relative("charts/web", "./sub/").as_deref(),
            Some("charts/web/sub")
        );
        assert_eq!(resolve_relative("web", "../../x"), None);
        assert_eq!(resolve_relative("web", "/abs"), None);
    }

    #[test]
    fn normalizes_relative_paths_and_refuses_escapes() {
        assert_eq!(normalize("./apps//web/").unwrap(), "apps/web");
        assert_eq!(normalize(".").unwrap(), "");
        assert!(normalize("../other").is_err());
        assert!(normalize("apps/../../x").is_err());
        assert!(normalize("/etc/passwd").is_err());
    }

    #[test]
    fn lists_files_sorted_relative_to_the_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/z.yaml"), "").unwrap();
        std::fs::write(dir.path().join("a/b/c.yaml"), "").unwrap();
        let source = DirSource::new(dir.path());
        assert_eq!(source.files_under("a").unwrap(), ["a/b/c.yaml", "a/z.yaml"]);
        assert_eq!(source.kind("a/b"), Some(EntryKind::Dir));
        assert_eq!(source.kind("a/z.yaml"), Some(EntryKind::File));
        assert_eq!(source.kind("nope"), None);
    }
}
