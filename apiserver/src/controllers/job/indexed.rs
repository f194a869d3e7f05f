//! Indexed Jobs (`indexed_job_utils.go`): completion indexes of pods, the
//! compressed index lists of `status.completedIndexes`/`failedIndexes`
//! (`"1,3-5,7"`), which indexes still need a pod, and the per-index pod
//! template (annotation, label, hostname, `JOB_COMPLETION_INDEX`).

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use k1s_proto::meta::ObjectMeta;
use serde_json::{json, Value};

use super::{COMPLETION_INDEX, INDEX_FAILURE_COUNT, INDEX_IGNORED_FAILURE_COUNT};
use crate::controllers::podutil::compare_active_pods;

/// The environment variable holding a pod's completion index.
pub const COMPLETION_INDEX_ENV: &str = "JOB_COMPLETION_INDEX";
/// Longest `generateName` prefix before the random suffix (`names.MaxGeneratedNameLength`).
const MAX_GENERATED_NAME_LENGTH: usize = 58;

/// A pod's completion index, if it has a valid one.
pub fn completion_index(pod: &Value) -> Option<usize> {
    pod.annotations()?
        .get(COMPLETION_INDEX)?
        .as_str()?
        .parse::<i64>()
        .ok()
        .filter(|i| *i >= 0)
        .map(|i| i as usize)
}

/// An annotation parsed as a count in 0..=i32::MAX (0 otherwise), as `parseInt32` does.
fn count_annotation(pod: &Value, key: &str) -> i32 {
    pod.annotations()
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|v| (0..=i64::from(i32::MAX)).contains(v))
        .map(|v| v as i32)
        .unwrap_or(0)
}

/// `batch.kubernetes.io/job-index-failure-count`.
pub fn index_failure_count(pod: &Value) -> i32 {
    count_annotation(pod, INDEX_FAILURE_COUNT)
}

/// Failures plus ignored failures of the pod's index so far.
pub fn index_absolute_failure_count(pod: &Value) -> i32 {
    count_annotation(pod, INDEX_FAILURE_COUNT).saturating_add(count_annotation(pod, INDEX_IGNORED_FAILURE_COUNT))
}

/// Ordered, disjoint, non-adjacent closed intervals of indexes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Intervals(Vec<(usize, usize)>);

impl Intervals {
    /// Parses `"1,3-5"`, dropping what is at or above `completions` and
    /// skipping corrupt parts (`parseIndexesFromString`).
    pub fn parse(s: &str, completions: usize) -> Intervals {
        let mut out: Vec<(usize, usize)> = Vec::new();
        if s.is_empty() {
            return Intervals(out);
        }
        for part in s.split(',') {
            let mut limits = part.split('-');
            let Some(first) = limits.next().and_then(|f| f.parse::<usize>().ok()) else {
                continue;
            };
            if first >= completions {
                break;
            }
            let last = match limits.next() {
                Some(l) => match l.parse::<usize>() {
                    Ok(l) => l.min(completions - 1),
                    Err(_) => continue,
                },
                None => first,
            };
            match out.last_mut() {
                Some(prev) if prev.1 + 1 == first => prev.1 = last,
                _ => out.push((first, last)),
            }
        }
        Intervals(out)
    }

    /// The intervals.
    pub fn intervals(&self) -> &[(usize, usize)] {
        &self.0
    }

    /// Whether there is no index.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many indexes.
    pub fn total(&self) -> usize {
        self.0.iter().map(|(a, b)| b - a + 1).sum()
    }

    /// Whether `ix` is included.
    pub fn has(&self, ix: usize) -> bool {
        let pos = self.0.partition_point(|(_, last)| *last < ix);
        self.0.get(pos).is_some_and(|(first, _)| *first <= ix)
    }

    /// These intervals and `other`'s, merged.
    pub fn merge(&self, other: &Intervals) -> Intervals {
        let mut all: Vec<(usize, usize)> = self.0.iter().chain(other.0.iter()).copied().collect();
        all.sort_by_key(|(first, _)| *first);
        let mut out: Vec<(usize, usize)> = Vec::with_capacity(all.len());
        for (first, last) in all {
            match out.last_mut() {
                Some(prev) if first <= prev.1 + 1 => prev.1 = prev.1.max(last),
                _ => out.push((first, last)),
            }
        }
        Intervals(out)
    }

    /// These intervals plus single indexes.
    pub fn with_indexes(&self, indexes: impl IntoIterator<Item = usize>) -> Intervals {
        self.merge(&Intervals(indexes.into_iter().map(|i| (i, i)).collect()))
    }
}

impl fmt::Display for Intervals {
    /// `0,1` for two adjacent indexes, `0-2` for three or more, as Kubernetes prints them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (first, last)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{first}")?;
            if last == &(first + 1) {
                write!(f, ",{last}")?;
            } else if last > first {
                write!(f, "-{last}")?;
            }
        }
        Ok(())
    }
}

/// The indexes `pods` hold.
pub fn indexes_of<'a>(pods: impl IntoIterator<Item = &'a Arc<Value>>) -> BTreeSet<usize> {
    pods.into_iter().filter_map(|p| completion_index(p)).collect()
}

/// The first `count` indexes below `completions` not in `non_pending` (`firstPendingIndexes`).
pub fn first_pending_indexes(non_pending: &Intervals, count: usize, completions: usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(count);
    let mut candidate = 0usize;
    for &(first, last) in non_pending.intervals() {
        while candidate < completions && out.len() < count && candidate < first {
            out.push(candidate);
            candidate += 1;
        }
        candidate = candidate.max(last + 1);
    }
    while candidate < completions && out.len() < count {
        out.push(candidate);
        candidate += 1;
    }
    out
}

/// Splits active pods of an Indexed Job into those to remove (no index, an
/// index out of range, or all but the most advanced pod of a repeated index)
/// and those to keep (`appendDuplicatedIndexPodsForRemoval`).
pub fn split_duplicated_indexes(pods: &[Arc<Value>], completions: usize) -> (Vec<Arc<Value>>, Vec<Arc<Value>>) {
    let mut rm = Vec::new();
    let mut left = Vec::new();
    let mut by_index: std::collections::BTreeMap<usize, Vec<Arc<Value>>> = Default::default();
    for p in pods {
        match completion_index(p) {
            Some(ix) if ix < completions => by_index.entry(ix).or_default().push(p.clone()),
            _ => rm.push(p.clone()),
        }
    }
    for (_, mut same) in by_index {
        same.sort_by(|a, b| compare_active_pods(a, b));
        if let Some(keep) = same.pop() {
            left.push(keep);
        }
        rm.extend(same);
    }
    (rm, left)
}

/// Orders pods by completion index, pods without one first.
pub fn by_completion_index(a: &Value, b: &Value) -> Ordering {
    let ix = |p: &Value| completion_index(p).map(|i| i as i64).unwrap_or(-1);
    ix(a).cmp(&ix(b))
}

/// Adds `JOB_COMPLETION_INDEX` (from the pod's index label) to every init
/// and app container of a pod template that lacks it.
pub fn add_completion_index_env(template: &mut Value) {
    for list in ["initContainers", "containers"] {
        let Some(containers) = template["spec"][list].as_array_mut() else {
            continue;
        };
        for c in containers {
            let has = c["env"]
                .as_array()
                .is_some_and(|env| env.iter().any(|e| e["name"] == COMPLETION_INDEX_ENV));
            if has {
                continue;
            }
            let var = json!({"name": COMPLETION_INDEX_ENV, "valueFrom": {"fieldRef": {
                "fieldPath": format!("metadata.labels['{COMPLETION_INDEX}']")}}});
            match c["env"].as_array_mut() {
                Some(env) => env.push(var),
                None => c["env"] = json!([var]),
            }
        }
    }
}

/// Makes `template` the template of index `ix`: the index annotation and
/// label, hostname `<job>-<ix>`.
pub fn index_template(template: &mut Value, job_name: &str, ix: usize) {
    for field in ["annotations", "labels"] {
        let meta = &mut template["metadata"];
        if !meta[field].is_object() {
            meta[field] = json!({});
        }
        meta[field][COMPLETION_INDEX] = json!(ix.to_string());
    }
    template["spec"]["hostname"] = json!(format!("{job_name}-{ix}"));
}

/// `generateName` of an index's pods: `<job>-<ix>-`, the job name cut to fit.
pub fn generate_name_with_index(job_name: &str, ix: usize) -> String {
    let suffix = format!("-{ix}-");
    let prefix = format!("{job_name}{suffix}");
    if prefix.len() > MAX_GENERATED_NAME_LENGTH {
        let keep = MAX_GENERATED_NAME_LENGTH - suffix.len();
        let mut cut = keep.min(job_name.len());
        while !job_name.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}{suffix}", &job_name[..cut])
    } else {
        prefix
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, ix: Option<&str>, phase: &str) -> Arc<Value> {
        let mut p = json!({"metadata": {"name": name, "annotations": {}}, "status": {"phase": phase}});
        if let Some(ix) = ix {
            p["metadata"]["annotations"][COMPLETION_INDEX] = json!(ix);
        }
        Arc::new(p)
    }

    #[test]
    fn intervals_parse_print_and_merge() {
        for (text, completions, total, printed) in [
            ("", 5, 0, ""),
            ("0", 5, 1, "0"),
            ("0,1", 5, 2, "0,1"),
            ("0-2,4", 5, 4, "0-2,4"),
            ("1-3,4", 5, 4, "1-4"),
            ("0-9", 5, 5, "0-4"),
            ("2,x,3-4", 10, 3, "2-4"),
            ("1,7,8", 5, 1, "1"),
        ] {
            let iv = Intervals::parse(text, completions);
            assert_eq!(iv.total(), total, "{text}");
            assert_eq!(iv.to_string(), printed, "{text}");
        }
        let iv = Intervals::parse("1,3-5", 10).with_indexes([2, 7, 0]);
        assert_eq!(iv.to_string(), "0-5,7");
        assert!(iv.has(0) && iv.has(5) && iv.has(7) && !iv.has(6) && !iv.has(8));
        let merged = Intervals::parse("0,4-5", 10).merge(&Intervals::parse("1,5-8", 10));
        assert_eq!(merged.to_string(), "0,1,4-8");
    }

    #[test]
    fn first_pending_indexes_skip_what_runs_or_finished() {
        for (non_pending, count, completions, want) in [
            ("", 3, 5, vec![0, 1, 2]),
            ("0,2", 3, 5, vec![1, 3, 4]),
            ("0-4", 2, 5, vec![]),
            ("1-2", 5, 5, vec![0, 3, 4]),
            ("", 0, 5, vec![]),
            ("3", 10, 4, vec![0, 1, 2]),
        ] {
            let iv = Intervals::parse(non_pending, completions);
            assert_eq!(first_pending_indexes(&iv, count, completions), want, "{non_pending}");
        }
    }

    #[test]
    fn duplicated_and_invalid_indexes_are_removed() {
        let pods = vec![
            pod("a0", Some("0"), "Running"),
            pod("b0", Some("0"), "Pending"),
            pod("c1", Some("1"), "Running"),
            pod("none", None, "Running"),
            pod("big", Some("9"), "Running"),
            pod("bad", Some("-1"), "Running"),
        ];
        let (rm, left) = split_duplicated_indexes(&pods, 3);
        let names = |v: &[Arc<Value>]| {
            let mut n: Vec<String> = v.iter().map(|p| p.name().unwrap().to_string()).collect();
            n.sort();
            n
        };
        assert_eq!(names(&rm), ["b0", "bad", "big", "none"]);
        assert_eq!(names(&left), ["a0", "c1"]);
    }

    #[test]
    fn index_templates_get_annotation_label_hostname_and_env() {
        let mut t = json!({"metadata": {"labels": {"app": "x"}}, "spec": {
            "initContainers": [{"name": "i"}],
            "containers": [{"name": "a", "env": [{"name": "A", "value": "1"}]},
                           {"name": "b", "env": [{"name": COMPLETION_INDEX_ENV, "value": "mine"}]}]}});
        add_completion_index_env(&mut t);
        index_template(&mut t, "work", 3);
        assert_eq!(t["metadata"]["annotations"][COMPLETION_INDEX], "3");
        assert_eq!(t["metadata"]["labels"][COMPLETION_INDEX], "3");
        assert_eq!(t["metadata"]["labels"]["app"], "x");
        assert_eq!(t["spec"]["hostname"], "work-3");
        let field = "metadata.labels['batch.kubernetes.io/job-completion-index']";
        assert_eq!(
            t["spec"]["initContainers"][0]["env"][0]["valueFrom"]["fieldRef"]["fieldPath"],
            field
        );
        assert_eq!(t["spec"]["containers"][0]["env"][1]["name"], COMPLETION_INDEX_ENV);
        assert_eq!(
            t["spec"]["containers"][1]["env"],
            json!([{"name": COMPLETION_INDEX_ENV, "value": "mine"}])
        );
        assert_eq!(generate_name_with_index("work", 3), "work-3-");
        let long = "j".repeat(63);
        let g = generate_name_with_index(&long, 12);
        assert_eq!(g.len(), 58);
        assert!(g.ends_with("-12-"));
    }

    #[test]
    fn completion_indexes_and_failure_counts_parse_strictly() {
        assert_eq!(completion_index(&pod("p", Some("4"), "Running")), Some(4));
        assert_eq!(completion_index(&pod("p", Some("x"), "Running")), None);
        assert_eq!(completion_index(&pod("p", None, "Running")), None);
        let mut p = json!({"metadata": {"annotations": {INDEX_FAILURE_COUNT: "2", INDEX_IGNORED_FAILURE_COUNT: "1"}}});
        assert_eq!(index_failure_count(&p), 2);
        assert_eq!(index_absolute_failure_count(&p), 3);
        p["metadata"]["annotations"][INDEX_FAILURE_COUNT] = json!("-5");
        assert_eq!(index_failure_count(&p), 0);
    }
}
