//! Container image references: `[registry[:port]/]path[:tag][@digest]`.

/// An image reference split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef<'a> {
    /// Registry and path, e.g. `ghcr.io/example/web` or `registry:5000/app`.
    pub name: &'a str,
    pub tag: Option<&'a str>,
    /// `sha256:…`.
    pub digest: Option<&'a str>,
}

impl<'a> ImageRef<'a> {
    pub fn parse(image: &'a str) -> Self {
        let (without_digest, digest) = match image.split_once('@') {
            Some((name, digest)) => (name, Some(digest)),
            None => (image, None),
        };
        let tag = tag_of(without_digest);
        let name = match tag {
            Some(tag) => &without_digest[..without_digest.len() - tag.len() - 1],
            None => without_digest,
        };
        ImageRef { name, tag, digest }
    }
}

/// The tag of an image reference, if it has one (`registry:5000/app:1.2` → `1.2`).
pub fn tag_of(image: &str) -> Option<&str> {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last_slash = without_digest.rfind('/').map_or(0, |i| i + 1);
    without_digest[last_slash..]
        .rfind(':')
        .map(|i| &without_digest[last_slash + i + 1..])
}

/// Add the image of every container of `object` (of any kind: pods, pod templates, jobs, custom
/// resources that embed them) to `images`.
pub fn collect(object: &serde_json::Value, images: &mut Vec<String>) {
    // One walker serves reading and rewriting: walk a copy.
    visit_images(&mut object.clone(), &mut |image| images.push(image.clone()));
}

/// Visit `image:` of every container, init container and ephemeral container, wherever the
/// pod spec sits (Deployment, CronJob, Pod, custom resources).
pub fn visit_images(value: &mut serde_json::Value, visit: &mut impl FnMut(&mut String)) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                let is_container_list = matches!(
                    key.as_str(),
                    "containers" | "initContainers" | "ephemeralContainers"
                );
                if let (true, Value::Array(containers)) = (is_container_list, &mut *child) {
                    for container in containers.iter_mut() {
                        if let Some(Value::String(image)) = container.get_mut("image") {
                            visit(image);
                        }
                    }
                }
                visit_images(child, visit);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| visit_images(v, visit)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_into_name_tag_and_digest() {
        assert_eq!(
            ImageRef::parse("registry:5000/app:1.2@sha256:ab"),
            ImageRef {
                name: "registry:5000/app",
                tag: Some("1.2"),
                digest: Some("sha256:ab")
            }
        );
        assert_eq!(
            ImageRef::parse("registry:5000/app"),
            ImageRef {
                name: "registry:5000/app",
                tag: None,
                digest: None
            }
        );
        assert_eq!(tag_of("registry:5000/app:1.2"), Some("1.2"));
        assert_eq!(tag_of("registry:5000/app"), None);
        assert_eq!(tag_of("nginx@sha256:abc"), None);
        assert_eq!(tag_of("nginx:1.25@sha256:abc"), Some("1.25"));
    }
}
