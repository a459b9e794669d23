//! The image pins `berth set-image` records: one file per channel, next to berth.yaml, at
//! `.berth/images/<channel>.yaml`, in the shape of a channel's `images:` in berth.yaml:
//!
//! ```yaml
//! images:
//!   - name: ghcr.io/example/shop-web
//!     newTag: 1.8.1
//!   - name: ghcr.io/example/shop-api
//!     digest: sha256:4f8e…
//! ```
//!
//! Its pins come before berth.yaml's: a pin here wins for its image (keeping berth.yaml's
//! `newName` for it).

use super::ImagePin;
use super::raw::RawImagePin;
use crate::error::Problem;
use serde::Deserialize;

/// The pins file of `channel`, relative to berth.yaml's directory.
pub fn path(channel: &str) -> String {
    format!(".berth/images/{channel}.yaml")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPins {
    #[serde(default)]
    pub images: Vec<RawImagePin>,
}

/// The pins of a pins file's `text` (shown as `file`), to update; berth.yaml's loading checks
/// them further.
pub fn read(text: &str, file: &std::path::Path) -> Result<Vec<ImagePin>, Problem> {
    Ok(parse(text, file)?
        .images
        .into_iter()
        .map(|pin| ImagePin {
            name: pin.name.value,
            new_name: pin.new_name,
            new_tag: pin.new_tag,
            digest: pin.digest,
        })
        .collect())
}

pub(super) fn parse(text: &str, file: &std::path::Path) -> Result<RawPins, Problem> {
    crate::yaml::from_str(text).map_err(|e| {
        Problem::new(e.message)
            .at(crate::error::Location::at(file, e.line, e.column))
            .hint(HINT)
    })
}

/// What to do about a broken pins file.
const HINT: &str = "`berth set-image -c CHANNEL NAME=TAG` writes this file: `images:`, a list of name and newTag or digest";

/// What `set-image` is told: `NAME=TAG` or `NAME@DIGEST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinChange {
    pub name: String,
    pub to: PinTo,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinTo {
    Tag(String),
    Digest(String),
}

impl PinChange {
    /// Parse `NAME=TAG` or `NAME@DIGEST`, or say what is wrong with it.
    pub fn parse(text: &str) -> Result<PinChange, Problem> {
        let bad = |why: &str| {
            Problem::new(format!("`{text}` is not an image pin: {why}")).hint(
                "write NAME=TAG (ghcr.io/example/web=1.8.1) or NAME@DIGEST \
                 (ghcr.io/example/web@sha256:<64 hex digits>)",
            )
        };
        let (name, to) = match (text.split_once('='), text.split_once('@')) {
            (Some((name, tag)), None) => {
                if !valid_tag(tag) {
                    return Err(bad(&format!(
                        "tag `{tag}` is not 1–128 letters, digits, `_`, `.` or `-` (not starting with `.` or `-`)"
                    )));
                }
                (name, PinTo::Tag(tag.to_string()))
            }
            (None, Some((name, digest))) => {
                if !valid_digest(digest) {
                    return Err(bad(&format!(
                        "digest `{digest}` is not sha256: and 64 lowercase hex digits"
                    )));
                }
                (name, PinTo::Digest(digest.to_string()))
            }
            _ => return Err(bad("it needs exactly one `=` (a tag) or `@` (a digest)")),
        };
        if !valid_name(name) {
            return Err(bad(&format!(
                "image name `{name}` must be lowercase `registry[:port]/path` without a tag"
            )));
        }
        Ok(PinChange {
            name: name.to_string(),
            to,
        })
    }
}

fn valid_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    tag.len() <= 128
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn valid_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))
    })
}

/// `registry[:port]/path`: lowercase path components, a port only on the registry.
fn valid_name(name: &str) -> bool {
    let component = |c: &str| {
        !c.is_empty()
            && c.chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch))
            && c.starts_with(|ch: char| ch.is_ascii_alphanumeric())
            && c.ends_with(|ch: char| ch.is_ascii_alphanumeric())
    };
    let mut parts = name.split('/');
    let first = parts.next().unwrap_or("");
    let first_ok = match first.split_once(':') {
        Some((host, port)) => {
            component(host) && !port.is_empty() && port.chars().all(|c| c.is_ascii_digit())
        }
        None => component(first),
    };
    // `web:1` is a tag; a port needs a path after it.
    first_ok && crate::object::image::tag_of(name).is_none() && parts.all(component)
}

/// Apply `changes` to the pins of a pins file and write it out again (pins sorted by name).
pub fn updated(current: &[ImagePin], changes: &[PinChange]) -> String {
    let mut pins: Vec<ImagePin> = current.to_vec();
    for change in changes {
        let pin = match pins.iter_mut().find(|p| p.name == change.name) {
            Some(pin) => pin,
            None => {
                pins.push(ImagePin {
                    name: change.name.clone(),
                    new_name: None,
                    new_tag: None,
                    digest: None,
                });
                pins.last_mut().expect("just pushed")
            }
        };
        // A digest wins over a tag: setting one clears the other, so the pin means what it says.
        match &change.to {
            PinTo::Tag(tag) => (pin.new_tag, pin.digest) = (Some(tag.clone()), None),
            PinTo::Digest(digest) => (pin.new_tag, pin.digest) = (None, Some(digest.clone())),
        }
    }
    pins.sort_by(|a, b| a.name.cmp(&b.name));
    let mut text = String::from(
        "# Image pins of this channel, written by `berth set-image`; they win over berth.yaml's.\n\
         images:\n",
    );
    for pin in &pins {
        text.push_str(&format!("  - name: {}\n", pin.name));
        for (key, value) in [
            ("newName", &pin.new_name),
            ("newTag", &pin.new_tag),
            ("digest", &pin.digest),
        ] {
            if let Some(value) = value {
                // JSON strings are YAML strings: a tag like `1.10` stays a string.
                text.push_str(&format!(
                    "    {key}: {}\n",
                    serde_json::to_string(value).expect("strings serialize")
                ));
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_parsed_or_refused_naming_what_is_wrong() {
        let web = PinChange::parse("ghcr.io/example/web=1.8.1").unwrap();
        assert_eq!(web.to, PinTo::Tag("1.8.1".into()));
        let digest = format!("sha256:{}", "a".repeat(64));
        let pinned = PinChange::parse(&format!("registry:5000/app@{digest}")).unwrap();
        assert_eq!(
            (pinned.name.as_str(), pinned.to),
            ("registry:5000/app", PinTo::Digest(digest))
        );
        for (bad, why) in [
            ("web", "exactly one"),
            ("web=", "tag ``"),
            ("web=-x", "tag `-x`"),
            ("Web=1", "image name `Web`"),
            ("web:1=2", "image name `web:1`"),
            ("web@sha256:abc", "digest `sha256:abc`"),
            ("web=1@sha256:x", "exactly one"),
            ("a//b=1", "image name `a//b`"),
        ] {
            let err = PinChange::parse(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn a_tag_replaces_a_digest_and_pins_stay_sorted() {
        let current = [ImagePin {
            name: "b".into(),
            new_name: Some("mirror/b".into()),
            new_tag: None,
            digest: Some("sha256:x".into()),
        }];
        let changes = [
            PinChange::parse("b=2").unwrap(),
            PinChange::parse("a=1.10").unwrap(),
        ];
        assert_eq!(
            updated(&current, &changes),
            "# Image pins of this channel, written by `berth set-image`; they win over berth.yaml's.\n\
             images:\n  - name: a\n    newTag: \"1.10\"\n  - name: b\n    newName: \"mirror/b\"\n    newTag: \"2\"\n"
        );
    }
}
