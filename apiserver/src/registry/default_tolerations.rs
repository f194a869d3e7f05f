//! The DefaultTolerationSeconds admission plugin: a pod that does not
//! tolerate the `node.kubernetes.io/not-ready` or `unreachable` NoExecute
//! taints gets a toleration for each, for 300 s, so its pods leave a lost
//! node after five minutes rather than at once.

use serde_json::{json, Value};

/// The taint a node gets while its `Ready` condition is `False`.
pub const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";
/// The taint a node gets while its `Ready` condition is `Unknown`.
pub const UNREACHABLE_TAINT: &str = "node.kubernetes.io/unreachable";
/// How long the default tolerations tolerate (`--default-not-ready-toleration-seconds`).
pub const DEFAULT_TOLERATION_SECONDS: i64 = 300;

/// Whether a toleration covers the NoExecute taint `key` as the plugin decides
/// (an empty key or effect matches any).
fn covers(toleration: &Value, key: &str) -> bool {
    let k = toleration["key"].as_str().unwrap_or("");
    let effect = toleration["effect"].as_str().unwrap_or("");
    (k == key || k.is_empty()) && (effect == "NoExecute" || effect.is_empty())
}

/// Adds the missing default tolerations to a pod being created or updated.
pub fn admit_pod(pod: &mut Value) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let list = spec.entry("tolerations").or_insert_with(|| json!([]));
    if !list.is_array() {
        *list = json!([]);
    }
    let Some(list) = list.as_array_mut() else { return };
    for key in [NOT_READY_TAINT, UNREACHABLE_TAINT] {
        if !list.iter().any(|t| covers(t, key)) {
            list.push(json!({
                "key": key,
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(pod: &Value) -> Vec<(String, Option<i64>)> {
        pod["spec"]["tolerations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["key"].as_str().unwrap_or("").to_string(),
                    t["tolerationSeconds"].as_i64(),
                )
            })
            .collect()
    }

    #[test]
    fn adds_what_the_pod_lacks() {
        let cases = [
            (
                json!(null),
                vec![(NOT_READY_TAINT, Some(300)), (UNREACHABLE_TAINT, Some(300))],
            ),
            (
                json!([{"key": NOT_READY_TAINT, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10}]),
                vec![(NOT_READY_TAINT, Some(10)), (UNREACHABLE_TAINT, Some(300))],
            ),
            // An empty effect covers NoExecute; a NoSchedule one does not.
            (
                json!([{"key": UNREACHABLE_TAINT, "operator": "Exists"},
                       {"key": NOT_READY_TAINT, "operator": "Exists", "effect": "NoSchedule"}]),
                vec![
                    (UNREACHABLE_TAINT, None),
                    (NOT_READY_TAINT, None),
                    (NOT_READY_TAINT, Some(300)),
                ],
            ),
            // Tolerating everything covers both.
            (json!([{"operator": "Exists"}]), vec![("", None)]),
        ];
        for (tolerations, want) in cases {
            let mut pod = json!({"spec": {"containers": []}});
            if !tolerations.is_null() {
                pod["spec"]["tolerations"] = tolerations.clone();
            }
            admit_pod(&mut pod);
            let want: Vec<(String, Option<i64>)> = want.into_iter().map(|(k, s)| (k.to_string(), s)).collect();
            assert_eq!(keys(&pod), want, "{tolerations}");
        }
    }

    #[test]
    fn admitting_twice_changes_nothing() {
        let mut pod = json!({"spec": {}});
        admit_pod(&mut pod);
        let once = pod.clone();
        admit_pod(&mut pod);
        assert_eq!(pod, once);
        assert_eq!(
            once["spec"]["tolerations"][0],
            json!({"key": NOT_READY_TAINT, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300})
        );
    }
}
