//! Helpers shared by the integration tests.

#![allow(dead_code)]

mod cluster;
pub mod small;

pub use cluster::*;
use std::ffi::OsStr;
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
        "GITHUB_ACTIONS",
        "GITHUB_API_URL",
        "GITHUB_REPOSITORY",
        "GITHUB_TOKEN",
        "BERTH_GITHUB_TOKEN",
        "GITHUB_EVENT_PATH",
        "GITHUB_STEP_SUMMARY",
        "GITHUB_SERVER_URL",
        "GITHUB_RUN_ID",
    ] {
        command.env_remove(var);
    }
    command.env("NO_COLOR", "1").env("RUST_BACKTRACE", "0");
    command
}

/// `command` as a step of a GitHub Actions workflow talking to the fake GitHub `gh` with
/// `token`, for the event payload in `event`, if any.
pub fn github_step<'c>(
    command: &'c mut Command,
    gh: &berth_testserver::github::GitHubServer,
    token: &str,
    event: Option<&Path>,
) -> &'c mut Command {
    command
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_API_URL", gh.api_url())
        .env("GITHUB_REPOSITORY", gh.repository())
        .env("GITHUB_TOKEN", token);
    if let Some(event) = event {
        command.env("GITHUB_EVENT_PATH", event);
    }
    command
}

/// Write the payload of a `pull_request` event of pull request `number` at `head` (a commit)
/// from `branch` to `file`.
pub fn write_pull_request_event(file: &Path, number: u64, branch: &str, head: &str) {
    std::fs::write(
        file,
        serde_json::json!({
            "action": "synchronize",
            "number": number,
            "pull_request": {"number": number, "head": {"ref": branch, "sha": head}},
            "repository": {"full_name": "octo/berth-config"},
            "sender": {"login": "ana"},
        })
        .to_string(),
    )
    .unwrap();
}

/// Run `berth args…` in `dir`.
pub fn berth(dir: &Path, args: &[&str]) -> Run {
    run(berth_command().current_dir(dir).args(args))
}

pub fn run(command: &mut Command) -> Run {
    let output = command.output().expect("berth runs");
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    // Whatever the input, berth reports it; a panic is a defect in every test.
    assert!(
        !run.stderr.contains("panicked"),
        "berth panicked: {command:?}\n{}",
        run.stderr
    );
    run
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

/// Run git in `dir` with a fixed identity; panics with git's stderr on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    git_with(dir, &[], args)
}

/// [`git`] with more environment variables.
pub fn git_with(dir: &Path, env: &[(&str, &OsStr)], args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env_remove("GIT_DIR")
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// A bare `origin` and a clone `work` holding a copy of `examples/<example>`, committed on
/// `main` and pushed.
pub struct GitRepos {
    pub dir: tempfile::TempDir,
    origin: String,
}

/// Where [`GitRepos`] keeps its bare `origin` by default.
const ORIGIN: &str = "acme/shop.git";

impl GitRepos {
    pub fn new(example: &str) -> Self {
        Self::holding(|work| copy_dir(&self::example(example), work))
    }

    /// The same, holding `files` (path, contents) instead of an example.
    pub fn with_files(files: &[(&str, &str)]) -> Self {
        Self::holding(|work| write_files(work, files))
    }

    /// The repositories, with the work tree filled by `fill` in the initial commit; `origin`
    /// is at `acme/shop.git`, so berth's default project is `acme.shop`.
    fn holding(fill: impl FnOnce(&Path)) -> Self {
        Self::holding_at(ORIGIN, fill)
    }

    /// `files` with its `origin` at `origin` (e.g. `acme/other.git`): another repository,
    /// another default project (`acme.other`).
    pub fn at(origin: &str, files: &[(&str, &str)]) -> Self {
        Self::holding_at(origin, |work| write_files(work, files))
    }

    fn holding_at(origin: &str, fill: impl FnOnce(&Path)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let bare = dir.path().join(origin);
        std::fs::create_dir_all(&bare).unwrap();
        git(&bare, &["init", "-q", "--bare", "-b", "main"]);
        git(dir.path(), &["clone", "-q", origin, "work"]);
        let repos = GitRepos {
            dir,
            origin: origin.to_string(),
        };
        fill(&repos.work());
        repos.git(&["config", "user.name", "Test"]);
        repos.git(&["config", "user.email", "test@example.com"]);
        repos.git(&["checkout", "-q", "-b", "main"]);
        repos.commit_all("initial");
        repos.git(&["push", "-q", "origin", "main"]);
        repos
    }

    pub fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    pub fn origin(&self) -> PathBuf {
        self.dir.path().join(&self.origin)
    }

    pub fn git(&self, args: &[&str]) -> String {
        git(&self.work(), args)
    }

    pub fn commit_all(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// On the rendered tree `branch`, commit a Deployment's file made not one object; then
    /// back to `back`. The file's path, and the commit.
    pub fn break_rendered_tree(&self, branch: &str, back: &str) -> (String, String) {
        self.git(&["checkout", "-q", branch]);
        let files = self.git(&["ls-tree", "-r", "--name-only", "HEAD"]);
        let broken = files
            .lines()
            .find(|f| f.contains("/Deployment"))
            .expect("a Deployment's file")
            .to_string();
        std::fs::write(self.work().join(&broken), "kind: [\n").unwrap();
        let commit = self.commit_all("a file that is not one object");
        self.git(&["checkout", "-q", back]);
        (broken, commit)
    }

    /// Replace `old` with `new` in a file of the work tree.
    pub fn edit(&self, path: &str, old: &str, new: &str) {
        replace_in(&self.work(), path, old, new);
    }

    pub fn berth(&self, args: &[&str]) -> Run {
        berth(&self.work(), args)
    }

    /// The commit a ref points to in `origin`, if it exists there.
    pub fn remote_ref(&self, name: &str) -> Option<String> {
        let out = git(
            &self.origin(),
            &["for-each-ref", "--format=%(objectname)", name],
        );
        (!out.is_empty()).then_some(out)
    }
}

/// Replace the first `old` with `new` in the file `path` below `dir`.
pub fn replace_in(dir: &Path, path: &str, old: &str, new: &str) {
    let file = dir.join(path);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(old), "{path} lacks {old:?}");
    std::fs::write(&file, text.replacen(old, new, 1)).unwrap();
}

/// Make `dir` a git repository on `main` with one commit holding all its files.
pub fn git_init(dir: &Path) {
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "initial"]);
}

/// Commit the files below `tree` (a rendered tree) as branch `branch` of the repository in
/// `repo`, without touching its work tree or index.
pub fn commit_tree(repo: &Path, branch: &str, tree: &Path) {
    let index = tree.with_extension("index");
    let git_with_index =
        |args: &[&str]| git_with(repo, &[("GIT_INDEX_FILE", index.as_os_str())], args);
    let work_tree = format!("--work-tree={}", tree.display());
    git_with_index(&[&work_tree, "add", "-A", "."]);
    let tree_id = git_with_index(&["write-tree"]);
    let commit = git_with_index(&["commit-tree", &tree_id, "-m", branch]);
    git(repo, &["branch", "-f", branch, &commit]);
    let _ = std::fs::remove_file(index);
}

/// The rendered tree of the test channel of `repo`, written to a new directory.
pub fn rendered_tree(repo: &Path) -> tempfile::TempDir {
    let out = tempfile::tempdir().unwrap();
    berth(
        repo,
        &[
            "render",
            "-c",
            "test",
            "--out",
            out.path().to_str().unwrap(),
        ],
    )
    .succeeds();
    out
}

/// The object with `key` in the `objects` of a JSON report (of `diff` or `apply`).
pub fn report_object<'a>(report: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["key"] == key)
        .unwrap_or_else(|| panic!("no {key} in {report:#}"))
}

/// Whether `text` is all lower-case hexadecimal digits, as git writes commit ids.
pub fn is_lower_hex(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Replace every commit id (40 hex digits, or the 12-digit short form) with `<commit>`.
pub fn redact_commits(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let is_id = (word.len() == 40 || word.len() == 12) && is_lower_hex(word);
        out.push_str(if is_id { "<commit>" } else { word });
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// `berth diff -c test --render --against releases/test` and `extra`.
pub fn diff_rendered_against_release<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "diff",
        "-c",
        "test",
        "--render",
        "--against",
        "releases/test",
    ];
    args.extend_from_slice(extra);
    args
}
