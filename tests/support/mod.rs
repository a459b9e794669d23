//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The outcome of one `berth` run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Assert the run failed with exit code 2 and its stderr mentions every one of `needles`.
    #[track_caller]
    pub fn fails_with(&self, needles: &[&str]) -> &Self {
        assert_eq!(self.code, 2, "expected exit 2; stderr:\n{}", self.stderr);
        for needle in needles {
            assert!(
                self.stderr.contains(needle),
                "stderr lacks {needle:?}:\n{}",
                self.stderr
            );
        }
        self
    }

    #[track_caller]
    pub fn succeeds(&self) -> &Self {
        assert_eq!(self.code, 0, "expected exit 0; stderr:\n{}", self.stderr);
        self
    }
}

/// `berth` with a clean environment: no colour, no config from the caller's environment.
pub fn berth_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
    for var in [
        "BERTH_CONFIG",
        "BERTH_COLOR",
        "BERTH_HELM",
        "BERTH_KUSTOMIZE",
        "GITHUB_HEAD_REF",
        "GITHUB_REF_NAME",
    ] {
        command.env_remove(var);
    }
    command.env("NO_COLOR", "1").env("RUST_BACKTRACE", "0");
    command
}

/// Run `berth args…` in `dir`.
pub fn berth(dir: &Path, args: &[&str]) -> Run {
    run(berth_command().current_dir(dir).args(args))
}

pub fn run(command: &mut Command) -> Run {
    let output = command.output().expect("berth runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A temporary repository holding `files` (path, contents).
pub fn repo(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    write_files(dir.path(), files);
    dir
}

pub fn write_files(root: &Path, files: &[(&str, &str)]) {
    for (path, contents) in files {
        let full = root.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, contents).unwrap();
    }
}

/// `examples/<name>` of this repository.
pub fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

/// A copy of `examples/<name>` in a temporary directory outside any git repository, so renders
/// carry no source commit and tests may change files.
pub fn example_copy(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_dir(&example(name), dir.path());
    dir
}

pub fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Every file below `dir`, as (relative path, contents), sorted.
pub fn read_tree(dir: &Path) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (rel, std::fs::read_to_string(e.path()).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// A whole tree as one text, each file under a `=== path` header: one snapshot per tree.
pub fn tree_text(dir: &Path) -> String {
    read_tree(dir)
        .into_iter()
        .map(|(path, contents)| format!("=== {path}\n{contents}"))
        .collect()
}
