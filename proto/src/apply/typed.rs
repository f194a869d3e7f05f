//! Schema-driven walks over JSON objects: the field set a value sets, the
//! comparison of two values, the merge of an applied configuration into a live
//! object, and the removal of fields — each following the list and map semantics
//! of [`crate::schema`] as structured-merge-diff does.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::path::{Path, PathElement};
use super::set::Set;
use crate::schema::{DefKind, Definition, Field, ListType, MapType, Ty};

/// How a value merges, resolved from its schema type.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// One value (strings, numbers, `Quantity`, `Time`, …).
    Scalar,
    /// Free-form JSON: objects merge key by key, arrays are atomic.
    Deduced,
    /// A struct; `atomic` ones are owned and replaced whole.
    Struct(&'static Definition, bool),
    /// A list of items of a type.
    List(&'static Ty, ListType),
    /// A map of values of a type; `atomic` ones are owned and replaced whole.
    Map(&'static Ty, bool),
}

impl Shape {
    /// The shape of a top-level object of definition `def`.
    pub fn root(def: &'static Definition) -> Shape {
        Shape::Struct(def, false)
    }

    /// The shape of a value of type `ty`, declared by `field` when it is a struct field.
    pub fn of(ty: &'static Ty, field: Option<&'static Field>) -> Shape {
        match ty {
            Ty::Bool | Ty::Int | Ty::Num | Ty::Str => Shape::Scalar,
            Ty::Json => Shape::Deduced,
            Ty::D(_) => match ty.definition() {
                Some(d) => match d.kind {
                    DefKind::Scalar => Shape::Scalar,
                    DefKind::Json => Shape::Deduced,
                    DefKind::Struct => {
                        let atomic = match field.and_then(|f| f.map_type) {
                            Some(t) => t == MapType::Atomic,
                            None => d.atomic,
                        };
                        Shape::Struct(d, atomic)
                    }
                },
                None => Shape::Deduced,
            },
            Ty::L(item) => Shape::List(item, field.and_then(|f| f.list_type).unwrap_or(ListType::Atomic)),
            Ty::M(item) => Shape::Map(item, field.and_then(|f| f.map_type) == Some(MapType::Atomic)),
        }
    }

    /// Whether values of this shape are owned and replaced as one.
    fn atomic(self, v: Option<&Value>) -> bool {
        match self {
            Shape::Scalar => true,
            Shape::Deduced => !matches!(v, Some(Value::Object(_))),
            Shape::Struct(_, atomic) | Shape::Map(_, atomic) => atomic,
            Shape::List(_, lt) => lt == ListType::Atomic,
        }
    }

    /// The shape of child `key` of a map-like value, whether it is a declared
    /// struct field, and whether a missing value counts as `{}`.
    fn child(self, key: &str) -> (Shape, bool, bool) {
        match self {
            Shape::Struct(def, _) => match def.field(key) {
                Some(f) => (Shape::of(&f.ty, Some(f)), true, f.default == Some("{}")),
                None => (Shape::Deduced, false, false),
            },
            Shape::Map(item, _) => (Shape::of(item, None), false, false),
            _ => (Shape::Deduced, false, false),
        }
    }

    fn map_like(self) -> bool {
        matches!(self, Shape::Struct(..) | Shape::Map(..) | Shape::Deduced)
    }
}

fn non_null(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

/// The path element of a list item.
pub fn item_element(item_ty: &'static Ty, lt: ListType, item: &Value, index: usize) -> Result<PathElement, String> {
    match lt {
        ListType::Map(keys) => {
            let def = item_ty.definition();
            let mut out = Vec::with_capacity(keys.len());
            for k in keys {
                let v = match item.get(*k).filter(|v| !v.is_null()) {
                    Some(v) => v.clone(),
                    None => match def.and_then(|d| d.field(k)).and_then(|f| f.default) {
                        Some(d) => serde_json::from_str(d).map_err(|e| e.to_string())?,
                        None => {
                            return Err(format!(
                                "associative list with keys has an element that omits key field {k:?} (and doesn't have default value)"
                            ))
                        }
                    },
                };
                out.push(((*k).to_string(), v));
            }
            out.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(PathElement::Key(out))
        }
        ListType::Set => Ok(PathElement::Value(item.clone())),
        ListType::Atomic => Ok(PathElement::Index(index)),
    }
}

/// Indexes list items by path element; duplicates are an error when `strict`.
fn index_items(
    item_ty: &'static Ty,
    lt: ListType,
    list: &[Value],
    path: &Path,
    strict: bool,
) -> Result<Vec<PathElement>, String> {
    let mut seen: Vec<PathElement> = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let pe = item_element(item_ty, lt, item, i).map_err(|e| format!("{path}: {e}"))?;
        if strict && seen.contains(&pe) {
            return Err(format!("{path}: duplicate entries for key {pe}"));
        }
        seen.push(pe);
    }
    Ok(seen)
}

/// The fields a value sets (what an applier of it owns).
pub fn to_field_set(v: &Value, shape: Shape) -> Result<Set, String> {
    let mut set = Set::new();
    walk_set(v, shape, &Path::default(), &mut set)?;
    Ok(set)
}

fn walk_set(v: &Value, shape: Shape, path: &Path, out: &mut Set) -> Result<(), String> {
    if !path.0.is_empty() && shape.atomic(Some(v)) {
        out.insert(path);
        return Ok(());
    }
    match (shape, v) {
        (Shape::List(item_ty, lt), Value::Array(items)) => {
            let pes = index_items(item_ty, lt, items, path, true)?;
            for (item, pe) in items.iter().zip(pes) {
                let p = path.child(pe);
                walk_set(item, Shape::of(item_ty, None), &p, out)?;
                out.insert(&p);
            }
        }
        (s, Value::Object(map)) if s.map_like() => {
            for (k, cv) in map {
                let (cshape, declared, _) = s.child(k);
                let p = path.child(PathElement::Field(k.clone()));
                let empty = cv.is_null() || cv.as_object().is_some_and(Map::is_empty);
                if !cv.is_null() {
                    walk_set(cv, cshape, &p, out)?;
                }
                if empty || !declared {
                    out.insert(&p);
                }
            }
        }
        _ => {
            if !path.0.is_empty() {
                out.insert(path);
            }
        }
    }
    Ok(())
}

/// What changed between two values.
#[derive(Debug, Default, Clone)]
pub struct Comparison {
    /// Paths set in the new value only.
    pub added: Set,
    /// Paths whose value differs.
    pub modified: Set,
    /// Paths set in the old value only.
    pub removed: Set,
}

/// Compares two values of the same shape.
pub fn compare(old: &Value, new: &Value, shape: Shape) -> Comparison {
    let mut c = Comparison::default();
    walk_compare(Some(old), Some(new), shape, false, &Path::default(), &mut c);
    c
}

fn walk_compare(
    old: Option<&Value>,
    new: Option<&Value>,
    shape: Shape,
    default_empty: bool,
    path: &Path,
    c: &mut Comparison,
) {
    let empty = Value::Object(Map::new());
    let mut old = non_null(old);
    let mut new = non_null(new);
    if default_empty {
        old = old.or(Some(&empty));
        new = new.or(Some(&empty));
    }
    if old.is_none() && new.is_none() {
        return;
    }
    let leaf = |c: &mut Comparison| match (old, new) {
        (None, Some(_)) => c.added.insert(path),
        (Some(_), None) => c.removed.insert(path),
        (Some(a), Some(b)) if a != b => c.modified.insert(path),
        _ => {}
    };
    let kinds_differ =
        matches!(shape, Shape::Deduced) && matches!((old, new), (Some(a), Some(b)) if a.is_object() != b.is_object());
    let atomic = shape.atomic(new.or(old)) || kinds_differ;
    if atomic && !path.0.is_empty() {
        leaf(c);
        return;
    }
    match shape {
        Shape::List(item_ty, lt) => {
            let items = |v: Option<&Value>| -> Vec<(PathElement, Value)> {
                let Some(Value::Array(list)) = v else { return Vec::new() };
                let mut out: Vec<(PathElement, Value)> = Vec::new();
                for (i, item) in list.iter().enumerate() {
                    if let Ok(pe) = item_element(item_ty, lt, item, i) {
                        if !out.iter().any(|(p, _)| *p == pe) {
                            out.push((pe, item.clone()));
                        }
                    }
                }
                out
            };
            let (olds, news) = (items(old), items(new));
            let item_shape = Shape::of(item_ty, None);
            for (pe, nv) in &news {
                let ov = olds.iter().find(|(p, _)| p == pe).map(|(_, v)| v);
                compare_item(ov, Some(nv), item_shape, &path.child(pe.clone()), c);
            }
            for (pe, ov) in &olds {
                if !news.iter().any(|(p, _)| p == pe) {
                    compare_item(Some(ov), None, item_shape, &path.child(pe.clone()), c);
                }
            }
        }
        s if s.map_like() => {
            if !path.0.is_empty() {
                match (old, new) {
                    (None, Some(_)) => c.added.insert(path),
                    (Some(_), None) => c.removed.insert(path),
                    _ => {}
                }
            }
            let om = old.and_then(Value::as_object);
            let nm = new.and_then(Value::as_object);
            let mut keys: Vec<&String> = om.map(|m| m.keys().collect()).unwrap_or_default();
            for k in nm.into_iter().flat_map(|m| m.keys()) {
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
            for k in keys {
                let (cs, _, dflt) = s.child(k);
                walk_compare(
                    om.and_then(|m| m.get(k)),
                    nm.and_then(|m| m.get(k)),
                    cs,
                    dflt,
                    &path.child(PathElement::Field(k.clone())),
                    c,
                );
            }
        }
        _ => leaf(c),
    }
}

fn compare_item(old: Option<&Value>, new: Option<&Value>, shape: Shape, path: &Path, c: &mut Comparison) {
    if shape.atomic(new.or(old)) {
        match (old, new) {
            (None, Some(_)) => c.added.insert(path),
            (Some(_), None) => c.removed.insert(path),
            (Some(a), Some(b)) if a != b => c.modified.insert(path),
            _ => {}
        }
        return;
    }
    walk_compare(old, new, shape, false, path, c);
}

/// Merges an applied configuration into a live value: configured fields win,
/// structs and granular maps merge key by key, associative lists item by item.
pub fn merge(live: &Value, config: &Value, shape: Shape) -> Result<Value, String> {
    merge_at(Some(live), config, shape, &Path::default())
}

fn merge_at(live: Option<&Value>, config: &Value, shape: Shape, path: &Path) -> Result<Value, String> {
    let live = non_null(live);
    if !path.0.is_empty() && shape.atomic(Some(config)) {
        return Ok(config.clone());
    }
    match (shape, config) {
        (Shape::List(item_ty, lt), Value::Array(citems)) => {
            let litems: &[Value] = match live {
                Some(Value::Array(a)) => a,
                _ => &[],
            };
            let cpes = index_items(item_ty, lt, citems, path, true)?;
            let lpes = index_items(item_ty, lt, litems, path, false)?;
            let lindex: HashMap<String, usize> = lpes
                .iter()
                .enumerate()
                .map(|(i, pe)| (pe.to_string(), i))
                .rev()
                .collect();
            let cindex: HashMap<String, usize> = cpes.iter().enumerate().map(|(i, pe)| (pe.to_string(), i)).collect();
            let item_shape = Shape::of(item_ty, None);
            let mut out = Vec::with_capacity(litems.len() + citems.len());
            let mut emitted = vec![false; citems.len()];
            let mut ri = 0;
            let emit_config = |i: usize, out: &mut Vec<Value>, emitted: &mut Vec<bool>| -> Result<(), String> {
                if emitted[i] {
                    return Ok(());
                }
                emitted[i] = true;
                let key = cpes[i].to_string();
                let lv = lindex.get(&key).map(|&li| &litems[li]);
                out.push(merge_at(lv, &citems[i], item_shape, &path.child(cpes[i].clone()))?);
                Ok(())
            };
            let mut seen_live: Vec<String> = Vec::new();
            for (li, lpe) in lpes.iter().enumerate() {
                let key = lpe.to_string();
                if seen_live.contains(&key) && cindex.contains_key(&key) {
                    continue;
                }
                seen_live.push(key.clone());
                match cindex.get(&key) {
                    Some(&target) => {
                        while ri <= target {
                            emit_config(ri, &mut out, &mut emitted)?;
                            ri += 1;
                        }
                        emit_config(target, &mut out, &mut emitted)?;
                    }
                    None => out.push(litems[li].clone()),
                }
            }
            for i in 0..citems.len() {
                emit_config(i, &mut out, &mut emitted)?;
            }
            Ok(Value::Array(out))
        }
        (s, Value::Object(cmap)) if s.map_like() => {
            let mut out = match live {
                Some(Value::Object(m)) => m.clone(),
                _ => Map::new(),
            };
            for (k, cv) in cmap {
                if cv.is_null() {
                    out.remove(k);
                    continue;
                }
                let (cs, _, _) = s.child(k);
                let merged = merge_at(out.get(k), cv, cs, &path.child(PathElement::Field(k.clone())))?;
                out.insert(k.clone(), merged);
            }
            Ok(Value::Object(out))
        }
        _ => Ok(config.clone()),
    }
}

/// Removes, top-down, every field, map key and list item for which `remove(path,
/// is_struct_field)` says so (a removed value takes everything below it along).
pub fn remove_where(v: &mut Value, shape: Shape, remove: &dyn Fn(&Path, bool) -> bool) {
    walk_remove(v, shape, &Path::default(), remove);
}

fn walk_remove(v: &mut Value, shape: Shape, path: &Path, remove: &dyn Fn(&Path, bool) -> bool) {
    if !path.0.is_empty() && shape.atomic(Some(v)) {
        return;
    }
    match (shape, v) {
        (Shape::List(item_ty, lt), Value::Array(items)) => {
            let item_shape = Shape::of(item_ty, None);
            let mut i = 0;
            items.retain(|item| {
                let keep = match item_element(item_ty, lt, item, i) {
                    Ok(pe) => !remove(&path.child(pe), false),
                    Err(_) => true,
                };
                i += 1;
                keep
            });
            for (i, item) in items.iter_mut().enumerate() {
                if let Ok(pe) = item_element(item_ty, lt, item, i) {
                    walk_remove(item, item_shape, &path.child(pe), remove);
                }
            }
        }
        (s, Value::Object(map)) if s.map_like() => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                let (cs, declared, _) = s.child(&k);
                let p = path.child(PathElement::Field(k.clone()));
                if remove(&p, declared && matches!(s, Shape::Struct(..))) {
                    map.remove(&k);
                } else if let Some(cv) = map.get_mut(&k) {
                    walk_remove(cv, cs, &p, remove);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::for_kind;
    use serde_json::json;

    fn deploy() -> Shape {
        Shape::root(for_kind("apps", "v1", "Deployment").expect("deployment"))
    }

    fn paths(s: &Set) -> Vec<String> {
        s.paths().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn field_set_follows_the_schema() {
        let cfg = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                    {"name": "nginx", "image": "nginx", "ports": [{"containerPort": 80}], "args": ["a"]}
                ]}}
            }
        });
        let s = to_field_set(&cfg, deploy()).expect("set");
        let p = paths(&s);
        assert!(p.contains(&".spec.replicas".to_string()));
        assert!(
            p.contains(&".spec.selector".to_string()),
            "LabelSelector is atomic: {p:?}"
        );
        assert!(!p.iter().any(|x| x.starts_with(".spec.selector.")));
        assert!(p.contains(&".metadata.labels.app".to_string()));
        assert!(!p.contains(&".spec".to_string()));
        let c = ".spec.template.spec.containers[name=\"nginx\"]";
        assert!(p.contains(&c.to_string()));
        assert!(p.contains(&format!("{c}.args")));
        assert!(p.contains(&format!("{c}.ports[containerPort=80,protocol=\"TCP\"].containerPort")));
        let v = s.to_fields_v1();
        assert!(v["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"nginx\"}"]["."].is_object());
    }

    #[test]
    fn duplicate_keys_in_config_are_rejected() {
        let cfg = json!({"spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "a"}]}}}});
        let err = to_field_set(&cfg, deploy()).expect_err("duplicates");
        assert_eq!(
            err,
            ".spec.template.spec.containers: duplicate entries for key [name=\"a\"]"
        );
    }

    #[test]
    fn merge_keyed_lists_item_by_item() {
        let live = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
            {"name": "b", "image": "b:1"}
        ]}}, "selector": {"matchLabels": {"x": "1", "y": "2"}}}});
        let cfg = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "b", "image": "b:2"},
            {"name": "c", "image": "c:1"},
            {"name": "a", "env": [{"name": "Y", "value": "2"}]}
        ]}}, "selector": {"matchLabels": {"x": "1"}}}});
        let m = merge(&live, &cfg, deploy()).expect("merge");
        let cs = &m["spec"]["template"]["spec"]["containers"];
        let names: Vec<&str> = cs
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["b", "c", "a"]);
        assert_eq!(cs[0]["image"], "b:2");
        assert_eq!(cs[2]["image"], "a:1");
        assert_eq!(
            cs[2]["env"],
            json!([{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}])
        );
        assert_eq!(
            m["spec"]["selector"],
            json!({"matchLabels": {"x": "1"}}),
            "atomic struct replaced"
        );
    }

    #[test]
    fn compare_reports_leaves_and_new_items() {
        let old = json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}});
        let new = json!({"spec": {"replicas": 2, "paused": true, "strategy": {"rollingUpdate": {"maxSurge": 1}},
            "template": {"spec": {"containers": [{"name": "b", "image": "y"}]}}}});
        let c = compare(&old, &new, deploy());
        assert_eq!(paths(&c.modified), [".spec.replicas"]);
        let added = paths(&c.added);
        assert!(added.contains(&".spec.paused".to_string()));
        assert!(
            !added.contains(&".spec.strategy".to_string()),
            "strategy defaults to {{}}: {added:?}"
        );
        assert!(added.contains(&".spec.strategy.rollingUpdate".to_string()));
        assert!(added.contains(&".spec.template.spec.containers[name=\"b\"]".to_string()));
        assert!(added.contains(&".spec.template.spec.containers[name=\"b\"].image".to_string()));
        assert!(paths(&c.removed).contains(&".spec.template.spec.containers[name=\"a\"].image".to_string()));
    }

    #[test]
    fn remove_where_drops_subtrees() {
        let mut v = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"replicas": 1, "paused": true}});
        remove_where(&mut v, deploy(), &|p, _| {
            let s = p.to_string();
            s == ".metadata.labels.a" || s == ".spec"
        });
        assert_eq!(v, json!({"metadata": {"labels": {"b": "2"}}}));
    }
}
