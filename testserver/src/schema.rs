//! Typed view of objects from the recorded OpenAPI v3 documents: list types and map keys for
//! server-side apply, scalar types for the "failed to create typed patch object" errors, and
//! quantity fields for normalisation. Kinds without a schema (custom resources) are untyped.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};

use crate::recorded::recorded;

/// A schema node inside one OpenAPI document.
#[derive(Clone, Copy)]
pub struct Node<'a> {
    schemas: &'a Map<String, Value>,
    /// The node as written (may carry list extensions next to an `allOf`/`$ref`).
    outer: &'a Value,
    /// The node with `$ref`/`allOf` resolved.
    inner: &'a Value,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ListType {
    Atomic,
    Set,
    Map(Vec<String>),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scalar {
    String,
    Integer,
    Number,
    Boolean,
    IntOrString,
    Quantity,
    Any,
}

pub enum Shape<'a> {
    /// An object with named properties; `atomic` when `x-kubernetes-map-type: atomic`.
    Struct {
        atomic: bool,
    },
    /// An object with `additionalProperties`.
    Map {
        atomic: bool,
        elem: Option<Node<'a>>,
    },
    List {
        list_type: ListType,
        items: Option<Node<'a>>,
    },
    Scalar(Scalar),
    /// No schema information (preserve-unknown-fields or no type).
    Untyped,
}

fn resolve<'a>(schemas: &'a Map<String, Value>, mut v: &'a Value) -> &'a Value {
    for _ in 0..8 {
        if let Some(r) = v.get("$ref").and_then(Value::as_str) {
            let name = r.rsplit('/').next().unwrap_or(r);
            match schemas.get(name) {
                Some(t) => v = t,
                None => return v,
            }
        } else if let Some(all) = v.get("allOf").and_then(Value::as_array) {
            if all.len() == 1 {
                v = &all[0];
            } else {
                return v;
            }
        } else {
            return v;
        }
    }
    v
}

impl<'a> Node<'a> {
    fn new(schemas: &'a Map<String, Value>, outer: &'a Value) -> Self {
        Node {
            schemas,
            outer,
            inner: resolve(schemas, outer),
        }
    }

    fn ext(&self, key: &str) -> Option<&'a Value> {
        self.outer.get(key).or_else(|| self.inner.get(key))
    }

    fn ref_name(&self) -> Option<&'a str> {
        let mut v = self.outer;
        loop {
            if let Some(r) = v.get("$ref").and_then(Value::as_str) {
                return r.rsplit('/').next();
            }
            match v.get("allOf").and_then(Value::as_array) {
                Some(all) if all.len() == 1 => v = &all[0],
                _ => return None,
            }
        }
    }

    pub fn shape(&self) -> Shape<'a> {
        if let Some(name) = self.ref_name() {
            if name.ends_with("api.resource.Quantity") {
                return Shape::Scalar(Scalar::Quantity);
            }
            if name.ends_with("util.intstr.IntOrString") {
                return Shape::Scalar(Scalar::IntOrString);
            }
        }
        let inner = self.inner;
        if inner
            .get("x-kubernetes-preserve-unknown-fields")
            .and_then(Value::as_bool)
            == Some(true)
        {
            return Shape::Untyped;
        }
        if inner.get("format").and_then(Value::as_str) == Some("int-or-string")
            || inner
                .get("x-kubernetes-int-or-string")
                .and_then(Value::as_bool)
                == Some(true)
        {
            return Shape::Scalar(Scalar::IntOrString);
        }
        let atomic = self.ext("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic");
        match inner.get("type").and_then(Value::as_str) {
            Some("object") | None if inner.get("properties").is_some() => Shape::Struct { atomic },
            Some("object") => match inner.get("additionalProperties") {
                Some(ap) if ap.is_object() => Shape::Map {
                    atomic,
                    elem: Some(Node::new(self.schemas, ap)),
                },
                _ => Shape::Map { atomic, elem: None },
            },
            Some("array") => {
                let items = inner.get("items").map(|i| Node::new(self.schemas, i));
                let lt = match self.ext("x-kubernetes-list-type").and_then(Value::as_str) {
                    Some("map") => ListType::Map(
                        self.ext("x-kubernetes-list-map-keys")
                            .and_then(Value::as_array)
                            .map(|a| {
                                a.iter()
                                    .filter_map(|k| k.as_str().map(String::from))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    ),
                    Some("set") => ListType::Set,
                    Some(_) => ListType::Atomic,
                    None => match (
                        self.ext("x-kubernetes-patch-strategy")
                            .and_then(Value::as_str),
                        self.ext("x-kubernetes-patch-merge-key")
                            .and_then(Value::as_str),
                    ) {
                        (Some(s), Some(k)) if s.contains("merge") => {
                            ListType::Map(vec![k.to_string()])
                        }
                        _ => ListType::Atomic,
                    },
                };
                Shape::List {
                    list_type: lt,
                    items,
                }
            }
            Some("string") => Shape::Scalar(Scalar::String),
            Some("integer") => Shape::Scalar(Scalar::Integer),
            Some("number") => Shape::Scalar(Scalar::Number),
            Some("boolean") => Shape::Scalar(Scalar::Boolean),
            _ => {
                if inner.get("oneOf").is_some() || inner.get("anyOf").is_some() {
                    Shape::Scalar(Scalar::Any)
                } else {
                    Shape::Untyped
                }
            }
        }
    }

    /// The schema of property `key` of a struct (None when not declared).
    pub fn prop(&self, key: &str) -> Option<Node<'a>> {
        self.inner
            .get("properties")
            .and_then(|p| p.get(key))
            .map(|p| Node::new(self.schemas, p))
    }

    pub fn has_props(&self) -> bool {
        self.inner.get("properties").is_some()
    }

    pub fn required(&self, key: &str) -> bool {
        self.inner
            .get("required")
            .and_then(Value::as_array)
            .is_some_and(|r| r.iter().any(|x| x.as_str() == Some(key)))
    }

    /// The default of property `key`, if the schema declares one.
    pub fn prop_default(&self, key: &str) -> Option<&'a Value> {
        self.inner.get("properties")?.get(key)?.get("default")
    }
}

type GvkKey = (String, String, String);

struct TypeIndex {
    docs: Vec<Arc<Value>>,
    by_gvk: HashMap<GvkKey, (usize, String)>,
}

static INDEX: OnceLock<TypeIndex> = OnceLock::new();

fn index() -> &'static TypeIndex {
    INDEX.get_or_init(|| {
        let mut docs = Vec::new();
        let mut by_gvk = HashMap::new();
        let mut keys: Vec<_> = recorded().openapi.keys().cloned().collect();
        keys.sort();
        for key in keys {
            let doc = recorded().openapi[&key].clone();
            let idx = docs.len();
            if let Some(schemas) = doc
                .pointer("/components/schemas")
                .and_then(Value::as_object)
            {
                for (name, s) in schemas {
                    if let Some(gvks) = s
                        .get("x-kubernetes-group-version-kind")
                        .and_then(Value::as_array)
                    {
                        for g in gvks {
                            let k = (
                                g["group"].as_str().unwrap_or_default().to_string(),
                                g["version"].as_str().unwrap_or_default().to_string(),
                                g["kind"].as_str().unwrap_or_default().to_string(),
                            );
                            // Prefer the document of the kind's own group-version.
                            let own = key.ends_with(&format!("/{}", k.1))
                                && (k.0.is_empty() && key.starts_with("api/")
                                    || key.contains(&format!("/{}/", k.0)));
                            if own || !by_gvk.contains_key(&k) {
                                by_gvk.insert(k, (idx, name.clone()));
                            }
                        }
                    }
                }
            }
            docs.push(doc);
        }
        TypeIndex { docs, by_gvk }
    })
}

/// The schema of a built-in kind, if the recordings have its OpenAPI document.
pub fn root(group: &str, version: &str, kind: &str) -> Option<Node<'static>> {
    let ix = index();
    let (doc, name) = ix
        .by_gvk
        .get(&(group.to_string(), version.to_string(), kind.to_string()))?;
    let schemas = ix.docs[*doc].pointer("/components/schemas")?.as_object()?;
    Some(Node::new(schemas, schemas.get(name)?))
}

pub fn child<'a>(node: Option<Node<'a>>, key: &str) -> Option<Node<'a>> {
    let n = node?;
    match n.shape() {
        Shape::Struct { .. } => n.prop(key),
        Shape::Map { elem, .. } => elem,
        _ => None,
    }
}

pub fn items(node: Option<Node<'_>>) -> Option<Node<'_>> {
    match node?.shape() {
        Shape::List { items, .. } => items,
        _ => None,
    }
}

/// Shape of a node, `Untyped` when there is no schema.
pub fn shape_of(node: Option<Node<'_>>) -> Shape<'_> {
    node.map(|n| n.shape()).unwrap_or(Shape::Untyped)
}

/// Go's `%#v`-ish rendering of an unstructured value, as in the typed-patch error messages.
fn go_value(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Array(_) => "[]interface {}{...}".into(),
        Value::Object(_) => "map[string]interface {}{...}".into(),
    }
}

fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// Path element for a list item in error messages / conflict fields (`[name="web"]`).
pub fn item_path(item: &Value, keys: &[String], idx: usize, item_node: Option<Node<'_>>) -> String {
    if keys.is_empty() {
        return format!("[{idx}]");
    }
    let parts: Vec<String> = keys
        .iter()
        .filter_map(|k| {
            let v = item
                .get(k)
                .cloned()
                .or_else(|| item_node.and_then(|n| n.prop_default(k).cloned()))?;
            Some(format!(
                "{k}={}",
                serde_json::to_string(&v).unwrap_or_default()
            ))
        })
        .collect();
    format!("[{}]", parts.join(","))
}

/// Check a value against the schema the way the typed-patch conversion does.
pub fn validate(value: &Value, node: Option<Node<'_>>, path: &str, errs: &mut Vec<String>) {
    if value.is_null() {
        return;
    }
    let Some(n) = node else { return };
    match n.shape() {
        Shape::Struct { .. } => {
            let Some(obj) = value.as_object() else {
                errs.push(format!("{path}: expected map, got {}", go_value(value)));
                return;
            };
            for (k, v) in obj {
                match n.prop(k) {
                    Some(c) => validate(v, Some(c), &format!("{path}.{k}"), errs),
                    None => errs.push(format!("{path}.{k}: field not declared in schema")),
                }
            }
        }
        Shape::Map { elem, .. } => {
            let Some(obj) = value.as_object() else {
                errs.push(format!("{path}: expected map, got {}", go_value(value)));
                return;
            };
            for (k, v) in obj {
                validate(v, elem, &format!("{path}.{k}"), errs);
            }
        }
        Shape::List { list_type, items } => {
            let Some(arr) = value.as_array() else {
                errs.push(format!("{path}: expected list, got {}", go_value(value)));
                return;
            };
            let keys = match &list_type {
                ListType::Map(k) => k.clone(),
                _ => Vec::new(),
            };
            for (i, it) in arr.iter().enumerate() {
                let p = format!("{path}{}", item_path(it, &keys, i, items));
                validate(it, items, &p, errs);
            }
        }
        Shape::Scalar(s) => {
            let ok = match s {
                Scalar::String => value.is_string(),
                Scalar::Integer | Scalar::Number => value.is_number(),
                Scalar::Boolean => value.is_boolean(),
                Scalar::IntOrString => value.is_string() || value.is_i64() || value.is_u64(),
                Scalar::Quantity => value.is_string() || value.is_number(),
                Scalar::Any => true,
            };
            if !ok {
                errs.push(match s {
                    Scalar::String => format!(
                        "{path}: expected string, got &value.valueUnstructured{{Value:{}}}",
                        go_value(value)
                    ),
                    Scalar::Integer | Scalar::Number => {
                        format!(
                            "{path}: expected numeric (int or float), got {}",
                            go_type(value)
                        )
                    }
                    Scalar::Boolean => format!(
                        "{path}: expected boolean, got &value.valueUnstructured{{Value:{}}}",
                        go_value(value)
                    ),
                    _ => format!("{path}: expected string or number, got {}", go_type(value)),
                });
            }
        }
        Shape::Untyped => {}
    }
}

/// Rewrite every quantity field into its canonical form.
pub fn normalise_quantities(value: &mut Value, node: Option<Node<'_>>) {
    let Some(n) = node else { return };
    match n.shape() {
        Shape::Scalar(Scalar::Quantity) => {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(num) => num.to_string(),
                _ => return,
            };
            if let Some(c) = crate::quantity::canonical(&text) {
                *value = Value::String(c);
            }
        }
        Shape::Struct { .. } => {
            if let Some(obj) = value.as_object_mut() {
                for (k, v) in obj.iter_mut() {
                    normalise_quantities(v, n.prop(k));
                }
            }
        }
        Shape::Map { elem, .. } => {
            if let Some(obj) = value.as_object_mut() {
                for v in obj.values_mut() {
                    normalise_quantities(v, elem);
                }
            }
        }
        Shape::List { items, .. } => {
            if let Some(arr) = value.as_array_mut() {
                for v in arr {
                    normalise_quantities(v, items);
                }
            }
        }
        _ => {}
    }
}
