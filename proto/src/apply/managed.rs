//! `metadata.managedFields`: decoding, the manager identity Kubernetes keys
//! entries by, encoding in Kubernetes' order, and the cap on `Update` entries.

use serde_json::{json, Map, Value};

use super::set::Set;

/// `Apply` or `Update`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    /// Server-side apply.
    Apply,
    /// Any other write (create, update, patch).
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The field manager.
    pub manager: String,
    /// How the manager wrote.
    pub operation: Operation,
    /// The API version the field set is expressed in.
    pub api_version: String,
    /// When the manager last changed the object (RFC 3339, seconds).
    pub time: Option<String>,
    /// `""` for the main resource, else the subresource (`status`).
    pub subresource: String,
    /// The fields the manager owns.
    pub set: Set,
}

impl Entry {
    /// Whether this entry has the identity Kubernetes keys entries by: manager,
    /// operation and subresource, plus the API version for `Update` entries.
    pub fn same_manager(&self, manager: &str, op: Operation, api_version: &str, subresource: &str) -> bool {
        self.manager == manager
            && self.operation == op
            && self.subresource == subresource
            && (op == Operation::Apply || self.api_version == api_version)
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), json!(self.manager));
        m.insert("operation".into(), json!(self.operation.as_str()));
        m.insert("apiVersion".into(), json!(self.api_version));
        if let Some(t) = &self.time {
            m.insert("time".into(), json!(t));
        }
        m.insert("fieldsType".into(), json!("FieldsV1"));
        m.insert("fieldsV1".into(), self.set.to_fields_v1());
        if !self.subresource.is_empty() {
            m.insert("subresource".into(), json!(self.subresource));
        }
        Value::Object(m)
    }
}

/// All entries of an object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Managed {
    /// The entries, in no particular order until encoded.
    pub entries: Vec<Entry>,
}

/// How many `Update` entries Kubernetes keeps before merging the oldest.
pub const MAX_UPDATE_MANAGERS: usize = 10;

/// The manager the oldest `Update` entries are merged into.
pub const ANCIENT_CHANGES: &str = "ancient-changes";

impl Managed {
    /// Decodes `metadata.managedFields` as Kubernetes does; errors name the bad entry.
    pub fn decode(list: &Value) -> Result<Managed, String> {
        let Some(items) = list.as_array() else {
            return if list.is_null() {
                Ok(Managed::default())
            } else {
                Err("managedFields must be a list".into())
            };
        };
        let mut out = Managed::default();
        for (i, item) in items.iter().enumerate() {
            let operation = match item["operation"].as_str() {
                Some("Apply") => Operation::Apply,
                Some("Update") => Operation::Update,
                _ => return Err("operation must be `Apply` or `Update`".into()),
            };
            let api_version = item["apiVersion"].as_str().unwrap_or("");
            if api_version.is_empty() {
                return Err("apiVersion must not be empty".into());
            }
            match item["fieldsType"].as_str().unwrap_or("") {
                "FieldsV1" => {}
                "" => return Err(format!("missing fieldsType in managed fields entry {i}")),
                other => return Err(format!("invalid fieldsType {other:?} in managed fields entry {i}")),
            }
            let set = match item.get("fieldsV1") {
                None | Some(Value::Null) => Set::new(),
                Some(v) => Set::from_fields_v1(v).map_err(|e| format!("error decoding set: {e}"))?,
            };
            let entry = Entry {
                manager: item["manager"].as_str().unwrap_or("").to_string(),
                operation,
                api_version: api_version.to_string(),
                time: item["time"].as_str().map(str::to_string),
                subresource: item["subresource"].as_str().unwrap_or("").to_string(),
                set,
            };
            // A later entry with the same identity replaces an earlier one.
            out.entries
                .retain(|e| !e.same_manager(&entry.manager, entry.operation, &entry.api_version, &entry.subresource));
            out.entries.push(entry);
        }
        Ok(out)
    }

    /// Whether a client's `managedFields` ask for a reset: an empty list, or one empty entry.
    pub fn is_reset(list: Option<&Value>) -> bool {
        match list.and_then(Value::as_array) {
            Some(items) if items.is_empty() => true,
            Some(items) if items.len() == 1 => items[0].as_object().is_some_and(|o| o.values().all(is_zero)),
            _ => false,
        }
    }

    /// The entries as `metadata.managedFields` JSON, sorted as Kubernetes sorts them
    /// (operation, time, manager, API version, subresource); None when there are none.
    pub fn encode(&self) -> Option<Value> {
        if self.entries.is_empty() {
            return None;
        }
        let mut entries: Vec<&Entry> = self.entries.iter().collect();
        entries.sort_by(|p, q| {
            p.operation
                .cmp(&q.operation)
                .then_with(|| seconds(p.time.as_deref()).cmp(&seconds(q.time.as_deref())))
                .then_with(|| p.manager.cmp(&q.manager))
                .then_with(|| p.api_version.cmp(&q.api_version))
                .then_with(|| p.subresource.cmp(&q.subresource))
        });
        Some(Value::Array(entries.into_iter().map(Entry::to_json).collect()))
    }

    /// The entry with this identity.
    pub fn find_mut(
        &mut self,
        manager: &str,
        op: Operation,
        api_version: &str,
        subresource: &str,
    ) -> Option<&mut Entry> {
        self.entries
            .iter_mut()
            .find(|e| e.same_manager(manager, op, api_version, subresource))
    }

    /// Drops entries that own nothing.
    pub fn drop_empty(&mut self) {
        self.entries.retain(|e| !e.set.is_empty());
    }

    /// Merges the oldest `Update` entries into `ancient-changes` (one per API
    /// version) until at most [`MAX_UPDATE_MANAGERS`] remain, as Kubernetes does.
    pub fn cap_updates(&mut self) {
        let mut updaters: Vec<usize> = (0..self.entries.len())
            .filter(|&i| self.entries[i].operation == Operation::Update)
            .collect();
        if updaters.len() <= MAX_UPDATE_MANAGERS {
            return;
        }
        updaters.sort_by(|&a, &b| {
            let (ea, eb) = (&self.entries[a], &self.entries[b]);
            seconds(ea.time.as_deref())
                .cmp(&seconds(eb.time.as_deref()))
                .then_with(|| identity(ea).cmp(&identity(eb)))
        });
        let mut length = updaters.len();
        let mut first_of_version: Vec<(String, usize)> = Vec::new();
        let mut removed: Vec<usize> = Vec::new();
        for &i in &updaters {
            if length <= MAX_UPDATE_MANAGERS {
                break;
            }
            let version = self.entries[i].api_version.clone();
            match first_of_version.iter().find(|(v, _)| *v == version).map(|(_, f)| *f) {
                Some(first) => {
                    let set = self.entries[i].set.clone();
                    let time = self.entries[i].time.clone();
                    let bucket = &mut self.entries[first];
                    bucket.manager = ANCIENT_CHANGES.to_string();
                    bucket.subresource = String::new();
                    bucket.set = bucket.set.union(&set);
                    bucket.time = time;
                    removed.push(i);
                    length -= 1;
                }
                None => first_of_version.push((version, i)),
            }
        }
        removed.sort_unstable();
        for i in removed.into_iter().rev() {
            self.entries.remove(i);
        }
    }
}

/// The JSON identity string Kubernetes builds for an entry (used to break ties).
fn identity(e: &Entry) -> String {
    let mut m = Map::new();
    m.insert("manager".into(), json!(e.manager));
    m.insert("operation".into(), json!(e.operation.as_str()));
    if e.operation == Operation::Update {
        m.insert("apiVersion".into(), json!(e.api_version));
    }
    if !e.subresource.is_empty() {
        m.insert("subresource".into(), json!(e.subresource));
    }
    Value::Object(m).to_string()
}

fn seconds(t: Option<&str>) -> i64 {
    t.and_then(crate::meta::parse_time).map(|t| t.as_second()).unwrap_or(0)
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::path::Path;

    fn entry(manager: &str, op: Operation, time: &str, field: &str) -> Entry {
        let mut set = Set::new();
        set.insert(&Path::fields(&["spec", field]));
        Entry {
            manager: manager.into(),
            operation: op,
            api_version: "apps/v1".into(),
            time: Some(time.into()),
            subresource: String::new(),
            set,
        }
    }

    #[test]
    fn encodes_sorted_and_decodes_back() {
        let m = Managed {
            entries: vec![
                entry(
                    "kube-controller-manager",
                    Operation::Update,
                    "2024-01-01T00:00:02Z",
                    "b",
                ),
                entry("kubectl", Operation::Apply, "2024-01-01T00:00:05Z", "a"),
                entry("kubectl-edit", Operation::Update, "2024-01-01T00:00:01Z", "c"),
            ],
        };
        let v = m.encode().expect("entries");
        let managers: Vec<&str> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["manager"].as_str().unwrap())
            .collect();
        assert_eq!(managers, ["kubectl", "kubectl-edit", "kube-controller-manager"]);
        assert_eq!(v[0]["fieldsType"], "FieldsV1");
        assert_eq!(v[0]["fieldsV1"], json!({"f:spec": {"f:a": {}}}));
        assert!(v[0].get("subresource").is_none());
        let back = Managed::decode(&v).expect("decodes");
        assert_eq!(back.encode(), Some(v));
    }

    #[test]
    fn invalid_entries_and_resets_are_recognized() {
        assert!(Managed::decode(
            &json!([{"manager": "x", "operation": "Patch", "apiVersion": "v1", "fieldsType": "FieldsV1"}])
        )
        .is_err());
        assert!(Managed::decode(&json!([{"manager": "x", "operation": "Update", "fieldsType": "FieldsV1"}])).is_err());
        assert!(Managed::decode(&json!([{"manager": "x", "operation": "Update", "apiVersion": "v1"}])).is_err());
        assert!(Managed::is_reset(Some(&json!([]))));
        assert!(Managed::is_reset(Some(&json!([{}]))));
        assert!(!Managed::is_reset(None));
        assert!(!Managed::is_reset(Some(&json!([{"manager": "x"}]))));
    }

    #[test]
    fn update_entries_are_capped_into_ancient_changes() {
        let mut m = Managed::default();
        for i in 0..12 {
            m.entries.push(entry(
                &format!("m{i:02}"),
                Operation::Update,
                &format!("2024-01-01T00:00:{i:02}Z"),
                &format!("f{i}"),
            ));
        }
        m.entries
            .push(entry("kubectl", Operation::Apply, "2024-01-01T00:00:00Z", "z"));
        m.cap_updates();
        let updates: Vec<&Entry> = m.entries.iter().filter(|e| e.operation == Operation::Update).collect();
        assert_eq!(updates.len(), MAX_UPDATE_MANAGERS);
        let ancient = m.entries.iter().find(|e| e.manager == ANCIENT_CHANGES).expect("bucket");
        assert_eq!(ancient.set.paths().len(), 3, "the three oldest merged");
        assert_eq!(ancient.time.as_deref(), Some("2024-01-01T00:00:02Z"));
        assert!(m.entries.iter().any(|e| e.manager == "kubectl"));
    }
}
