//! Bodies captured from kubectl 1.33 (testdata/, recorded with scripts/record_kubectl_bodies.py)
//! and bodies built by a small encoder.

use serde_json::{json, Value};

use super::decode_object;

/// `(fixture, what kubectl create … --dry-run=client -o json printed for the same command)`.
macro_rules! fixtures {
    ($($name:literal),* $(,)?) => {
        &[$(
            (
                $name,
                include_bytes!(concat!("testdata/", $name, ".pb")).as_slice(),
                include_str!(concat!("testdata/", $name, ".json")),
            ),
        )*]
    };
}

const KUBECTL: &[(&str, &[u8], &str)] = fixtures![
    "clusterrole",
    "clusterrole-aggregate",
    "clusterrolebinding",
    "configmap",
    "configmap-binary",
    "cronjob",
    "deployment",
    "deployment-replicas",
    "ingress",
    "job",
    "namespace",
    "pdb",
    "priorityclass",
    "quota",
    "role",
    "rolebinding",
    "secret",
    "secret-tls-type",
    "service-clusterip",
    "service-externalname",
    "service-nodeport",
    "serviceaccount",
];

#[test]
fn kubectl_bodies_decode_to_kubectl_json() {
    let mut failures = Vec::new();
    for (name, body, want) in KUBECTL {
        let want: Value = serde_json::from_str(want).expect("fixture JSON");
        match decode_object(body) {
            Ok(got) if got == want => {}
            Ok(got) => failures.push(format!(
                "{name}:\n got {}\nwant {}",
                serde_json::to_string(&got).unwrap_or_default(),
                serde_json::to_string(&want).unwrap_or_default()
            )),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn kubectl_review_and_token_bodies() {
    let ssar = decode_object(include_bytes!("testdata/ssar.pb")).expect("ssar");
    assert_eq!(
        ssar,
        json!({
            "kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": null},
            "spec": {"resourceAttributes": {"namespace": "default", "verb": "get", "resource": "pods", "subresource": "log"}},
            "status": {"allowed": false}
        })
    );
    let token = decode_object(include_bytes!("testdata/token.pb")).expect("token");
    assert_eq!(
        token,
        json!({
            "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": null},
            "spec": {"audiences": ["a"], "expirationSeconds": 3600},
            "status": {"token": "", "expirationTimestamp": null}
        })
    );
}

/// A protobuf writer for building test bodies.
#[derive(Default, Clone)]
struct Enc(Vec<u8>);

impl Enc {
    fn varint_raw(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn key(&mut self, tag: u32, wire: u8) {
        self.varint_raw(u64::from(tag) << 3 | u64::from(wire));
    }
    fn int(mut self, tag: u32, v: i64) -> Self {
        self.key(tag, 0);
        self.varint_raw(v as u64);
        self
    }
    fn bytes(mut self, tag: u32, b: &[u8]) -> Self {
        self.key(tag, 2);
        self.varint_raw(b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }
    fn str(self, tag: u32, s: &str) -> Self {
        self.bytes(tag, s.as_bytes())
    }
    fn msg(self, tag: u32, m: Enc) -> Self {
        self.bytes(tag, &m.0)
    }
    fn double(mut self, tag: u32, v: f64) -> Self {
        self.key(tag, 1);
        self.0.extend_from_slice(&v.to_bits().to_le_bytes());
        self
    }
    /// A `map<string, string>` entry.
    fn entry(self, tag: u32, k: &str, v: &str) -> Self {
        self.msg(tag, Enc::default().str(1, k).str(2, v))
    }
    fn entry_bytes(self, tag: u32, k: &str, v: &[u8]) -> Self {
        self.msg(tag, Enc::default().str(1, k).bytes(2, v))
    }
    fn entry_msg(self, tag: u32, k: &str, v: Enc) -> Self {
        self.msg(tag, Enc::default().str(1, k).msg(2, v))
    }
}

fn e() -> Enc {
    Enc::default()
}

/// `k8s\0` + runtime.Unknown{typeMeta{apiVersion, kind}, raw}.
fn object(api_version: &str, kind: &str, raw: Enc) -> Vec<u8> {
    let unknown = e()
        .msg(1, e().str(1, api_version).str(2, kind))
        .msg(2, raw)
        .str(4, "application/vnd.kubernetes.protobuf");
    let mut out = b"k8s\0".to_vec();
    out.extend_from_slice(&unknown.0);
    out
}

/// ObjectMeta as Go writes it: every plain field, zero or not.
fn meta(name: &str, namespace: &str) -> Enc {
    e().str(1, name)
        .str(2, "")
        .str(3, namespace)
        .str(4, "")
        .str(5, "")
        .str(6, "")
        .int(7, 0)
        .msg(8, e())
}

fn quantity(s: &str) -> Enc {
    e().str(1, s)
}

#[test]
fn namespace() {
    let body = object(
        "v1",
        "Namespace",
        e().msg(1, meta("foo", "")).msg(2, e()).msg(3, e().str(1, "")),
    );
    assert_eq!(
        decode_object(&body),
        Ok(
            json!({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "foo", "creationTimestamp": null}, "spec": {}, "status": {}})
        )
    );
}

#[test]
fn configmap_and_secret() {
    let cm = e()
        .msg(1, meta("c", "default"))
        .entry(2, "b", "2")
        .entry(2, "a", "1")
        .entry_bytes(3, "bin", &[0, 0xff, 1])
        .int(4, 1); // immutable: true
    assert_eq!(
        decode_object(&object("v1", "ConfigMap", cm)),
        Ok(json!({
            "kind": "ConfigMap", "apiVersion": "v1",
            "metadata": {"name": "c", "namespace": "default", "creationTimestamp": null},
            "data": {"a": "1", "b": "2"}, "binaryData": {"bin": "AP8B"}, "immutable": true
        }))
    );
    let secret = e()
        .msg(1, meta("s", "default"))
        .entry_bytes(2, "password", b"hunter2")
        .str(3, "Opaque");
    assert_eq!(
        decode_object(&object("v1", "Secret", secret)),
        Ok(json!({
            "kind": "Secret", "apiVersion": "v1",
            "metadata": {"name": "s", "namespace": "default", "creationTimestamp": null},
            "data": {"password": "aHVudGVyMg=="}, "type": "Opaque"
        }))
    );
}

#[test]
fn deployment_with_pod_template() {
    let created = e().int(1, 1_704_164_645).int(2, 999); // Time drops nanoseconds
    let mut metadata = meta("web", "default").entry(11, "app", "web").entry(12, "note", "x");
    metadata = metadata.msg(8, created); // a later occurrence wins
    let probe = e()
        .msg(
            1,
            e().msg(
                2,
                e().str(1, "/healthz")
                    .msg(2, e().int(1, 1).str(3, "http"))
                    .str(4, "HTTP"),
            ),
        )
        .int(2, 0) // initialDelaySeconds: plain int32, omitted when zero
        .int(3, 5)
        .int(4, 10)
        .int(5, 1)
        .int(6, 3);
    let container = e()
        .str(1, "web")
        .str(2, "nginx:1.27")
        .msg(6, e().str(1, "http").int(2, 0).int(3, 80).str(4, "TCP").str(5, ""))
        .msg(7, e().str(1, "MODE").str(2, "prod"))
        .msg(
            8,
            e().entry_msg(1, "memory", quantity("128Mi"))
                .entry_msg(2, "cpu", quantity("100m")),
        )
        .msg(10, probe)
        .str(14, "IfNotPresent")
        .int(16, 0) // stdin
        .int(17, 0) // stdinOnce
        .int(18, 0); // tty
    let pod_spec = e().msg(2, container).int(4, 30).int(11, 0).int(12, 0).int(13, 0);
    let template = e().msg(1, meta("", "").entry(11, "app", "web")).msg(2, pod_spec);
    let spec = e()
        .int(1, 3)
        .msg(2, e().entry(1, "app", "web"))
        .msg(3, template)
        .msg(
            4,
            e().str(1, "RollingUpdate")
                .msg(2, e().msg(1, e().int(1, 1).str(3, "25%")).msg(2, e().int(2, 1))),
        )
        .int(5, 0)
        .int(7, 0);
    let body = object(
        "apps/v1",
        "Deployment",
        e().msg(1, metadata).msg(2, spec).msg(3, e().int(1, 0).int(2, 0)),
    );
    assert_eq!(
        decode_object(&body),
        Ok(json!({
            "kind": "Deployment", "apiVersion": "apps/v1",
            "metadata": {
                "name": "web", "namespace": "default", "creationTimestamp": "2024-01-02T03:04:05Z",
                "labels": {"app": "web"}, "annotations": {"note": "x"}
            },
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                    "spec": {
                        "containers": [{
                            "name": "web", "image": "nginx:1.27",
                            "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
                            "env": [{"name": "MODE", "value": "prod"}],
                            "resources": {"limits": {"memory": "128Mi"}, "requests": {"cpu": "100m"}},
                            "livenessProbe": {
                                "httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"},
                                "timeoutSeconds": 5, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3
                            },
                            "imagePullPolicy": "IfNotPresent"
                        }],
                        "terminationGracePeriodSeconds": 30
                    }
                },
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1}}
            },
            "status": {}
        }))
    );
}

#[test]
fn service_target_ports() {
    let port = |name: &str, target: Enc| e().str(1, name).str(2, "TCP").int(3, 80).msg(4, target).int(5, 0);
    let spec = e()
        .msg(1, port("num", e().int(1, 0).int(2, 8080)))
        .msg(1, port("named", e().int(1, 1).str(3, "web")))
        .msg(1, port("zero", e()))
        .entry(2, "app", "x")
        .str(3, "10.0.0.1")
        .str(4, "ClusterIP");
    let body = object(
        "v1",
        "Service",
        e().msg(1, meta("s", "default")).msg(2, spec).msg(3, e().msg(1, e())),
    );
    let got = decode_object(&body).expect("service");
    assert_eq!(
        got["spec"],
        json!({
            "ports": [
                {"name": "num", "protocol": "TCP", "port": 80, "targetPort": 8080},
                {"name": "named", "protocol": "TCP", "port": 80, "targetPort": "web"},
                {"name": "zero", "protocol": "TCP", "port": 80, "targetPort": 0}
            ],
            "selector": {"app": "x"}, "clusterIP": "10.0.0.1", "type": "ClusterIP"
        })
    );
    assert_eq!(got["status"], json!({"loadBalancer": {}}));
}

#[test]
fn delete_options() {
    // gracePeriodSeconds 0 is a set pointer: printed. propagationPolicy and preconditions are pointers too.
    let raw = e()
        .int(1, 0)
        .msg(2, e().str(1, "uid-1").str(2, ""))
        .str(4, "Foreground")
        .str(5, "All");
    for api_version in ["v1", "meta.k8s.io/v1", "apps/v1"] {
        assert_eq!(
            decode_object(&object(api_version, "DeleteOptions", raw.clone())),
            Ok(json!({
                "kind": "DeleteOptions", "apiVersion": api_version,
                "gracePeriodSeconds": 0,
                "preconditions": {"uid": "uid-1", "resourceVersion": ""},
                "propagationPolicy": "Foreground",
                "dryRun": ["All"]
            })),
            "{api_version}"
        );
    }
}

#[test]
fn special_types() {
    // Lease: MicroTime, pointer strings and ints.
    let spec = e()
        .str(1, "")
        .int(2, 15)
        .msg(3, e().int(1, 1_704_164_645).int(2, 123_456_789))
        .msg(4, e())
        .int(5, 0);
    let lease = decode_object(&object(
        "coordination.k8s.io/v1",
        "Lease",
        e().msg(1, meta("l", "kube-system")).msg(2, spec),
    ));
    assert_eq!(
        lease.map(|l| l["spec"].clone()),
        Ok(json!({
            "holderIdentity": "", "leaseDurationSeconds": 15,
            "acquireTime": "2024-01-02T03:04:05.123456Z", "renewTime": null, "leaseTransitions": 0
        }))
    );
    // ControllerRevision: RawExtension holding JSON.
    let rev = e()
        .msg(1, meta("r", "default"))
        .msg(2, e().bytes(1, br#"{"spec":{"x":[1,2]}}"#))
        .int(3, 2);
    let rev = decode_object(&object("apps/v1", "ControllerRevision", rev)).expect("revision");
    assert_eq!(rev["data"], json!({"spec": {"x": [1, 2]}}));
    assert_eq!(rev["revision"], json!(2));
    // managedFields: FieldsV1 is embedded JSON.
    let mf = e()
        .str(1, "kubectl")
        .str(2, "Apply")
        .str(3, "v1")
        .str(6, "FieldsV1")
        .msg(7, e().bytes(1, br#"{"f:data":{}}"#));
    let cm = decode_object(&object("v1", "ConfigMap", e().msg(1, meta("c", "d").msg(17, mf)))).expect("configmap");
    assert_eq!(
        cm["metadata"]["managedFields"],
        json!([{"manager": "kubectl", "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {}}}])
    );
    // UserInfo.extra: map<string, ExtraValue> prints lists.
    let sar_spec = e()
        .str(3, "alice")
        .str(4, "dev")
        .msg(5, e().str(1, "scopes").msg(2, e().str(1, "a").str(1, "b")))
        .str(6, "");
    let sar = decode_object(&object(
        "authorization.k8s.io/v1",
        "SubjectAccessReview",
        e().msg(1, meta("", "")).msg(2, sar_spec),
    ))
    .expect("sar");
    assert_eq!(
        sar["spec"],
        json!({"user": "alice", "groups": ["dev"], "extra": {"scopes": ["a", "b"]}})
    );
    // HPA v2: a double-free message; packed repeated int32 in a pod's container restart rules is not in 1.33,
    // so check packed decoding on JobSpec's PodFailurePolicy exit codes.
    let rule = e().str(1, "FailJob").msg(2, e().str(2, "In").bytes(3, &[1, 2, 0x7f]));
    let job_spec = e()
        .msg(6, e().msg(1, meta("", "")).msg(2, e()))
        .msg(11, e().msg(1, rule));
    let job = decode_object(&object("batch/v1", "Job", e().msg(1, meta("j", "d")).msg(2, job_spec))).expect("job");
    assert_eq!(
        job["spec"]["podFailurePolicy"],
        json!({"rules": [{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [1, 2, 127]}}]})
    );
    // CRD schema: JSONSchemaProps with OrBool / OrArray / JSON and a double.
    let props = e()
        .str(5, "object")
        .double(9, 1.5)
        .entry_msg(29, "x", e().str(5, "integer").double(9, 10.0))
        .msg(30, e().int(1, 1))
        .msg(24, e().msg(1, e().str(5, "string")))
        .msg(20, e().bytes(1, b"\"a\""));
    let validation = e().msg(1, props);
    let version = e().str(1, "v1").int(2, 1).int(3, 1).msg(4, validation);
    let crd_spec = e()
        .str(1, "example.com")
        .msg(
            3,
            e().str(1, "widgets")
                .str(2, "widget")
                .str(4, "Widget")
                .str(5, "WidgetList"),
        )
        .str(4, "Namespaced")
        .msg(7, version);
    let crd = decode_object(&object(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        e().msg(1, meta("widgets.example.com", "")).msg(2, crd_spec),
    ))
    .expect("crd");
    assert_eq!(
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"],
        json!({
            "type": "object", "maximum": 1.5,
            "enum": ["a"],
            "items": {"type": "string"},
            "additionalProperties": true,
            "properties": {"x": {"type": "integer", "maximum": 10}}
        })
    );
}

#[test]
fn errors() {
    let ns = object("v1", "Namespace", e().msg(1, meta("foo", "")));
    assert!(decode_object(&ns).is_ok());
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"{\"kind\":\"Namespace\"}".to_vec(), "magic"),
        (Vec::new(), "magic"),
        (
            object("v1", "NoSuchKind", e()),
            "no protobuf schema for apiVersion \"v1\" kind \"NoSuchKind\"",
        ),
        (object("v9", "Namespace", e()), "no protobuf schema"),
        (object("", "", e()), "names no kind"),
        (ns[..ns.len() - 3].to_vec(), "truncated"),
        (object("v1", "Namespace", e().int(1, 5)), "wire type 0, expected 2"),
        (
            object("v1", "ConfigMap", e().msg(1, e().str(8, "x").int(1, 1))),
            "wire type",
        ),
        (
            object("apps/v1", "ControllerRevision", e().msg(2, e().bytes(1, b"{not json"))),
            "embedded JSON is invalid",
        ),
    ];
    for (body, want) in cases {
        match decode_object(&body) {
            Ok(v) => panic!("{want}: decoded to {v}"),
            Err(err) => assert!(err.contains(want), "{err:?} should contain {want:?}"),
        }
    }
    let mut gzip = b"k8s\0".to_vec();
    gzip.extend(e().msg(1, e().str(1, "v1").str(2, "Namespace")).str(3, "gzip").0);
    assert!(decode_object(&gzip).is_err_and(|e| e.contains("content encoding")));
}

#[test]
fn never_panics_on_truncated_or_mangled_bodies() {
    let mut bodies: Vec<&[u8]> = KUBECTL.iter().map(|(_, body, _)| *body).collect();
    bodies.push(include_bytes!("testdata/ssar.pb"));
    bodies.push(include_bytes!("testdata/token.pb"));
    // xorshift: deterministic, no dependency.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for body in bodies {
        for cut in 0..body.len() {
            let _ = decode_object(&body[..cut]);
        }
        for _ in 0..300 {
            let mut mangled = body.to_vec();
            for _ in 0..=(next() % 4) {
                let i = 4 + (next() as usize) % (mangled.len() - 4);
                mangled[i] = next() as u8;
            }
            let _ = decode_object(&mangled);
        }
    }
    for _ in 0..2000 {
        let len = (next() % 64) as usize;
        let mut random = b"k8s\0".to_vec();
        random.extend((0..len).map(|_| next() as u8));
        let _ = decode_object(&random);
    }
}
