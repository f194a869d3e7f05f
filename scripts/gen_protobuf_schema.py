#!/usr/bin/env python3
"""Generate proto/src/protobuf/schema.rs: the Kubernetes protobuf message table.

Sources (both already in the cargo registry after a build of k1s):
  * k8s-pb 0.9.0 (prost code generated from Kubernetes' generated.proto files):
    message names, field tags, wire kinds, repeated/map, message references.
  * k8s-openapi 0.29.0 (v1_33): the exact JSON name of each field (its Deserialize
    impls map `"volumeID" => Field::Key_volume_id`) and whether a field is required
    (a non-`Option` field, i.e. a Go field without `omitempty`).
  * scripts/protobuf_presence.txt: which optional Go scalar fields are pointers and
    which are plain values (see that file).

Usage: python3 scripts/gen_protobuf_schema.py [--report]
Writes proto/src/protobuf/schema.rs and prints fields whose JSON name was not found
in k8s-openapi (they fall back to other sources, see `json_name`).
"""

import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "proto", "src", "protobuf", "schema.rs")
PRESENCE = os.path.join(ROOT, "scripts", "protobuf_presence.txt")


def registry_dir(crate):
    hits = sorted(glob.glob(os.path.expanduser(f"~/.cargo/registry/src/*/{crate}/src")))
    if not hits:
        sys.exit(f"{crate} not found in ~/.cargo/registry/src (run `cargo fetch` with it in a Cargo.toml)")
    return hits[-1]


PB = registry_dir("k8s-pb-0.9.0")
OA = os.path.join(registry_dir("k8s-openapi-0.29.0"), "v1_33")


def alnum(s):
    return re.sub(r"[^a-z0-9]", "", s.lower())


# ---------------------------------------------------------------- k8s-pb


# Not API request bodies: metrics-server's read-only APIs and apimachinery's test group.
SKIPPED = ("metrics", "apimachinery::pkg::apis::testapigroup")


class PbField:
    def __init__(self, tag, rust, kind, card, ref, value_kind, doc):
        self.tag = tag
        self.rust = rust
        self.kind = kind  # string bytes bool int32 int64 double message
        self.card = card  # one | rep | map
        self.ref = ref  # resolved message key for message kinds
        self.value_kind = value_kind
        self.doc = doc


def module_of(path):
    rel = os.path.relpath(os.path.dirname(path), PB)
    return rel.replace(os.sep, "::")


def resolve_type(module, text):
    """`super::super::x::Y` or `Y` seen from `module` -> `a::b::Y`."""
    text = re.sub(r"\s+", "", text).replace(",>", ">")
    for wrapper in ("::core::option::Option<", "::prost::alloc::vec::Vec<", "::prost::alloc::boxed::Box<"):
        while text.startswith(wrapper):
            text = text[len(wrapper) : -1]
    parts = module.split("::")
    segs = text.split("::")
    while segs and segs[0] == "super":
        segs.pop(0)
        parts.pop()
    return "::".join(parts + segs)


FIELD_RE = re.compile(
    r"((?:[ \t]*///[^\n]*\n)*)[ \t]*#\[prost\(([^\]]*)\)\]\s*pub (r#)?(\w+):\s*(.*?),\s*(?=\n[ \t]*(?:///|#\[)|$)", re.S
)


def parse_pb():
    messages = {}
    resources = []  # (api_version, kind, key)
    for path in sorted(glob.glob(os.path.join(PB, "**", "mod.rs"), recursive=True)):
        module = module_of(path)
        if module.startswith(SKIPPED):
            continue
        src = open(path).read()
        for m in re.finditer(r"\npub struct (\w+) \{\n(.*?)\n\}|\npub struct (\w+) \{\}", src, re.S):
            name = m.group(1) or m.group(3)
            body = m.group(2) or ""
            key = f"{module}::{name}"
            fields = []
            for f in FIELD_RE.finditer(body):
                doc, attr, rust, ty = f.group(1), f.group(2), f.group(4), f.group(5)
                tag = int(re.search(r'tag = "(\d+)"', attr).group(1))
                value_kind = None
                ref = None
                mm = re.match(r'btree_map = "string, (\w+)"', attr)
                if mm:
                    card = "map"
                    kind = mm.group(1)
                    if kind == "message":
                        inner = re.sub(r"\s+", "", ty).replace(",>", ">")
                        inner = inner[inner.index(",") + 1 : -1]
                        ref = resolve_type(module, inner)
                else:
                    kind = attr.split(",")[0].strip().split(" ")[0]
                    card = "rep" if "repeated" in attr else "one"
                    if kind == "message":
                        ref = resolve_type(module, ty)
                if kind not in ("string", "bytes", "bool", "int32", "int64", "double", "message"):
                    sys.exit(f"unknown prost kind {attr} in {key}")
                first_doc = re.sub(r"^\s*///\s*", "", doc.split("\n")[0]) if doc else ""
                fields.append(PbField(tag, rust, kind, card, ref, value_kind, first_doc))
            messages[key] = fields
        for m in re.finditer(
            r'impl crate::Resource for (\w+) \{\s*const API_VERSION: &\'static str = "([^"]*)";', src
        ):
            resources.append((m.group(2), m.group(1), f"{module}::{m.group(1)}"))
    return messages, resources


# ---------------------------------------------------------------- k8s-openapi


def parse_openapi():
    """module -> alnum(struct) -> {alnum(rust field or json name): (json, required)}"""
    out = {}
    all_json = {}
    for path in glob.glob(os.path.join(OA, "**", "*.rs"), recursive=True):
        if os.path.basename(path) == "mod.rs":
            continue
        src = open(path).read()
        sm = re.search(r"\npub struct (\w+) \{(.*?)\n\}", src, re.S)
        if not sm:
            continue
        module = os.path.relpath(os.path.dirname(path), OA).replace(os.sep, "::")
        types = {}
        for fm in re.finditer(r"(?:^|\n)    pub (\w+): ([^\n]*),(?=\n|$)", sm.group(2)):
            types[fm.group(1)] = fm.group(2)
        fields = {}
        for jm in re.finditer(r'"([^"]+)" => Field::Key_(\w+),', src):
            js, rust = jm.group(1), jm.group(2)
            if rust not in types:
                continue
            required = not types[rust].startswith("Option<")
            entry = (js, required)
            fields[alnum(rust)] = entry
            fields.setdefault(alnum(js), entry)
            all_json.setdefault(alnum(js), set()).add(js)
        out.setdefault(module, {})[alnum(sm.group(1))] = fields
        GO_NAMES[(module, alnum(sm.group(1)))] = sm.group(1)
    return out, all_json


# (module, alnum(name)) -> the Go (and protobuf) type name as k8s-openapi spells it;
# prost re-cases some names (`FCVolumeSource` -> `FcVolumeSource`).
GO_NAMES = {}


def display_name(module, msg):
    return GO_NAMES.get((module, alnum(msg)), msg)


# ---------------------------------------------------------------- presence policy


def parse_presence():
    """`Message.field pointer|value` lines; `#` comments."""
    table = {}
    if not os.path.exists(PRESENCE):
        return table
    for line in open(PRESENCE):
        line = line.split("#")[0].strip()
        if not line:
            continue
        name, mode = line.split()
        table[name] = mode
    return table


# ---------------------------------------------------------------- naming


def camel(snake):
    parts = snake.split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def go_json_name(word):
    """`ShareID` -> `shareID`, `IPFamily` -> `ipFamily`, `UID` -> `uid` (Kubernetes' JSON tag convention)."""
    run = len(word) - len(word.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    if run == len(word) or run <= 1:
        return word.lower() if run == len(word) else word[:1].lower() + word[1:]
    return word[: run - 1].lower() + word[run - 1 :]


def proto_package(module):
    """Rust module path -> protobuf package, for the message names in the table."""
    p = module.split("::")
    if p[0] == "api":
        return "k8s.io.api." + ".".join(p[1:])
    if p[0] == "apimachinery":
        return "k8s.io.apimachinery." + ".".join(p[1:])
    if p[0] == "apiextensions_apiserver":
        return "k8s.io.apiextensions-apiserver." + ".".join(p[1:])
    if p[0] == "kube_aggregator":
        return "k8s.io.kube-aggregator." + ".".join(p[1:])
    if p[0] == "metrics":
        return "k8s.io.metrics." + ".".join(p[1:])
    return ".".join(p)


# API group of each k8s.io/api directory (the ones with no Resource impl to learn it from).
GROUPS = {
    "core": "",
    "admission": "admission.k8s.io",
    "admissionregistration": "admissionregistration.k8s.io",
    "apidiscovery": "apidiscovery.k8s.io",
    "apiserverinternal": "internal.apiserver.k8s.io",
    "apps": "apps",
    "authentication": "authentication.k8s.io",
    "authorization": "authorization.k8s.io",
    "autoscaling": "autoscaling",
    "batch": "batch",
    "certificates": "certificates.k8s.io",
    "coordination": "coordination.k8s.io",
    "discovery": "discovery.k8s.io",
    "events": "events.k8s.io",
    "extensions": "extensions",
    "flowcontrol": "flowcontrol.apiserver.k8s.io",
    "imagepolicy": "imagepolicy.k8s.io",
    "networking": "networking.k8s.io",
    "node": "node.k8s.io",
    "policy": "policy",
    "rbac": "rbac.authorization.k8s.io",
    "resource": "resource.k8s.io",
    "scheduling": "scheduling.k8s.io",
    "storage": "storage.k8s.io",
    "storagemigration": "storagemigration.k8s.io",
    "apiextensions": "apiextensions.k8s.io",
    "apiregistration": "apiregistration.k8s.io",
    "metrics": "metrics.k8s.io",
    "custom_metrics": "custom.metrics.k8s.io",
    "external_metrics": "external.metrics.k8s.io",
}


def api_version_of(module):
    p = module.split("::")
    if p[:4] == ["apimachinery", "pkg", "apis", "meta"]:
        return "meta.k8s.io/" + p[4]
    if p[0] == "api":
        group, version = p[1], p[2]
    elif len(p) >= 5 and p[2] == "apis":
        group, version = p[3], p[4]
    else:
        return None
    if group not in GROUPS:
        return None
    g = GROUPS[group]
    return f"{g}/{version}" if g else version


# ---------------------------------------------------------------- special messages

META = "apimachinery::pkg::apis::meta::v1::"
APIEXT = ["apiextensions_apiserver::pkg::apis::apiextensions::" + v + "::" for v in ("v1", "v1beta1")]
SPECIAL = {
    META + "Time": "Time",
    META + "MicroTime": "MicroTime",
    META + "Duration": "Duration",
    META + "FieldsV1": "EmbeddedJson",
    META + "Verbs": "StringList",
    "apimachinery::pkg::api::resource::Quantity": "Quantity",
    "apimachinery::pkg::api::resource::QuantityValue": "Quantity",
    "apimachinery::pkg::util::intstr::IntOrString": "IntOrString",
    "apimachinery::pkg::runtime::RawExtension": "RawExtension",
}
for prefix in APIEXT:
    SPECIAL[prefix + "Json"] = "EmbeddedJson"
    SPECIAL[prefix + "JsonSchemaPropsOrArray"] = "SchemaOrArray"
    SPECIAL[prefix + "JsonSchemaPropsOrBool"] = "SchemaOrBool"
    SPECIAL[prefix + "JsonSchemaPropsOrStringArray"] = "SchemaOrStringArray"


def special_of(key):
    if key in SPECIAL:
        return SPECIAL[key]
    if key.endswith("::ExtraValue"):  # `type ExtraValue []string`
        return "StringList"
    return "Plain"


# Go structs that k8s-openapi flattens into the struct embedding them (`json:",inline"`).
INLINED = {
    "VolumeSource": "Volume",
    "EphemeralContainerCommon": "EphemeralContainer",
    "PersistentVolumeSource": "PersistentVolumeSpec",
    "ProbeHandler": "Probe",
    "IngressRuleValue": "IngressRule",
    "DeviceConfiguration": "DeviceClaimConfiguration",
}

# Kinds of apimachinery's meta/v1 that every group version registers (metav1.AddToGroupVersion).
OPTIONS_KINDS = ["CreateOptions", "DeleteOptions", "GetOptions", "ListOptions", "PatchOptions", "UpdateOptions"]

# ---------------------------------------------------------------- main


def main():
    messages, resources = parse_pb()
    openapi, all_json = parse_openapi()
    presence = parse_presence()
    def full_name(k):
        module, msg = k.rsplit("::", 1)
        return proto_package(module) + "." + display_name(module, msg)

    keys = sorted(messages, key=full_name)
    index = {k: i for i, k in enumerate(keys)}
    unmatched = []
    used_presence = set()

    by_name = {}
    for module in sorted(openapi):
        for sname, fields in openapi[module].items():
            by_name.setdefault(sname, []).append((module, fields))

    def parent_of(module, msg):
        """The k8s-openapi fields of this message, or of its namesake in another version."""
        name = alnum(INLINED.get(msg, msg))
        fields = openapi.get(module, {}).get(name)
        if fields is not None:
            return fields, True
        others = by_name.get(name, [])
        same_group = [f for m, f in others if m.split("::")[:2] == module.split("::")[:2]]
        if same_group or others:
            return (same_group or [f for _, f in others])[-1], False
        return None, False

    def mostly_in(key, parent):
        """Whether most fields of message `key` (looking through nested inlines) are fields of `parent`."""
        fields = messages[key]
        hits = 0
        for c in fields:
            if alnum(c.rust) in parent:
                hits += 1
            elif c.kind == "message" and c.card == "one" and messages[c.ref] and mostly_in(c.ref, parent):
                hits += 1
        return fields and hits * 2 >= len(fields)

    # Go's embedded structs (`json:",inline"`): protobuf nests them, JSON merges their fields.
    inline = set()
    for k, fields in messages.items():
        module, msg = k.rsplit("::", 1)
        parent = openapi.get(module, {}).get(alnum(INLINED.get(msg, msg)))
        if parent is None:
            continue
        for f in fields:
            if f.kind == "message" and f.card == "one" and alnum(f.rust) not in parent and mostly_in(f.ref, parent):
                inline.add((msg, f.rust))

    def json_name(module, msg, f):
        fields, exact = parent_of(module, msg)
        a = alnum(f.rust)
        if fields is not None and a in fields:
            return fields[a], "openapi" if exact else "openapi-other-version"
        if a in all_json and len(all_json[a]) == 1:
            return (next(iter(all_json[a])), False), "openapi-other-type"
        word = f.doc.split(" ")[0] if f.doc else ""
        if word and alnum(word) == a:
            return (go_json_name(word), False), "doc-comment"
        return (camel(f.rust), False), "snake-to-camel"

    rows = []
    for k in keys:
        module, msg = k.rsplit("::", 1)
        sp = special_of(k)
        flist = []
        for f in sorted(messages[k], key=lambda f: f.tag):
            (js, required), how = json_name(module, msg, f)
            is_inline = (msg, f.rust) in inline
            if is_inline:
                how = "inline"
            if how not in ("openapi", "openapi-other-version", "inline") and sp == "Plain" and not msg.endswith("List"):
                unmatched.append(f"{k}.{f.rust} -> {js} ({how})")
            if f.kind == "message":
                if f.ref not in index:
                    sys.exit(f"unresolved message {f.ref} in {k}")
                ty = f"M({index[f.ref]})"
            else:
                ty = {"string": "S", "bytes": "B", "bool": "Bo", "int32": "I32", "int64": "I64", "double": "F64"}[
                    f.kind
                ]
            if f.card == "rep":
                card = "R"
            elif f.card == "map":
                card = "Mp"
            elif is_inline:
                card = "In"
            else:
                card = "O"
            # How a Go encoder writes the field, and how encoding/json prints it.
            pname = f"{full_name(k)}.{js}"
            short = f"{display_name(module, msg)}.{js}"
            mode = None
            for key in (pname, short):
                if key in presence:
                    mode = presence[key]
                    used_presence.add(key)
                    break
            if mode == "always" or (required and mode is None):
                emit = "A"
            elif f.card != "one" or f.kind == "message":
                emit = "P"
            else:
                if mode is None:
                    if f.kind in ("string", "bytes") or msg.endswith("Status"):
                        mode = "value"
                    else:
                        mode = "pointer"
                emit = "P" if mode == "pointer" else "Z"
            flist.append((f.tag, js, ty, card, emit))
        rows.append((full_name(k), sp, flist))

    kinds = {}
    for k in keys:
        module, msg = k.rsplit("::", 1)
        av = api_version_of(module)
        if av is None:
            continue
        fields = messages[k]
        top = any(
            f.rust == "metadata" and f.tag == 1 and f.ref and f.ref.split("::")[-1] in ("ObjectMeta", "ListMeta")
            for f in fields
        )
        if top:
            name = display_name(module, msg)
            if name == msg and msg.endswith("List"):
                name = display_name(module, msg[:-4]) + "List"
            kinds[(av, name)] = index[k]
    for av, kind, k in resources:
        kinds[(av, kind)] = index[k]
    meta_v1 = "apimachinery::pkg::apis::meta::v1::"
    group_versions = sorted({av for av, _ in kinds} | {"meta.k8s.io/v1"})
    for av in group_versions:
        for kind in OPTIONS_KINDS:
            kinds[(av, kind)] = index[meta_v1 + kind]
    for kind in ("APIGroup", "APIGroupList", "APIResourceList", "APIVersions", "Status", "WatchEvent"):
        kinds[("v1", kind)] = index[meta_v1 + kind]
        kinds[("meta.k8s.io/v1", kind)] = index[meta_v1 + kind]

    if "--probe" in sys.argv or "--learn" in sys.argv:
        return probe_mode(rows, sys.argv)
    stale = set(presence) - used_presence
    write(rows, sorted(kinds.items()), keys, index)
    if "--report" in sys.argv or stale:
        for line in unmatched:
            print("unmatched:", line)
        for s in sorted(stale):
            print("presence entry matches no optional scalar field:", s)
    print(f"{len(rows)} messages, {sum(len(r[2]) for r in rows)} fields, {len(kinds)} kinds, {len(unmatched)} unmatched")


# ---------------------------------------------------------------- presence probing
#
# Go's protobuf encoder writes every plain (non-pointer) scalar field, zero or not, and
# a pointer field only when set. So: feed kubectl an object in which every message is
# present and no scalar is set, let it re-encode the object as protobuf, and the
# scalars on the wire are exactly the plain ones. `--probe NAME` prints such an object
# for message NAME; `--learn NAME FILE.pb` reads kubectl's body and prints presence lines.


def probe_object(rows, i, stack=()):
    name_index = {r[0]: n for n, r in enumerate(rows)}
    del name_index
    obj = {}
    for tag, js, ty, card, emit in rows[i][2]:
        if not ty.startswith("M("):
            continue
        j = int(ty[2:-1])
        if rows[j][1] != "Plain" or j in stack:
            continue
        child = probe_object(rows, j, stack + (j,))
        if card == "In":
            obj.update(child)
        elif card == "R":
            obj[js] = [child]
        elif card == "Mp":
            obj[js] = {"k": child}
        else:
            obj[js] = child
    return obj


def read_fields(buf):
    pos, out = 0, []
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        tag, wt = key >> 3, key & 7
        if wt == 0:
            v, pos = read_varint(buf, pos)
        elif wt == 1:
            v, pos = int.from_bytes(buf[pos : pos + 8], "little"), pos + 8
        elif wt == 2:
            n, pos = read_varint(buf, pos)
            v, pos = buf[pos : pos + n], pos + n
        elif wt == 5:
            v, pos = int.from_bytes(buf[pos : pos + 4], "little"), pos + 4
        else:
            sys.exit(f"wire type {wt}")
        out.append((tag, v))
    return out


def read_varint(buf, pos):
    v = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return v, pos


def learn(rows, i, buf, seen):
    """seen[(msg, json)] = set of 'zero' / 'set' observations; absent fields get 'absent'."""
    name, sp, flist = rows[i]
    if sp != "Plain":
        return
    wire = read_fields(buf)
    by_tag = {}
    for tag, v in wire:
        by_tag.setdefault(tag, []).append(v)
    for tag, js, ty, card, emit in flist:
        values = by_tag.get(tag, [])
        if ty.startswith("M("):
            j = int(ty[2:-1])
            for v in values:
                if card == "Mp":
                    for t2, v2 in read_fields(v):
                        if t2 == 2:
                            learn(rows, j, v2, seen)
                else:
                    learn(rows, j, v, seen)
            continue
        if card != "O" or emit == "A":
            continue
        obs = seen.setdefault(f"{name}.{js}", set())
        if not values:
            obs.add("absent")
        elif values[-1] in (0, b""):
            obs.add("zero")
        else:
            obs.add("set")


def probe_mode(rows, argv):
    import json

    index = {r[0]: n for n, r in enumerate(rows)}
    if "--probe" in argv:
        name = argv[argv.index("--probe") + 1]
        print(json.dumps(probe_object(rows, index[name], (index[name],)), indent=1))
        return
    name, path = argv[argv.index("--learn") + 1 : argv.index("--learn") + 3]
    body = open(path, "rb").read()
    assert body[:4] == b"k8s\0", "not a protobuf body"
    raw = dict(read_fields(body[4:]))[2]
    seen = {}
    learn(rows, index[name], raw, seen)
    for field in sorted(seen):
        obs = seen[field]
        if "zero" in obs:
            print(f"{field} value")
        elif obs == {"absent"}:
            print(f"{field} pointer")


def write(rows, kinds, keys, index):
    out = []
    w = out.append
    w("// @generated by scripts/gen_protobuf_schema.py from k8s-pb 0.9.0 (tags, wire kinds) and")
    w("// k8s-openapi 0.29.0 v1_33 (JSON names, required fields) plus scripts/protobuf_presence.txt.")
    w("// Do not edit; regenerate with `python3 scripts/gen_protobuf_schema.py` (kept out of rustfmt in mod.rs).")
    w("")
    w("use super::model::{Card, Card::*, Emit, Emit::*, Field, Kind, Message, Special, Ty, Ty::*};")
    w("")
    w("const fn f(tag: u32, json: &'static str, ty: Ty, card: Card, emit: Emit) -> Field {")
    w("    Field { tag, json, ty, card, emit }")
    w("}")
    w("")
    w("/// Every message, sorted by full protobuf name; fields sorted by tag.")
    w("pub static MESSAGES: &[Message] = &[")
    for i, (name, sp, flist) in enumerate(rows):
        head = f'    /* {i} */ Message {{ name: "{name}", special: Special::{sp}, fields: &['
        items = [f'f({t},"{js}",{ty},{card},{emit})' for t, js, ty, card, emit in flist]
        line = head
        for it in items:
            if len(line) + len(it) + 2 > 120 and line != head:
                w(line.rstrip())
                line = "        "
            line += it + ", "
        w(line.rstrip().rstrip(",") + "] },")
    w("];")
    w("")
    w("/// `(apiVersion, kind)` to message index, sorted for binary search.")
    w("pub static KINDS: &[Kind] = &[")
    for (av, kind), i in kinds:
        w(f'    Kind {{ api_version: "{av}", kind: "{kind}", message: {i} }},')
    w("];")
    w("")
    with open(OUT, "w") as fh:
        fh.write("\n".join(out))


if __name__ == "__main__":
    main()
