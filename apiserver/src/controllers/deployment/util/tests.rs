//! Table tests of the Deployment arithmetic, with Kubernetes' own cases where
//! it has them (`deployment_util_test.go`).

use super::*;
use serde_json::json;

/// A RollingUpdate Deployment of `replicas` with these fenceposts.
pub fn deployment(replicas: i32, surge: IntOrString, unavailable: IntOrString) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "d", "uid": "d-uid", "generation": 1},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "web:1"}]}},
            "progressDeadlineSeconds": 600,
            "revisionHistoryLimit": 10,
        },
    }))
    .unwrap()
}

/// A ReplicaSet `name` created `created` (seconds into the day) with
/// `replicas` wanted and `available` available.
pub fn replica_set(name: &str, replicas: i32, available: i32, created: i64) -> ReplicaSet {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "d", "uid": format!("{name}-uid"),
                     "creationTimestamp": jiff::Timestamp::from_second(1_767_225_600 + created).unwrap().to_string()},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web", "pod-template-hash": name}},
                              "spec": {"containers": [{"name": "c", "image": name}]}}},
        "status": {"replicas": replicas, "availableReplicas": available, "readyReplicas": available},
    }))
    .unwrap()
}

fn int(i: i32) -> IntOrString {
    IntOrString::Int(i)
}

fn pct(s: &str) -> IntOrString {
    IntOrString::String(s.into())
}

#[test]
fn fenceposts_round_surge_up_and_unavailable_down() {
    let cases = [
        (pct("25%"), pct("25%"), 10, (3, 2)),
        (pct("25%"), pct("25%"), 4, (1, 1)),
        (pct("25%"), pct("25%"), 1, (1, 0)),
        (pct("25%"), pct("25%"), 50, (13, 12)),
        (pct("0%"), pct("10%"), 5, (0, 1)), // both resolve to 0: one may be unavailable
        (int(0), pct("0%"), 5, (0, 1)),
        (int(2), int(0), 10, (2, 0)),
        (pct("50%"), pct("50%"), 3, (2, 1)),
        (pct("100%"), int(0), 7, (7, 0)),
        (pct("25%"), pct("25%"), 0, (0, 1)),
    ];
    for (surge, unavailable, desired, want) in cases {
        let got = resolve_fenceposts(Some(&surge), Some(&unavailable), desired).unwrap();
        assert_eq!(got, want, "{surge:?}/{unavailable:?} of {desired}");
    }
    assert!(scaled_value(&pct("x%"), 10, true).is_err());
    assert!(scaled_value(&IntOrString::String("5".into()), 10, true).is_err());
}

#[test]
fn max_surge_and_unavailable_of_deployments() {
    let d = deployment(10, pct("25%"), pct("25%"));
    assert_eq!((max_surge(&d), max_unavailable(&d)), (3, 2));
    // Never more unavailable than replicas; nothing for zero replicas.
    let d = deployment(2, int(0), int(5));
    assert_eq!(max_unavailable(&d), 2);
    let d = deployment(0, int(1), int(1));
    assert_eq!(max_unavailable(&d), 0);
    // Recreate has neither.
    let mut r = deployment(3, int(1), int(1));
    r.spec.as_mut().unwrap().strategy = Some(Default::default());
    r.spec.as_mut().unwrap().strategy.as_mut().unwrap().type_ = Some("Recreate".into());
    assert_eq!((max_surge(&r), max_unavailable(&r)), (0, 0));
}

#[test]
fn new_rs_new_replicas_honours_the_surge() {
    // (deployment replicas, maxSurge, old replicas, new replicas, want)
    let cases = [
        (1, int(1), 5, 0, 0),       // 5 pods already: no room at all
        (1, int(1), 1, 0, 1),       // room for one
        (10, int(2), 10, 0, 2),     // surge of 2
        (10, int(2), 5, 0, 7),      // old scaled down: new may take the rest up to 12
        (10, int(2), 10, 2, 2),     // at the limit
        (10, pct("25%"), 8, 4, 5),  // 13 allowed, 12 present
        (10, pct("25%"), 0, 9, 10), // never above replicas
    ];
    for (replicas, surge, old, new, want) in cases {
        let d = deployment(replicas, surge.clone(), int(0));
        let (o, n) = (replica_set("old", old, old, 0), replica_set("new", new, 0, 10));
        let got = new_rs_new_replicas(&d, &[&o, &n], &n).unwrap();
        assert_eq!(got, want, "replicas {replicas} surge {surge:?} old {old} new {new}");
    }
    let mut r = deployment(4, int(1), int(0));
    r.spec.as_mut().unwrap().strategy.as_mut().unwrap().type_ = Some("Recreate".into());
    let n = replica_set("new", 0, 0, 10);
    assert_eq!(new_rs_new_replicas(&r, &[&n], &n).unwrap(), 4);
}

#[test]
fn saturation_needs_desired_annotation_size_and_availability() {
    let d = deployment(3, int(1), int(0));
    let mut rs = replica_set("new", 3, 3, 0);
    assert!(!is_saturated(&d, Some(&rs)), "no desired-replicas annotation");
    set_replicas_annotations(&mut rs, 3, 4);
    assert!(is_saturated(&d, Some(&rs)));
    let mut not_available = rs.clone();
    not_available.status.as_mut().unwrap().available_replicas = Some(2);
    assert!(!is_saturated(&d, Some(&not_available)));
    set_replicas_annotations(&mut rs, 5, 6);
    assert!(!is_saturated(&d, Some(&rs)));
    assert!(!is_saturated(&d, None));
}

#[test]
fn proportions_follow_the_max_replicas_annotation() {
    // Scaling from 10 (+3 surge = 13 max) to 20 (+5 = 25): an RS of 8 grows to round(8*25/13) = 15.
    let d = deployment(20, pct("25%"), pct("25%"));
    let mut rs = replica_set("a", 8, 8, 0);
    set_replicas_annotations(&mut rs, 10, 13);
    assert_eq!(proportion(&rs, &d, 12, 0), 7);
    assert_eq!(proportion(&rs, &d, 12, 10), 2, "capped by what is left to add");
    assert_eq!(proportion(&rs, &d, 12, 12), 0);
    // Scaling down to 0: the whole RS goes.
    let zero = deployment(0, int(1), int(0));
    assert_eq!(proportion(&rs, &zero, -8, 0), -8);
    // Without the annotation, the Deployment's status.replicas is the old size.
    let mut d2 = deployment(20, int(0), int(1));
    d2.status = Some(DeploymentStatus {
        replicas: Some(10),
        ..Default::default()
    });
    let plain = replica_set("b", 5, 5, 0);
    assert_eq!(proportion(&plain, &d2, 10, 0), 5);
    assert_eq!(
        proportion(&replica_set("c", 0, 0, 0), &d2, 10, 0),
        0,
        "empty RSs never grow"
    );
}

fn annotations(rs: &ReplicaSet) -> BTreeMap<String, String> {
    rs.metadata.annotations.clone().unwrap_or_default()
}

#[test]
fn new_replica_set_annotations_and_revision_history() {
    let mut d = deployment(3, int(1), int(0));
    d.metadata.annotations = Some(BTreeMap::from([
        (
            "kubernetes.io/change-cause".to_string(),
            "kubectl set image".to_string(),
        ),
        (LAST_APPLIED.to_string(), "{}".to_string()),
        (REVISION.to_string(), "7".to_string()),
    ]));
    // Creation: the change cause is copied, the bookkeeping ones are not; replicas annotations set.
    let mut rs = replica_set("new", 0, 0, 0);
    assert!(set_new_rs_annotations(&d, &mut rs, "3", false));
    assert_eq!(
        annotations(&rs),
        BTreeMap::from([
            (
                "kubernetes.io/change-cause".to_string(),
                "kubectl set image".to_string()
            ),
            (REVISION.to_string(), "3".to_string()),
            (DESIRED_REPLICAS.to_string(), "3".to_string()),
            (MAX_REPLICAS.to_string(), "4".to_string()),
        ])
    );
    // Nothing new: unchanged.
    assert!(!set_new_rs_annotations(&d, &mut rs, "3", true));
    // A lower revision never lowers it.
    assert!(!set_new_rs_annotations(&d, &mut rs, "2", true));
    assert_eq!(annotations(&rs)[REVISION], "3");
    // Rolled back to: the revision rises and the old one is remembered, in order.
    assert!(set_new_rs_annotations(&d, &mut rs, "5", true));
    assert!(set_new_rs_annotations(&d, &mut rs, "9", true));
    assert_eq!(annotations(&rs)[REVISION], "9");
    assert_eq!(annotations(&rs)[REVISION_HISTORY], "3,5");
    // The history is kept under its length limit by dropping the oldest entries.
    let long: Vec<String> = (1000..1500).map(|n| n.to_string()).collect();
    rs.metadata
        .annotations
        .as_mut()
        .unwrap()
        .insert(REVISION_HISTORY.into(), long.join(","));
    assert!(set_new_rs_annotations(&d, &mut rs, "1000", true));
    let history = annotations(&rs)[REVISION_HISTORY].clone();
    assert!(history.len() <= MAX_REV_HISTORY_CHARS, "{}", history.len());
    assert!(
        history.starts_with("1101,") && history.ends_with(",1499,9"),
        "{history}"
    );
    // An unparsable revision is left alone.
    let mut odd = replica_set("odd", 0, 0, 0);
    odd.metadata.annotations = Some(BTreeMap::from([(REVISION.to_string(), "x".to_string())]));
    set_new_rs_annotations(&d, &mut odd, "4", true);
    assert_eq!(annotations(&odd)[REVISION], "x");
}

#[test]
fn revisions_and_ordering() {
    let with_rev = |name: &str, rev: Option<&str>, created: i64| {
        let mut rs = replica_set(name, 1, 1, created);
        if let Some(r) = rev {
            rs.metadata.annotations = Some(BTreeMap::from([(REVISION.to_string(), r.to_string())]));
        }
        rs
    };
    let (a, b, c, bad) = (
        with_rev("a", Some("2"), 30),
        with_rev("b", Some("10"), 10),
        with_rev("c", None, 20),
        with_rev("bad", Some("x"), 0),
    );
    assert_eq!(max_revision(&[&a, &b, &c, &bad]), 10);
    assert_eq!(max_revision(&[]), 0);
    let mut v = [&a, &b, &c];
    v.sort_by(|x, y| by_revision(x, y));
    let names: Vec<&str> = v.iter().map(|rs| name(rs)).collect();
    assert_eq!(names, ["c", "a", "b"]);

    let (big_old, big_new, small) = (
        replica_set("x", 5, 5, 0),
        replica_set("y", 5, 5, 50),
        replica_set("z", 1, 1, 20),
    );
    let mut older = [&small, &big_new, &big_old];
    older.sort_by(|p, q| by_size_older(p, q));
    assert_eq!(older.iter().map(|r| name(r)).collect::<Vec<_>>(), ["x", "y", "z"]);
    let mut newer = [&small, &big_old, &big_new];
    newer.sort_by(|p, q| by_size_newer(p, q));
    assert_eq!(newer.iter().map(|r| name(r)).collect::<Vec<_>>(), ["y", "x", "z"]);
}

#[test]
fn new_and_old_replica_sets_by_template() {
    let d = deployment(3, int(1), int(0));
    let mut current = replica_set("cur", 3, 3, 20);
    current.spec.as_mut().unwrap().template = Some(d.spec.as_ref().unwrap().template.clone());
    current
        .spec
        .as_mut()
        .unwrap()
        .template
        .as_mut()
        .unwrap()
        .metadata
        .as_mut()
        .unwrap()
        .labels
        .as_mut()
        .unwrap()
        .insert(POD_TEMPLATE_HASH.into(), "abc".into());
    let mut twin = current.clone();
    twin.metadata.name = Some("twin".into());
    twin.metadata.uid = Some("twin-uid".into());
    twin.metadata.creation_timestamp = Some(Time(jiff::Timestamp::from_second(1_767_225_600 + 30).unwrap()));
    let old = replica_set("old", 0, 0, 10);
    let older = replica_set("older", 2, 2, 5);
    let all = [&twin, &old, &current, &older];
    assert_eq!(find_new_rs(&d, &all).map(name), Some("cur"), "the oldest match wins");
    let (required, olds) = find_old_rss(&d, &all);
    assert_eq!(required.iter().map(|r| name(r)).collect::<Vec<_>>(), ["twin", "older"]);
    assert_eq!(olds.len(), 3);

    assert_eq!(find_active_or_latest(Some(&current), &[&old]).map(name), Some("cur"));
    assert_eq!(find_active_or_latest(Some(&current), &[&older]).map(name), None);
    let empty_new = replica_set("empty", 0, 0, 40);
    assert_eq!(
        find_active_or_latest(Some(&empty_new), &[&old]).map(name),
        Some("empty")
    );
    assert_eq!(
        find_active_or_latest(None, &[&old, &replica_set("o2", 0, 0, 15)]).map(name),
        Some("o2")
    );
}

#[test]
fn template_hash_is_stable_and_safe() {
    let d = deployment(3, int(1), int(0));
    let t = &d.spec.as_ref().unwrap().template;
    let h = pod_template_hash(t, None);
    assert_eq!(h, pod_template_hash(&t.clone(), None));
    assert!(h.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)), "{h}");
    assert!((6..=10).contains(&h.len()), "{h}");
    assert_ne!(h, pod_template_hash(t, Some(1)), "a collision count changes it");
    let mut other = t.clone();
    other.spec.as_mut().unwrap().containers[0].image = Some("web:2".into());
    assert_ne!(h, pod_template_hash(&other, None));
    // Equal but for the hash label.
    let mut labeled = t.clone();
    labeled
        .metadata
        .as_mut()
        .unwrap()
        .labels
        .as_mut()
        .unwrap()
        .insert(POD_TEMPLATE_HASH.into(), h.clone());
    assert!(equal_ignore_hash(t, &labeled));
    assert!(!equal_ignore_hash(t, &other));
}

#[test]
fn conditions_keep_transition_times() {
    let t0: jiff::Timestamp = "2026-01-01T00:00:00.5Z".parse().unwrap();
    let t1: jiff::Timestamp = "2026-01-01T00:01:00Z".parse().unwrap();
    let mut s = DeploymentStatus::default();
    set_condition(
        &mut s,
        new_condition(reason::PROGRESSING, "True", reason::NEW_RS, "Created", t0),
    );
    set_condition(
        &mut s,
        new_condition(reason::AVAILABLE, "False", reason::MIN_UNAVAILABLE, "no", t0),
    );
    let first = condition(&s, reason::PROGRESSING).unwrap().clone();
    assert_eq!(
        first.last_update_time.as_ref().unwrap().0.to_string(),
        "2026-01-01T00:00:00Z",
        "second precision"
    );
    // Same status and reason: nothing changes.
    set_condition(
        &mut s,
        new_condition(reason::PROGRESSING, "True", reason::NEW_RS, "other text", t1),
    );
    assert_eq!(condition(&s, reason::PROGRESSING), Some(&first));
    // New reason, same status: the transition time stays, the condition moves last.
    set_condition(
        &mut s,
        new_condition(reason::PROGRESSING, "True", reason::NEW_RS_AVAILABLE, "done", t1),
    );
    let c = condition(&s, reason::PROGRESSING).unwrap();
    assert_eq!(c.last_transition_time, first.last_transition_time);
    assert_eq!(c.last_update_time.as_ref().unwrap().0, t1);
    let types: Vec<&str> = s
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| c.type_.as_str())
        .collect();
    assert_eq!(types, ["Available", "Progressing"]);
    // New status: a new transition time.
    set_condition(
        &mut s,
        new_condition(reason::AVAILABLE, "True", reason::MIN_AVAILABLE, "ok", t1),
    );
    assert_eq!(
        condition(&s, reason::AVAILABLE)
            .unwrap()
            .last_transition_time
            .as_ref()
            .unwrap()
            .0,
        t1
    );
    remove_condition(&mut s, reason::AVAILABLE);
    remove_condition(&mut s, reason::PROGRESSING);
    assert!(s.conditions.is_none());
}

#[test]
fn complete_progressing_and_timed_out() {
    let mut d = deployment(3, int(1), int(0));
    d.metadata.generation = Some(2);
    let done = DeploymentStatus {
        observed_generation: Some(2),
        replicas: Some(3),
        updated_replicas: Some(3),
        available_replicas: Some(3),
        ..Default::default()
    };
    assert!(deployment_complete(&d, &done));
    let mut stale = done.clone();
    stale.observed_generation = Some(1);
    assert!(!deployment_complete(&d, &stale));
    let mut extra = done.clone();
    extra.replicas = Some(4);
    assert!(!deployment_complete(&d, &extra), "an old pod is left");

    // Progress compares with the stored status.
    d.status = Some(DeploymentStatus {
        replicas: Some(4),
        updated_replicas: Some(1),
        ready_replicas: Some(3),
        available_replicas: Some(3),
        ..Default::default()
    });
    let same = d.status.clone().unwrap();
    assert!(!deployment_progressing(&d, &same));
    for (what, change) in [
        (
            "more updated",
            DeploymentStatus {
                updated_replicas: Some(2),
                ..same.clone()
            },
        ),
        (
            "fewer old",
            DeploymentStatus {
                replicas: Some(3),
                ..same.clone()
            },
        ),
        (
            "more ready",
            DeploymentStatus {
                ready_replicas: Some(4),
                ..same.clone()
            },
        ),
        (
            "more available",
            DeploymentStatus {
                available_replicas: Some(4),
                ..same.clone()
            },
        ),
    ] {
        assert!(deployment_progressing(&d, &change), "{what}");
    }

    let t0: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let mut s = DeploymentStatus::default();
    assert!(!deployment_timed_out(&d, &s, t0), "no condition: no verdict");
    set_condition(
        &mut s,
        new_condition(reason::PROGRESSING, "True", reason::RS_UPDATED, "m", t0),
    );
    let at = |secs: i64| jiff::Timestamp::from_second(t0.as_second() + secs).unwrap();
    assert!(
        !deployment_timed_out(&d, &s, at(600)),
        "exactly at the deadline is not past it"
    );
    assert!(deployment_timed_out(&d, &s, at(601)));
    let mut complete = DeploymentStatus::default();
    set_condition(
        &mut complete,
        new_condition(reason::PROGRESSING, "True", reason::NEW_RS_AVAILABLE, "m", t0),
    );
    assert!(!deployment_timed_out(&d, &complete, at(10_000)));
    let mut timed = DeploymentStatus::default();
    set_condition(
        &mut timed,
        new_condition(reason::PROGRESSING, "False", reason::TIMED_OUT, "m", at(5)),
    );
    assert!(deployment_timed_out(&d, &timed, at(6)));
    d.spec.as_mut().unwrap().progress_deadline_seconds = Some(i32::MAX);
    assert!(!deployment_timed_out(&d, &s, at(1_000_000)), "MaxInt32 means never");
}

#[test]
fn only_count_and_progress_time_changes_may_wait() {
    let t0 = jiff::Timestamp::from_second(1_000).unwrap();
    let t1 = jiff::Timestamp::from_second(1_005).unwrap();
    let mut old = DeploymentStatus {
        observed_generation: Some(2),
        replicas: Some(3),
        available_replicas: Some(1),
        ..Default::default()
    };
    set_condition(
        &mut old,
        new_condition(reason::PROGRESSING, "True", reason::RS_UPDATED, "m", t0),
    );
    set_condition(
        &mut old,
        new_condition("Available", "False", "MinimumReplicasUnavailable", "a", t0),
    );

    let mut counts = old.clone();
    counts.available_replicas = Some(2);
    counts.ready_replicas = Some(2);
    remove_condition(&mut counts, reason::PROGRESSING);
    // Re-added last with a new update time, as progress is reported.
    let mut progressing = new_condition(reason::PROGRESSING, "True", reason::RS_UPDATED, "m", t1);
    progressing.last_transition_time = condition(&old, reason::PROGRESSING)
        .unwrap()
        .last_transition_time
        .clone();
    set_condition(&mut counts, progressing);
    assert!(counts_only_change(&old, &counts));

    let mut generation = counts.clone();
    generation.observed_generation = Some(3);
    assert!(
        !counts_only_change(&old, &generation),
        "a new generation is reported at once"
    );

    let mut available = counts.clone();
    set_condition(
        &mut available,
        new_condition("Available", "True", "MinimumReplicasAvailable", "a", t1),
    );
    assert!(
        !counts_only_change(&old, &available),
        "a condition's status is reported at once"
    );

    let mut complete = counts;
    set_condition(
        &mut complete,
        new_condition(reason::PROGRESSING, "True", reason::NEW_RS_AVAILABLE, "done", t1),
    );
    assert!(!counts_only_change(&old, &complete), "a new reason is reported at once");
}
