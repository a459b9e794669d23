//! `scripts/install.sh` (what the GitHub action runs) against a fake GitHub Release served on
//! 127.0.0.1: a verified download installs, a wrong checksum installs nothing, a missing
//! release binary fails clearly or builds from source.

use crate::support::{Run, run as run_command};
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

    /// The `--releases` URL: `<url>/download/<tag>/<asset>` and `<url>/latest`.
    fn releases_url(&self) -> String {
        format!("http://127.0.0.1:{}/acme/berth/releases", self.port)
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

/// The release of `TAG` with the Linux x86_64 archive; `checksum` makes its sha256sums.txt line.
fn release(checksum: impl Fn(&[u8]) -> String) -> BTreeMap<String, Answer> {
    let archive = archive("0.1.0");
    let base = format!("/acme/berth/releases/download/{TAG}");
    let sums = format!(
        "{}  {}\n{}  {}\n",
        "0".repeat(64),
        asset("aarch64-apple-darwin"),
        checksum(&archive),
        asset(LINUX_X86)
    );
    BTreeMap::from([
        (
            format!("{base}/{}", asset(LINUX_X86)),
            Answer::File(archive),
        ),
        (
            format!("{base}/sha256sums.txt"),
            Answer::File(sums.into_bytes()),
        ),
        (
            "/acme/berth/releases/latest".to_string(),
            Answer::Redirect(format!("/acme/berth/releases/tag/{TAG}")),
        ),
        (
            format!("/acme/berth/releases/tag/{TAG}"),
            Answer::File(b"<html>release</html>".to_vec()),
        ),
    ])
}

fn good_release() -> BTreeMap<String, Answer> {
    release(sha256_hex)
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
    let setup = Setup::new(release(|_| "ab".repeat(32)));
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
