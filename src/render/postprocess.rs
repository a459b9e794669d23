//! One pass over every driver's output: check each document is an object berth can manage,
//! set namespaces, add berth's labels, apply image pins, refuse inline Secrets and duplicates,
//! and make the object canonical.

use super::kinds::{Scopes, built_in_kinds};
use super::{Manifest, RenderedObject};
use crate::config::{App, Channel, Config, ImagePin};
use crate::error::{Problem, Problems};
use crate::object::image::ImageRef;
use crate::object::names::{self, check_dns_label};
use crate::object::{
    LABEL_APP, LABEL_CHANNEL, LABEL_MANAGED_BY, LABEL_PROJECT, LAST_APPLIED, ObjectKey, group_of,
};
use rayon::prelude::*;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// The channel's objects, and warnings about what berth had to assume.
pub fn run(
    config: &Config,
    channel: &Channel,
    per_app: &[(&App, &[Manifest])],
) -> Result<(Vec<RenderedObject>, Vec<Problem>), Problems> {
    let mut work: Vec<(&App, Manifest)> = Vec::new();
    for (app, manifests) in per_app {
        for manifest in manifests.iter() {
            expand_lists(manifest, &mut |m| work.push((app, m)));
        }
    }
    let scopes = Scopes::new(
        &config.defaults.cluster_scoped,
        work.iter().map(|(_, m)| &m.value),
    );
    let processed: Vec<Result<RenderedObject, Problem>> = work
        .into_par_iter()
        .map(|(app, manifest)| object(config, channel, app, manifest, &scopes))
        .collect();

    let mut problems = Vec::new();
    let mut objects: Vec<RenderedObject> = Vec::with_capacity(processed.len());
    let mut seen: HashMap<ObjectKey, usize> = HashMap::new();
    for result in processed {
        match result {
            Ok(object) => {
                if let Some(&first) = seen.get(&object.key) {
                    let first: &RenderedObject = &objects[first];
                    problems.push(
                        Problem::new(format!(
                            "{} is rendered twice: by app {} ({}) and by app {} ({})",
                            object.key, first.app, first.origin, object.app, object.origin
                        ))
                        .at(object.origin.clone())
                        .app(&object.app)
                        .hint("each object must come from one place; remove one of them or give them different names"),
                    );
                } else {
                    seen.insert(object.key.clone(), objects.len());
                    objects.push(object);
                }
            }
            Err(problem) => problems.push(problem),
        }
    }
    Problems::check(problems)?;
    objects.sort_by_cached_key(|o| o.key.to_string());
    let warnings = unknown_scopes(&objects, &scopes);
    Ok((objects, warnings))
}

/// One warning per custom kind whose scope berth does not know and took for namespaced: if
/// it is cluster-scoped, the tree shows a namespace the object will not have.
fn unknown_scopes(objects: &[RenderedObject], scopes: &Scopes) -> Vec<Problem> {
    let mut warned = std::collections::BTreeSet::new();
    objects
        .iter()
        .filter(|o| o.key.namespace().is_some())
        .filter(|o| {
            let api_version = o.body["apiVersion"].as_str().unwrap_or_default();
            built_in_kinds(api_version).is_none()
                && !scopes.is_known(o.key.group(), o.key.kind())
                && warned.insert((o.key.group().to_string(), o.key.kind().to_string()))
        })
        .map(|o| {
            Problem::new(format!(
                "the scope of {}.{} is unknown (its CustomResourceDefinition is not in this \
                 render): taken as namespaced, so {} is placed in namespace `{}`",
                o.key.kind(),
                o.key.group(),
                o.key,
                o.key.namespace().unwrap_or_default()
            ))
            .at(o.origin.clone())
            .app(&o.app)
            .hint("if the kind is cluster-scoped, add it to defaults.clusterScoped in berth.yaml")
        })
        .collect()
}

/// `kind: List` (what `kubectl get -o yaml` writes) holds its objects in `items`.
fn expand_lists(manifest: &Manifest, push: &mut impl FnMut(Manifest)) {
    let is_list = manifest.value["apiVersion"] == "v1"
        && manifest.value["kind"]
            .as_str()
            .is_some_and(|k| k.ends_with("List"))
        && manifest.value["items"].is_array();
    if is_list {
        for item in manifest.value["items"].as_array().into_iter().flatten() {
            push(Manifest {
                origin: manifest.origin.clone(),
                value: item.clone(),
            });
        }
    } else {
        push(manifest.clone());
    }
}

fn object(
    config: &Config,
    channel: &Channel,
    app: &App,
    manifest: Manifest,
    scopes: &Scopes,
) -> Result<RenderedObject, Problem> {
    let Manifest { origin, mut value } = manifest;
    let fail = |message: String, hint: &str| {
        Problem::new(message)
            .at(origin.clone())
            .app(&app.name)
            .hint(hint.to_string())
    };
    let Value::Object(map) = &mut value else {
        return Err(fail(
            format!(
                "a document must be a Kubernetes object, found {}",
                type_name(&value)
            ),
            "each YAML document needs apiVersion, kind and metadata.name",
        ));
    };
    let api_version =
        string_field(map, "apiVersion").map_err(|m| fail(m, "e.g. `apiVersion: apps/v1`"))?;
    let kind = string_field(map, "kind").map_err(|m| fail(m, "e.g. `kind: Deployment`"))?;
    // Both become parts of the object's path in the tree: nothing but an identifier and a
    // group may get there.
    names::check_api_version(&api_version).map_err(|why| {
        fail(
            format!("apiVersion `{api_version}` is invalid: {why}"),
            "an apiVersion is `v1` or `<group>/<version>`, e.g. `apps/v1`",
        )
    })?;
    // A list whose `items` are a list was expanded already (`expand_lists`).
    if api_version == "v1" && kind.ends_with("List") {
        return Err(fail(
            format!(
                "`{kind}` must hold its objects in `items`, a list; found {}",
                type_name(&map.get("items").cloned().unwrap_or(Value::Null))
            ),
            "write each object under `items:` as a `- ` entry, as `kubectl get -o yaml` does",
        ));
    }
    if let Some(kinds) = built_in_kinds(&api_version)
        && !kinds.contains(&kind.as_str())
    {
        let hint = match kinds.iter().find(|k| k.eq_ignore_ascii_case(&kind)) {
            Some(known) => format!("did you mean `kind: {known}`?"),
            None => format!("{api_version} serves: {}", kinds.join(", ")),
        };
        return Err(fail(format!("`{api_version}` has no kind `{kind}`"), &hint));
    }
    names::check_kind(&kind).map_err(|why| {
        fail(
            format!("kind `{kind}` is invalid: {why}"),
            "a kind is a name such as `Deployment` or `ConfigMap`",
        )
    })?;
    let metadata = match map.get_mut("metadata") {
        Some(Value::Object(metadata)) => metadata,
        _ => {
            return Err(fail(
                format!("{kind} has no metadata"),
                "add `metadata: {name: …}`",
            ));
        }
    };
    let name = match metadata.get("name") {
        Some(Value::String(name)) if !name.is_empty() => name.clone(),
        _ if metadata.contains_key("generateName") => {
            return Err(fail(
                format!("{kind} uses metadata.generateName"),
                "berth applies objects by name; give it a fixed metadata.name",
            ));
        }
        _ => {
            return Err(fail(
                format!("{kind} has no metadata.name"),
                "every object needs a name",
            ));
        }
    };
    let group = group_of(&api_version).to_string();
    if let Err(why) = names::check_object_name(&group, &kind, &name) {
        return Err(fail(
            format!("{kind} name `{name}` is invalid: {why}"),
            "Kubernetes names are lowercase letters, digits, `-` and `.`, at most 253 characters",
        ));
    }

    let namespace = if scopes.is_cluster_scoped(&group, &kind) {
        // The API server ignores a namespace on cluster-scoped objects; so does berth.
        metadata.remove("namespace");
        None
    } else {
        let namespace = match metadata.get("namespace") {
            Some(Value::String(ns)) if !ns.is_empty() => ns.clone(),
            Some(Value::String(_)) | Some(Value::Null) | None => {
                app.in_channel(&channel.name).namespace.clone()
            }
            Some(other) => {
                return Err(fail(
                    format!(
                        "{kind} {name}: metadata.namespace must be a string, found {}",
                        type_name(other)
                    ),
                    "write the namespace as a string",
                ));
            }
        };
        if let Err(why) = check_dns_label(&namespace) {
            return Err(fail(
                format!("{kind} {name}: namespace `{namespace}` is invalid: {why}"),
                "namespaces are DNS labels: lowercase letters, digits and `-`",
            ));
        }
        metadata.insert("namespace".into(), Value::String(namespace.clone()));
        Some(namespace)
    };
    let key = ObjectKey::checked(&group, &kind, namespace.as_deref(), &name).map_err(|why| {
        fail(
            format!("{kind} {name} cannot be filed in the rendered tree: {why}"),
            "names are lowercase letters, digits, `-` and `.`",
        )
    })?;

    // Never applied, and only noise in a diff.
    if metadata.get("creationTimestamp") == Some(&Value::Null) {
        metadata.remove("creationTimestamp");
    }
    // Checked before berth.yaml's labels join them (those are checked with berth.yaml), so a
    // bad one is reported against its own file rather than by the API server at diff time.
    check_metadata(metadata).map_err(|(m, hint)| fail(m, hint).object(key.to_string()))?;
    set_labels(metadata, config, channel, app)
        .map_err(|m| fail(m, "labels are maps of strings").object(key.to_string()))?;
    // kubectl's copy of the whole object as last applied (`kubectl get -o yaml` keeps it): berth
    // applies server-side and never reads it. On a Secret it repeats the values, which are then
    // in the source already: refused, so the author knows. Elsewhere it is dropped.
    let annotations = metadata
        .get_mut("annotations")
        .and_then(Value::as_object_mut);
    if let Some(annotations) = annotations
        && annotations.contains_key(LAST_APPLIED)
    {
        if key.is_secret() {
            return Err(Problem::new(format!(
                "Secret carries the annotation {LAST_APPLIED}, which repeats its values: \
                 Secret values must never be committed to git"
            ))
            .at(origin.clone())
            .app(&app.name)
            .object(key.to_string())
            .hint(
                "remove the annotation (kubectl apply leaves it; `kubectl get -o yaml` copies it), \
                 and the values from the repository's history",
            ));
        }
        annotations.remove(LAST_APPLIED);
        if annotations.is_empty() {
            metadata.remove("annotations");
        }
    }
    map.remove("status");

    if key.is_secret() {
        let inline: Vec<&str> = ["data", "stringData"]
            .into_iter()
            .filter(|field| map.get(*field).is_some_and(|v| !is_empty(v)))
            .collect();
        // A Helm app's Secret may hold the placeholders of its `secretValues:`, and only them.
        let placeholders: Vec<String> = app
            .secret_values_in(&channel.name)
            .iter()
            .map(|v| v.placeholder())
            .collect();
        let only_placeholders = !placeholders.is_empty()
            && crate::secret::placeholder::only_placeholders(map, &placeholders);
        if !inline.is_empty() && !only_placeholders {
            return Err(Problem::new(format!(
                "Secret carries inline {}: Secret values must never be committed to git",
                inline.join(" and ")
            ))
            .at(origin.clone())
            .app(&app.name)
            .object(key.to_string())
            .hint(
                "remove the Secret from the manifests and declare it under the app's `secrets:` \
                 in berth.yaml: external secret sources (env, file, command or sops) per key",
            ));
        }
    }

    if !channel.images.is_empty() {
        pin_images(&mut value, &channel.images);
    }
    if is_built_in(key.group()) {
        canonical_quantities(&mut value, key.kind());
    }
    crate::yaml::canonicalize_object(&mut value);
    Ok(RenderedObject {
        key,
        app: app.name.clone(),
        origin,
        body: value,
    })
}

fn string_field(map: &Map<String, Value>, field: &str) -> Result<String, String> {
    match map.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(other) if !other.is_null() => Err(format!(
            "`{field}` must be a string, found {}",
            type_name(other)
        )),
        _ => Err(format!("the document has no `{field}`")),
    }
}

/// Labels and annotations as the API server checks them: maps of strings, label keys and
/// values of the label syntax, annotation keys of the key syntax.
fn check_metadata(metadata: &Map<String, Value>) -> Result<(), (String, &'static str)> {
    const LABEL_HINT: &str = "label values are strings (quote numbers and booleans) of at most 63 \
                              letters, digits, `-`, `_` and `.`";
    const ANNOTATION_HINT: &str = "annotation values are strings: quote numbers and booleans";
    for (field, hint) in [("labels", LABEL_HINT), ("annotations", ANNOTATION_HINT)] {
        let entries = match metadata.get(field) {
            None | Some(Value::Null) => continue,
            Some(Value::Object(entries)) => entries,
            Some(other) => {
                return Err((
                    format!("metadata.{field} must be a map, found {}", type_name(other)),
                    hint,
                ));
            }
        };
        for (key, value) in entries {
            let Value::String(text) = value else {
                return Err((
                    format!(
                        "metadata.{field}: `{key}` must be a string, found {}",
                        type_name(value)
                    ),
                    hint,
                ));
            };
            // An annotation's key follows the label key rule; its value is free text.
            let checked = if field == "labels" {
                names::check_label(key, text)
            } else {
                names::check_label(key, "")
            };
            checked
                .map_err(|why| (format!("metadata.{field}: `{key}` is invalid: {why}"), hint))?;
        }
    }
    Ok(())
}

fn set_labels(
    metadata: &mut Map<String, Value>,
    config: &Config,
    channel: &Channel,
    app: &App,
) -> Result<(), String> {
    let labels = metadata
        .entry("labels")
        .or_insert_with(|| Value::Object(Map::new()));
    if labels.is_null() {
        *labels = Value::Object(Map::new());
    }
    let Value::Object(labels) = labels else {
        return Err("metadata.labels must be a map".into());
    };
    // The object's own labels win over berth.yaml's defaults; berth's own labels always hold.
    for (k, v) in config.defaults.labels.iter().chain(&app.labels) {
        labels
            .entry(k.clone())
            .or_insert_with(|| Value::String(v.clone()));
    }
    labels.insert(LABEL_MANAGED_BY.into(), "berth".into());
    labels.insert(LABEL_PROJECT.into(), config.project.clone().into());
    labels.insert(LABEL_CHANNEL.into(), channel.name.clone().into());
    labels.insert(LABEL_APP.into(), app.name.clone().into());
    Ok(())
}

/// Rewrite `image:` of every container, as kustomize's images transformer does.
fn pin_images(value: &mut Value, pins: &[ImagePin]) {
    crate::object::image::visit_images(value, &mut |image| {
        if let Some(pinned) = pinned_image(image, pins) {
            *image = pinned;
        }
    });
}

/// Kubernetes' own API groups, whose quantity fields berth knows.
fn is_built_in(group: &str) -> bool {
    group.is_empty()
        || group.ends_with(".k8s.io")
        || matches!(group, "apps" | "batch" | "autoscaling" | "policy")
}

/// Write resource quantities as the API server stores them (`cpu: 1` → `"1"`, `1000m` → `"1"`),
/// so the rendered tree shows what the cluster will hold, and an integer never conflicts with
/// the string another manager applied. Quantities the server would refuse are left for it to say.
fn canonical_quantities(value: &mut Value, kind: &str) {
    let canonical = |quantity: &mut Value| {
        let text = match quantity {
            Value::String(text) => text.clone(),
            Value::Number(number) => number.to_string(),
            _ => return,
        };
        if let Some(canonical) = crate::object::quantity::canonical(&text) {
            *quantity = Value::String(canonical);
        }
    };
    let all_of = |map: Option<&mut Value>| {
        if let Some(Value::Object(map)) = map {
            map.values_mut().for_each(canonical);
        }
    };
    match kind {
        "ResourceQuota" => all_of(value.pointer_mut("/spec/hard")),
        "LimitRange" => {
            for limit in value
                .pointer_mut("/spec/limits")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                for field in [
                    "max",
                    "min",
                    "default",
                    "defaultRequest",
                    "maxLimitRequestRatio",
                ] {
                    all_of(limit.get_mut(field));
                }
            }
        }
        _ => {}
    }
    quantities_below(value, &canonical);
}

/// `resources.requests`/`limits`, `overhead` and `sizeLimit` wherever they are (pod specs sit
/// at different depths in every workload kind).
fn quantities_below(value: &mut Value, canonical: &dyn Fn(&mut Value)) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                match (key.as_str(), &mut *child) {
                    ("resources", Value::Object(resources)) => {
                        for field in ["requests", "limits"] {
                            if let Some(Value::Object(map)) = resources.get_mut(field) {
                                map.values_mut().for_each(canonical);
                            }
                        }
                    }
                    ("overhead", Value::Object(map)) => map.values_mut().for_each(canonical),
                    ("sizeLimit", quantity) => canonical(quantity),
                    _ => {}
                }
                quantities_below(child, canonical);
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|i| quantities_below(i, canonical)),
        _ => {}
    }
}

/// The image reference `pins` turn `image` into, if one applies.
pub fn pinned_image(image: &str, pins: &[ImagePin]) -> Option<String> {
    let ImageRef { name, tag, digest } = ImageRef::parse(image);
    let pin = pins.iter().find(|p| p.name == name)?;
    let new_name = pin.new_name.as_deref().unwrap_or(name);
    Some(match (&pin.digest, &pin.new_tag) {
        (Some(digest), _) => format!("{new_name}@{digest}"),
        (None, Some(tag)) => format!("{new_name}:{tag}"),
        (None, None) => match (tag, digest) {
            (_, Some(digest)) => format!("{new_name}@{digest}"),
            (Some(tag), None) => format!("{new_name}:{tag}"),
            (None, None) => new_name.to_string(),
        },
    })
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn quantities_are_written_as_the_server_stores_them() {
        let mut deployment = serde_json::json!({"spec": {"template": {"spec": {
            "containers": [{"name": "web", "resources": {"requests": {"cpu": 1, "memory": "1024Mi"},
                "limits": {"cpu": "1000m", "memory": "not-a-quantity"}}}],
            "volumes": [{"name": "v", "emptyDir": {"sizeLimit": 0.5}}]}}}});
        canonical_quantities(&mut deployment, "Deployment");
        let spec = &deployment["spec"]["template"]["spec"];
        assert_eq!(
            spec["containers"][0]["resources"],
            serde_json::json!({"requests": {"cpu": "1", "memory": "1Gi"},
                "limits": {"cpu": "1", "memory": "not-a-quantity"}})
        );
        assert_eq!(spec["volumes"][0]["emptyDir"]["sizeLimit"], "500m");
        let mut quota =
            serde_json::json!({"spec": {"hard": {"pods": 10, "requests.cpu": "2000m"}}});
        canonical_quantities(&mut quota, "ResourceQuota");
        assert_eq!(
            quota["spec"]["hard"],
            serde_json::json!({"pods": "10", "requests.cpu": "2"})
        );
        // RBAC's `resources` is a list of names, not quantities.
        let mut role = serde_json::json!({"rules": [{"resources": ["pods"], "verbs": ["get"]}]});
        canonical_quantities(&mut role, "Role");
        assert_eq!(role["rules"][0]["resources"], serde_json::json!(["pods"]));
        assert!(is_built_in("apps") && is_built_in("") && !is_built_in("ops.example.com"));
    }

    use super::*;

    fn pin(
        name: &str,
        new_name: Option<&str>,
        tag: Option<&str>,
        digest: Option<&str>,
    ) -> ImagePin {
        ImagePin {
            name: name.into(),
            new_name: new_name.map(Into::into),
            new_tag: tag.map(Into::into),
            digest: digest.map(Into::into),
        }
    }

    #[test]
    fn image_pins_follow_kustomize() {
        let pins = [
            pin("registry.example/web", None, Some("1.4.0"), None),
            pin("nginx", Some("mirror.example/nginx"), None, None),
            pin("localhost:5000/api", None, None, Some("sha256:abc")),
        ];
        assert_eq!(
            pinned_image("registry.example/web:1.0", &pins).as_deref(),
            Some("registry.example/web:1.4.0")
        );
        assert_eq!(
            pinned_image("registry.example/web", &pins).as_deref(),
            Some("registry.example/web:1.4.0")
        );
        assert_eq!(
            pinned_image("nginx:1.25", &pins).as_deref(),
            Some("mirror.example/nginx:1.25")
        );
        assert_eq!(
            pinned_image("localhost:5000/api:2", &pins).as_deref(),
            Some("localhost:5000/api@sha256:abc")
        );
        assert_eq!(pinned_image("registry.example/web-worker:1", &pins), None);
        assert_eq!(pinned_image("other/nginx:1", &pins), None);
    }

    #[test]
    fn images_are_pinned_in_any_pod_template() {
        let mut cronjob = serde_json::json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "initContainers": [{"name": "init", "image": "nginx:1"}],
            "containers": [{"name": "main", "image": "nginx"}, {"name": "side", "image": "busybox"}]
        }}}}}});
        pin_images(&mut cronjob, &[pin("nginx", None, Some("2"), None)]);
        let spec = &cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"];
        assert_eq!(spec["initContainers"][0]["image"], "nginx:2");
        assert_eq!(spec["containers"][0]["image"], "nginx:2");
        assert_eq!(spec["containers"][1]["image"], "busybox");
    }
}
