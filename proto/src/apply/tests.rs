//! Apply and update scenarios with managedFields, checked against what a
//! Kubernetes API server records.

use serde_json::{json, Value};

use super::*;
use crate::schema::for_kind;

const NOW: &str = "2024-05-01T10:00:00Z";
const LATER: &str = "2024-05-01T10:05:00Z";

fn req<'a>(manager: &'a str, now: &'a str) -> Request<'a> {
    Request {
        def: for_kind("apps", "v1", "Deployment").expect("deployment"),
        api_version: "apps/v1",
        subresource: "",
        manager,
        tracked: Tracked::Except(vec![Path::fields(&["status"])]),
        now,
    }
}

fn config(replicas: i64, with_paused: bool) -> Value {
    let mut c = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:1"}]}}
        }
    });
    if with_paused {
        c["spec"]["paused"] = json!(true);
    }
    c
}

fn entries(obj: &Value) -> Vec<(String, String)> {
    obj["metadata"]["managedFields"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    (
                        e["manager"].as_str().unwrap_or("").to_string(),
                        e["operation"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn owns(obj: &Value, manager: &str, path: &[&str]) -> bool {
    let Some(list) = obj["metadata"]["managedFields"].as_array() else {
        return false;
    };
    list.iter().filter(|e| e["manager"] == manager).any(|e| {
        let mut v = &e["fieldsV1"];
        for p in path {
            v = &v[format!("f:{p}")];
        }
        v.is_object()
    })
}

#[test]
fn apply_creates_then_reapply_is_a_no_op() {
    let created = apply(&req("kubectl", NOW), None, &config(2, false), false).expect("apply");
    assert_eq!(created["spec"]["replicas"], 2);
    assert_eq!(entries(&created), [("kubectl".to_string(), "Apply".to_string())]);
    let mf = &created["metadata"]["managedFields"][0];
    assert_eq!(mf["time"], NOW);
    assert_eq!(mf["apiVersion"], "apps/v1");
    assert_eq!(mf["fieldsType"], "FieldsV1");
    assert!(
        mf["fieldsV1"]["f:metadata"].get("f:name").is_none(),
        "name is never owned"
    );
    assert_eq!(mf["fieldsV1"]["f:spec"]["f:selector"], json!({}));
    let again = apply(&req("kubectl", LATER), Some(&created), &config(2, false), false).expect("reapply");
    assert_eq!(again, created, "same object, same managedFields, same time");
}

#[test]
fn second_manager_conflicts_then_forces() {
    let live = apply(&req("kubectl", NOW), None, &config(2, false), false).expect("apply");
    let other =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 5}});
    let err = apply(&req("other", LATER), Some(&live), &other, false).expect_err("conflict");
    let ApplyError::Conflicts(conflicts) = err else {
        panic!("{err:?}")
    };
    assert_eq!(
        conflict_message(&conflicts),
        "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas"
    );
    let forced = apply(&req("other", LATER), Some(&live), &other, true).expect("force");
    assert_eq!(forced["spec"]["replicas"], 5);
    assert!(owns(&forced, "other", &["spec", "replicas"]));
    assert!(!owns(&forced, "kubectl", &["spec", "replicas"]));
    assert!(owns(&forced, "kubectl", &["spec", "template"]));
    // Same value: shared ownership, no conflict.
    let same =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 2}});
    let shared = apply(&req("third", LATER), Some(&live), &same, false).expect("no conflict");
    assert!(owns(&shared, "third", &["spec", "replicas"]) && owns(&shared, "kubectl", &["spec", "replicas"]));
}

#[test]
fn conflicts_with_several_fields_list_them_by_manager() {
    let conflicts = vec![
        Conflict {
            manager: "\"b\" using apps/v1".into(),
            path: Path::fields(&["spec", "replicas"]),
        },
        Conflict {
            manager: "\"a\"".into(),
            path: Path::fields(&["spec", "paused"]),
        },
        Conflict {
            manager: "\"a\"".into(),
            path: Path::fields(&["spec", "minReadySeconds"]),
        },
    ];
    assert_eq!(
        conflict_message(&conflicts),
        "Apply failed with 3 conflicts: conflicts with \"a\":\n- .spec.paused\n- .spec.minReadySeconds\nconflicts with \"b\" using apps/v1:\n- .spec.replicas"
    );
}

#[test]
fn dropped_fields_are_removed_unless_someone_else_owns_them() {
    let live = apply(&req("kubectl", NOW), None, &config(2, true), false).expect("apply");
    assert_eq!(live["spec"]["paused"], true);
    let without = apply(&req("kubectl", LATER), Some(&live), &config(2, false), false).expect("reapply");
    assert!(without["spec"].get("paused").is_none(), "{}", without["spec"]);
    assert!(!owns(&without, "kubectl", &["spec", "paused"]));
    assert_eq!(without["metadata"]["managedFields"][0]["time"], LATER);

    // Another applier co-owns paused: it stays.
    let co =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"paused": true}});
    let shared = apply(&req("other", NOW), Some(&live), &co, false).expect("co-own");
    let kept = apply(&req("kubectl", LATER), Some(&shared), &config(2, false), false).expect("reapply");
    assert_eq!(kept["spec"]["paused"], true);
    assert!(owns(&kept, "other", &["spec", "paused"]));

    // A dropped list item goes, the others stay.
    let mut two = config(2, false);
    two["spec"]["template"]["spec"]["containers"] =
        json!([{"name": "nginx", "image": "nginx:1"}, {"name": "side", "image": "busybox"}]);
    let with_side = apply(&req("kubectl", NOW), Some(&live), &two, false).expect("two containers");
    let back = apply(&req("kubectl", LATER), Some(&with_side), &config(2, false), false).expect("one container");
    let names: Vec<&str> = back["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["nginx"]);
}

#[test]
fn updates_take_ownership_of_what_they_change() {
    let live = apply(&req("kubectl", NOW), None, &config(2, false), false).expect("apply");
    let mut new = live.clone();
    new["spec"]["replicas"] = json!(7);
    new["metadata"]["labels"] = json!({"team": "a"});
    track_update(&req("kubectl-scale", LATER), Some(&live), &mut new);
    assert!(owns(&new, "kubectl-scale", &["spec", "replicas"]));
    assert!(owns(&new, "kubectl-scale", &["metadata", "labels", "team"]));
    assert!(!owns(&new, "kubectl", &["spec", "replicas"]));
    let scale = new["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["manager"] == "kubectl-scale")
        .cloned()
        .unwrap();
    assert_eq!(scale["operation"], "Update");
    assert_eq!(scale["time"], LATER);
    assert_eq!(
        scale["fieldsV1"]["f:metadata"]["f:labels"],
        json!({".": {}, "f:team": {}})
    );

    // The applier gets the conflict back, naming the updater and its version.
    let err = apply(&req("kubectl-2", LATER), Some(&new), &config(3, false), false).expect_err("conflict");
    let ApplyError::Conflicts(c) = err else { panic!() };
    assert!(c
        .iter()
        .any(|c| c.manager == "\"kubectl-scale\" using apps/v1" && c.path.to_string() == ".spec.replicas"));

    // An update that changes nothing records nothing.
    let mut same = new.clone();
    track_update(&req("someone", LATER), Some(&new), &mut same);
    assert_eq!(same, new);
}

#[test]
fn create_tracks_and_untracked_objects_stay_untracked() {
    let mut obj = config(1, false);
    track_update(&req("kubectl-create", NOW), None, &mut obj);
    assert_eq!(entries(&obj), [("kubectl-create".to_string(), "Update".to_string())]);
    assert!(owns(
        &obj,
        "kubectl-create",
        &["spec", "template", "spec", "containers"]
    ));

    // Existing objects without managedFields are not tracked by updates.
    let old = config(1, false);
    let mut new = config(2, false);
    track_update(&req("x", NOW), Some(&old), &mut new);
    assert!(new["metadata"].get("managedFields").is_none());

    // An empty list resets; an invalid list keeps the live entries.
    let mut reset = obj.clone();
    reset["metadata"]["managedFields"] = json!([]);
    track_update(&req("x", NOW), Some(&obj), &mut reset);
    assert!(reset["metadata"].get("managedFields").is_none());
    let mut invalid = obj.clone();
    invalid["metadata"]["managedFields"] = json!([{"manager": "x", "operation": "Bogus"}]);
    track_update(&req("x", NOW), Some(&obj), &mut invalid);
    assert_eq!(invalid["metadata"]["managedFields"], obj["metadata"]["managedFields"]);
}

#[test]
fn client_side_apply_upgrades_to_server_side_apply() {
    // `kubectl apply` (client-side) created the object with the annotation.
    let mut csa = config(2, false);
    let annotation = serde_json::to_string(&config(2, false)).unwrap();
    csa["metadata"]["annotations"] = json!({ LAST_APPLIED: annotation });
    track_update(&req("kubectl-client-side-apply", NOW), None, &mut csa);

    // `kubectl apply --server-side` of a changed manifest takes over without conflict.
    let ssa = apply(&req("kubectl", LATER), Some(&csa), &config(3, false), false).expect("upgrade");
    assert_eq!(ssa["spec"]["replicas"], 3);
    assert!(owns(&ssa, "kubectl", &["spec", "replicas"]));
    assert!(!owns(&ssa, "kubectl-client-side-apply", &["spec", "replicas"]));
    let updated: Value = serde_json::from_str(ssa["metadata"]["annotations"][LAST_APPLIED].as_str().unwrap()).unwrap();
    assert_eq!(updated["spec"]["replicas"], 3, "annotation kept in step");

    // Another manager gets no such pass.
    let err = apply(&req("other", LATER), Some(&csa), &config(3, false), false).expect_err("conflict");
    let ApplyError::Conflicts(c) = err else { panic!() };
    assert_eq!(
        conflict_message(&c[..1]),
        "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas"
    );
}

#[test]
fn status_is_not_tracked_on_the_main_resource() {
    let mut cfg = config(1, false);
    cfg["status"] = json!({"replicas": 1});
    let obj = apply(&req("kubectl", NOW), None, &cfg, false).expect("apply");
    assert!(!owns(&obj, "kubectl", &["status"]));
    let mut status_req = req("controller", NOW);
    status_req.subresource = "status";
    status_req.tracked = Tracked::Only(vec![Path::fields(&["status"])]);
    let mut new = obj.clone();
    new["status"] = json!({"replicas": 3});
    track_update(&status_req, Some(&obj), &mut new);
    let e = new["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["manager"] == "controller")
        .cloned()
        .unwrap();
    assert_eq!(e["subresource"], "status");
    assert_eq!(e["fieldsV1"], json!({"f:status": {"f:replicas": {}}}));
}

#[test]
fn field_manager_names() {
    assert_eq!(
        manager_from_user_agent("kubectl/v1.33.0 (linux/amd64) kubernetes/abc"),
        "kubectl"
    );
    assert_eq!(manager_from_user_agent("Go-http-client/1.1"), "Go-http-client");
    assert_eq!(manager_from_user_agent(&"x".repeat(200)).len(), 128);
    assert!(validate_field_manager("kubectl").is_empty());
    assert_eq!(validate_field_manager(&"x".repeat(129)).len(), 1);
    let bad = validate_field_manager("a\u{7}");
    assert_eq!(bad[0].2, "invalid character U+0007 (at position 1)");
    let key = keyed_path(&["spec", "ports"], &[("port", json!(80))]);
    assert_eq!(key.to_string(), ".spec.ports[port=80]");
}
