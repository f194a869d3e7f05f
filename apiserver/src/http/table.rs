//! Server-side printing and metadata-only responses.
//!
//! A client may ask, in its `Accept` header, for a transformed response:
//! `application/json;as=Table;v=v1;g=meta.k8s.io` (what `kubectl get` sends, with
//! `v1beta1` and plain JSON as fallbacks) or `as=PartialObjectMetadata` /
//! `as=PartialObjectMetadataList` (metadata-only clients and informers).
//! [`negotiate`] reads the header as Kubernetes' content negotiation does;
//! [`Conversion::apply`] and [`Conversion::watch_object`] transform what the REST
//! verbs and watches return. Cells come from [`k1s_proto::printers`].

use k1s_proto::printers::{self, PrintContext, Printer};
use k1s_proto::{ApiError, ResourceInfo};
use serde_json::{Map, Value};

use super::query::Query;

/// The media types Kubernetes names when it cannot satisfy an `Accept` header.
const ACCEPTED: &str = "application/json, application/yaml, application/vnd.kubernetes.protobuf";

/// The `meta.k8s.io` version of a transformed response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaVersion {
    /// `meta.k8s.io/v1`.
    V1,
    /// `meta.k8s.io/v1beta1`.
    V1beta1,
}

impl MetaVersion {
    fn parse(group: &str, version: &str) -> Option<MetaVersion> {
        match (group, version) {
            ("meta.k8s.io", "v1") => Some(MetaVersion::V1),
            ("meta.k8s.io", "v1beta1") => Some(MetaVersion::V1beta1),
            _ => None,
        }
    }

    /// `meta.k8s.io/v1` or `meta.k8s.io/v1beta1`.
    pub fn api_version(self) -> &'static str {
        match self {
            MetaVersion::V1 => "meta.k8s.io/v1",
            MetaVersion::V1beta1 => "meta.k8s.io/v1beta1",
        }
    }
}

/// What shape a response takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The object or list itself (no `as=` asked for).
    Object,
    /// A `Table` of rows with the kind's columns.
    Table(MetaVersion),
    /// One object's metadata.
    PartialObjectMetadata(MetaVersion),
    /// A list of objects' metadata.
    PartialObjectMetadataList(MetaVersion),
}

/// `includeObject`: what each Table row carries besides its cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    /// Nothing (`"object": null`).
    None,
    /// The object's metadata as a `PartialObjectMetadata` (the default).
    Metadata,
    /// The whole object.
    Object,
}

/// The transformation one request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conversion {
    /// The response shape.
    pub target: Target,
    /// What Table rows include.
    pub include: IncludeObject,
}

impl Conversion {
    /// No transformation: objects and lists as they are.
    pub const PLAIN: Conversion = Conversion {
        target: Target::Object,
        include: IncludeObject::Metadata,
    };
}

/// The media type of one `Accept` clause, as far as negotiation cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Media {
    /// `application/json`, `application/*`, `*/*`: what k1s writes.
    Json,
    /// YAML: Kubernetes writes it; k1s answers in JSON.
    Yaml,
    /// Protobuf or CBOR: Kubernetes writes it (not Tables); k1s answers in JSON.
    Binary,
    /// Anything else (`text/html`, …): not served.
    Other,
}

/// One clause of an `Accept` header.
#[derive(Debug, Clone, PartialEq)]
struct Clause<'a> {
    media: Media,
    q: f32,
    as_kind: Option<&'a str>,
    group: &'a str,
    version: &'a str,
}

fn parse_clause(raw: &str) -> Clause<'_> {
    let mut parts = raw.split(';');
    let media = match parts.next().unwrap_or("").trim().to_ascii_lowercase().as_str() {
        "application/json" | "application/*" | "*/*" | "" => Media::Json,
        "application/yaml" => Media::Yaml,
        "application/vnd.kubernetes.protobuf" | "application/cbor" => Media::Binary,
        _ => Media::Other,
    };
    let mut clause = Clause {
        media,
        q: 1.0,
        as_kind: None,
        group: "",
        version: "",
    };
    for param in parts {
        let Some((k, v)) = param.split_once('=') else { continue };
        let v = v.trim().trim_matches('"');
        match k.trim() {
            "as" => clause.as_kind = Some(v),
            "g" => clause.group = v,
            "v" => clause.version = v,
            "q" => clause.q = v.parse().unwrap_or(1.0),
            _ => {}
        }
    }
    clause
}

/// What a clause asks for, when k1s can answer it.
fn target_of(clause: &Clause<'_>) -> Option<Target> {
    if clause.media == Media::Other {
        return None;
    }
    let Some(kind) = clause.as_kind else {
        return Some(Target::Object);
    };
    let version = MetaVersion::parse(clause.group, clause.version)?;
    match kind {
        // Kubernetes renders Tables only as JSON or YAML.
        "Table" if clause.media != Media::Binary => Some(Target::Table(version)),
        "PartialObjectMetadata" => Some(Target::PartialObjectMetadata(version)),
        "PartialObjectMetadataList" => Some(Target::PartialObjectMetadataList(version)),
        _ => None,
    }
}

/// Reads the `Accept` header (and, for Tables, `includeObject`): the first
/// acceptable clause by preference wins; none acceptable is 406 Not Acceptable.
pub fn negotiate(accept: Option<&str>, query: &Query) -> Result<Conversion, ApiError> {
    let target = match accept.map(str::trim).filter(|a| !a.is_empty()) {
        None => Target::Object,
        Some(accept) => {
            let mut clauses: Vec<Clause<'_>> = accept.split(',').map(parse_clause).filter(|c| c.q > 0.0).collect();
            // Higher q first; equal q keeps the client's order.
            clauses.sort_by(|a, b| b.q.total_cmp(&a.q));
            clauses.iter().find_map(target_of).ok_or_else(|| {
                ApiError::not_acceptable(format!("only the following media types are accepted: {ACCEPTED}"))
            })?
        }
    };
    let include = match target {
        Target::Table(_) => include_object(query.include_object.as_deref())?,
        _ => IncludeObject::Metadata,
    };
    Ok(Conversion { target, include })
}

fn include_object(value: Option<&str>) -> Result<IncludeObject, ApiError> {
    match value {
        None | Some("Metadata") => Ok(IncludeObject::Metadata),
        Some("None") => Ok(IncludeObject::None),
        Some("Object") => Ok(IncludeObject::Object),
        Some(other) => Err(ApiError::bad_request(format!(
            "Unable to convert to Table as requested: includeObject: Invalid value: {other:?}: must be 'Metadata', 'Object', 'None', or empty"
        ))),
    }
}

fn is_status(v: &Value) -> bool {
    v["kind"] == "Status" && v["apiVersion"] == "v1"
}

fn is_list(v: &Value) -> bool {
    v["kind"].as_str().is_some_and(|k| k.ends_with("List")) && v.get("items").is_some()
}

/// The Go type Kubernetes names in conversion errors, e.g. `*core.PodList`.
fn go_type(info: &ResourceInfo, list: bool) -> String {
    let package = match info.storage_group {
        "" => "core",
        group => group.split('.').next().unwrap_or(group),
    };
    format!("*{package}.{}{}", info.kind, if list { "List" } else { "" })
}

/// `{"kind": "PartialObjectMetadata", "apiVersion": …, "metadata": …}`.
fn partial(version: MetaVersion, metadata: Value) -> Value {
    let mut m = Map::with_capacity(3);
    m.insert("kind".into(), Value::from("PartialObjectMetadata"));
    m.insert("apiVersion".into(), Value::from(version.api_version()));
    m.insert("metadata".into(), metadata);
    Value::Object(m)
}

/// The column definitions of a printer, as `metav1.TableColumnDefinition`s.
fn column_definitions(printer: &Printer) -> Value {
    printer
        .columns
        .iter()
        .map(|c| {
            let mut m = Map::with_capacity(5);
            m.insert("name".into(), Value::from(c.name));
            m.insert("type".into(), Value::from(c.kind));
            m.insert("format".into(), Value::from(c.format));
            m.insert("description".into(), Value::from(c.description));
            m.insert("priority".into(), Value::from(c.priority));
            Value::Object(m)
        })
        .collect()
}

/// Puts `kind` and `apiVersion` first, as Kubernetes encodes objects.
fn with_type(info: &ResourceInfo, obj: Value) -> Value {
    match obj {
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len() + 2);
            out.insert("kind".into(), Value::from(info.kind));
            out.insert("apiVersion".into(), Value::from(info.api_version()));
            for (k, v) in map {
                if k != "kind" && k != "apiVersion" {
                    out.insert(k, v);
                }
            }
            Value::Object(out)
        }
        other => other,
    }
}

impl Conversion {
    /// Whether responses pass through unchanged.
    pub fn is_plain(&self) -> bool {
        self.target == Target::Object
    }

    /// Transforms a REST response (an object, a list or a `Status`) of `info`,
    /// printing rows with `printer`.
    pub fn apply(&self, info: &ResourceInfo, printer: &Printer, value: Value) -> Result<Value, ApiError> {
        if self.is_plain() || is_status(&value) {
            return Ok(value);
        }
        let list = is_list(&value);
        match self.target {
            Target::Object => Ok(value),
            Target::Table(version) if list => Ok(self.list_table(info, printer, version, value)),
            Target::Table(version) => Ok(self.object_table(info, printer, version, value, true)),
            Target::PartialObjectMetadata(_) if list => Err(ApiError::not_acceptable(format!(
                "you requested PartialObjectMetadata, but the requested object is a list ({})",
                go_type(info, true)
            ))),
            Target::PartialObjectMetadata(version) => Ok(partial(version, take_metadata(value))),
            Target::PartialObjectMetadataList(version) if list => Ok(partial_list(version, value)),
            Target::PartialObjectMetadataList(_) => Err(ApiError::not_acceptable(format!(
                "you requested PartialObjectMetadataList, but the requested object is not a list ({})",
                go_type(info, false)
            ))),
        }
    }

    /// Transforms the object of one watch event. A Table carries its column
    /// definitions only when `headers` is set (Kubernetes sends them with the first
    /// event only); what cannot be transformed is sent as it is, as Kubernetes does.
    pub fn watch_object(&self, info: &ResourceInfo, printer: &Printer, obj: Value, headers: bool) -> Value {
        if is_status(&obj) {
            return obj;
        }
        match self.target {
            Target::Table(version) => self.object_table(info, printer, version, obj, headers),
            Target::PartialObjectMetadata(version) => partial(version, take_metadata(obj)),
            Target::Object | Target::PartialObjectMetadataList(_) => obj,
        }
    }

    fn table(
        &self,
        printer: &Printer,
        version: MetaVersion,
        metadata: Value,
        headers: bool,
        rows: Vec<Value>,
    ) -> Value {
        let mut m = Map::with_capacity(5);
        m.insert("kind".into(), Value::from("Table"));
        m.insert("apiVersion".into(), Value::from(version.api_version()));
        m.insert("metadata".into(), metadata);
        m.insert(
            "columnDefinitions".into(),
            if headers {
                column_definitions(printer)
            } else {
                Value::Null
            },
        );
        m.insert("rows".into(), Value::Array(rows));
        Value::Object(m)
    }

    /// One row: the cells, row conditions, and the object as `includeObject` says.
    fn row(
        &self,
        info: &ResourceInfo,
        printer: &Printer,
        version: MetaVersion,
        obj: Value,
        ctx: &PrintContext,
    ) -> Value {
        let cells = (printer.row)(&obj, ctx);
        let conditions = printers::row_conditions(info, &obj);
        let object = match self.include {
            IncludeObject::None => Value::Null,
            IncludeObject::Metadata => partial(version, take_metadata(obj)),
            IncludeObject::Object => with_type(info, obj),
        };
        let mut m = Map::with_capacity(3);
        m.insert("cells".into(), Value::Array(cells));
        if let Some(c) = conditions {
            m.insert("conditions".into(), c);
        }
        m.insert("object".into(), object);
        Value::Object(m)
    }

    fn object_table(
        &self,
        info: &ResourceInfo,
        printer: &Printer,
        version: MetaVersion,
        obj: Value,
        headers: bool,
    ) -> Value {
        let mut metadata = Map::new();
        if let Some(rv) = obj["metadata"]["resourceVersion"].as_str().filter(|rv| !rv.is_empty()) {
            metadata.insert("resourceVersion".into(), Value::from(rv));
        }
        let row = self.row(info, printer, version, obj, &PrintContext::now());
        self.table(printer, version, Value::Object(metadata), headers, vec![row])
    }

    fn list_table(&self, info: &ResourceInfo, printer: &Printer, version: MetaVersion, mut list: Value) -> Value {
        let metadata = list_metadata(&mut list);
        let ctx = PrintContext::now();
        // List items carry no kind/apiVersion; printers read them in the request's version as they are.
        let rows = take_items(&mut list)
            .into_iter()
            .map(|item| self.row(info, printer, version, item, &ctx))
            .collect();
        self.table(printer, version, metadata, true, rows)
    }
}

fn take_metadata(mut obj: Value) -> Value {
    match obj.get_mut("metadata") {
        Some(m) => m.take(),
        None => Value::Object(Map::new()),
    }
}

fn take_items(list: &mut Value) -> Vec<Value> {
    match list.get_mut("items").map(Value::take) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    }
}

/// A list's `resourceVersion`, `continue` and `remainingItemCount`.
fn list_metadata(list: &mut Value) -> Value {
    match list.get_mut("metadata").map(Value::take) {
        Some(m @ Value::Object(_)) => m,
        _ => Value::Object(Map::new()),
    }
}

fn partial_list(version: MetaVersion, mut list: Value) -> Value {
    let metadata = list_metadata(&mut list);
    let items: Vec<Value> = take_items(&mut list)
        .into_iter()
        .map(|item| partial(version, take_metadata(item)))
        .collect();
    let mut m = Map::with_capacity(4);
    m.insert("kind".into(), Value::from("PartialObjectMetadataList"));
    m.insert("apiVersion".into(), Value::from(version.api_version()));
    m.insert("metadata".into(), metadata);
    m.insert("items".into(), Value::Array(items));
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conv(accept: &str, query: &str) -> Result<Conversion, ApiError> {
        negotiate(Some(accept), &Query::parse(Some(query)).unwrap())
    }

    const KUBECTL: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

    #[test]
    fn negotiation_follows_the_accept_list() {
        assert_eq!(conv(KUBECTL, "").unwrap().target, Target::Table(MetaVersion::V1));
        assert_eq!(
            conv("application/json;as=Table;v=v1beta1;g=meta.k8s.io", "")
                .unwrap()
                .target,
            Target::Table(MetaVersion::V1beta1)
        );
        assert_eq!(negotiate(None, &Query::default()).unwrap(), Conversion::PLAIN);
        assert_eq!(conv("*/*", "").unwrap().target, Target::Object);
        assert_eq!(
            conv("application/vnd.kubernetes.protobuf, application/json", "")
                .unwrap()
                .target,
            Target::Object
        );
        // An unknown transformation falls through to the next clause…
        assert_eq!(
            conv("application/json;as=Foo;v=v1;g=meta.k8s.io, application/json", "")
                .unwrap()
                .target,
            Target::Object
        );
        // …and 406 when nothing is left.
        for bad in [
            "application/json;as=Foo;v=v1;g=meta.k8s.io",
            "application/json;as=Table;v=v2;g=meta.k8s.io",
            "application/json;as=Table;v=v1;g=apps",
            "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io",
            "text/html",
        ] {
            let err = conv(bad, "").unwrap_err();
            assert_eq!(
                (err.code, err.to_status()["reason"].clone()),
                (406, json!("NotAcceptable")),
                "{bad}"
            );
        }
        // Metadata-only clients send protobuf first; the JSON answer is the same kind.
        assert_eq!(
            conv(
                "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json",
                ""
            )
            .unwrap()
            .target,
            Target::PartialObjectMetadataList(MetaVersion::V1)
        );
        // Preference by q.
        assert_eq!(
            conv(
                "application/json;q=0.5, application/json;as=Table;v=v1;g=meta.k8s.io",
                ""
            )
            .unwrap()
            .target,
            Target::Table(MetaVersion::V1)
        );
    }

    #[test]
    fn include_object_is_checked_for_tables() {
        assert_eq!(
            conv(KUBECTL, "includeObject=None").unwrap().include,
            IncludeObject::None
        );
        assert_eq!(
            conv(KUBECTL, "includeObject=Object").unwrap().include,
            IncludeObject::Object
        );
        assert_eq!(conv(KUBECTL, "").unwrap().include, IncludeObject::Metadata);
        let err = conv(KUBECTL, "includeObject=All").unwrap_err();
        assert_eq!(err.code, 400);
        assert!(
            err.message.contains("includeObject: Invalid value: \"All\""),
            "{}",
            err.message
        );
        // Ignored when no Table is asked for.
        assert!(conv("application/json", "includeObject=All").is_ok());
    }

    fn pods() -> &'static ResourceInfo {
        k1s_proto::resources::find("", "v1", "pods").unwrap()
    }

    fn pod(name: &str, phase: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "default", "resourceVersion": "7", "creationTimestamp": "2025-01-01T00:00:00Z"},
               "spec": {"containers": [{"name": "c", "image": "busybox"}]}, "status": {"phase": phase}})
    }

    #[test]
    fn list_tables() {
        let info = pods();
        let printer = printers::printer_for(info);
        let list = json!({"kind": "PodList", "apiVersion": "v1",
            "metadata": {"resourceVersion": "9", "continue": "abc", "remainingItemCount": 3},
            "items": [pod("a", "Running"), pod("b", "Succeeded")]});
        let t = conv(KUBECTL, "").unwrap().apply(info, &printer, list.clone()).unwrap();
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(
            t["metadata"],
            json!({"resourceVersion": "9", "continue": "abc", "remainingItemCount": 3})
        );
        assert_eq!(
            t["columnDefinitions"][0],
            json!({"name": "Name", "type": "string", "format": "name",
            "description": t["columnDefinitions"][0]["description"], "priority": 0})
        );
        assert_eq!(t["columnDefinitions"][5]["priority"], 1);
        assert_eq!(t["rows"][0]["cells"][0], "a");
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(t["rows"][0]["object"]["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(t["rows"][0]["object"]["metadata"]["name"], "a");
        assert!(t["rows"][0].get("conditions").is_none());
        assert_eq!(t["rows"][1]["conditions"][0]["type"], "Completed");

        let full = conv(KUBECTL, "includeObject=Object")
            .unwrap()
            .apply(info, &printer, list.clone())
            .unwrap();
        assert_eq!(full["rows"][1]["object"]["kind"], "Pod");
        assert_eq!(full["rows"][1]["object"]["apiVersion"], "v1");
        assert_eq!(full["rows"][1]["object"]["status"]["phase"], "Succeeded");
        let none = conv(KUBECTL, "includeObject=None")
            .unwrap()
            .apply(info, &printer, list.clone())
            .unwrap();
        assert_eq!(none["rows"][0]["object"], Value::Null);
        assert!(none["rows"][0].as_object().unwrap().contains_key("object"));

        let empty = json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "9"}, "items": []});
        let t = conv(KUBECTL, "").unwrap().apply(info, &printer, empty).unwrap();
        assert_eq!(t["rows"], json!([]));
    }

    #[test]
    fn object_tables_and_status_pass_through() {
        let info = pods();
        let printer = printers::printer_for(info);
        let mut obj = pod("a", "Running");
        obj["kind"] = json!("Pod");
        obj["apiVersion"] = json!("v1");
        let c = conv("application/json;as=Table;v=v1beta1;g=meta.k8s.io", "").unwrap();
        let t = c.apply(info, &printer, obj.clone()).unwrap();
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1beta1");
        assert_eq!(t["metadata"], json!({"resourceVersion": "7"}));
        assert_eq!(t["rows"].as_array().unwrap().len(), 1);
        assert_eq!(t["rows"][0]["object"]["apiVersion"], "meta.k8s.io/v1beta1");

        let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Success"});
        assert_eq!(c.apply(info, &printer, status.clone()).unwrap(), status);

        let w = c.watch_object(info, &printer, obj.clone(), false);
        assert_eq!(w["columnDefinitions"], Value::Null);
        assert_eq!(w["rows"][0]["cells"][0], "a");
        assert!(c.watch_object(info, &printer, obj, true)["columnDefinitions"].is_array());
    }

    #[test]
    fn partial_object_metadata() {
        let info = pods();
        let printer = printers::printer_for(info);
        let one = conv("application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io", "").unwrap();
        let many = conv("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io", "").unwrap();
        let list = json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "9"},
                          "items": [pod("a", "Running")]});
        let obj = pod("a", "Running");

        let p = one.apply(info, &printer, obj.clone()).unwrap();
        assert_eq!(
            p,
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]})
        );
        let err = one.apply(info, &printer, list.clone()).unwrap_err();
        assert_eq!(err.code, 406);
        assert_eq!(
            err.message,
            "you requested PartialObjectMetadata, but the requested object is a list (*core.PodList)"
        );

        let l = many.apply(info, &printer, list).unwrap();
        assert_eq!(l["kind"], "PartialObjectMetadataList");
        assert_eq!(l["metadata"], json!({"resourceVersion": "9"}));
        assert_eq!(l["items"][0]["kind"], "PartialObjectMetadata");
        assert_eq!(l["items"][0]["metadata"]["name"], "a");
        let err = many.apply(info, &printer, obj).unwrap_err();
        assert_eq!(
            err.message,
            "you requested PartialObjectMetadataList, but the requested object is not a list (*core.Pod)"
        );
        let deploy = k1s_proto::resources::find("apps", "v1", "deployments").unwrap();
        assert_eq!(go_type(deploy, true), "*apps.DeploymentList");
    }
}
