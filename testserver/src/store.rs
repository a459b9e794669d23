//! In-memory object storage with a global resourceVersion counter.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// (group, plural, namespace, name); namespace is empty for cluster-scoped objects.
pub type Key = (String, String, String, String);

pub struct Store {
    pub objects: BTreeMap<Key, Value>,
    rv: u64,
    uid: u64,
    seed: u64,
    next_ip: u32,
    /// Namespaces being terminated and when they disappear.
    pub terminating: Vec<(String, Instant)>,
    pub namespace_delay: Duration,
}

impl Default for Store {
    fn default() -> Self {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(7);
        Store {
            objects: BTreeMap::new(),
            rv: 1000,
            uid: 0,
            seed,
            next_ip: 10,
            terminating: Vec::new(),
            namespace_delay: Duration::from_millis(1000),
        }
    }
}

impl Store {
    pub fn next_rv(&mut self) -> String {
        self.rv += 1;
        self.rv.to_string()
    }

    pub fn current_rv(&self) -> String {
        self.rv.to_string()
    }

    pub fn new_uid(&mut self) -> String {
        self.uid += 1;
        let x = self
            .seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(self.uid.wrapping_mul(1442695040888963407));
        let y = x.rotate_left(17) ^ self.uid;
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            (x >> 32) as u32,
            (x >> 16) as u16,
            (x & 0xfff) as u16,
            (y >> 52) as u16 & 0xfff,
            y & 0xffff_ffff_ffff
        )
    }

    /// A cluster IP from 10.0.0.0/24 (`peek` previews without allocating, for dry runs).
    pub fn cluster_ip(&mut self, peek: bool) -> String {
        let n = self.next_ip;
        if !peek {
            self.next_ip += 1;
        }
        format!("10.0.{}.{}", n / 256, n % 256)
    }

    pub fn namespace_exists(&self, ns: &str) -> bool {
        self.objects.contains_key(&ns_key(ns))
    }

    pub fn namespace_terminating(&self, ns: &str) -> bool {
        self.objects
            .get(&ns_key(ns))
            .is_some_and(|n| n.pointer("/metadata/deletionTimestamp").is_some())
    }

    /// Finish the termination of namespaces whose delay has passed (their objects go with them).
    pub fn reap(&mut self, now: Instant) {
        let due: Vec<String> = self
            .terminating
            .iter()
            .filter(|(_, t)| *t <= now)
            .map(|(n, _)| n.clone())
            .collect();
        if due.is_empty() {
            return;
        }
        self.terminating.retain(|(_, t)| *t > now);
        for ns in due {
            self.objects.retain(|k, _| k.2 != ns);
            self.objects.remove(&ns_key(&ns));
            self.next_rv();
        }
    }
}

pub fn ns_key(ns: &str) -> Key {
    (
        String::new(),
        "namespaces".into(),
        String::new(),
        ns.to_string(),
    )
}

/// RFC 3339 UTC timestamp with seconds (`2026-11-22T01:32:50Z`).
pub fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}
