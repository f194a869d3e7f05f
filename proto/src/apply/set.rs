//! Field sets: which fields a manager owns, as a tree of path elements, and their
//! `FieldsV1` encoding (`{"f:spec":{"f:replicas":{}}}`, `k:{…}`, `v:…`, `i:…`, `.`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::path::{Path, PathElement};

/// A set of field paths. A path is a *member* when the field itself is owned;
/// `children` hold the owned paths below a step (a step can be both).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Set {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, Set>,
}

impl Set {
    /// An empty set.
    pub fn new() -> Set {
        Set::default()
    }

    /// Whether the set has no paths.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.values().all(Set::is_empty)
    }

    /// Adds a path.
    pub fn insert(&mut self, path: &Path) {
        let Some((last, parents)) = path.0.split_last() else {
            return;
        };
        let mut node = self;
        for pe in parents {
            node = node.children.entry(pe.clone()).or_default();
        }
        node.members.insert(last.clone());
    }

    /// Whether `path` is a member.
    pub fn has(&self, path: &Path) -> bool {
        let Some((last, parents)) = path.0.split_last() else {
            return false;
        };
        let mut node = self;
        for pe in parents {
            match node.children.get(pe) {
                Some(n) => node = n,
                None => return false,
            }
        }
        node.members.contains(last)
    }

    /// The subtree below `path` (None when nothing lies below it).
    pub fn children_at(&self, path: &Path) -> Option<&Set> {
        let mut node = self;
        for pe in &path.0 {
            node = node.children.get(pe)?;
        }
        Some(node)
    }

    /// Whether `path` is a member or has members below it.
    pub fn has_prefix(&self, path: &Path) -> bool {
        self.has(path) || self.children_at(path).is_some_and(|s| !s.is_empty())
    }

    /// All paths in either set.
    pub fn union(&self, other: &Set) -> Set {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (pe, child) in &other.children {
            let merged = match out.children.get(pe) {
                Some(mine) => mine.union(child),
                None => child.clone(),
            };
            out.children.insert(pe.clone(), merged);
        }
        out.prune_empty();
        out
    }

    /// The paths of `self` that are not in `other` (members only; a member of
    /// `other` does not remove the paths below it).
    pub fn difference(&self, other: &Set) -> Set {
        let mut out = Set {
            members: self.members.difference(&other.members).cloned().collect(),
            children: BTreeMap::new(),
        };
        for (pe, child) in &self.children {
            let c = match other.children.get(pe) {
                Some(o) => child.difference(o),
                None => child.clone(),
            };
            if !c.is_empty() {
                out.children.insert(pe.clone(), c);
            }
        }
        out
    }

    /// The paths of `self` that are neither in `other` nor below a member of `other`.
    pub fn recursive_difference(&self, other: &Set) -> Set {
        let mut out = Set {
            members: self.members.difference(&other.members).cloned().collect(),
            children: BTreeMap::new(),
        };
        for (pe, child) in &self.children {
            if other.members.contains(pe) {
                continue;
            }
            let c = match other.children.get(pe) {
                Some(o) => child.recursive_difference(o),
                None => child.clone(),
            };
            if !c.is_empty() {
                out.children.insert(pe.clone(), c);
            }
        }
        out
    }

    /// The paths in both sets.
    pub fn intersection(&self, other: &Set) -> Set {
        let mut out = Set {
            members: self.members.intersection(&other.members).cloned().collect(),
            children: BTreeMap::new(),
        };
        for (pe, child) in &self.children {
            if let Some(o) = other.children.get(pe) {
                let c = child.intersection(o);
                if !c.is_empty() {
                    out.children.insert(pe.clone(), c);
                }
            }
        }
        out
    }

    /// Only the paths below `path` and `path` itself (as a set rooted like `self`).
    pub fn with_prefix(&self, path: &Path) -> Set {
        let mut out = Set::new();
        self.for_each(&mut |p| {
            if p.0.starts_with(&path.0) {
                out.insert(p);
            }
        });
        out
    }

    /// Calls `f` with every member path, in order.
    pub fn for_each(&self, f: &mut dyn FnMut(&Path)) {
        fn walk(set: &Set, prefix: &mut Vec<PathElement>, f: &mut dyn FnMut(&Path)) {
            let mut keys: BTreeSet<&PathElement> = set.members.iter().collect();
            keys.extend(set.children.keys());
            for pe in keys {
                prefix.push(pe.clone());
                if set.members.contains(pe) {
                    f(&Path(prefix.clone()));
                }
                if let Some(child) = set.children.get(pe) {
                    walk(child, prefix, f);
                }
                prefix.pop();
            }
        }
        walk(self, &mut Vec::new(), f);
    }

    /// Every member path, in order.
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.for_each(&mut |p| out.push(p.clone()));
        out
    }

    fn prune_empty(&mut self) {
        self.children.retain(|_, c| {
            c.prune_empty();
            !c.is_empty()
        });
    }

    /// The `FieldsV1` JSON of this set.
    pub fn to_fields_v1(&self) -> Value {
        let mut out = Map::new();
        let mut keys: BTreeSet<&PathElement> = self.members.iter().collect();
        keys.extend(self.children.keys());
        for pe in keys {
            let mut inner = match self.children.get(pe) {
                Some(c) => match c.to_fields_v1() {
                    Value::Object(m) => m,
                    _ => Map::new(),
                },
                None => Map::new(),
            };
            if self.members.contains(pe) && !inner.is_empty() {
                let mut with_self = Map::new();
                with_self.insert(".".into(), Value::Object(Map::new()));
                with_self.extend(inner);
                inner = with_self;
            }
            out.insert(encode_element(pe), Value::Object(inner));
        }
        Value::Object(out)
    }

    /// Parses `FieldsV1` JSON.
    pub fn from_fields_v1(v: &Value) -> Result<Set, String> {
        let obj = v.as_object().ok_or("expected an object")?;
        let mut set = Set::new();
        for (k, child) in obj {
            if k == "." {
                continue;
            }
            let pe = decode_element(k)?;
            let cobj = child.as_object().ok_or_else(|| format!("expected an object at {k}"))?;
            if cobj.is_empty() || cobj.contains_key(".") {
                set.members.insert(pe.clone());
            }
            let sub = Set::from_fields_v1(child)?;
            if !sub.is_empty() {
                set.children.insert(pe, sub);
            }
        }
        Ok(set)
    }
}

/// One path element as a `FieldsV1` key.
pub fn encode_element(pe: &PathElement) -> String {
    match pe {
        PathElement::Field(name) => format!("f:{name}"),
        PathElement::Key(keys) => {
            let mut m = Map::new();
            for (k, v) in keys {
                m.insert(k.clone(), v.clone());
            }
            format!("k:{}", Value::Object(m))
        }
        PathElement::Value(v) => format!("v:{v}"),
        PathElement::Index(i) => format!("i:{i}"),
    }
}

/// Parses a `FieldsV1` key.
pub fn decode_element(s: &str) -> Result<PathElement, String> {
    let (prefix, rest) = s.split_once(':').ok_or_else(|| format!("unexpected key {s:?}"))?;
    match prefix {
        "f" => Ok(PathElement::Field(rest.to_string())),
        "k" => {
            let v: Value = serde_json::from_str(rest).map_err(|e| format!("invalid key {rest:?}: {e}"))?;
            let obj = v.as_object().ok_or_else(|| format!("key {rest:?} is not an object"))?;
            let mut keys: Vec<(String, Value)> = obj.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            keys.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(PathElement::Key(keys))
        }
        "v" => serde_json::from_str(rest)
            .map(PathElement::Value)
            .map_err(|e| format!("invalid value {rest:?}: {e}")),
        "i" => rest
            .parse()
            .map(PathElement::Index)
            .map_err(|e| format!("invalid index {rest:?}: {e}")),
        _ => Err(format!("unexpected key {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(paths: &[&[&str]]) -> Set {
        let mut s = Set::new();
        for p in paths {
            s.insert(&Path::fields(p));
        }
        s
    }

    #[test]
    fn fields_v1_round_trips() {
        let v = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}, "f:name": {},
                        "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}}
                }}}
            },
            "f:finalizers": {"v:\"a\"": {}, "v:\"b\"": {}},
            "f:list": {"i:0": {}}
        });
        let s = Set::from_fields_v1(&v).expect("decodes");
        assert!(s.has(&Path::fields(&["metadata", "labels"])));
        assert!(s.has(&Path::fields(&["metadata", "labels", "app"])));
        assert!(!s.has(&Path::fields(&["metadata"])));
        let item = Path::fields(&["spec", "template", "spec", "containers"])
            .child(PathElement::Key(vec![("name".into(), json!("nginx"))]));
        assert!(s.has(&item));
        assert!(s.has(&item.child(PathElement::Field("image".into()))));
        assert_eq!(s.to_fields_v1(), v);
        assert_eq!(Set::from_fields_v1(&s.to_fields_v1()).expect("again"), s);
    }

    #[test]
    fn bad_fields_v1_is_rejected() {
        assert!(Set::from_fields_v1(&json!({"x:y": {}})).is_err());
        assert!(Set::from_fields_v1(&json!({"k:notjson": {}})).is_err());
        assert!(Set::from_fields_v1(&json!([])).is_err());
    }

    #[test]
    fn set_algebra() {
        let a = set(&[&["spec", "replicas"], &["spec", "paused"], &["metadata", "labels", "x"]]);
        let b = set(&[&["spec", "replicas"], &["spec", "minReadySeconds"]]);
        assert_eq!(a.intersection(&b), set(&[&["spec", "replicas"]]));
        assert_eq!(
            a.difference(&b),
            set(&[&["spec", "paused"], &["metadata", "labels", "x"]])
        );
        assert_eq!(a.union(&b).paths().len(), 4);
        let spec = set(&[&["spec"]]);
        assert_eq!(a.difference(&spec), a, "difference removes members only");
        assert_eq!(a.recursive_difference(&spec), set(&[&["metadata", "labels", "x"]]));
        assert!(a.difference(&a).is_empty());
        assert!(a.has_prefix(&Path::fields(&["spec"])));
        assert!(!a.has_prefix(&Path::fields(&["status"])));
    }
}
