#!/usr/bin/env python3
"""Generate proto/src/schema/table.rs: the structural schema of every Kubernetes type.

For each OpenAPI definition (`io.k8s.api.core.v1.Container`) the table lists its
fields with their JSON names, value types and the list/map semantics that
server-side apply (structured-merge-diff) and the OpenAPI extensions
(`x-kubernetes-list-type`, `x-kubernetes-list-map-keys`, `x-kubernetes-map-type`)
describe.

Source (already in the cargo registry after a build of k1s):
  * k8s-openapi 0.29.0 (v1_33), generated from the upstream OpenAPI spec:
    - the struct fields and their Rust types give the value types;
    - the Deserialize visitors (`"volumeID" => Field::Key_volume_id`) give JSON names;
    - the `DeepMerge::merge_from` impls encode the list and map extensions:
      `merge_strategies::list::map(.., &[|lhs, rhs| lhs.name == rhs.name], ..)` is
      `x-kubernetes-list-type: map` with its keys, `list::set` / `list::atomic` the
      other list types, `map::granular` / `map::atomic` the map types;
    - `impl crate::Resource` gives each top-level kind's group, version and kind.

k8s-openapi's DeepMerge does not carry everything structured-merge-diff needs, so a
few facts are added here, each checked against upstream's own structured-merge-diff
schema (k8s.io/client-go/applyconfigurations/internal, the `+structType=atomic`
markers and `+listMapKey` tags in k8s.io/api):
  * ATOMIC_STRUCTS: definitions marked `x-kubernetes-map-type: atomic` (Go
    `+structType=atomic`): they are owned and replaced as one value.
  * LIST_KEYS: associative lists whose `x-kubernetes-list-map-keys` have more keys
    than k8s-openapi's merge closures (it compares only the patch merge key there).
  * ATOMIC_LISTS: lists that are `x-kubernetes-list-type: atomic` upstream although
    their patch strategy merges by a key (k8s-openapi follows the patch strategy), or
    that k8s-openapi keys itself (`volumeClaimTemplates` by `metadata.name`).
  * FIELD_MAP_TYPE: fields that override their struct type's atomicity.
  * DEFAULT_EMPTY: struct fields that are Go values rather than pointers (upstream
    schema `default: {}`): every `metadata` ObjectMeta, the `spec` and `status` of
    top-level kinds, and the fields listed. A missing one compares as an empty
    object, so creating it does not own the struct itself (only what is in it).
  * DEFAULTS: defaults of list-map key fields (structured-merge-diff fills a missing
    key from the schema default, e.g. a container port's protocol `TCP`).

Usage: python3 scripts/gen_schema_tables.py [--report]
Writes proto/src/schema/table.rs; --report prints what the overrides changed.
"""

import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "proto", "src", "schema", "table.rs")


def registry_dir(crate):
    hits = sorted(glob.glob(os.path.expanduser(f"~/.cargo/registry/src/*/{crate}/src")))
    if not hits:
        sys.exit(f"{crate} not found in ~/.cargo/registry/src (run `cargo fetch` first)")
    return hits[-1]


OA = os.path.join(registry_dir("k8s-openapi-0.29.0"), "v1_33")

ATOMIC_STRUCTS = {
    "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector",
    "io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference",
    "io.k8s.api.admissionregistration.v1.MatchResources",
    "io.k8s.api.admissionregistration.v1.NamedRuleWithOperations",
    "io.k8s.api.admissionregistration.v1.ParamKind",
    "io.k8s.api.admissionregistration.v1.ParamRef",
    "io.k8s.api.admissionregistration.v1.Variable",
    "io.k8s.api.admissionregistration.v1alpha1.MatchResources",
    "io.k8s.api.admissionregistration.v1alpha1.NamedRuleWithOperations",
    "io.k8s.api.admissionregistration.v1alpha1.ParamKind",
    "io.k8s.api.admissionregistration.v1alpha1.ParamRef",
    "io.k8s.api.admissionregistration.v1beta1.MatchResources",
    "io.k8s.api.admissionregistration.v1beta1.NamedRuleWithOperations",
    "io.k8s.api.admissionregistration.v1beta1.ParamKind",
    "io.k8s.api.admissionregistration.v1beta1.ParamRef",
    "io.k8s.api.admissionregistration.v1beta1.Variable",
    "io.k8s.api.autoscaling.v1.CrossVersionObjectReference",
    "io.k8s.api.core.v1.ConfigMapKeySelector",
    "io.k8s.api.core.v1.EndpointAddress",
    "io.k8s.api.core.v1.EndpointPort",
    "io.k8s.api.core.v1.LocalObjectReference",
    "io.k8s.api.core.v1.NodeSelector",
    "io.k8s.api.core.v1.NodeSelectorTerm",
    "io.k8s.api.core.v1.ObjectFieldSelector",
    "io.k8s.api.core.v1.ObjectReference",
    "io.k8s.api.core.v1.ResourceFieldSelector",
    "io.k8s.api.core.v1.ScopeSelector",
    "io.k8s.api.core.v1.SecretKeySelector",
    "io.k8s.api.core.v1.SecretReference",
    "io.k8s.api.core.v1.TopologySelectorTerm",
    "io.k8s.api.core.v1.TypedLocalObjectReference",
    "io.k8s.api.discovery.v1.EndpointPort",
    "io.k8s.api.rbac.v1.RoleRef",
    "io.k8s.api.rbac.v1.Subject",
}

LIST_KEYS = {
    ("io.k8s.api.core.v1.Container", "ports"): ["containerPort", "protocol"],
    ("io.k8s.api.core.v1.EphemeralContainer", "ports"): ["containerPort", "protocol"],
    ("io.k8s.api.core.v1.ServiceSpec", "ports"): ["port", "protocol"],
    ("io.k8s.api.core.v1.PodSpec", "topologySpreadConstraints"): ["topologyKey", "whenUnsatisfiable"],
}

ATOMIC_LISTS = {
    ("io.k8s.api.apps.v1.StatefulSetSpec", "volumeClaimTemplates"),
    ("io.k8s.api.batch.v1.JobStatus", "conditions"),
    ("io.k8s.api.core.v1.PodStatus", "hostIPs"),
}

FIELD_MAP_TYPE = {
    ("io.k8s.api.core.v1.PersistentVolumeSpec", "claimRef"): "Granular",
}

DEFAULTS = {
    ("io.k8s.api.core.v1.ContainerPort", "protocol"): '"TCP"',
    ("io.k8s.api.core.v1.ServicePort", "protocol"): '"TCP"',
}

DEFAULT_EMPTY = {
    ("io.k8s.api.apps.v1.DaemonSetSpec", "template"),
    ("io.k8s.api.apps.v1.DaemonSetSpec", "updateStrategy"),
    ("io.k8s.api.apps.v1.DeploymentSpec", "strategy"),
    ("io.k8s.api.apps.v1.DeploymentSpec", "template"),
    ("io.k8s.api.apps.v1.ReplicaSetSpec", "template"),
    ("io.k8s.api.apps.v1.StatefulSetSpec", "template"),
    ("io.k8s.api.apps.v1.StatefulSetSpec", "updateStrategy"),
    ("io.k8s.api.batch.v1.JobSpec", "template"),
    ("io.k8s.api.batch.v1.CronJobSpec", "jobTemplate"),
    ("io.k8s.api.batch.v1.JobTemplateSpec", "spec"),
    ("io.k8s.api.core.v1.PodTemplateSpec", "spec"),
    ("io.k8s.api.core.v1.PodTemplate", "template"),
    ("io.k8s.api.core.v1.PersistentVolumeClaimTemplate", "spec"),
    ("io.k8s.api.core.v1.Container", "resources"),
    ("io.k8s.api.core.v1.EphemeralContainer", "resources"),
    ("io.k8s.api.core.v1.ContainerStatus", "lastState"),
    ("io.k8s.api.core.v1.ContainerStatus", "state"),
    ("io.k8s.api.core.v1.PersistentVolumeClaimSpec", "resources"),
    ("io.k8s.api.core.v1.ServiceStatus", "loadBalancer"),
    ("io.k8s.api.core.v1.NodeStatus", "daemonEndpoints"),
    ("io.k8s.api.core.v1.NodeStatus", "nodeInfo"),
    ("io.k8s.api.core.v1.NodeDaemonEndpoints", "kubeletEndpoint"),
    ("io.k8s.api.core.v1.Event", "involvedObject"),
    ("io.k8s.api.core.v1.Event", "source"),
    ("io.k8s.api.core.v1.PreferredSchedulingTerm", "preference"),
    ("io.k8s.api.core.v1.WeightedPodAffinityTerm", "podAffinityTerm"),
    ("io.k8s.api.autoscaling.v1.HorizontalPodAutoscalerSpec", "scaleTargetRef"),
    ("io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerSpec", "scaleTargetRef"),
    ("io.k8s.api.networking.v1.HTTPIngressPath", "backend"),
    ("io.k8s.api.networking.v1.IngressServiceBackend", "port"),
    ("io.k8s.api.networking.v1.IngressStatus", "loadBalancer"),
    ("io.k8s.api.rbac.v1.RoleBinding", "roleRef"),
    ("io.k8s.api.rbac.v1.ClusterRoleBinding", "roleRef"),
    ("io.k8s.api.events.v1.Event", "deprecatedSource"),
    ("io.k8s.api.events.v1.Event", "regarding"),
    ("io.k8s.api.discovery.v1.Endpoint", "conditions"),
}

# Newtype definitions: values that structured-merge-diff treats as one scalar, or as
# free-form JSON (maps merged key by key, lists atomic).
SCALAR_NEWTYPES = {"Quantity", "Time", "MicroTime", "IntOrString"}
PRIMITIVES = {
    "std::string::String": "Str",
    "crate::ByteString": "Str",
    "bool": "Bool",
    "i32": "Int",
    "i64": "Int",
    "f64": "Num",
}


class Def:
    def __init__(self, name, rust_path):
        self.name = name
        self.rust_path = rust_path
        self.kind = "Struct"  # Struct | Scalar | Json
        self.fields = []  # [Field]
        self.gvk = None
        self.atomic = False


class Field:
    def __init__(self, json, rust, ty):
        self.json = json
        self.rust = rust
        self.ty = ty  # nested tuple: ("prim", "Str") | ("def", path) | ("list", ty) | ("map", ty)
        self.list_type = None  # ("Atomic",) | ("Set",) | ("Map", [keys])
        self.map_type = None  # "Granular" | "Atomic"
        self.default = None


def module_path(path):
    rel = os.path.relpath(os.path.dirname(path), OA)
    return "crate::" + rel.replace(os.sep, "::")


def parse_type(text):
    text = re.sub(r"\s+", "", text)
    for wrapper in ("Option<", "std::boxed::Box<"):
        if text.startswith(wrapper):
            return parse_type(text[len(wrapper) : -1])
    if text.startswith("std::vec::Vec<"):
        return ("list", parse_type(text[len("std::vec::Vec<") : -1]))
    if text.startswith("std::collections::BTreeMap<std::string::String,"):
        return ("map", parse_type(text[len("std::collections::BTreeMap<std::string::String,") : -1]))
    if text in PRIMITIVES:
        return ("prim", PRIMITIVES[text])
    if text.startswith("crate::serde_json::Value"):
        return ("prim", "Json")
    if text.startswith("crate::"):
        return ("def", text)
    raise ValueError(f"unknown type {text}")


def split_merge_calls(body):
    """The top-level statements of a merge_from body, one per field."""
    stmts, depth, cur = [], 0, []
    for ch in body:
        cur.append(ch)
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == ";" and depth == 0:
            stmts.append("".join(cur).strip())
            cur = []
    return stmts


def parse_file(path):
    src = open(path).read()
    m = re.match(r"// Generated from definition (\S+)", src)
    if not m:
        return None
    name = m.group(1)
    sm = re.search(r"^pub (struct|enum) (\w+)", src, re.M)
    if not sm:
        return None
    d = Def(name, module_path(path) + "::" + sm.group(2))
    short = sm.group(2)
    if sm.group(1) == "enum" or re.search(rf"^pub struct {short}\(", src, re.M):
        d.kind = "Scalar" if short in SCALAR_NEWTYPES else "Json"
        return d
    body = re.search(rf"^pub struct {short} \{{\n(.*?)^\}}", src, re.M | re.S)
    rust_types = {}
    if body:
        for fm in re.finditer(r"^    pub (\w+): (.+),$", body.group(1), re.M):
            rust_types[fm.group(1)] = fm.group(2)
    keys = re.findall(r'^\s+"([^"]+)" => Field::Key_(\w+),', src, re.M)
    for json, rust in keys:
        if rust in rust_types:
            ty = parse_type(rust_types[rust])
        elif json in ("apiVersion", "kind"):
            ty = ("prim", "Str")
        else:
            raise ValueError(f"{name}: no field for {json}")
        d.fields.append(Field(json, rust, ty))
    res = re.search(
        r'impl crate::Resource for \w+ \{\s*const API_VERSION[^;]*;\s*const GROUP: &\'static str = "([^"]*)";\s*'
        r'const KIND: &\'static str = "([^"]*)";\s*const VERSION: &\'static str = "([^"]*)";',
        src,
    )
    if res:
        d.gvk = (res.group(1), res.group(3), res.group(2))
    mm = re.search(r"fn merge_from\(&mut self, other: Self\) \{\n(.*?)\n    \}\n\}", src, re.S)
    merges = {}
    if mm:
        for stmt in split_merge_calls(mm.group(1)):
            fm = re.search(r"\(\s*&mut self\.(\w+),", stmt)
            if fm:
                merges[fm.group(1)] = stmt
    by_rust = {f.rust: f for f in d.fields}
    for rust, stmt in merges.items():
        f = by_rust.get(rust)
        if f is None:
            continue
        if "merge_strategies::list::map(" in stmt:
            keys = re.findall(r"\|lhs, rhs\| lhs\.(\w+) == rhs\.\w+", stmt)
            f.list_type = ("Map", keys)  # rust names; mapped to JSON names later
        elif "merge_strategies::list::set(" in stmt:
            f.list_type = ("Set",)
        elif "merge_strategies::list::atomic(" in stmt:
            f.list_type = ("Atomic",)
        elif "merge_strategies::map::granular(" in stmt:
            f.map_type = "Granular"
        elif "merge_strategies::map::atomic(" in stmt:
            f.map_type = "Atomic"
    return d


def load():
    defs = {}
    for path in sorted(glob.glob(os.path.join(OA, "**", "*.rs"), recursive=True)):
        if os.path.basename(path) in ("mod.rs", "list.rs"):
            continue
        d = parse_file(path)
        if d is not None:
            defs[d.name] = d
    return defs


def resolve(defs, report):
    by_path = {d.rust_path: d for d in defs.values()}

    def item_def(ty):
        while ty[0] in ("list", "map"):
            ty = ty[1]
        return by_path.get(ty[1]) if ty[0] == "def" else None

    for d in defs.values():
        for f in d.fields:
            if f.ty[0] == "list" and f.list_type is None:
                f.list_type = ("Atomic",)
            if f.ty[0] == "map" and f.map_type is None:
                f.map_type = "Granular"
            key = (d.name, f.json)
            if key in ATOMIC_LISTS:
                if report:
                    print(f"atomic {d.name}.{f.json}: was {f.list_type}")
                f.list_type = ("Atomic",)
            if f.list_type and f.list_type[0] == "Map":
                item = item_def(f.ty)
                names = {x.rust: x.json for x in item.fields}
                f.list_type = ("Map", [names[k] for k in f.list_type[1]])
            if key in LIST_KEYS:
                if report:
                    print(f"keys {d.name}.{f.json}: {f.list_type} -> {LIST_KEYS[key]}")
                f.list_type = ("Map", LIST_KEYS[key])
            if key in FIELD_MAP_TYPE:
                f.map_type = FIELD_MAP_TYPE[key]
            if key in DEFAULTS:
                f.default = DEFAULTS[key]
            is_struct = f.ty[0] == "def" and by_path[f.ty[1]].kind == "Struct"
            meta = f.json == "metadata" and f.ty == ("def", "crate::apimachinery::pkg::apis::meta::v1::ObjectMeta")
            top = d.gvk is not None and f.json in ("spec", "status")
            if is_struct and (meta or top or key in DEFAULT_EMPTY):
                f.default = "{}"
        if d.name in ATOMIC_STRUCTS:
            d.atomic = True
    missing = [n for n in list(ATOMIC_STRUCTS) + [k[0] for k in LIST_KEYS] + [k[0] for k in DEFAULTS] + [k[0] for k in ATOMIC_LISTS] + [k[0] for k in DEFAULT_EMPTY] if n not in defs]
    if missing:
        sys.exit(f"overrides name unknown definitions: {missing}")
    return by_path


def rust_ty(ty, index, by_path):
    kind = ty[0]
    if kind == "prim":
        return ty[1]
    if kind == "def":
        d = by_path[ty[1]]
        return f"D({index[d.name]})"
    inner = rust_ty(ty[1], index, by_path)
    return f"{'L' if kind == 'list' else 'M'}(&{inner})"


def emit(defs, by_path):
    names = sorted(defs)
    index = {n: i for i, n in enumerate(names)}
    out = [
        "// @generated by scripts/gen_schema_tables.py from k8s-openapi 0.29.0 v1_33 (fields, JSON names,",
        "// DeepMerge list/map strategies, resource kinds) plus the overrides listed in that script.",
        "// Do not edit; regenerate with `python3 scripts/gen_schema_tables.py` (kept out of rustfmt in mod.rs).",
        "",
        "use super::{DefKind, Definition, Field, ListType, MapType, Ty, Ty::*};",
        "",
        "const fn f(name: &'static str, ty: Ty) -> Field {",
        "    Field { name, ty, list_type: None, map_type: None, default: None }",
        "}",
        "const fn l(name: &'static str, ty: Ty, list_type: ListType) -> Field {",
        "    Field { name, ty, list_type: Some(list_type), map_type: None, default: None }",
        "}",
        "const fn m(name: &'static str, ty: Ty, map_type: MapType) -> Field {",
        "    Field { name, ty, list_type: None, map_type: Some(map_type), default: None }",
        "}",
        "const fn dflt(name: &'static str, ty: Ty, default: &'static str) -> Field {",
        "    Field { name, ty, list_type: None, map_type: None, default: Some(default) }",
        "}",
        "const fn s(name: &'static str, atomic: bool, gvk: Option<(&'static str, &'static str, &'static str)>, fields: &'static [Field]) -> Definition {",
        "    Definition { name, kind: DefKind::Struct, atomic, gvk, fields }",
        "}",
        "const fn x(name: &'static str, kind: DefKind) -> Definition {",
        "    Definition { name, kind, atomic: false, gvk: None, fields: &[] }",
        "}",
        "",
        "/// Every definition, sorted by name; `D(i)` refers to `DEFINITIONS[i]`. Fields are sorted by JSON name.",
        "pub static DEFINITIONS: &[Definition] = &[",
    ]
    for n in names:
        d = defs[n]
        if d.kind != "Struct":
            out.append(f'    /* {index[n]} */ x("{n}", DefKind::{d.kind}),')
            continue
        gvk = "None" if d.gvk is None else 'Some(("%s", "%s", "%s"))' % d.gvk
        parts = []
        for fl in sorted(d.fields, key=lambda f: f.json):
            ty = rust_ty(fl.ty, index, by_path)
            if fl.list_type is not None:
                if fl.list_type[0] == "Map":
                    keys = ", ".join(f'"{k}"' for k in fl.list_type[1])
                    lt = f"ListType::Map(&[{keys}])"
                else:
                    lt = f"ListType::{fl.list_type[0]}"
                parts.append(f'l("{fl.json}", {ty}, {lt})')
            elif fl.map_type is not None and fl.default is None:
                parts.append(f'm("{fl.json}", {ty}, MapType::{fl.map_type})')
            elif fl.default is not None:
                lit = fl.default.replace("\\", "\\\\").replace('"', '\\"')
                parts.append(f'dflt("{fl.json}", {ty}, "{lit}")')
            else:
                parts.append(f'f("{fl.json}", {ty})')
        lines, cur = [], ""
        for p in parts:
            if cur and len(cur) + len(p) > 100:
                lines.append(cur)
                cur = ""
            cur += (" " if cur else "") + p + ","
        if cur:
            lines.append(cur)
        body = ("\n        " + "\n        ".join(lines) + "\n    ") if lines else ""
        out.append(f'    /* {index[n]} */ s("{n}", {str(d.atomic).lower()}, {gvk}, &[{body}]),')
    out.append("];")
    out.append("")
    return "\n".join(out)


def main():
    report = "--report" in sys.argv
    defs = load()
    by_path = resolve(defs, report)
    text = emit(defs, by_path)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as fh:
        fh.write(text)
    print(f"wrote {os.path.relpath(OUT, ROOT)}: {len(defs)} definitions", file=sys.stderr)


if __name__ == "__main__":
    main()
