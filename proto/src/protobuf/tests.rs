//! Bodies captured from kubectl 1.33 (testdata/, recorded with scripts/record_kubectl_bodies.py)
//! and bodies built by a small encoder.

use serde_json::{Value, json};

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
