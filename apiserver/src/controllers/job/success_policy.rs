//! `spec.successPolicy` of Indexed Jobs (`success_policy.go`): the Job may
//! succeed early once a rule's indexes (or a count of them) have succeeded.

use k8s_openapi::api::batch::v1::SuccessPolicy;

use super::indexed::Intervals;

/// The `SuccessCriteriaMet` message when a rule matches the succeeded indexes.
pub fn matched(policy: Option<&SuccessPolicy>, completions: usize, succeeded: &Intervals) -> Option<String> {
    let policy = policy?;
    if succeeded.is_empty() {
        return None;
    }
    for (index, rule) in policy.rules.iter().enumerate() {
        let count = rule.succeeded_count.map(|c| c.max(0) as usize);
        if let Some(required) = &rule.succeeded_indexes {
            let required = Intervals::parse(required, completions);
            if required.is_empty() {
                continue;
            }
            let contained = overlap(&required, succeeded);
            if contained == required.total() || count.is_some_and(|c| contained >= c) {
                return Some(format!("Matched rules at index {index}"));
            }
        } else if count.is_some_and(|c| succeeded.total() >= c) {
            return Some(format!("Matched rules at index {index}"));
        }
    }
    None
}

/// How many indexes of `a` are also in `b`.
fn overlap(a: &Intervals, b: &Intervals) -> usize {
    let mut total = 0;
    for &(af, al) in a.intervals() {
        for &(bf, bl) in b.intervals() {
            let (first, last) = (af.max(bf), al.min(bl));
            if first <= last {
                total += last - first + 1;
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rules_match_on_indexes_or_counts() {
        let policy: SuccessPolicy = serde_json::from_value(json!({"rules": [
            {"succeededIndexes": "0,2-3"},
            {"succeededIndexes": "5-9", "succeededCount": 2},
            {"succeededCount": 6},
        ]}))
        .unwrap();
        let m = |done: &str| matched(Some(&policy), 10, &Intervals::parse(done, 10));
        assert_eq!(m(""), None);
        assert_eq!(m("0,2"), None);
        assert_eq!(m("0,2-3").as_deref(), Some("Matched rules at index 0"));
        assert_eq!(m("1,6,9").as_deref(), Some("Matched rules at index 1"));
        assert_eq!(m("0,4,6").as_deref(), None);
        assert_eq!(m("0-1,4-7").as_deref(), Some("Matched rules at index 1"));
        assert_eq!(m("0,1,3,4,5,6").as_deref(), Some("Matched rules at index 1"));
        let count_only: SuccessPolicy = serde_json::from_value(json!({"rules": [{"succeededCount": 3}]})).unwrap();
        assert_eq!(
            matched(Some(&count_only), 10, &Intervals::parse("1,4,8", 10)).as_deref(),
            Some("Matched rules at index 0")
        );
        assert_eq!(matched(None, 10, &Intervals::parse("1", 10)), None);
    }
}
