//! External secret sources: where a Secret's values come from (`secrets:` in berth.yaml).
//!
//! The rendered tree holds only a stub of each such Secret (its metadata, its type and the names
//! of its keys in [`KEYS_ANNOTATION`]); the values are read here, at diff and apply time only,
//! and put into the stub's `data` in memory. Every source is read once per run, all of them at
//! once, commands within a timeout; any that fails stops the run before a request is made, with
//! an error naming the Secret, the key and the source, and never a value.

use crate::error::{Location, Problem, Problems};
use crate::object::TreeObject;
use base64::Engine;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The annotation of a stub: the names of its keys, comma-separated. It is what a reviewer sees
/// of the Secret, and what is filled at diff and apply time.
pub const KEYS_ANNOTATION: &str = "berth.dev/secret-keys";

/// How long a command (or `sops`) may take, unless berth.yaml says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How a command's output is a map of keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Yaml,
    Json,
    /// `KEY=value` lines (`#` comments, optional `export `, optional quotes).
    Dotenv,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Yaml => "YAML",
            Format::Json => "JSON",
            Format::Dotenv => "dotenv",
        }
    }

    /// The format of a SOPS file, as its extension says (sops decrypts to the same format).
    pub fn of_file(path: &str) -> Format {
        match path.rsplit('.').next() {
            Some("json") => Format::Json,
            Some("env") => Format::Dotenv,
            _ => Format::Yaml,
        }
    }
}

/// One place values are read from. Two keys naming the same place share one read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// An environment variable of berth's process.
    Env(String),
    /// A file outside the repository (e.g. a secret mounted in CI), read as it is.
    File(PathBuf),
    /// A program run without a shell, in the repository; its stdout (one trailing newline
    /// dropped) is the value, or with a format a map of keys.
    Command {
        argv: Vec<String>,
        format: Option<Format>,
        timeout: Duration,
        dir: PathBuf,
    },
    /// A SOPS-encrypted file of the repository, decrypted with `sops --decrypt`: a map of keys.
    Sops {
        file: PathBuf,
        shown: String,
        timeout: Duration,
    },
}

impl Source {
    /// The source as errors name it: never a value, only where it is.
    pub fn describe(&self) -> String {
        match self {
            Source::Env(name) => format!("env {name}"),
            Source::File(path) => format!("file {}", path.display()),
            Source::Command { argv, .. } => format!("command `{}`", argv.join(" ")),
            Source::Sops { shown, .. } => format!("sops {shown}"),
        }
    }

    fn format(&self) -> Option<Format> {
        match self {
            Source::Command { format, .. } => *format,
            Source::Sops { shown, .. } => Some(Format::of_file(shown)),
            Source::Env(_) | Source::File(_) => None,
        }
    }
}

/// Where one key's value comes from: a source, and for a source that yields a map the entry
/// (default: the key's own name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySource {
    pub source: Source,
    pub entry: Option<String>,
}

/// A Secret whose values come from outside the repository, for one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalSecret {
    pub app: String,
    pub name: String,
    pub namespace: String,
    pub secret_type: String,
    pub keys: BTreeMap<String, KeySource>,
    /// Where berth.yaml declares it.
    pub origin: Location,
}

impl ExternalSecret {
    /// The stub the rendered tree holds: metadata, type and key names; no value.
    pub fn stub(&self) -> serde_json::Value {
        let keys: Vec<&str> = self.keys.keys().map(String::as_str).collect();
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "annotations": {KEYS_ANNOTATION: keys.join(",")},
            },
            "type": self.secret_type,
        })
    }
}

/// A chart value of a Helm app read from a source at diff and apply time (`secretValues:`):
/// the rendered tree holds its placeholder (see [`super::placeholder`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretValue {
    pub app: String,
    /// The values path, e.g. `auth.password`.
    pub path: String,
    pub source: KeySource,
    /// Where berth.yaml declares it.
    pub origin: Location,
}

impl SecretValue {
    pub fn placeholder(&self) -> String {
        super::placeholder::placeholder(&self.app, &self.path)
    }
}

/// What a source gave.
enum Got {
    Value(Vec<u8>),
    Map(BTreeMap<String, String>),
}

/// What a value is read for: a key of a stub, or a secret value of a Helm app.
enum Wanted<'a> {
    Key {
        index: usize,
        key: String,
        secret: &'a ExternalSecret,
    },
    Value(&'a SecretValue),
}

/// Fill the `data` of every stub among `objects` from its source in `secrets` (the channel's
/// external Secrets), and put the value of each of `values` (the channel's Helm secret values)
/// in place of its placeholder in its app's Secrets. Nothing is filled unless every value was
/// read.
pub fn fill(
    objects: &mut [TreeObject],
    secrets: &[ExternalSecret],
    values: &[SecretValue],
) -> Result<(), Problems> {
    let mut problems = Vec::new();
    let mut wanted: Vec<(Wanted, &KeySource)> = Vec::new();
    for (index, object) in objects.iter().enumerate() {
        let Some(keys) = stub_keys(object) else {
            continue;
        };
        let namespace = object.key.namespace().unwrap_or_default();
        let found = secrets
            .iter()
            .find(|s| s.name == object.key.name() && s.namespace == namespace);
        let Some(secret) = found else {
            problems.push(
                Problem::new(format!(
                    "Secret {namespace}/{} of the release has no source in berth.yaml",
                    object.key.name()
                ))
                .object(object.key.to_string())
                .hint("declare it under the app's `secrets:` for this channel, or release again"),
            );
            continue;
        };
        for key in keys {
            match secret.keys.get(&key) {
                Some(source) => wanted.push((Wanted::Key { index, key, secret }, source)),
                None => problems.push(
                    Problem::new(format!(
                        "Secret {namespace}/{}: key `{key}` has no source in berth.yaml",
                        secret.name
                    ))
                    .at(secret.origin.clone())
                    .app(&secret.app)
                    .object(object.key.to_string())
                    .hint("add a source for it under `keys:`, or release again"),
                ),
            }
        }
    }
    // A value is read only when the release holds a Secret of its app to put it in.
    for value in values {
        let placeholder = value.placeholder();
        let needed = objects.iter().any(|o| {
            o.app.as_deref() == Some(value.app.as_str())
                && o.key.is_secret()
                && super::placeholder::used(&o.body, std::slice::from_ref(&placeholder))[0]
        });
        if needed {
            wanted.push((Wanted::Value(value), &value.source));
        }
    }
    Problems::check(std::mem::take(&mut problems))?;
    let mut sources: Vec<&Source> = Vec::new();
    for (_, key) in &wanted {
        if !sources.contains(&&key.source) {
            sources.push(&key.source);
        }
    }
    let reads: Vec<Result<Got, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = sources
            .iter()
            .map(|source| scope.spawn(move || read(source)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("reading it failed".into())))
            .collect()
    });
    let read: HashMap<&Source, &Result<Got, String>> = sources.into_iter().zip(&reads).collect();
    // Every value read, so that a failing command's stderr can be scrubbed of all of them.
    let known: Vec<String> = reads
        .iter()
        .flat_map(|r| match r {
            Ok(Got::Value(bytes)) => vec![String::from_utf8_lossy(bytes).into_owned()],
            Ok(Got::Map(map)) => map.values().cloned().collect(),
            Err(_) => Vec::new(),
        })
        .collect();
    let mut data: BTreeMap<usize, serde_json::Map<String, serde_json::Value>> = BTreeMap::new();
    // Per app, (placeholder, value).
    let mut substitutes: BTreeMap<&str, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    for (wanted, source) in wanted {
        let (what, origin, app, entry) = match &wanted {
            Wanted::Key { key, secret, .. } => (
                format!("Secret {}/{}: key `{key}`", secret.namespace, secret.name),
                &secret.origin,
                &secret.app,
                key.as_str(),
            ),
            Wanted::Value(value) => (
                format!("app `{}`: secret value `{}`", value.app, value.path),
                &value.origin,
                &value.app,
                value.path.rsplit('.').next().unwrap_or(&value.path),
            ),
        };
        let problem = |why: String| {
            Problem::new(format!(
                "{what} from {}: {}",
                source.source.describe(),
                super::scrub_values(&why, &known)
            ))
            .at(origin.clone())
            .app(app)
            .hint(hint(&source.source))
        };
        let value = match read[&source.source] {
            Err(why) => Err(problem(why.clone())),
            Ok(Got::Value(bytes)) => Ok(bytes.clone()),
            Ok(Got::Map(map)) => {
                let entry = source.entry.as_deref().unwrap_or(entry);
                map.get(entry)
                    .map(|v| v.clone().into_bytes())
                    .ok_or_else(|| problem(format!("its output has no key `{entry}`")))
            }
        };
        match (value, wanted) {
            (Ok(bytes), Wanted::Key { index, key, .. }) => {
                let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
                data.entry(index)
                    .or_default()
                    .insert(key, serde_json::Value::String(encoded));
            }
            (Ok(bytes), Wanted::Value(value)) => substitutes
                .entry(&value.app)
                .or_default()
                .push((value.placeholder(), bytes)),
            (Err(problem), _) => problems.push(problem),
        }
    }
    Problems::check(problems)?;
    for (index, values) in data {
        objects[index].body["data"] = serde_json::Value::Object(values);
    }
    for object in objects.iter_mut().filter(|o| o.key.is_secret()) {
        if let Some(values) = object.app.as_deref().and_then(|app| substitutes.get(app)) {
            super::placeholder::substitute(&mut object.body, values);
        }
    }
    Ok(())
}

/// The key names of a stub, if `object` is one.
pub fn stub_keys(object: &TreeObject) -> Option<Vec<String>> {
    if !object.key.is_secret() {
        return None;
    }
    let keys = object.body["metadata"]["annotations"][KEYS_ANNOTATION].as_str()?;
    Some(
        keys.split(',')
            .filter(|k| !k.is_empty())
            .map(str::to_string)
            .collect(),
    )
}

fn hint(source: &Source) -> String {
    match source {
        Source::Env(name) => format!("set {name} in the environment of berth (e.g. from the CI's secrets)"),
        Source::File(path) => format!("make {} readable by berth (e.g. mount the secret there)", path.display()),
        Source::Command { argv, .. } => format!("run `{}` to see why it fails", argv.join(" ")),
        Source::Sops { .. } => "install sops (https://github.com/getsops/sops/releases) and give it the key to decrypt the file".into(),
    }
}

fn read(source: &Source) -> Result<Got, String> {
    match source {
        Source::Env(name) => std::env::var_os(name)
            .map(|v| Got::Value(v.into_encoded_bytes()))
            .ok_or_else(|| "the variable is not set".to_string()),
        Source::File(path) => std::fs::read(path)
            .map(Got::Value)
            .map_err(|e| format!("cannot read it: {}", e.kind())),
        Source::Command {
            argv, timeout, dir, ..
        } => {
            let mut command = Command::new(&argv[0]);
            command.args(&argv[1..]).current_dir(dir);
            let out = run(command, *timeout)?;
            with_format(source, out)
        }
        Source::Sops { file, timeout, .. } => {
            let mut command = Command::new("sops");
            command.arg("--decrypt").arg(file);
            let out = run(command, *timeout).map_err(|why| match why.as_str() {
                "cannot run it: not found" => "sops is not installed".to_string(),
                _ => why,
            })?;
            with_format(source, out)
        }
    }
}

/// A command's stdout as the source's format says: the value, or a map of keys.
fn with_format(source: &Source, mut out: Vec<u8>) -> Result<Got, String> {
    let Some(format) = source.format() else {
        if out.last() == Some(&b'\n') {
            out.pop();
        }
        return Ok(Got::Value(out));
    };
    // No parser's message is shown: it may quote the output.
    let invalid = || format!("its output is not {}", format.name());
    let text = String::from_utf8(out).map_err(|_| invalid())?;
    let map = match format {
        Format::Json => {
            let value: serde_json::Value = serde_json::from_str(&text).map_err(|_| invalid())?;
            string_map(value).ok_or_else(invalid)?
        }
        Format::Yaml => {
            let value: serde_json::Value = crate::yaml::from_str(&text).map_err(|_| invalid())?;
            string_map(value).ok_or_else(invalid)?
        }
        Format::Dotenv => dotenv(&text).ok_or_else(invalid)?,
    };
    Ok(Got::Map(map))
}

/// A map of scalars as strings (numbers and booleans as written); `None` for anything else.
fn string_map(value: serde_json::Value) -> Option<BTreeMap<String, String>> {
    let serde_json::Value::Object(map) = value else {
        return None;
    };
    map.into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Some((k, s)),
            serde_json::Value::Number(_) | serde_json::Value::Bool(_) => Some((k, v.to_string())),
            _ => None,
        })
        .collect()
}

fn dotenv(text: &str) -> Option<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let (key, value) = line.split_once('=')?;
        let value = value.trim();
        let unquoted = ['"', '\'']
            .iter()
            .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
            .unwrap_or(value);
        map.insert(key.trim().to_string(), unquoted.to_string());
    }
    Some(map)
}

/// Run `command` with no stdin, within `timeout`; its stdout, or why it failed (with its
/// stderr, which the caller scrubs).
fn run(mut command: Command, timeout: Duration) -> Result<Vec<u8>, String> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => "cannot run it: not found".to_string(),
            kind => format!("cannot run it: {kind}"),
        })?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "it did not finish within {}",
                    humantime::format_duration(timeout)
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("cannot wait for it: {e}")),
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    if !status.success() {
        let stderr = String::from_utf8_lossy(&stderr);
        // Its stdout may hold values: none of it may reach the message.
        let stdout = String::from_utf8_lossy(&stdout).into_owned();
        let lines: Vec<String> = stdout.lines().map(str::to_string).collect();
        let said = super::scrub_values(stderr.trim(), &lines);
        let said = said.split_whitespace().collect::<Vec<_>>().join(" ");
        return Err(if said.is_empty() {
            format!("it failed ({status})")
        } else {
            format!("it failed ({status}): {said}")
        });
    }
    Ok(stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_lines_are_a_map() {
        let map = dotenv("# db\nexport USER=app\nPASSWORD=\"s3 cret\"\n\nTOKEN='t'\n").unwrap();
        assert_eq!(map["USER"], "app");
        assert_eq!(map["PASSWORD"], "s3 cret");
        assert_eq!(map["TOKEN"], "t");
        assert!(dotenv("not a pair").is_none());
    }
}
