//! The vocabulary every stage speaks about Kubernetes objects: one key type ([`ObjectKey`]),
//! an object read from a rendered tree ([`TreeObject`]), apiVersion parts, berth's labels,
//! annotations and field manager, name rules and image references. It imports nothing else of
//! berth, so every stage can use it (as kube-core sits under kube's client).

pub mod hook;
pub mod image;
pub mod names;
pub mod quantity;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::fmt;

/// `app.kubernetes.io/managed-by: berth` on every object berth renders.
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// The channel an object belongs to: only that channel's apply may prune it.
pub const LABEL_CHANNEL: &str = "berth.dev/channel";
/// The project (repository) an object belongs to: only that project's applies may change or
/// prune it, whatever the channel is called.
pub const LABEL_PROJECT: &str = "berth.dev/project";
/// The app of berth.yaml an object was rendered from.
pub const LABEL_APP: &str = "berth.dev/app";
/// `berth.dev/prune: disabled` on a live object keeps it when it leaves the release.
pub const PRUNE_ANNOTATION: &str = "berth.dev/prune";
/// The annotation `kubectl apply` leaves behind: it repeats the whole object, Secrets included.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// The field manager of every berth write and dry run: diff and apply never conflict with
/// each other.
pub const FIELD_MANAGER: &str = "berth";
/// Directory of cluster-scoped objects in the rendered tree.
pub const CLUSTER_DIR: &str = "_cluster";

/// The group of an `apiVersion` (`apps/v1` → `apps`, `v1` → `""`).
pub fn group_of(api_version: &str) -> &str {
    split_api_version(api_version).0
}

/// `apps/v1` → `("apps", "v1")`, `v1` → `("", "v1")`.
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

/// Identity of an object in a rendered tree: `<namespace>/<Kind>[.<group>]/<name>`, the
/// tree path without `.yaml`, used in every message. Parsed and formatted here only; ordered
/// as its text, so everything sorted by key lists in tree order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    text: String,
    namespace_len: usize,
    kind_len: usize,
    group_len: usize,
}

impl ObjectKey {
    /// `namespace` is `None` for cluster-scoped objects.
    pub fn new(group: &str, kind: &str, namespace: Option<&str>, name: &str) -> Self {
        let namespace = namespace.unwrap_or(CLUSTER_DIR);
        let text = if group.is_empty() {
            format!("{namespace}/{kind}/{name}")
        } else {
            format!("{namespace}/{kind}.{group}/{name}")
        };
        ObjectKey {
            text,
            namespace_len: namespace.len(),
            kind_len: kind.len(),
            group_len: group.len(),
        }
    }

    /// The key of an object body, as the rendered tree would file it (its namespace as
    /// written: the caller decides scope).
    pub fn of(object: &Value) -> Self {
        let str_at = |pointer: &str| object.pointer(pointer).and_then(Value::as_str);
        ObjectKey::new(
            group_of(str_at("/apiVersion").unwrap_or("")),
            str_at("/kind").unwrap_or(""),
            str_at("/metadata/namespace"),
            str_at("/metadata/name").unwrap_or(""),
        )
    }

    /// A key from parts that may hold anything: each checked, so that the key and the tree path
    /// made of it hold only a namespace, a kind, a group and a name (never `..` or a `/` too
    /// many). Names get the loosest rule the API server has for any kind.
    pub fn checked(
        group: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Self, String> {
        if !group.is_empty() {
            names::check_subdomain(group).map_err(|why| format!("group `{group}`: {why}"))?;
        }
        names::check_kind(kind).map_err(|why| format!("kind `{kind}`: {why}"))?;
        if let Some(namespace) = namespace {
            names::check_dns_label(namespace)
                .map_err(|why| format!("namespace `{namespace}`: {why}"))?;
        }
        if name.is_empty() {
            return Err("the name is empty".into());
        }
        names::check_path_segment(name).map_err(|why| format!("name `{name}`: {why}"))?;
        Ok(ObjectKey::new(group, kind, namespace, name))
    }

    /// Parse `<namespace>/<Kind>[.<group>]/<name>`: what [`ObjectKey::checked`] accepts, so
    /// nothing render would refuse.
    pub fn parse(key: &str) -> Option<Self> {
        let mut parts = key.splitn(3, '/');
        let (namespace, kind_group, name) = (parts.next()?, parts.next()?, parts.next()?);
        let (kind, group) = kind_group.split_once('.').unwrap_or((kind_group, ""));
        let namespace = (namespace != CLUSTER_DIR).then_some(namespace);
        ObjectKey::checked(group, kind, namespace, name).ok()
    }

    /// The key of a file of the rendered tree (`<key>.yaml`); `None` for berth's own files
    /// and anything that is not an object's file.
    pub fn from_path(path: &str) -> Option<Self> {
        ObjectKey::parse(path.strip_suffix(".yaml")?)
    }

    /// Where the object lives in the rendered tree: `<key>.yaml`.
    pub fn tree_path(&self) -> String {
        format!("{}.yaml", self.text)
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `None` for cluster-scoped objects.
    pub fn namespace(&self) -> Option<&str> {
        let namespace = &self.text[..self.namespace_len];
        (namespace != CLUSTER_DIR).then_some(namespace)
    }

    pub fn kind(&self) -> &str {
        let start = self.namespace_len + 1;
        &self.text[start..start + self.kind_len]
    }

    /// `""` for the core group.
    pub fn group(&self) -> &str {
        if self.group_len == 0 {
            return "";
        }
        let start = self.namespace_len + 1 + self.kind_len + 1;
        &self.text[start..start + self.group_len]
    }

    pub fn name(&self) -> &str {
        let kind_group = self.kind_len
            + if self.group_len > 0 {
                1 + self.group_len
            } else {
                0
            };
        &self.text[self.namespace_len + 1 + kind_group + 1..]
    }

    /// A core-group Secret (whose values berth never shows).
    pub fn is_secret(&self) -> bool {
        self.group_len == 0 && self.kind() == "Secret"
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Keys are their text in every report and record.
impl Serialize for ObjectKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for ObjectKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ObjectKey::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{text}` is not an object key (<namespace>/<Kind>[.<group>]/<name>)"
            ))
        })
    }
}

/// An object of a rendered tree (or of an inventory: then only its identity is known).
#[derive(Debug, Clone)]
pub struct TreeObject {
    pub key: ObjectKey,
    pub app: Option<String>,
    pub body: Value,
}

impl TreeObject {
    /// Only the identity of an object, enough to GET or DELETE it: an inventory entry.
    pub fn identity(key: ObjectKey, api_version: &str) -> Self {
        let mut metadata = serde_json::json!({"name": key.name()});
        if let Some(namespace) = key.namespace() {
            metadata["namespace"] = Value::String(namespace.to_string());
        }
        let body = serde_json::json!({"apiVersion": api_version, "kind": key.kind(), "metadata": metadata});
        TreeObject {
            key,
            app: None,
            body,
        }
    }

    /// Its file in the rendered tree.
    pub fn file(&self) -> String {
        self.key.tree_path()
    }

    pub fn api_version(&self) -> &str {
        self.body["apiVersion"].as_str().unwrap_or("")
    }

    pub fn kind(&self) -> &str {
        self.body["kind"].as_str().unwrap_or("")
    }

    pub fn name(&self) -> &str {
        self.body["metadata"]["name"].as_str().unwrap_or("")
    }

    pub fn namespace(&self) -> Option<&str> {
        self.body["metadata"]["namespace"].as_str()
    }

    pub fn is_secret(&self) -> bool {
        is_secret(&self.body)
    }
}

/// A core-group Secret.
pub fn is_secret(object: &Value) -> bool {
    object["kind"] == "Secret" && object["apiVersion"] == "v1"
}

/// One label of an object.
pub fn label<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object["metadata"]["labels"][key].as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_and_format_in_one_place() {
        for text in [
            "shop/Deployment.apps/web",
            "_cluster/Namespace/shop",
            "ns/ClusterIssuer.cert-manager.io/x.y",
            "ns/ConfigMap/a",
        ] {
            let key = ObjectKey::parse(text).unwrap();
            assert_eq!(key.to_string(), text);
            assert_eq!(
                ObjectKey::new(key.group(), key.kind(), key.namespace(), key.name()),
                key
            );
            assert_eq!(ObjectKey::from_path(&key.tree_path()), Some(key));
        }
        let key = ObjectKey::parse("shop/Deployment.apps/web").unwrap();
        assert_eq!(
            (key.namespace(), key.kind(), key.group(), key.name()),
            (Some("shop"), "Deployment", "apps", "web")
        );
        let namespace = ObjectKey::parse("_cluster/Namespace/shop").unwrap();
        assert_eq!((namespace.namespace(), namespace.group()), (None, ""));
        assert!(ObjectKey::parse("a/b").is_none());
        assert!(ObjectKey::parse("a/b/c/d").is_none());
        for escape in [
            "ns/ConfigMap/..",
            "../ConfigMap/a",
            "ns/Config..x/a",
            "ns/ConfigMap.../a",
            "ns/configMap/a",
            "ns/ConfigMap.Ex/a",
            "_cluster/Namespace/.",
        ] {
            assert!(ObjectKey::parse(escape).is_none(), "{escape}");
        }
        assert!(ObjectKey::from_path(".berth/release.yaml").is_none());
        assert!(ObjectKey::parse("ns/Secret/s").unwrap().is_secret());
        assert!(
            !ObjectKey::parse("ns/Secret.example.com/s")
                .unwrap()
                .is_secret()
        );
    }

    #[test]
    fn keys_sort_as_their_text() {
        let mut keys: Vec<ObjectKey> = ["a/X/b", "a-b/X/c", "_cluster/Y/a", "a/X.g/a"]
            .iter()
            .map(|k| ObjectKey::parse(k).unwrap())
            .collect();
        keys.sort();
        let mut texts = vec!["a/X/b", "a-b/X/c", "_cluster/Y/a", "a/X.g/a"];
        texts.sort();
        assert_eq!(
            keys.iter().map(ObjectKey::as_str).collect::<Vec<_>>(),
            texts
        );
    }

    #[test]
    fn inventory_identities_address_the_object() {
        let object = TreeObject::identity(
            ObjectKey::parse("shop/Deployment.apps/web").unwrap(),
            "apps/v1",
        );
        assert_eq!(
            object.body,
            serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}})
        );
        assert_eq!(ObjectKey::of(&object.body), object.key);
    }
}
