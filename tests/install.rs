//! `scripts/install.sh` (what the GitHub action runs) against a fake GitHub Release served on
//! 127.0.0.1: a verified download installs, a wrong checksum installs nothing, a missing
//! release binary fails clearly or builds from source; and action.yml's steps, run as a runner
//! runs them, install from the action's own repository and run berth.

use crate::support::{Run, run as run_command};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

const TAG: &str = "v0.1.0";
const LINUX_X86: &str = "x86_64-unknown-linux-musl";

/// A stand-in for the berth binary: prints its version like the real one.
fn fake_berth(version: &str) -> String {
    format!("#!/bin/sh\necho 'berth {version}'\n")
}

/// One answer of the fake release server.
#[derive(Clone)]
enum Answer {
    File(Vec<u8>),
    Redirect(String),
}

/// Serves fixed paths over HTTP/1.1 (one request per connection) and records what was asked;
/// any other path is a 404, as GitHub answers for a missing asset.
struct ReleaseServer {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ReleaseServer {
    fn start(files: BTreeMap<String, Answer>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, stopped) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    answer(stream, &files, &log);
                }
            }
        });
        ReleaseServer {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// Where GitHub would be (`GITHUB_SERVER_URL`).
    fn server_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The `--releases` URL of the repository `acme/berth`: `<url>/download/<tag>/<asset>` and
    /// `<url>/latest`.
    fn releases_url(&self) -> String {
        format!("{}/acme/berth/releases", self.server_url())
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for ReleaseServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wakes the accept loop
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn answer(stream: TcpStream, files: &BTreeMap<String, Answer>, log: &Mutex<Vec<String>>) {
    // A client that sends nothing cannot hold the server up.
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // The headers end at the first empty line; a GET or HEAD has no body.
    let mut header = String::new();
    while reader.read_line(&mut header).is_ok_and(|n| n > 0) && header.trim() != "" {
        header.clear();
    }
    let mut words = request_line.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    log.lock().unwrap().push(format!("{method} {path}"));
    let (status, location, body) = match files.get(path) {
        Some(Answer::File(body)) => ("200 OK", None, body.clone()),
        Some(Answer::Redirect(to)) => ("302 Found", Some(to.clone()), Vec::new()),
        None => ("404 Not Found", None, b"Not Found".to_vec()),
    };
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(to) = location {
        head.push_str(&format!("Location: {to}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = &stream;
    let _ = stream.write_all(head.as_bytes());
    if method != "HEAD" {
        let _ = stream.write_all(&body);
    }
}

/// `berth-<tag>-<target>.tar.gz` holding `berth` (the fake binary) at its root.
fn archive(version: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("berth");
    std::fs::write(&binary, fake_berth(version)).unwrap();
    make_executable(&binary);
    let out = dir.path().join("out.tar.gz");
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&out)
        .arg("-C")
        .arg(dir.path())
        .arg("berth")
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read(out).unwrap()
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn asset(target: &str) -> String {
    format!("berth-{TAG}-{target}.tar.gz")
}

/// The release of `TAG` with an archive for each of `targets`; `checksum` makes their
/// sha256sums.txt lines (which also list a macOS archive the release lacks).
fn release(targets: &[&str], checksum: impl Fn(&[u8]) -> String) -> BTreeMap<String, Answer> {
    let archive = archive("0.1.0");
    let base = format!("/acme/berth/releases/download/{TAG}");
    let mut sums = format!("{}  {}\n", "0".repeat(64), asset("aarch64-apple-darwin"));
    let mut files = BTreeMap::from([
        (
            "/acme/berth/releases/latest".to_string(),
            Answer::Redirect(format!("/acme/berth/releases/tag/{TAG}")),
        ),
        (
            format!("/acme/berth/releases/tag/{TAG}"),
            Answer::File(b"<html>release</html>".to_vec()),
        ),
    ]);
    for target in targets {
        sums.push_str(&format!("{}  {}\n", checksum(&archive), asset(target)));
        files.insert(
            format!("{base}/{}", asset(target)),
            Answer::File(archive.clone()),
        );
    }
    files.insert(
        format!("{base}/sha256sums.txt"),
        Answer::File(sums.into_bytes()),
    );
    files
}

/// The release with a good checksum for the Linux x86_64 archive only.
fn good_release() -> BTreeMap<String, Answer> {
    release(&[LINUX_X86], sha256_hex)
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install.sh")
}

/// A fake release served on 127.0.0.1, and an empty HOME whose `bin` is the install directory.
struct Setup {
    server: ReleaseServer,
    home: tempfile::TempDir,
    dir: PathBuf,
}

impl Setup {
    fn new(files: BTreeMap<String, Answer>) -> Self {
        let home = tempfile::tempdir().unwrap();
        Setup {
            server: ReleaseServer::start(files),
            dir: home.path().join("bin"),
            home,
        }
    }

    /// The install script with `--releases <the server> --dir <dir>` and `args`.
    fn install(&self, args: &[&str]) -> Run {
        self.install_with(args, &[])
    }

    /// [`Setup::install`] with more environment variables, on an environment otherwise clean.
    fn install_with(&self, args: &[&str], env: &[(&str, &Path)]) -> Run {
        let mut command = Command::new("bash");
        command
            .arg(script())
            .arg("--releases")
            .arg(self.server.releases_url())
            .arg("--dir")
            .arg(&self.dir)
            .args(args)
            .env("HOME", self.home.path());
        for var in [
            "BERTH_VERSION",
            "BERTH_INSTALL_DIR",
            "BERTH_RELEASES_URL",
            "BERTH_CARGO",
        ] {
            command.env_remove(var);
        }
        run_command(command.envs(env.iter().copied()))
    }

    fn installed(&self) -> Vec<String> {
        match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// As a Linux x86_64 runner's `uname` names it.
const LINUX_X86_RUNNER: [&str; 4] = ["--os", "Linux", "--arch", "x86_64"];

#[test]
fn a_verified_release_binary_is_installed_and_runs() {
    let files = good_release();
    let archive_path = format!("/acme/berth/releases/download/{TAG}/{}", asset(LINUX_X86));
    let Some(Answer::File(served)) = files.get(&archive_path) else {
        panic!("the release has the Linux archive")
    };
    let sha = sha256_hex(served);
    let setup = Setup::new(files);
    let mut args = LINUX_X86_RUNNER.to_vec();
    args.extend(["--version", TAG]);

    let run = setup.install(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let installed = setup.dir.join("berth");
    let version = run_command(Command::new(&installed).arg("--version"));
    assert_eq!(version.stdout.trim(), "berth 0.1.0");
    let said = format!(
        "installed berth 0.1.0 (release {TAG}, {LINUX_X86}, sha256 {sha}) at {}",
        installed.display()
    );
    assert!(run.stderr.contains(&said), "{}", run.stderr);
    // Only the binary is left in the install directory: no temporary file.
    assert_eq!(setup.installed(), ["berth"]);
    assert_eq!(
        setup.server.requests(),
        [
            format!("GET {archive_path}"),
            format!("GET /acme/berth/releases/download/{TAG}/sha256sums.txt"),
        ]
    );

    // Installed already (a cache hit): nothing is downloaded again.
    let again = setup.install(&args);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stderr.contains("berth 0.1.0 is already installed"));
    assert_eq!(setup.server.requests().len(), 2);
}

#[test]
fn latest_is_the_tag_the_releases_page_redirects_to() {
    let setup = Setup::new(good_release());
    let mut args = LINUX_X86_RUNNER.to_vec();
    args.push("--resolve");
    let run = setup.install(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        format!(
            "version={TAG}\ntarget={LINUX_X86}\nasset={}\n",
            asset(LINUX_X86)
        )
    );
    assert_eq!(
        setup.server.requests(),
        [
            "GET /acme/berth/releases/latest".to_string(),
            format!("GET /acme/berth/releases/tag/{TAG}")
        ]
    );
    assert!(setup.installed().is_empty(), "--resolve installs nothing");
}

#[test]
fn each_runner_platform_has_its_release_target() {
    let setup = Setup::new(good_release());
    for (os, arch, target) in [
        ("Linux", "x86_64", "x86_64-unknown-linux-musl"),
        ("Linux", "aarch64", "aarch64-unknown-linux-musl"),
        ("Linux", "arm64", "aarch64-unknown-linux-musl"),
        ("Darwin", "arm64", "aarch64-apple-darwin"),
        ("Darwin", "x86_64", "x86_64-apple-darwin"),
    ] {
        let run = setup.install(&[
            "--os",
            os,
            "--arch",
            arch,
            "--version",
            "0.1.0",
            "--resolve",
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(
            run.stdout.contains(&format!("target={target}\n"))
                && run
                    .stdout
                    .contains(&format!("asset=berth-{TAG}-{target}.tar.gz\n")),
            "{os} {arch}: {}",
            run.stdout
        );
    }
}

#[test]
fn a_wrong_checksum_installs_nothing() {
    let setup = Setup::new(release(&[LINUX_X86], |_| "ab".repeat(32)));
    let mut args = LINUX_X86_RUNNER.to_vec();
    args.extend(["--version", TAG]);

    // A fresh directory stays empty…
    let run = setup.install(&args);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let said = format!(
        "checksum mismatch for {}: sha256sums.txt says {}",
        asset(LINUX_X86),
        "ab".repeat(32)
    );
    assert!(
        run.stderr.contains(&said) && run.stderr.contains("nothing was installed"),
        "{}",
        run.stderr
    );
    assert!(setup.installed().is_empty(), "{:?}", setup.installed());

    // …and an earlier berth is left exactly as it was.
    let earlier = setup.dir.join("berth");
    std::fs::create_dir_all(&setup.dir).unwrap();
    std::fs::write(&earlier, fake_berth("0.0.9")).unwrap();
    make_executable(&earlier);
    let run = setup.install(&args);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(setup.installed(), ["berth"]);
    assert_eq!(
        std::fs::read_to_string(&earlier).unwrap(),
        fake_berth("0.0.9")
    );
}

#[test]
fn a_release_without_the_platform_binary_fails_clearly() {
    let setup = Setup::new(good_release());

    // The release has no aarch64 Linux archive: a 404.
    let run = setup.install(&["--version", TAG, "--os", "Linux", "--arch", "aarch64"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let missing = asset("aarch64-unknown-linux-musl");
    for needle in [
        format!("release {TAG} has no {missing}"),
        "HTTP 404".to_string(),
        "pass --source DIR".to_string(),
    ] {
        assert!(run.stderr.contains(&needle), "{needle}: {}", run.stderr);
    }

    // A platform no release is built for: said without asking the server.
    let asked = setup.server.requests().len();
    let run = setup.install(&["--version", TAG, "--os", "Linux", "--arch", "riscv64"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("no berth release binary is built for Linux riscv64; pass --source DIR"),
        "{}",
        run.stderr
    );
    assert_eq!(setup.server.requests().len(), asked);
    assert!(setup.installed().is_empty());
}

/// A `cargo` stand-in that records its arguments in `dir/cargo-args` and "builds" the fake
/// berth into `--root`.
fn fake_cargo(dir: &Path) -> PathBuf {
    let built = dir.join("built-berth");
    std::fs::write(&built, fake_berth("0.1.0")).unwrap();
    let cargo = dir.join("cargo");
    let log = dir.join("cargo-args");
    std::fs::write(
        &cargo,
        format!(
            r#"#!/bin/sh
printf '%s\n' "$@" > '{}'
while [ "$#" -gt 0 ]; do
  if [ "$1" = --root ]; then root="$2"; fi
  shift
done
mkdir -p "$root/bin"
cp '{}' "$root/bin/berth"
"#,
            log.display(),
            built.display(),
        ),
    )
    .unwrap();
    make_executable(&cargo);
    cargo
}

#[test]
fn without_a_release_binary_berth_is_built_from_the_given_source() {
    let setup = Setup::new(good_release());
    let source = setup.home.path().join("berth-src");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(
        source.join("Cargo.toml"),
        "[package]\nname = \"berth\"\nversion = \"0.1.0\"\n",
    )
    .unwrap();
    let cargo = fake_cargo(setup.home.path());
    let args = [
        "--source",
        source.to_str().unwrap(),
        "--os",
        "Linux",
        "--arch",
        "riscv64",
    ];
    let run = setup.install_with(&args, &[("BERTH_CARGO", &cargo)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The version is the source's own, not whatever is latest.
    assert!(setup.server.requests().is_empty());
    let cargo_args = std::fs::read_to_string(setup.home.path().join("cargo-args")).unwrap();
    let cargo_args: Vec<&str> = cargo_args.lines().collect();
    assert_eq!(
        cargo_args[..5],
        [
            "install",
            "--locked",
            "--path",
            source.to_str().unwrap(),
            "--root"
        ]
    );
    assert_eq!(cargo_args[6..], ["--bin", "berth"]);
    let version = run_command(Command::new(setup.dir.join("berth")).arg("--version"));
    assert_eq!(version.stdout.trim(), "berth 0.1.0");
    assert!(
        run.stderr.contains(&format!(
            "installed berth 0.1.0 (built from {} for Linux riscv64)",
            source.display()
        )),
        "{}",
        run.stderr
    );

    // A source of another version than the one asked for is not installed under its name.
    std::fs::remove_file(setup.dir.join("berth")).unwrap();
    let mut other = args.to_vec();
    other.extend(["--version", "v0.2.0"]);
    let run = setup.install_with(&other, &[("BERTH_CARGO", &cargo)]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("is berth 0.1.0, not v0.2.0"),
        "{}",
        run.stderr
    );
    assert!(setup.installed().is_empty());
}

/// `${{ … }}` in `text`, from the inputs, the outputs of the steps so far and the runner.
fn expand(text: &str, inputs: &BTreeMap<&str, &str>, outputs: &BTreeMap<String, String>) -> String {
    let mut expanded = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("${{") {
        expanded.push_str(&rest[..at]);
        let end = at + rest[at..].find("}}").expect("a closed expression");
        let expression = rest[at + 3..end].trim();
        let value = if let Some(name) = expression.strip_prefix("inputs.") {
            inputs[name].to_string()
        } else if let Some(name) = expression.strip_prefix("steps.plan.outputs.") {
            outputs[name].clone()
        } else {
            match expression {
                "runner.os" => "Linux".to_string(),
                "runner.arch" => "X64".to_string(),
                other => panic!("this test's runner does not know ${{{{ {other} }}}}"),
            }
        };
        expanded.push_str(&value);
        rest = &rest[end + 2..];
    }
    expanded.push_str(rest);
    expanded
}

/// Run action.yml's steps as a Linux runner does (`bash -e -o pipefail`, GITHUB_OUTPUT,
/// GITHUB_PATH), with the action checked out at `<runner>/_actions/acme/berth/v0.1.0`, the
/// cache missing, and GitHub at `server`. Returns the action's outputs and the last step's run.
fn run_action(
    server: &ReleaseServer,
    runner: &Path,
    inputs: &BTreeMap<&str, &str>,
) -> (BTreeMap<String, String>, Run) {
    let repository = Path::new(env!("CARGO_MANIFEST_DIR"));
    let action_path = runner.join("_actions/acme/berth/v0.1.0");
    std::fs::create_dir_all(action_path.join("scripts")).unwrap();
    std::fs::copy(
        repository.join("action.yml"),
        action_path.join("action.yml"),
    )
    .unwrap();
    std::fs::copy(script(), action_path.join("scripts/install.sh")).unwrap();
    std::fs::write(
        action_path.join("Cargo.toml"),
        "[package]\nname = \"berth\"\nversion = \"0.1.0\"\n",
    )
    .unwrap();
    let action: Value =
        berth::yaml::from_str(&std::fs::read_to_string(action_path.join("action.yml")).unwrap())
            .unwrap();
    let (temp, tool_cache) = (runner.join("temp"), runner.join("tool-cache"));
    std::fs::create_dir_all(&temp).unwrap();
    let github_path = runner.join("github-path");
    std::fs::write(&github_path, "").unwrap();
    let mut outputs = BTreeMap::new();
    let mut last = None;
    for step in action["runs"]["steps"].as_array().unwrap() {
        let Some(script) = step["run"].as_str() else {
            continue; // actions/cache: a miss
        };
        if let Some(condition) = step["if"].as_str() {
            assert_eq!(
                condition, "inputs.args != ''",
                "a condition this test knows"
            );
            if inputs["args"].is_empty() {
                continue;
            }
        }
        let output_file = runner.join("github-output");
        std::fs::write(&output_file, "").unwrap();
        let added: Vec<String> = std::fs::read_to_string(&github_path)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        let path = std::env::join_paths(
            added
                .iter()
                .map(PathBuf::from)
                .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
        )
        .unwrap();
        let mut command = Command::new("bash");
        command
            .args([
                "--noprofile",
                "--norc",
                "-e",
                "-o",
                "pipefail",
                "-c",
                script,
            ])
            .current_dir(runner)
            .env_clear()
            .env("PATH", path)
            .env("HOME", runner)
            .env("GITHUB_ACTION_PATH", &action_path)
            .env("GITHUB_OUTPUT", &output_file)
            .env("GITHUB_PATH", &github_path)
            .env("GITHUB_SERVER_URL", server.server_url())
            .env("GITHUB_REPOSITORY", "someone/workflows")
            .env("RUNNER_OS", "Linux")
            .env("RUNNER_TEMP", &temp)
            .env("RUNNER_TOOL_CACHE", &tool_cache)
            // A fallback to building from source fails at once instead of running cargo.
            .env("BERTH_CARGO", "false");
        if let Some(env) = step["env"].as_object() {
            for (name, value) in env {
                command.env(name, expand(value.as_str().unwrap(), inputs, &outputs));
            }
        }
        let run = run_command(&mut command);
        assert_eq!(run.code, 0, "step {step}:\n{}", run.stderr);
        if step["id"] == "plan" {
            for line in std::fs::read_to_string(&output_file).unwrap().lines() {
                let (name, value) = line.split_once('=').unwrap();
                outputs.insert(name.to_string(), value.to_string());
            }
        }
        last = Some(run);
    }
    let declared = action["outputs"].as_object().unwrap();
    let action_outputs = declared
        .iter()
        .map(|(name, output)| {
            let value = output["value"].as_str().unwrap();
            (name.clone(), expand(value, inputs, &outputs))
        })
        .collect();
    (action_outputs, last.unwrap())
}

#[test]
fn the_action_installs_from_its_own_repositorys_release_and_runs_berth() {
    // Whichever Linux machine runs the test, its release archive exists.
    let setup = Setup::new(release(
        &[LINUX_X86, "aarch64-unknown-linux-musl"],
        sha256_hex,
    ));
    let runner = tempfile::tempdir().unwrap();
    let inputs = BTreeMap::from([("version", ""), ("args", "--version")]);
    let (outputs, last) = run_action(&setup.server, runner.path(), &inputs);

    // No version given: the action's own source's (Cargo.toml 0.1.0), from acme/berth's
    // releases (the action's repository, not the workflow's).
    assert_eq!(outputs["version"], TAG);
    let asked = setup.server.requests();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(
        asked
            .iter()
            .all(|r| r.starts_with(&format!("GET /acme/berth/releases/download/{TAG}/")))
    );
    // Installed in the tool cache (the directory actions/cache keeps), on PATH for later steps,
    // and run with `args`.
    let github_path = std::fs::read_to_string(runner.path().join("github-path")).unwrap();
    let dir = PathBuf::from(github_path.trim());
    assert!(
        dir.starts_with(runner.path().join(format!("tool-cache/berth/{TAG}"))),
        "{}",
        dir.display()
    );
    assert!(dir.join("berth").is_file());
    assert_eq!(last.stdout.trim(), "berth 0.1.0");

    // Only installing: no berth run, and the cached binary is kept.
    let inputs = BTreeMap::from([("version", TAG), ("args", "")]);
    let (_, last) = run_action(&setup.server, runner.path(), &inputs);
    assert!(
        last.stderr.contains("berth 0.1.0 is already installed"),
        "{}",
        last.stderr
    );
    assert_eq!(setup.server.requests().len(), 2);
}
