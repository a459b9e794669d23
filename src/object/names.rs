//! Name rules the API server enforces, checked at render time so that a bad name is reported
//! against its source file rather than as a 422 at apply time.

/// RFC 1123 subdomain: most object names.
pub fn check_subdomain(name: &str) -> Result<(), String> {
    if name.len() > 253 {
        return Err(format!(
            "it is {} characters long (at most 253)",
            name.len()
        ));
    }
    for label in name.split('.') {
        check_label_chars(label).map_err(|why| format!("{why} (in `{label}`)"))?;
    }
    Ok(())
}

/// One RFC 1123 label's characters: lowercase letters, digits and `-`, not at either end.
pub fn check_label_chars(label: &str) -> Result<(), String> {
    if label.is_empty() {
        return Err("it has an empty part".into());
    }
    if !label
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err("only lowercase letters, digits and `-` are allowed".into());
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err("it must start and end with a letter or digit".into());
    }
    Ok(())
}

/// Path segment: what RBAC objects allow (`system:controller:x`).
pub fn check_path_segment(name: &str) -> Result<(), String> {
    if name == "." || name == ".." {
        return Err(format!("`{name}` is not allowed"));
    }
    if let Some(c) = name.chars().find(|c| *c == '/' || *c == '%') {
        return Err(format!("`{c}` is not allowed"));
    }
    Ok(())
}

/// The name rule the API server applies to `kind` in `group`.
pub fn check_object_name(group: &str, kind: &str, name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".into());
    }
    match (group, kind) {
        ("", "Namespace") | ("", "Service") => check_dns_label(name),
        ("rbac.authorization.k8s.io", _) => check_path_segment(name),
        _ => check_subdomain(name),
    }
}

/// RFC 1123 label: what Kubernetes accepts for namespaces and label-safe names.
pub fn check_dns_label(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".into());
    }
    if name.len() > 63 {
        return Err(format!("it is {} characters long", name.len()));
    }
    check_label_chars(name)
}

/// A key of a Secret's or ConfigMap's `data`, as the API server checks it.
pub fn check_config_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > 253 {
        return Err("it must be 1 to 253 characters long".into());
    }
    if key == "." || key == ".." {
        return Err(format!("it may not be `{key}`"));
    }
    match key
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-._".contains(*c)))
    {
        Some(c) => Err(format!("it holds `{c}`")),
        None => Ok(()),
    }
}

/// A `kind`: an identifier of ASCII letters and digits starting with an upper-case letter, as
/// every built-in and CRD kind is. Nothing else may reach a tree path.
pub fn check_kind(kind: &str) -> Result<(), String> {
    if !kind.starts_with(|c: char| c.is_ascii_uppercase()) {
        return Err("it must start with an upper-case letter".into());
    }
    if let Some(c) = kind.chars().find(|c| !c.is_ascii_alphanumeric()) {
        return Err(format!("`{c}` is not allowed: only letters and digits"));
    }
    Ok(())
}

/// An `apiVersion`: `[<group>/]<version>`, the group a DNS subdomain and the version a DNS
/// label (`v1`, `v2beta1`).
pub fn check_api_version(api_version: &str) -> Result<(), String> {
    let version = match api_version.split_once('/') {
        Some((group, version)) => {
            check_subdomain(group).map_err(|why| format!("group `{group}`: {why}"))?;
            version
        }
        None => api_version,
    };
    check_dns_label(version).map_err(|why| format!("version `{version}`: {why}"))
}

/// A label key (`[prefix/]name`) and value.
pub fn check_label(key: &str, value: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        check_subdomain(prefix).map_err(|why| format!("key prefix `{prefix}`: {why}"))?;
    }
    check_qualified(name).map_err(|why| format!("key `{key}`: {why}"))?;
    if !value.is_empty() {
        check_qualified(value).map_err(|why| format!("value `{value}`: {why}"))?;
    }
    Ok(())
}

/// A project name from a remote's URL (or any name): the last two segments of its path, so
/// `git@github.com:Acme/Shop.git` and `https://github.com/acme/shop` both give `acme.shop`;
/// lowercased, other characters made `-`, at most 63 characters. Empty when nothing is left.
pub fn project_of_url(url: &str) -> String {
    let path = url.trim_end_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    // `host:path` (scp-like) and `scheme://host/path` both end in the path.
    let path = path.rsplit_once(':').map_or(path, |(_, p)| p);
    let segments: Vec<String> = path
        .rsplit('/')
        .map(|segment| {
            let cleaned: String = segment
                .to_lowercase()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            cleaned.trim_matches('-').to_string()
        })
        .filter(|s| !s.is_empty())
        .take(2)
        .collect();
    let mut project: String = segments.into_iter().rev().collect::<Vec<_>>().join(".");
    project.truncate(63);
    project.trim_end_matches(['-', '.']).to_string()
}

fn check_qualified(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 63 {
        return Err("must be 1 to 63 characters".into());
    }
    let ok = |b: u8| b.is_ascii_alphanumeric();
    let bytes = s.as_bytes();
    if !ok(bytes[0]) || !ok(bytes[bytes.len() - 1]) {
        return Err("must start and end with a letter or digit".into());
    }
    if !bytes
        .iter()
        .all(|&b| ok(b) || b == b'-' || b == b'_' || b == b'.')
    {
        return Err("only letters, digits, `-`, `_` and `.` are allowed".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_follow_the_kind_rule() {
        assert!(check_object_name("apps", "Deployment", "web-1.v2").is_ok());
        assert!(check_object_name("apps", "Deployment", "Web").is_err());
        assert!(check_object_name("", "Service", "a.b").is_err());
        assert!(
            check_object_name("rbac.authorization.k8s.io", "ClusterRole", "system:view").is_ok()
        );
        assert!(check_object_name("", "ConfigMap", "").is_err());
        assert!(check_object_name("", "ConfigMap", &"a".repeat(254)).is_err());
    }

    #[test]
    fn kinds_and_api_versions() {
        for kind in ["Deployment", "ClusterIssuer", "V1Thing"] {
            assert!(check_kind(kind).is_ok(), "{kind}");
        }
        for kind in ["secret", "Config/Map", "Foo.Bar", "../X", "", "Dep loyment"] {
            assert!(check_kind(kind).is_err(), "{kind}");
        }
        for version in ["v1", "apps/v1", "cert-manager.io/v1alpha2"] {
            assert!(check_api_version(version).is_ok(), "{version}");
        }
        for version in [
            "../../../x/v1",
            "apps/",
            "/v1",
            "a/b/v1",
            "Apps/v1",
            "apps/V1",
            "",
        ] {
            assert!(check_api_version(version).is_err(), "{version}");
        }
    }

    #[test]
    fn projects_come_from_the_remote_path_whatever_the_host_or_scheme() {
        for url in [
            "git@github.com:Acme/Shop.git",
            "https://github.com/acme/shop",
            "ssh://git@github.com/acme/shop.git/",
        ] {
            assert_eq!(project_of_url(url), "acme.shop", "{url}");
        }
        assert_eq!(project_of_url("/tmp/.tmpAb_C/origin.git"), "tmpab-c.origin");
        assert_eq!(project_of_url("quickstart"), "quickstart");
        assert_eq!(project_of_url("///"), "");
        let long = project_of_url(&format!("x/{}-", "a".repeat(70)));
        assert!(check_subdomain(&long).is_ok() && long.len() <= 63, "{long}");
    }

    #[test]
    fn labels() {
        assert!(check_label("app.kubernetes.io/name", "web").is_ok());
        assert!(check_label("berth.dev/channel", "").is_ok());
        assert!(check_label("tier", "has space").is_err());
        assert!(check_label("Bad_Prefix/x", "v").is_err());
        assert!(check_label("x", &"v".repeat(64)).is_err());
    }
}
