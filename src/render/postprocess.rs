//! One pass over every driver's output: check each document is an object berth can manage,
//! set namespaces, add berth's labels, apply image pins, refuse inline Secrets and duplicates,
//! and make the object canonical.

use super::kinds::Scopes;
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

pub fn run(
    config: &Config,
    channel: &Channel,
    per_app: &[(&App, &[Manifest])],
) -> Result<Vec<RenderedObject>, Problems> {
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
    Ok(objects)
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
            Some(Value::String(_)) | Some(Value::Null) | None => app.namespace.clone(),
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
    let key = ObjectKey::new(&group, &kind, namespace.as_deref(), &name);

    // Never applied, and only noise in a diff.
    if metadata.get("creationTimestamp") == Some(&Value::Null) {
        metadata.remove("creationTimestamp");
    }
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
        if !inline.is_empty() {
            return Err(Problem::new(format!(
                "Secret carries inline {}: Secret values must never be committed to git",
                inline.join(" and ")
            ))
            .at(origin.clone())
            .app(&app.name)
            .object(key.to_string())
            .hint(
                "remove the Secret from the manifests; berth will fill Secrets from external \
                   secret sources (`secrets:` in berth.yaml) in a coming release",
            ));
        }
    }

    if !channel.images.is_empty() {
        pin_images(&mut value, &channel.images);
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

/// Rewrite `image:` of every container, init container and ephemeral container, wherever
/// the pod spec sits (Deployment, CronJob, Pod, custom resources), as kustomize's images
/// transformer does.
fn pin_images(value: &mut Value, pins: &[ImagePin]) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                let is_container_list = matches!(
                    key.as_str(),
                    "containers" | "initContainers" | "ephemeralContainers"
                );
                if let (true, Value::Array(containers)) = (is_container_list, &mut *child) {
                    for container in containers.iter_mut() {
                        if let Some(Value::String(image)) = container.get_mut("image")
                            && let Some(pinned) = pinned_image(image, pins)
                        {
                            *image = pinned;
                        }
                    }
                }
                pin_images(child, pins);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| pin_images(v, pins)),
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
