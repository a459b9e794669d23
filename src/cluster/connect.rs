//! Turning a kubeconfig into a client configuration without ever printing a credential,
//! hanging on a plugin or handing the HTTP stack a value it panics on.
//!
//! kube's own errors quote kubeconfig source lines (YAML snippets with `token:`), exec plugin
//! arguments, environment and output, and URLs with their userinfo. So every failure here is
//! described by berth in its own words, and whatever text does come from below is scrubbed of
//! every credential the kubeconfig holds.

use super::Target;
use crate::error::Problem;
use crate::secret::redact_userinfo;
use crate::secret::userinfo;
use kube::config::{AuthInfo, ExecConfig, KubeConfigOptions, Kubeconfig, KubeconfigError};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// How long berth waits on the cluster. Zero means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// `--connect-timeout`: a TCP (and TLS) connection to the API server.
    pub connect: Duration,
    /// `--request-timeout`: the API server's answer to one request.
    pub request: Duration,
    /// `--exec-timeout`: a kubeconfig exec credential plugin.
    pub exec: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(60),
            exec: Duration::from_secs(60),
        }
    }
}

/// `None` for zero: no limit, as kubectl's `--request-timeout=0`.
fn limit(duration: Duration) -> Option<Duration> {
    (!duration.is_zero()).then_some(duration)
}

/// The credentials a kubeconfig holds, to scrub from any text that reaches the user.
#[derive(Debug, Default, Clone)]
pub struct Credentials(Vec<String>);

impl Credentials {
    fn add(&mut self, value: &str) {
        // Every line too: a message may carry part of a multi-line value. Very short strings
        // are left alone, or scrubbing would mangle every message.
        for part in std::iter::once(value).chain(value.lines()) {
            let part = part.trim();
            if part.chars().count() >= 4 && !self.0.iter().any(|known| known == part) {
                self.0.push(part.to_string());
            }
        }
    }

    fn add_url(&mut self, url: &str) {
        if let Some(userinfo) = userinfo(url) {
            self.add(userinfo);
            for part in userinfo.split(':') {
                self.add(part);
            }
        }
    }

    fn add_auth_info(&mut self, user: &AuthInfo) {
        use secrecy::ExposeSecret;
        for secret in [&user.password, &user.token, &user.client_key_data]
            .into_iter()
            .flatten()
        {
            self.add(secret.expose_secret());
        }
        if let Some(exec) = &user.exec {
            for arg in exec.args.iter().flatten() {
                self.add(arg);
            }
            for value in exec.env.iter().flatten().filter_map(|e| e.get("value")) {
                self.add(value);
            }
        }
        for value in user.auth_provider.iter().flat_map(|p| p.config.values()) {
            self.add(value);
        }
    }

    /// Everything secret in `kubeconfig`: tokens, passwords, keys, exec plugin arguments and
    /// environment, auth-provider settings, userinfo in server and proxy URLs.
    pub fn of(kubeconfig: &Kubeconfig) -> Self {
        let mut found = Credentials::default();
        for user in kubeconfig
            .auth_infos
            .iter()
            .filter_map(|n| n.auth_info.as_ref())
        {
            found.add_auth_info(user);
        }
        for cluster in kubeconfig
            .clusters
            .iter()
            .filter_map(|n| n.cluster.as_ref())
        {
            for url in [&cluster.server, &cluster.proxy_url].into_iter().flatten() {
                found.add_url(url);
            }
        }
        found
    }

    /// `problem` with every credential (and URL userinfo) removed.
    pub fn clean(&self, mut problem: Problem) -> Problem {
        problem.message = self.scrub(&problem.message);
        problem.hint = problem.hint.map(|h| self.scrub(&h));
        problem
    }

    /// `text` with userinfo in URLs redacted and every known credential replaced by `***`.
    pub fn scrub(&self, text: &str) -> String {
        let mut text = redact_userinfo(text);
        for secret in &self.0 {
            text = text.replace(secret.as_str(), "***");
        }
        text
    }
}

/// The client configuration for `target`, with berth's timeouts, credentials checked, and an
/// exec plugin already run (bounded by `--exec-timeout`), and the credentials to scrub.
pub async fn load(
    target: &Target<'_>,
    timeouts: Timeouts,
) -> Result<(kube::Config, Credentials), Problem> {
    let options = KubeConfigOptions {
        context: target.context.map(str::to_string),
        ..Default::default()
    };
    let kubeconfig = match target.kubeconfig {
        Some(path) => {
            Kubeconfig::read_from(path).map_err(|e| kubeconfig_problem(&e, Some(path)))?
        }
        None => match Kubeconfig::read() {
            Ok(kubeconfig) => kubeconfig,
            // No kubeconfig at all: inside a cluster, its service account; as kubectl does.
            Err(KubeconfigError::FindPath | KubeconfigError::ReadConfig(..))
                if target.context.is_none()
                    && let Ok(config) = kube::Config::incluster() =>
            {
                return Ok((prepared(config, timeouts), Credentials::default()));
            }
            Err(e) => {
                return Err(kubeconfig_problem(&e, None)
                    .hint("set KUBECONFIG or --kubeconfig, or run inside a cluster"));
            }
        },
    };
    let credentials = Credentials::of(&kubeconfig);
    let in_file = |problem: Problem| match target.kubeconfig {
        Some(path) => problem.in_file(path),
        None => problem,
    };
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| in_file(credentials.clean(kubeconfig_problem(&e, None))))?;
    check_headers(&config.auth_info).map_err(in_file)?;
    if let Some(exec) = config.auth_info.exec.take() {
        let credential = run_exec(&exec, timeouts.exec)
            .await
            .map_err(|p| in_file(credentials.clean(p)))?;
        credential.install(&mut config.auth_info);
        check_headers(&config.auth_info)
            .map_err(|p| in_file(p.hint("the exec plugin printed a token with a line break")))?;
    }
    Ok((prepared(config, timeouts), credentials))
}

/// The client configuration as berth uses it, wherever it came from.
fn prepared(config: kube::Config, timeouts: Timeouts) -> kube::Config {
    without_roots_for_plain_http(with_timeouts(config, timeouts))
}

fn with_timeouts(mut config: kube::Config, timeouts: Timeouts) -> kube::Config {
    config.connect_timeout = limit(timeouts.connect);
    config.read_timeout = limit(timeouts.request);
    config.write_timeout = limit(timeouts.request);
    config
}

/// A plain-http server (`kubectl proxy`, a local test server) is never verified, yet kube
/// builds its TLS connector anyway, and with no CA in the kubeconfig loads the system's whole
/// trust store for it: about 10 ms of CPU at start. An empty set of roots spares that. An
/// https server keeps what the kubeconfig says (its CA, or the system's roots without one).
fn without_roots_for_plain_http(mut config: kube::Config) -> kube::Config {
    if config.cluster_url.scheme_str() == Some("http") && config.root_cert.is_none() {
        config.root_cert = Some(Vec::new());
    }
    config
}

/// A kubeconfig that cannot be used, in berth's words: kube's own messages quote the source.
fn kubeconfig_problem(err: &KubeconfigError, file: Option<&Path>) -> Problem {
    let hint =
        "check --kubeconfig/KUBECONFIG, and that the context (--context or the channel's) exists";
    let problem = match err {
        KubeconfigError::ReadConfig(io, path) => {
            return Problem::new(format!("cannot read the kubeconfig: {io}"))
                .in_file(path)
                .hint(hint);
        }
        KubeconfigError::Parse(yaml) => {
            // The position only: the message would quote the line, which may hold a token.
            let location = yaml.location().filter(|l| l.line() > 0);
            let problem = Problem::new(
                "the kubeconfig is not valid YAML, or not a kubeconfig (its text is not shown: it holds credentials)",
            )
            .hint("compare it with `kubectl config view`");
            return match (file, location) {
                (Some(file), Some(l)) => problem.at(crate::error::Location::at(
                    file,
                    Some(l.line()),
                    Some(l.column()),
                )),
                (Some(file), None) => problem.in_file(file),
                (None, _) => problem,
            };
        }
        KubeconfigError::FindPath => {
            Problem::new("no kubeconfig: neither KUBECONFIG nor ~/.kube/config")
        }
        KubeconfigError::CurrentContextNotSet => {
            Problem::new("the kubeconfig has no current-context and no context was given")
        }
        KubeconfigError::LoadContext(name) => {
            Problem::new(format!("the kubeconfig has no context `{name}`"))
        }
        KubeconfigError::LoadClusterOfContext(name) => Problem::new(format!(
            "the kubeconfig has no cluster `{name}` (named by the context)"
        )),
        KubeconfigError::MissingClusterUrl => {
            Problem::new("the context's cluster has no `server` URL")
        }
        KubeconfigError::ParseClusterUrl(e) => {
            Problem::new(format!("the cluster's `server` is not a valid URL: {e}"))
        }
        KubeconfigError::ParseProxyUrl(e) => {
            Problem::new(format!("the cluster's `proxy-url` is not a valid URL: {e}"))
        }
        KubeconfigError::LoadCertificateAuthority(e) => data_problem("certificate-authority", e),
        KubeconfigError::LoadClientCertificate(e) => data_problem("client-certificate", e),
        KubeconfigError::LoadClientKey(e) => data_problem("client-key", e),
        KubeconfigError::ParseCertificates(_) => {
            Problem::new("a certificate in the kubeconfig is not PEM")
        }
        other => Problem::new(format!("cannot use the kubeconfig: {other}")),
    };
    match file {
        Some(file) => problem.in_file(file),
        None => problem,
    }
    .hint(hint)
}

/// `certificate-authority(-data)` and friends that cannot be loaded. Never the data itself.
fn data_problem(field: &str, err: &kube::config::LoadDataError) -> Problem {
    use kube::config::LoadDataError;
    Problem::new(match err {
        LoadDataError::DecodeBase64(_) => format!("`{field}-data` is not valid base64"),
        LoadDataError::ReadFile(io, path) => {
            format!("cannot read `{field}` {}: {io}", path.display())
        }
        LoadDataError::NoBase64DataOrFile => format!("`{field}` is empty"),
    })
}

/// Whether the HTTP stack can carry `value` in a header: below it, a token with a line break
/// is a panic, not an error.
fn header_safe(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

fn check_headers(user: &AuthInfo) -> Result<(), Problem> {
    use secrecy::ExposeSecret;
    let fields = [
        ("token", user.token.as_ref().map(|t| t.expose_secret())),
        ("username", user.username.as_deref()),
        (
            "password",
            user.password.as_ref().map(|p| p.expose_secret()),
        ),
        ("as", user.impersonate.as_deref()),
        ("as-uid", user.impersonate_uid.as_deref()),
    ];
    let groups = user
        .impersonate_groups
        .iter()
        .flatten()
        .map(|g| ("as-groups", Some(g.as_str())));
    match fields
        .into_iter()
        .chain(groups)
        .find(|(_, value)| value.is_some_and(|v| !header_safe(v)))
    {
        Some((field, _)) => Err(Problem::new(format!(
            "the user's `{field}` contains a line break or a control character; no HTTP header can carry it"
        ))
        .hint("copy the value again without line breaks (e.g. `tr -d '\\n'`)")),
        None => Ok(()),
    }
}

/// What an exec plugin printed, as berth uses it.
struct ExecCredential {
    token: Option<String>,
    client_certificate_data: Option<String>,
    client_key_data: Option<String>,
}

impl ExecCredential {
    /// Put the credential in place of the plugin. It is used for the whole run: berth runs
    /// are short, and running the plugin ourselves is what bounds it in time.
    fn install(self, user: &mut AuthInfo) {
        if let Some(token) = self.token {
            user.token = Some(token.into());
        }
        if let (Some(cert), Some(key)) = (self.client_certificate_data, self.client_key_data) {
            use base64::Engine;
            // The plugin prints PEM; the kubeconfig fields hold it base64-encoded.
            let b64 = base64::engine::general_purpose::STANDARD;
            user.client_certificate_data = Some(b64.encode(cert));
            user.client_key_data = Some(b64.encode(key).into());
        }
    }
}

/// Run a kubeconfig exec credential plugin as client-go does, but bounded by `timeout` (the
/// plugin is killed then) and described by its command name alone: its arguments and
/// environment may hold credentials, and so may its output.
async fn run_exec(exec: &ExecConfig, timeout: Duration) -> Result<ExecCredential, Problem> {
    let Some(command) = exec.command.as_deref() else {
        return Err(Problem::new("the user's exec plugin has no `command`"));
    };
    let plugin = format!("the exec credential plugin `{command}`");
    let mut spec = serde_json::json!({"interactive": false});
    if exec.provide_cluster_info
        && let Some(cluster) = &exec.cluster
    {
        spec["cluster"] = serde_json::to_value(cluster).unwrap_or_default();
    }
    let info = serde_json::json!({
        "apiVersion": exec.api_version.as_deref().unwrap_or("client.authentication.k8s.io/v1"),
        "kind": "ExecCredential",
        "spec": spec,
    });
    let mut cmd = tokio::process::Command::new(command);
    cmd.args(exec.args.iter().flatten())
        .envs(
            exec.env
                .iter()
                .flatten()
                .filter_map(|e| Some((e.get("name")?, e.get("value")?))),
        )
        .env("KUBERNETES_EXEC_INFO", info.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        // Its own messages (e.g. "log in at …") go to the user, as with kubectl.
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true);
    for name in exec.drop_env.iter().flatten() {
        cmd.env_remove(name);
    }
    let child = cmd.spawn().map_err(|e| {
        let problem = Problem::new(format!("cannot run {plugin}: {e}"));
        match &exec.install_hint {
            Some(hint) => problem.hint(hint.trim().to_string()),
            None => {
                problem.hint("install it, or check the `exec.command` of the kubeconfig's user")
            }
        }
    })?;
    let output = match limit(timeout) {
        Some(limit) => tokio::time::timeout(limit, child.wait_with_output())
            .await
            .map_err(|_| {
                Problem::new(format!(
                    "{plugin} did not finish within {} (--exec-timeout); it was stopped",
                    humantime::format_duration(limit)
                ))
                .hint("run the plugin by hand to see why it waits (a login prompt?), or raise --exec-timeout")
            })?,
        None => child.wait_with_output().await,
    }
    .map_err(|e| Problem::new(format!("cannot run {plugin}: {e}")))?;
    if !output.status.success() {
        return Err(Problem::new(format!("{plugin} failed ({})", output.status))
            .hint("run the plugin by hand to see its error; its output is not shown, as it may hold credentials"));
    }
    parse_exec_output(&output.stdout).ok_or_else(|| {
        Problem::new(format!(
            "{plugin} printed no usable ExecCredential (expected JSON with status.token, or status.clientCertificateData and status.clientKeyData)"
        ))
        .hint("its output is not shown, as it may hold credentials; run the plugin by hand to see it")
    })
}

fn parse_exec_output(stdout: &[u8]) -> Option<ExecCredential> {
    let text = std::str::from_utf8(stdout).ok()?;
    // client-go reads plugin output with a YAML-tolerant decoder; JSON is YAML.
    let value: Value = crate::yaml::from_str(text).ok()?;
    let status = value.get("status")?;
    let field = |name: &str| status.get(name).and_then(Value::as_str).map(str::to_string);
    let credential = ExecCredential {
        token: field("token").filter(|t| !t.is_empty()),
        client_certificate_data: field("clientCertificateData"),
        client_key_data: field("clientKeyData"),
    };
    let has_certificate =
        credential.client_certificate_data.is_some() && credential.client_key_data.is_some();
    (credential.token.is_some() || has_certificate).then_some(credential)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_with_line_breaks_are_caught() {
        assert!(header_safe("abc.def-ghi"));
        assert!(!header_safe("abc\ndef"));
        assert!(!header_safe("abc\rdef"));
    }

    #[test]
    fn only_a_plain_http_server_goes_without_the_systems_roots() {
        let roots = |url: &str, ca: Option<Vec<Vec<u8>>>| {
            let mut config = kube::Config::new(url.parse().unwrap());
            config.root_cert = ca;
            prepared(config, Timeouts::default()).root_cert
        };
        assert_eq!(roots("http://127.0.0.1:8001", None), Some(Vec::new()));
        // Over TLS, no CA means the system's roots (kube's platform verifier), never none.
        assert_eq!(roots("https://10.0.0.1:6443", None), None);
        let ca = vec![b"der".to_vec()];
        assert_eq!(
            roots("https://10.0.0.1:6443", Some(ca.clone())),
            Some(ca.clone())
        );
        assert_eq!(roots("http://127.0.0.1:8001", Some(ca.clone())), Some(ca));
    }
}
