//! `spec.podFailurePolicy` (`pod_failure_policy.go`): the first rule that
//! matches a failed pod, on its containers' exit codes or its conditions,
//! decides whether the failure fails the Job, fails the pod's index, is
//! ignored, or counts toward `backoffLimit`.

use k1s_proto::meta::ObjectMeta;
use k8s_openapi::api::batch::v1::{PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement};
use serde_json::Value;

/// What a matched rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Fail the whole Job.
    FailJob,
    /// Fail the pod's index (with `backoffLimitPerIndex`).
    FailIndex,
    /// Do not count the failure.
    Ignore,
    /// Count the failure (the default).
    Count,
}

impl Action {
    fn parse(s: &str) -> Option<Action> {
        match s {
            "FailJob" => Some(Action::FailJob),
            "FailIndex" => Some(Action::FailIndex),
            "Ignore" => Some(Action::Ignore),
            "Count" => Some(Action::Count),
            _ => None,
        }
    }
}

/// The outcome of matching a failed pod (`matchPodFailurePolicy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    /// The Job failure message of a `FailJob` rule.
    pub fail_job_message: Option<String>,
    /// Whether the failure counts toward the back-off limit.
    pub count_failed: bool,
    /// The action of the rule that matched, if one did.
    pub action: Option<Action>,
}

impl Matched {
    fn none() -> Matched {
        Matched {
            fail_job_message: None,
            count_failed: true,
            action: None,
        }
    }
}

/// Matches `pod` (which failed) against `policy`.
pub fn match_policy(policy: Option<&PodFailurePolicy>, pod: &Value) -> Matched {
    let Some(policy) = policy else {
        return Matched::none();
    };
    for (index, rule) in policy.rules.iter().enumerate() {
        let Some(action) = Action::parse(&rule.action) else {
            continue;
        };
        let message = if let Some(req) = &rule.on_exit_codes {
            let Some((container, code)) = match_exit_codes(pod, req) else {
                continue;
            };
            format!(
                "Container {container} for pod {}/{} failed with exit code {code} matching {} rule at index {index}",
                pod.namespace().unwrap_or(""),
                pod.name().unwrap_or(""),
                rule.action
            )
        } else if let Some(patterns) = &rule.on_pod_conditions {
            let matched = pod["status"]["conditions"].as_array().into_iter().flatten().find(|c| {
                patterns
                    .iter()
                    .any(|p| c["type"] == p.type_.as_str() && c["status"] == p.status.as_str())
            });
            let Some(cond) = matched else {
                continue;
            };
            format!(
                "Pod {}/{} has condition {} matching {} rule at index {index}",
                pod.namespace().unwrap_or(""),
                pod.name().unwrap_or(""),
                cond["type"].as_str().unwrap_or(""),
                rule.action
            )
        } else {
            continue;
        };
        return match action {
            Action::Ignore => Matched {
                fail_job_message: None,
                count_failed: false,
                action: Some(action),
            },
            Action::FailJob => Matched {
                fail_job_message: Some(message),
                count_failed: true,
                action: Some(action),
            },
            Action::Count | Action::FailIndex => Matched {
                fail_job_message: None,
                count_failed: true,
                action: Some(action),
            },
        };
    }
    Matched::none()
}

/// The first terminated container (app containers, then init containers)
/// with a non-zero exit code the requirement matches: its name and code.
fn match_exit_codes(pod: &Value, req: &PodFailurePolicyOnExitCodesRequirement) -> Option<(String, i64)> {
    for list in ["containerStatuses", "initContainerStatuses"] {
        for status in pod["status"][list].as_array().into_iter().flatten() {
            let Some(code) = status["state"]["terminated"]["exitCode"].as_i64() else {
                continue;
            };
            let name = status["name"].as_str().unwrap_or("");
            if req.container_name.as_deref().is_some_and(|want| want != name) || code == 0 {
                continue;
            }
            let listed = req.values.iter().any(|v| i64::from(*v) == code);
            let matches = match req.operator.as_str() {
                "In" => listed,
                "NotIn" => !listed,
                _ => false,
            };
            if matches {
                return Some((name.to_string(), code));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(rules: Value) -> PodFailurePolicy {
        serde_json::from_value(json!({ "rules": rules })).unwrap()
    }

    fn failed(code: i64, conditions: Value) -> Value {
        json!({"metadata": {"name": "p", "namespace": "ns"}, "status": {"phase": "Failed",
            "conditions": conditions,
            "containerStatuses": [
                {"name": "ok", "state": {"terminated": {"exitCode": 0}}},
                {"name": "main", "state": {"terminated": {"exitCode": code}}}]}})
    }

    #[test]
    fn rules_match_in_order() {
        let p = policy(json!([
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
            {"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In", "values": [42]}},
            {"action": "Count", "onExitCodes": {"operator": "NotIn", "values": [1, 2]}},
            {"action": "FailIndex", "onExitCodes": {"operator": "In", "values": [2]}},
        ]));
        let disrupted = failed(42, json!([{"type": "DisruptionTarget", "status": "True"}]));
        assert_eq!(
            match_policy(Some(&p), &disrupted),
            Matched {
                fail_job_message: None,
                count_failed: false,
                action: Some(Action::Ignore)
            }
        );
        let m = match_policy(Some(&p), &failed(42, json!([])));
        assert_eq!(m.action, Some(Action::FailJob));
        assert_eq!(
            m.fail_job_message.as_deref(),
            Some("Container main for pod ns/p failed with exit code 42 matching FailJob rule at index 1")
        );
        assert_eq!(
            match_policy(Some(&p), &failed(7, json!([]))).action,
            Some(Action::Count)
        );
        assert_eq!(
            match_policy(Some(&p), &failed(2, json!([]))).action,
            Some(Action::FailIndex)
        );
        let none = match_policy(Some(&p), &failed(1, json!([])));
        assert_eq!(none, Matched::none());
        assert_eq!(match_policy(None, &failed(42, json!([]))), Matched::none());
    }

    #[test]
    fn condition_rules_name_the_condition() {
        let p = policy(json!([{"action": "FailJob", "onPodConditions": [{"type": "ConfigIssue", "status": "True"}]}]));
        let m = match_policy(Some(&p), &failed(1, json!([{"type": "ConfigIssue", "status": "True"}])));
        assert_eq!(
            m.fail_job_message.as_deref(),
            Some("Pod ns/p has condition ConfigIssue matching FailJob rule at index 0")
        );
        // A zero exit code never matches, even with NotIn.
        let q = policy(json!([{"action": "FailJob", "onExitCodes": {"operator": "NotIn", "values": [5]}}]));
        let zero = json!({"status": {"containerStatuses": [{"name": "c", "state": {"terminated": {"exitCode": 0}}}]}});
        assert_eq!(match_policy(Some(&q), &zero), Matched::none());
    }
}
