//! Server-side apply: field sets in the `fieldsV1` shape, managed-fields bookkeeping for Apply and
//! Update operations, conflicts, and the structural merge of an applied configuration.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::schema::{self, ListType, Node, Shape};

/// A set of field paths, as a tree (`f:name`, `k:{"name":"web"}`, `v:"x"`); `member` is the `.` mark.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FieldSet {
    pub member: bool,
    pub children: BTreeMap<String, FieldSet>,
}

pub type Path = Vec<String>;

impl FieldSet {
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        if self.member && !self.children.is_empty() {
            m.insert(".".into(), Value::Object(Map::new()));
        }
        for (k, c) in &self.children {
            m.insert(k.clone(), c.to_json());
        }
        Value::Object(m)
    }

    pub fn from_json(v: &Value) -> FieldSet {
        let mut fs = FieldSet::default();
        if let Some(obj) = v.as_object() {
            for (k, c) in obj {
                if k == "." {
                    fs.member = true;
                } else {
                    let mut child = FieldSet::from_json(c);
                    if child.children.is_empty() {
                        child.member = true;
                    }
                    fs.children.insert(k.clone(), child);
                }
            }
        }
        fs
    }

    pub fn is_empty(&self) -> bool {
        !self.member && self.children.values().all(FieldSet::is_empty)
    }

    fn get(&self, path: &[String]) -> Option<&FieldSet> {
        match path.split_first() {
            None => Some(self),
            Some((h, rest)) => self.children.get(h)?.get(rest),
        }
    }

    pub fn contains(&self, path: &[String]) -> bool {
        self.get(path).is_some_and(|n| n.member)
    }

    /// Whether the set has a member at `path` or anywhere below it.
    pub fn touches(&self, path: &[String]) -> bool {
        self.get(path).is_some_and(|n| !n.is_empty())
    }

    pub fn insert(&mut self, path: &[String]) {
        match path.split_first() {
            None => self.member = true,
            Some((h, rest)) => self.children.entry(h.clone()).or_default().insert(rest),
        }
    }

    pub fn remove(&mut self, path: &[String]) {
        match path.split_first() {
            None => self.member = false,
            Some((h, rest)) => {
                if let Some(c) = self.children.get_mut(h) {
                    c.remove(rest);
                    if c.is_empty() {
                        self.children.remove(h);
                    }
                }
            }
        }
    }

    /// All member paths.
    pub fn members(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.walk(&mut Vec::new(), &mut out, false);
        out
    }

    /// Member paths that have no children (the leaves).
    pub fn leaves(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.walk(&mut Vec::new(), &mut out, true);
        out
    }

    fn walk(&self, prefix: &mut Path, out: &mut Vec<Path>, leaves_only: bool) {
        if self.member && !prefix.is_empty() && (!leaves_only || self.children.is_empty()) {
            out.push(prefix.clone());
        }
        for (k, c) in &self.children {
            prefix.push(k.clone());
            c.walk(prefix, out, leaves_only);
            prefix.pop();
        }
    }

    pub fn union(&mut self, other: &FieldSet) {
        for p in other.members() {
            self.insert(&p);
        }
    }

    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet::default();
        for p in self.members() {
            if !other.contains(&p) {
                out.insert(&p);
            }
        }
        out
    }
}

/// Human form of a path (`.spec.template.spec.containers[name="web"].image`).
pub fn path_string(path: &[String]) -> String {
    let mut s = String::new();
    for e in path {
        if let Some(f) = e.strip_prefix("f:") {
            s.push('.');
            s.push_str(f);
        } else if let Some(k) = e.strip_prefix("k:") {
            let parts: Vec<String> = serde_json::from_str::<Map<String, Value>>(k)
                .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect())
                .unwrap_or_default();
            s.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(v) = e.strip_prefix("v:") {
            s.push_str(&format!("[={v}]"));
        } else {
            s.push_str(&format!("[{e}]"));
        }
    }
    s
}

/// The `k:{…}` element of a list-map item (keys sorted, defaults from the schema filled in).
pub fn item_key(item: &Value, keys: &[String], items: Option<Node<'_>>) -> String {
    let mut sorted: Vec<&String> = keys.iter().collect();
    sorted.sort();
    let mut m = Map::new();
    for k in sorted {
        let v = item
            .get(k)
            .cloned()
            .or_else(|| items.and_then(|n| n.prop_default(k).cloned()));
        if let Some(v) = v {
            m.insert(k.clone(), v);
        }
    }
    format!(
        "k:{}",
        serde_json::to_string(&Value::Object(m)).unwrap_or_default()
    )
}

fn is_atomic(node: Option<Node<'_>>) -> bool {
    matches!(
        schema::shape_of(node),
        Shape::Struct { atomic: true } | Shape::Map { atomic: true, .. } | Shape::Scalar(_)
    ) || matches!(
        schema::shape_of(node),
        Shape::List {
            list_type: ListType::Atomic,
            ..
        }
    )
}

fn list_keys(node: Option<Node<'_>>) -> Option<(ListType, Option<Node<'_>>)> {
    match schema::shape_of(node) {
        Shape::List { list_type, items } => Some((list_type, items)),
        _ => None,
    }
}

fn find_item(arr: &[Value], elem: &str, node: Option<Node<'_>>) -> Option<usize> {
    let (lt, items) = list_keys(node)?;
    match lt {
        ListType::Map(keys) => arr.iter().position(|it| item_key(it, &keys, items) == elem),
        ListType::Set => {
            let v: Value = serde_json::from_str(elem.strip_prefix("v:")?).ok()?;
            arr.iter().position(|it| *it == v)
        }
        ListType::Atomic => None,
    }
}

/// The value at a field path.
pub fn get_at<'a>(v: &'a Value, path: &[String], node: Option<Node<'_>>) -> Option<&'a Value> {
    let Some((h, rest)) = path.split_first() else {
        return Some(v);
    };
    if let Some(f) = h.strip_prefix("f:") {
        get_at(v.as_object()?.get(f)?, rest, schema::child(node, f))
    } else {
        let arr = v.as_array()?;
        let i = find_item(arr, h, node)?;
        get_at(&arr[i], rest, schema::items(node))
    }
}

/// Remove the value at a field path (map key or list item).
pub fn remove_at(v: &mut Value, path: &[String], node: Option<Node<'_>>) {
    let Some((h, rest)) = path.split_first() else {
        return;
    };
    if let Some(f) = h.strip_prefix("f:") {
        let Some(obj) = v.as_object_mut() else { return };
        if rest.is_empty() {
            obj.shift_remove(f);
        } else if let Some(c) = obj.get_mut(f) {
            remove_at(c, rest, schema::child(node, f));
        }
    } else if let Some(arr) = v.as_array_mut()
        && let Some(i) = find_item(arr, h, node)
    {
        if rest.is_empty() {
            arr.remove(i);
        } else {
            remove_at(&mut arr[i], rest, schema::items(node));
        }
    }
}

fn collect(v: &Value, node: Option<Node<'_>>, fs: &mut FieldSet) {
    let Some(obj) = v.as_object() else { return };
    for (k, c) in obj {
        if c.is_null() {
            continue;
        }
        let cn = schema::child(node, k);
        add_value(c, cn, fs.children.entry(format!("f:{k}")).or_default());
    }
}

fn add_value(v: &Value, node: Option<Node<'_>>, fs: &mut FieldSet) {
    if is_atomic(node) {
        fs.member = true;
        return;
    }
    match (v, list_keys(node)) {
        (Value::Object(o), _) if !o.is_empty() => collect(v, node, fs),
        (Value::Array(a), Some((ListType::Map(keys), items))) if !a.is_empty() => {
            for it in a {
                let c = fs.children.entry(item_key(it, &keys, items)).or_default();
                c.member = true;
                if !is_atomic(items) {
                    collect(it, items, c);
                }
            }
        }
        (Value::Array(a), Some((ListType::Set, _))) if !a.is_empty() => {
            for it in a {
                let key = format!("v:{}", serde_json::to_string(it).unwrap_or_default());
                fs.children.entry(key).or_default().member = true;
            }
        }
        _ => fs.member = true,
    }
}

/// Metadata fields the server owns; they never appear in field sets.
const SERVER_META: &[&str] = &[
    "name",
    "namespace",
    "generateName",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// The part of an object that field ownership is tracked for.
pub fn tracked_view(obj: &Value, status_subresource: bool, has_status_subresource: bool) -> Value {
    let mut v = obj.clone();
    if let Some(o) = v.as_object_mut() {
        o.shift_remove("apiVersion");
        o.shift_remove("kind");
        if let Some(Value::Object(meta)) = o.get_mut("metadata") {
            for k in SERVER_META {
                meta.shift_remove(*k);
            }
        }
        if matches!(o.get("metadata"), Some(Value::Object(m)) if m.is_empty()) {
            o.shift_remove("metadata");
        }
        if status_subresource {
            o.retain(|k, _| k == "status" || k == "metadata");
        } else if has_status_subresource {
            o.shift_remove("status");
        }
    }
    v
}

/// The field set of an applied configuration.
pub fn applied_set(applied_view: &Value, node: Option<Node<'_>>) -> FieldSet {
    let mut fs = FieldSet::default();
    collect(applied_view, node, &mut fs);
    fs
}

/// Structural merge of an applied configuration into the live object.
pub fn merge(live: Option<&Value>, applied: &Value, node: Option<Node<'_>>) -> Value {
    let Some(live) = live else {
        return applied.clone();
    };
    if is_atomic(node) {
        return applied.clone();
    }
    match (live, applied, list_keys(node)) {
        (Value::Object(l), Value::Object(a), _) => {
            let mut out = l.clone();
            for (k, av) in a {
                if av.is_null() {
                    out.shift_remove(k);
                    continue;
                }
                let merged = merge(l.get(k), av, schema::child(node, k));
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(a), Some((ListType::Map(keys), items))) => {
            let mut out = l.clone();
            for ai in a {
                let key = item_key(ai, &keys, items);
                match out.iter().position(|x| item_key(x, &keys, items) == key) {
                    Some(i) => out[i] = merge(Some(&out[i]), ai, items),
                    None => out.push(ai.clone()),
                }
            }
            Value::Array(out)
        }
        (Value::Array(l), Value::Array(a), Some((ListType::Set, _))) => {
            let mut out = l.clone();
            for ai in a {
                if !out.contains(ai) {
                    out.push(ai.clone());
                }
            }
            Value::Array(out)
        }
        _ => applied.clone(),
    }
}

// ---- Update operations: the fields a write added or changed ----

fn diff_children(
    old: Option<&Map<String, Value>>,
    new: &Map<String, Value>,
    node: Option<Node<'_>>,
    under: bool,
    fs: &mut FieldSet,
) {
    let is_map = matches!(schema::shape_of(node), Shape::Map { .. });
    for (k, nv) in new {
        if nv.is_null() && old.and_then(|o| o.get(k)).is_none() {
            continue;
        }
        let cn = schema::child(node, k);
        let child_under = under || is_map;
        let c = fs.children.entry(format!("f:{k}")).or_default();
        match old.and_then(|o| o.get(k)) {
            None => {
                let required = node.is_some_and(|n| n.required(k));
                // A struct property with `default: {}` is a Go value (not a pointer): the empty
                // object it is compared with already has it.
                let zero_present = node
                    .and_then(|n| n.prop_default(k))
                    .is_some_and(|d| d.as_object().is_some_and(Map::is_empty));
                add_all(nv, cn, child_under, c, required, zero_present);
            }
            Some(ov) => diff_value(ov, nv, cn, child_under, c),
        }
        if c.is_empty() {
            fs.children.remove(&format!("f:{k}"));
        }
    }
}

fn diff_value(ov: &Value, nv: &Value, node: Option<Node<'_>>, under: bool, fs: &mut FieldSet) {
    if is_atomic(node) {
        if ov != nv {
            fs.member = true;
        }
        return;
    }
    match (nv, list_keys(node)) {
        (Value::Object(n), _) if !n.is_empty() => diff_children(ov.as_object(), n, node, under, fs),
        (Value::Array(a), Some((ListType::Map(keys), items))) if !a.is_empty() => {
            let empty = Vec::new();
            let old = ov.as_array().unwrap_or(&empty);
            for it in a {
                let key = item_key(it, &keys, items);
                let c = fs.children.entry(key.clone()).or_default();
                match old.iter().find(|x| item_key(x, &keys, items) == key) {
                    Some(o) if is_atomic(items) => {
                        if o != it {
                            c.member = true;
                        }
                    }
                    Some(o) => diff_value(o, it, items, true, c),
                    None => add_item(it, items, c),
                }
                if c.is_empty() {
                    fs.children.remove(&key);
                }
            }
        }
        (Value::Array(a), Some((ListType::Set, _))) if !a.is_empty() => {
            let empty = Vec::new();
            let old = ov.as_array().unwrap_or(&empty);
            for it in a {
                if !old.contains(it) {
                    let key = format!("v:{}", serde_json::to_string(it).unwrap_or_default());
                    fs.children.entry(key).or_default().member = true;
                }
            }
        }
        _ => {
            if ov != nv {
                fs.member = true;
            }
        }
    }
}

fn add_item(it: &Value, items: Option<Node<'_>>, fs: &mut FieldSet) {
    fs.member = true;
    if !is_atomic(items)
        && let Some(o) = it.as_object()
    {
        diff_children(None, o, items, true, fs);
    }
}

fn add_all(
    v: &Value,
    node: Option<Node<'_>>,
    under: bool,
    fs: &mut FieldSet,
    required: bool,
    zero_present: bool,
) {
    if is_atomic(node) {
        fs.member = true;
        return;
    }
    match (v, schema::shape_of(node)) {
        (Value::Object(o), Shape::Map { .. }) if !o.is_empty() => {
            fs.member = under || !required;
            diff_children(None, o, node, true, fs);
        }
        (Value::Object(o), Shape::Struct { .. }) if !o.is_empty() => {
            // A struct reached through a pointer is new as a whole (so is everything in it).
            fs.member = under || !zero_present;
            diff_children(None, o, node, fs.member, fs);
        }
        (Value::Object(o), _) if !o.is_empty() => {
            fs.member = under;
            diff_children(None, o, node, under, fs);
        }
        (Value::Array(a), Shape::List { list_type, items }) if !a.is_empty() => {
            fs.member = under || !required;
            match list_type {
                ListType::Map(keys) => {
                    for it in a {
                        add_item(
                            it,
                            items,
                            fs.children.entry(item_key(it, &keys, items)).or_default(),
                        );
                    }
                }
                ListType::Set => {
                    for it in a {
                        let key = format!("v:{}", serde_json::to_string(it).unwrap_or_default());
                        fs.children.entry(key).or_default().member = true;
                    }
                }
                ListType::Atomic => {}
            }
        }
        _ => fs.member = true,
    }
}

/// Fields added or changed by an update from `old` (None on create) to `new` (tracked views).
pub fn changed_set(old: Option<&Value>, new: &Value, node: Option<Node<'_>>) -> FieldSet {
    let mut fs = FieldSet::default();
    if let Some(n) = new.as_object() {
        diff_children(old.and_then(Value::as_object), n, node, false, &mut fs);
    }
    fs
}

/// Paths present in `old` and gone in `new` (for Update operations).
pub fn removed_set(old_set: &FieldSet, new: &Value, node: Option<Node<'_>>) -> FieldSet {
    let mut out = FieldSet::default();
    for p in old_set.members() {
        if get_at(new, &p, node).is_none() {
            out.insert(&p);
        }
    }
    out
}

// ---- managedFields entries ----

#[derive(Clone, Debug)]
pub struct Entry {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub time: String,
    pub subresource: Option<String>,
    pub set: FieldSet,
}

impl Entry {
    pub fn same_owner(&self, manager: &str, operation: &str, subresource: Option<&str>) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.as_deref() == subresource
    }

    /// How a conflict names this manager.
    pub fn conflict_name(&self) -> String {
        if self.operation == "Apply" {
            format!("{:?}", self.manager)
        } else {
            format!("{:?} using {}", self.manager, self.api_version)
        }
    }
}

pub fn read_entries(obj: &Value) -> Vec<Entry> {
    let Some(arr) = obj
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    arr.iter()
        .map(|e| Entry {
            manager: e["manager"].as_str().unwrap_or_default().into(),
            operation: e["operation"].as_str().unwrap_or("Update").into(),
            api_version: e["apiVersion"].as_str().unwrap_or_default().into(),
            time: e["time"].as_str().unwrap_or_default().into(),
            subresource: e
                .get("subresource")
                .and_then(Value::as_str)
                .map(String::from),
            set: FieldSet::from_json(&e["fieldsV1"]),
        })
        .collect()
}

pub fn write_entries(obj: &mut Value, entries: &[Entry]) {
    let arr: Vec<Value> = entries
        .iter()
        .filter(|e| !e.set.is_empty())
        .map(|e| {
            let mut m = Map::new();
            m.insert("manager".into(), e.manager.clone().into());
            m.insert("operation".into(), e.operation.clone().into());
            m.insert("apiVersion".into(), e.api_version.clone().into());
            // An Apply that changed nothing leaves the time as it was (none for a new manager).
            if !e.time.is_empty() {
                m.insert("time".into(), e.time.clone().into());
            }
            m.insert("fieldsType".into(), "FieldsV1".into());
            m.insert("fieldsV1".into(), e.set.to_json());
            if let Some(s) = &e.subresource {
                m.insert("subresource".into(), s.clone().into());
            }
            Value::Object(m)
        })
        .collect();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if arr.is_empty() {
            meta.shift_remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(arr));
        }
    }
}

/// The order the server keeps managedFields in: Apply entries before Update entries, each group by
/// time (stable, so entries written within the same second keep the order they were written in).
pub fn sort_entries(entries: &mut [Entry]) {
    entries.sort_by(|a, b| (&a.operation, &a.time).cmp(&(&b.operation, &b.time)));
}

/// A field another manager owns that an apply would change.
#[derive(Clone, Debug)]
pub struct Conflict {
    pub manager: String,
    pub path: String,
}

pub struct ApplyOutcome {
    pub object: Value,
    pub entries: Vec<Entry>,
}

pub struct ApplyRequest<'a> {
    pub live: Option<&'a Value>,
    /// The applied configuration (already normalised).
    pub applied: &'a Value,
    pub manager: &'a str,
    pub force: bool,
    pub subresource: Option<&'a str>,
    pub has_status_subresource: bool,
    pub api_version: &'a str,
    pub time: &'a str,
    pub node: Option<Node<'a>>,
}

/// Server-side apply of `applied` onto `live`: conflicts, removal of fields the manager dropped, merge.
pub fn apply(req: ApplyRequest<'_>) -> Result<ApplyOutcome, Vec<Conflict>> {
    let node = req.node;
    let sub = req.subresource;
    let view = tracked_view(
        req.applied,
        sub == Some("status"),
        req.has_status_subresource,
    );
    let set = applied_set(&view, node);
    let mut entries = req.live.map(read_entries).unwrap_or_default();
    let live_view = req
        .live
        .map(|l| tracked_view(l, sub == Some("status"), req.has_status_subresource));

    // Conflicts: leaves another manager owns whose value would change.
    let mut conflicts = Vec::new();
    let mut to_release: Vec<(usize, Path)> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if e.same_owner(req.manager, "Apply", sub) {
            continue;
        }
        for p in set.leaves() {
            if !e.set.contains(&p) {
                continue;
            }
            let lv = live_view.as_ref().and_then(|l| get_at(l, &p, node));
            let av = get_at(&view, &p, node);
            if lv != av {
                conflicts.push(Conflict {
                    manager: e.conflict_name(),
                    path: path_string(&p),
                });
                to_release.push((i, p));
            }
        }
    }
    if !conflicts.is_empty() && !req.force {
        return Err(conflicts);
    }
    for (i, p) in to_release {
        entries[i].set.remove(&p);
    }

    // Fields this manager applied before and omits now: removed unless someone else owns them.
    let previous = entries
        .iter()
        .find(|e| e.same_owner(req.manager, "Apply", sub))
        .map(|e| e.set.clone())
        .unwrap_or_default();
    let mut base = req
        .live
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()));
    let dropped = previous.difference(&set);
    for p in dropped.members() {
        let owned_elsewhere = entries
            .iter()
            .any(|e| !e.same_owner(req.manager, "Apply", sub) && e.set.touches(&p));
        if !owned_elsewhere && !set.touches(&p) {
            remove_at(&mut base, &p, node);
        }
    }
    let object = merge(Some(&base), req.applied, node);

    match entries
        .iter_mut()
        .find(|e| e.same_owner(req.manager, "Apply", sub))
    {
        Some(e) => {
            e.set = set;
            e.time = req.time.to_string();
            e.api_version = req.api_version.to_string();
        }
        None => entries.push(Entry {
            manager: req.manager.to_string(),
            operation: "Apply".into(),
            api_version: req.api_version.to_string(),
            time: req.time.to_string(),
            subresource: sub.map(String::from),
            set,
        }),
    }
    entries.retain(|e| !e.set.is_empty());
    Ok(ApplyOutcome { object, entries })
}

/// Managed fields after an Update operation (create, update, merge/strategic/json patch).
#[allow(clippy::too_many_arguments)]
pub fn record_update(
    old: Option<&Value>,
    new: &Value,
    manager: &str,
    subresource: Option<&str>,
    has_status_subresource: bool,
    api_version: &str,
    time: &str,
    node: Option<Node<'_>>,
) -> Vec<Entry> {
    let status = subresource == Some("status");
    let old_view = old.map(|o| tracked_view(o, status, has_status_subresource));
    let new_view = tracked_view(new, status, has_status_subresource);
    let changed = changed_set(old_view.as_ref(), &new_view, node);
    let mut entries = old.map(read_entries).unwrap_or_default();
    for e in entries.iter_mut() {
        let removed = removed_set(
            &e.set,
            &tracked_view(
                new,
                e.subresource.as_deref() == Some("status"),
                has_status_subresource,
            ),
            node,
        );
        e.set = e.set.difference(&removed);
        if !e.same_owner(manager, "Update", subresource) {
            e.set = e.set.difference(&changed);
        }
    }
    if !changed.is_empty() {
        match entries
            .iter_mut()
            .find(|e| e.same_owner(manager, "Update", subresource))
        {
            Some(e) => {
                e.set.union(&changed);
                e.time = time.to_string();
                e.api_version = api_version.to_string();
            }
            None => entries.push(Entry {
                manager: manager.to_string(),
                operation: "Update".into(),
                api_version: api_version.to_string(),
                time: time.to_string(),
                subresource: subresource.map(String::from),
                set: changed,
            }),
        }
    }
    entries.retain(|e| !e.set.is_empty());
    entries
}
