//! Apps from another git repository (`source:`): a second bare repository as the remote,
//! fetched with the git CLI into the configuration repository, pinned and cached.

use crate::support::*;
use std::path::{Path, PathBuf};

/// The other repository: a work tree and its bare copy `platform.git`, both in `dir`.
struct Platform {
    work: PathBuf,
    bare: PathBuf,
}

impl Platform {
    /// `files` committed on `main` and tagged `v1.0.0`, pushed to a bare `platform.git`.
    fn new(dir: &Path, files: &[(&str, &str)]) -> Self {
        let work = dir.join("platform-work");
        write_files(&work, files);
        git_init(&work);
        git(&work, &["tag", "v1.0.0"]);
        let bare = dir.join("platform.git");
        git(
            dir,
            &["clone", "-q", "--bare", "platform-work", "platform.git"],
        );
        Platform { work, bare }
    }

    fn url(&self) -> String {
        format!("file://{}", self.bare.display())
    }

    /// Replace `old` with `new` in `path`, commit, optionally tag, and push: the new commit.
    fn change(&self, path: &str, old: &str, new: &str, tag: Option<&str>) -> String {
        replace_in(&self.work, path, old, new);
        git(&self.work, &["commit", "-qam", "change"]);
        if let Some(tag) = tag {
            git(&self.work, &["tag", tag]);
        }
        let bare = self.bare.display().to_string();
        git(&self.work, &["push", "-q", "--tags", &bare, "main"]);
        self.commit("HEAD")
    }

    fn commit(&self, rev: &str) -> String {
        git(&self.work, &["rev-parse", &format!("{rev}^{{commit}}")])
    }
}

const CONFIG_MAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: platform-config\ndata:\n  version: \"1\"\n";

fn platform(dir: &Path) -> Platform {
    Platform::new(dir, &[("web/config.yaml", CONFIG_MAP)])
}

/// berth.yaml with app `platform` taking `web/` of `url` at `reference` (and `extra` keys in
/// its `source:`), and a local app.
fn config(url: &str, reference: &str, extra: &str) -> String {
    format!(
        "apps:\n  platform:\n    driver: manifests\n    namespace: platform\n    source:\n      \
         repo: {url}\n      ref: {reference}\n      path: web\n{extra}  local:\n    driver: \
         manifests\n    path: apps/local\n    namespace: platform\nchannels:\n  test: {{}}\n"
    )
}

const LOCAL: (&str, &str) = (
    "apps/local/cm.yaml",
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: local\n",
);

/// A configuration repository (with bare origin) using `platform` through `config`.
fn shop(config: &str) -> GitRepos {
    GitRepos::with_files(&[("berth.yaml", config), LOCAL])
}

/// The `version` the rendered platform-config holds.
fn rendered_version(repos: &GitRepos) -> String {
    let run = repos.berth(&["render", "--channel", "test", "-o", "json"]);
    run.succeeds();
    let list: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let items = list["items"].as_array().unwrap();
    let config = items
        .iter()
        .find(|o| o["metadata"]["name"] == "platform-config")
        .unwrap_or_else(|| panic!("no platform-config in {}", run.stdout));
    assert_eq!(config["metadata"]["labels"]["berth.dev/app"], "platform");
    config["data"]["version"].as_str().unwrap().to_string()
}

/// Make the candidates of `main`; the release manifest of `channel`'s.
fn candidate_release(repos: &GitRepos, channel: &str) -> String {
    repos.berth(&["candidate"]).succeeds();
    repos.git(&[
        "show",
        &format!("candidates/{channel}/main:.berth/release.yaml"),
    ])
}

#[test]
fn a_candidate_renders_a_tag_of_another_repository_and_records_its_commit() {
    let dir = tempfile::tempdir().unwrap();
    let platform = platform(dir.path());
    let tagged = platform.commit("v1.0.0");
    // main moves on; the pin does not.
    platform.change("web/config.yaml", "\"1\"", "\"2\"", None);
    let repos = shop(&config(&platform.url(), "v1.0.0", ""));
    let release = candidate_release(&repos, "test");

    let candidate = "candidates/test/main";
    let tree = repos.git(&["ls-tree", "-r", "--name-only", candidate]);
    let object = tree
        .lines()
        .find(|path| path.contains("platform-config"))
        .unwrap_or_else(|| panic!("no platform-config in {tree}"));
    let config = repos.git(&["show", &format!("{candidate}:{object}")]);
    assert!(config.contains("version: \"1\""), "{config}");
    let expected = format!(
        "source:\n      repo: {}\n      ref: v1.0.0\n      commit: {tagged}\n      path: web\n",
        platform.url()
    );
    assert!(release.contains(&expected), "{release}");
    // The local app records no source.
    let local = release.split("  local:").nth(1).unwrap();
    let local = local.split("  platform:").next().unwrap();
    assert!(!local.contains("source:"), "{release}");
    let message = repos.git(&["log", "-1", "--format=%B", candidate]);
    assert!(
        message.contains(&format!(
            "App-Source: platform {} {tagged} (v1.0.0)",
            platform.url()
        )),
        "{message}"
    );
    // Kept in berth's namespace, not among the repository's own tags.
    let kept = repos.git(&["for-each-ref", "--format=%(refname)", "refs/berth/sources"]);
    assert!(kept.ends_with("/tags/v1.0.0"), "{kept}");
    assert_eq!(repos.git(&["tag"]), "");
}

#[test]
fn a_fetched_source_renders_with_the_remote_gone() {
    let dir = tempfile::tempdir().unwrap();
    let platform = platform(dir.path());
    let pinned = platform.commit("v1.0.0");
    let repos = shop(&config(&platform.url(), "v1.0.0", ""));
    let first = repos.berth(&["render", "--channel", "test"]);
    first.succeeds();
    std::fs::remove_dir_all(&platform.bare).unwrap();
    let second = repos.berth(&["render", "--channel", "test"]);
    second.succeeds();
    assert_eq!(first.stdout, second.stdout);
    assert!(second.stdout.contains("name: platform-config"));
    let release = candidate_release(&repos, "test");
    assert!(release.contains(&format!("commit: {pinned}")), "{release}");

    // A full commit id that is present is not fetched either.
    repos.edit("berth.yaml", "ref: v1.0.0", &format!("ref: {pinned}"));
    assert_eq!(rendered_version(&repos), "1");
}

#[test]
fn a_commit_id_is_fetched_and_channels_may_pin_different_refs() {
    let dir = tempfile::tempdir().unwrap();
    let platform = platform(dir.path());
    let first = platform.commit("v1.0.0");
    platform.change("web/config.yaml", "\"1\"", "\"2\"", Some("v2.0.0"));
    let url = platform.url();
    let prod = format!(
        "    channels:\n      prod:\n        source:\n          repo: {url}\n          ref: {first}\n          path: web\n"
    );
    let text = config(&url, "v2.0.0", &prod).replace("test: {}", "test: {}\n  prod: {}");
    let repos = shop(&text);
    assert_eq!(rendered_version(&repos), "2");
    let run = repos.berth(&["render", "--channel", "prod", "-o", "json"]);
    run.succeeds();
    assert!(run.stdout.contains("\"version\": \"1\""), "{}", run.stdout);
    let release = candidate_release(&repos, "prod");
    assert!(
        release.contains(&format!("ref: {first}\n      commit: {first}")),
        "{release}"
    );
}

#[test]
fn a_branch_is_refused_unless_floating_and_then_its_commit_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let platform = platform(dir.path());
    let url = platform.url();
    let repos = shop(&config(&url, "main", ""));
    repos.berth(&["render", "--channel", "test"]).fails_with(&[
        "berth.yaml:6:",
        "channel test, app platform",
        &format!("`main` is a branch of {url}"),
        "allowFloating: true",
    ]);

    std::fs::write(
        repos.work().join("berth.yaml"),
        config(&url, "main", "      allowFloating: true\n"),
    )
    .unwrap();
    assert_eq!(rendered_version(&repos), "1");
    // A floating ref follows the branch: fetched again on each render.
    let moved = platform.change("web/config.yaml", "\"1\"", "\"2\"", None);
    assert_eq!(rendered_version(&repos), "2");
    repos.commit_all("float");
    let release = candidate_release(&repos, "test");
    assert!(
        release.contains(&format!("ref: main\n      commit: {moved}")),
        "{release}"
    );
}

#[test]
fn bad_refs_paths_and_urls_are_named_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let platform = platform(dir.path());
    let url = platform.url();
    let repos = shop(&config(&url, "v9.9.9", ""));
    repos.berth(&["render", "--channel", "test"]).fails_with(&[
        "channel test, app platform",
        &format!("{url} has no tag or branch `v9.9.9`"),
        &format!("git ls-remote --tags {url}"),
    ]);
    // A candidate of a failing channel is not made.
    repos
        .berth(&["candidate"])
        .fails_with(&["no candidate for test"]);

    repos.edit("berth.yaml", "ref: v9.9.9", "ref: 1a2b3c4");
    repos
        .berth(&["render", "--channel", "test"])
        .fails_with(&["in full (40 hex digits)"]);

    repos.edit("berth.yaml", "ref: 1a2b3c4", "ref: v1.0.0");
    repos.edit("berth.yaml", "path: web", "path: charts/web");
    repos.berth(&["render", "--channel", "test"]).fails_with(&[
        "app platform",
        &format!("{url} at `v1.0.0` (commit "),
        "has no directory `charts/web`",
        "source.path",
    ]);

    // Credentials in the URL reach no message.
    let secret_url = "https://robot:s3cr3t-t0ken@127.0.0.1:9/platform.git";
    std::fs::write(
        repos.work().join("berth.yaml"),
        config(secret_url, "v1.0.0", ""),
    )
    .unwrap();
    let run = repos.berth(&["render", "--channel", "test"]);
    run.fails_with(&[
        "cannot reach https://127.0.0.1:9/platform.git",
        "credential helpers",
    ]);
    assert!(!run.stderr.contains("s3cr3t"), "{}", run.stderr);
}

#[test]
fn source_settings_are_checked_with_the_config() {
    let repos = repo(&[
        (
            "berth.yaml",
            "apps:\n  platform:\n    driver: manifests\n    path: web\n    source:\n      repo: \"--upload-pack=touch /tmp/x\"\n      ref: \"-v1\"\nchannels:\n  test: {}\n",
        ),
        LOCAL,
    ]);
    berth(repos.path(), &["render"]).fails_with(&[
        "berth.yaml:4:11: app `platform` has both `path` and `source`",
        "berth.yaml:6:13: app `platform`: `--upload-pack=touch /tmp/x` is not a repository URL",
        "berth.yaml:7:12: app `platform`: `-v1` is not a tag, branch or commit id",
    ]);
}

#[test]
fn a_source_outside_a_git_repository_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let platform = platform(dir.path());
    let plain = repo(&[
        ("berth.yaml", &config(&platform.url(), "v1.0.0", "")),
        LOCAL,
    ]);
    berth(plain.path(), &["render"]).fails_with(&[
        "app platform",
        &format!("cannot fetch {}: not in a git repository", platform.url()),
    ]);
}

/// `examples/sources`: a Kustomize app from the platform repository (`examples/sources-platform`)
/// in a bare repository beside the clone, with real `kubectl kustomize`.
#[test]
fn the_sources_example_renders_the_platform_overlays_per_channel() {
    let repos = GitRepos::new("sources");
    let files = read_tree(&example("sources-platform"));
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(path, text)| (path.as_str(), text.as_str()))
        .collect();
    // `repo: ../platform.git`, relative to the clone's top.
    let platform = Platform::new(repos.dir.path(), &files);
    git(&platform.work, &["tag", "v1.1.0"]);
    platform.change(
        "dashboard/base/deployment.yaml",
        "dashboard:1.0.0",
        "dashboard:1.2.0",
        Some("v1.2.0"),
    );
    let render = |channel: &str| {
        let run = run(berth_command()
            .current_dir(repos.work())
            .env("BERTH_KUSTOMIZE", "kubectl kustomize")
            .args(["render", "--channel", channel]));
        run.succeeds();
        run.stdout
    };
    let test = render("test");
    assert!(
        test.contains("image: ghcr.io/example/dashboard:1.2.0"),
        "{test}"
    );
    assert!(test.contains("name: web"), "{test}");
    let prod = render("prod");
    assert!(
        prod.contains("image: ghcr.io/example/dashboard:1.0.0"),
        "{prod}"
    );
    assert!(prod.contains("replicas: 2"), "{prod}");
}

/// A chart from another repository is checked as this repository's charts are: a dependency
/// the commit does not hold is named, not fetched.
#[test]
fn a_chart_from_another_repository_needs_its_dependencies_in_that_commit() {
    let dir = tempfile::tempdir().unwrap();
    let chart = "apiVersion: v2\nname: web\nversion: 1.0.0\ndependencies:\n  - name: redis\n    version: 19.0.0\n    repository: https://charts.example.com\n";
    let platform = Platform::new(dir.path(), &[("charts/web/Chart.yaml", chart)]);
    let text = config(&platform.url(), "v1.0.0", "")
        .replace(
            "driver: manifests\n    namespace: platform\n    source",
            "driver: helm\n    namespace: platform\n    source",
        )
        .replace("path: web", "path: charts/web");
    let repos = shop(&text);
    let helm = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/helm/helm");
    let run = run(berth_command()
        .current_dir(repos.work())
        .env("BERTH_HELM", helm)
        .args(["render", "--channel", "test"]));
    run.fails_with(&[
        "app platform",
        &format!("{} at `v1.0.0` (commit ", platform.url()),
        "depends on `redis` 19.0.0 from https://charts.example.com",
        "berth never fetches charts",
    ]);
}

/// `berth diff --render` fetches too: moving the pin shows the other repository's change.
#[test]
fn a_new_pin_shows_in_the_offline_diff() {
    let dir = tempfile::tempdir().unwrap();
    let platform = platform(dir.path());
    platform.change("web/config.yaml", "\"1\"", "\"2\"", Some("v2.0.0"));
    let repos = shop(&config(&platform.url(), "v1.0.0", ""));
    candidate_release(&repos, "test");
    repos.edit("berth.yaml", "ref: v1.0.0", "ref: v2.0.0");
    let run = repos.berth(&[
        "diff",
        "-c",
        "test",
        "--render",
        "--against",
        "candidates/test/main",
    ]);
    assert_eq!(run.code, 1, "changes: exit 1; stderr:\n{}", run.stderr);
    assert!(
        run.stdout
            .contains("-  version: \"1\"\n+  version: \"2\"\n"),
        "{}",
        run.stdout
    );
}
