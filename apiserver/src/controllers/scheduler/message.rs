//! The text of a scheduling failure, as kube-scheduler writes it in the
//! `FailedScheduling` event and the `PodScheduled` condition (`FitError.Error()`
//! plus the DefaultPreemption PostFilter's message):
//! `0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are
//! available: 1 No preemption victims found for incoming pod.`

use std::collections::BTreeMap;

use super::filters::Rejection;

/// kube-scheduler's message when the cluster has no nodes at all.
pub const NO_NODES: &str = "no nodes available to schedule pods";
/// Preemption's verdict for a node whose rejection no eviction can fix.
const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
/// Preemption's verdict for a node with no lower-priority pods to evict.
const NO_VICTIMS: &str = "No preemption victims found for incoming pod";

/// Why no node was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// There are no nodes.
    NoNodes,
    /// A pod-level check failed before any node was looked at (e.g. unbound PVCs).
    PreFilter {
        /// How many nodes the cluster has.
        nodes: usize,
        /// The check's message.
        message: String,
    },
    /// Every node was rejected.
    Filter(Vec<Rejection>),
}

/// `"1 Insufficient cpu, 2 node(s) were unschedulable"`: each reason with the
/// number of nodes that gave it, sorted as strings (as kube-scheduler sorts them).
fn histogram<'a>(reasons: impl Iterator<Item = &'a str>) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in reasons {
        *counts.entry(r).or_default() += 1;
    }
    let mut parts: Vec<String> = counts.into_iter().map(|(r, n)| format!("{n} {r}")).collect();
    parts.sort();
    parts.join(", ")
}

/// The full message for a failure; `preempt_never` is the pod's `preemptionPolicy: Never`.
pub fn failure_message(failure: &Failure, preempt_never: bool) -> String {
    let (nodes, filter_part, verdicts): (usize, String, Vec<&str>) = match failure {
        Failure::NoNodes => return NO_NODES.to_string(),
        Failure::PreFilter { nodes, message } => (*nodes, format!(" {message}."), vec![NOT_HELPFUL; *nodes]),
        Failure::Filter(rejections) => {
            let reasons = histogram(rejections.iter().flat_map(|r| r.reasons.iter().map(String::as_str)));
            let verdicts = rejections
                .iter()
                .map(|r| if r.resolvable { NO_VICTIMS } else { NOT_HELPFUL })
                .collect();
            let part = if reasons.is_empty() {
                String::new()
            } else {
                format!(" {reasons}.")
            };
            (rejections.len(), part, verdicts)
        }
    };
    let preemption = if preempt_never {
        "preemption: not eligible due to preemptionPolicy=Never.".to_string()
    } else {
        format!(
            "preemption: 0/{nodes} nodes are available: {}.",
            histogram(verdicts.into_iter())
        )
    };
    format!("0/{nodes} nodes are available:{filter_part} {preemption}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rej(reasons: &[&str], resolvable: bool) -> Rejection {
        Rejection {
            reasons: reasons.iter().map(|s| s.to_string()).collect(),
            resolvable,
        }
    }

    #[test]
    fn messages_match_kube_scheduler() {
        let cases = [
            (Failure::NoNodes, false, "no nodes available to schedule pods"),
            (
                Failure::Filter(vec![rej(&["Insufficient cpu"], true)]),
                false,
                "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
            ),
            (
                Failure::Filter(vec![rej(&["node(s) didn't match Pod's node affinity/selector"], false)]),
                false,
                "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
            ),
            (
                Failure::Filter(vec![
                    rej(&["Insufficient cpu", "Insufficient memory"], true),
                    rej(&["node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"], false),
                    rej(&["Insufficient cpu"], true),
                ]),
                false,
                "0/3 nodes are available: 1 Insufficient memory, 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.",
            ),
            (
                Failure::PreFilter {
                    nodes: 1,
                    message: "pod has unbound immediate PersistentVolumeClaims".into(),
                },
                false,
                "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
            ),
            (
                Failure::Filter(vec![rej(&["Insufficient cpu"], true)]),
                true,
                "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never.",
            ),
        ];
        for (failure, never, want) in cases {
            assert_eq!(failure_message(&failure, never), want);
        }
    }
}
