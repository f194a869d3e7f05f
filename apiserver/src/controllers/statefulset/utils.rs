//! StatefulSet pieces without I/O (Kubernetes' `stateful_set_utils.go`):
//! ordinals and names, a pod's identity and storage, the claims of an
//! ordinal, who owns a claim under the retention policy, the pods the set
//! creates at a revision, and pod health.

use std::sync::Arc;

use k1s_proto::meta::ObjectMeta;
use serde_json::{json, Map, Value};

use super::super::controller_ref::owner_reference;
use super::super::podutil::{self, pod_from_template};

/// The label naming a pod's StatefulSet pod name (`StatefulSetPodNameLabel`).
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// The label holding a pod's ordinal (`PodIndexLabel`).
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";
/// The label holding the revision a pod was made from (`StatefulSetRevisionLabel`).
pub const REVISION_LABEL: &str = "controller-revision-hash";

/// `getParentNameAndOrdinal`: `web-2` → (`web`, 2); names without a numeric suffix have none.
pub fn parent_and_ordinal(name: &str) -> Option<(&str, i64)> {
    let (parent, digits) = name.rsplit_once('-')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Ordinals are 32-bit in Kubernetes.
    let n: i32 = digits.parse().ok()?;
    Some((parent, i64::from(n)))
}

/// A pod's ordinal, or -1.
pub fn ordinal(pod: &Value) -> i64 {
    pod.name().and_then(parent_and_ordinal).map_or(-1, |(_, o)| o)
}

/// `spec.replicas` (defaulted to 1).
pub fn replicas(set: &Value) -> i64 {
    set["spec"]["replicas"].as_i64().unwrap_or(1)
}

/// `spec.minReadySeconds`.
pub fn min_ready_seconds(set: &Value) -> i64 {
    set["spec"]["minReadySeconds"].as_i64().unwrap_or(0)
}

/// The first ordinal (`spec.ordinals.start`, else 0).
pub fn start_ordinal(set: &Value) -> i64 {
    set["spec"]["ordinals"]["start"].as_i64().unwrap_or(0)
}

/// The last ordinal (inclusive).
pub fn end_ordinal(set: &Value) -> i64 {
    start_ordinal(set) + replicas(set) - 1
}

/// Whether the pod's ordinal is one the set should have now.
pub fn in_ordinal_range(pod: &Value, set: &Value) -> bool {
    let o = ordinal(pod);
    o >= start_ordinal(set) && o <= end_ordinal(set)
}

/// `<set>-<ordinal>`.
pub fn pod_name(set: &Value, ordinal: i64) -> String {
    format!("{}-{ordinal}", set.name().unwrap_or(""))
}

/// `<claim template>-<set>-<ordinal>`.
pub fn claim_name(set: &Value, template: &Value, ordinal: i64) -> String {
    format!(
        "{}-{}-{ordinal}",
        template.name().unwrap_or(""),
        set.name().unwrap_or("")
    )
}

/// The claim templates.
pub fn claim_templates(set: &Value) -> Vec<Value> {
    set["spec"]["volumeClaimTemplates"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// `isMemberOf`: the pod's name says it belongs to the set.
pub fn is_member_of(set: &Value, pod: &Value) -> bool {
    pod.name().and_then(parent_and_ordinal).map(|(p, _)| p) == set.name()
}

/// `identityMatches`: the pod has the set's name scheme, namespace and pod-name label.
pub fn identity_matches(set: &Value, pod: &Value) -> bool {
    let o = ordinal(pod);
    o >= 0
        && is_member_of(set, pod)
        && pod.name() == Some(pod_name(set, o).as_str())
        && pod.namespace() == set.namespace()
        && pod.label(POD_NAME_LABEL) == pod.name()
}

/// `storageMatches`: every claim template is mounted from the ordinal's claim.
pub fn storage_matches(set: &Value, pod: &Value) -> bool {
    let o = ordinal(pod);
    if o < 0 {
        return false;
    }
    let volumes = pod["spec"]["volumes"].as_array().cloned().unwrap_or_default();
    claim_templates(set).iter().all(|t| {
        volumes.iter().any(|v| {
            v["name"].as_str() == t.name()
                && v["persistentVolumeClaim"]["claimName"].as_str() == Some(claim_name(set, t, o).as_str())
        })
    })
}

/// `getPersistentVolumeClaims`: (template name, claim) for each claim template
/// of `ordinal` — the template renamed, in the set's namespace, labelled with
/// the template's labels and the selector's `matchLabels`.
pub fn claims_for(set: &Value, ordinal: i64) -> Vec<(String, Value)> {
    claim_templates(set)
        .into_iter()
        .map(|t| {
            let template_name = t.name().unwrap_or("").to_string();
            let mut claim = t.clone();
            claim["apiVersion"] = json!("v1");
            claim["kind"] = json!("PersistentVolumeClaim");
            claim.set_meta("name", json!(claim_name(set, &t, ordinal)));
            claim.set_meta("namespace", json!(set.namespace().unwrap_or("")));
            let mut labels = claim.labels().cloned().unwrap_or_default();
            for (k, v) in set["spec"]["selector"]["matchLabels"].as_object().into_iter().flatten() {
                labels.insert(k.clone(), v.clone());
            }
            if !labels.is_empty() {
                claim.set_meta("labels", Value::Object(labels));
            }
            if let Some(o) = claim.as_object_mut() {
                o.remove("status");
            }
            (template_name, claim)
        })
        .collect()
}

/// `updateStorage`: the pod's volumes with one per claim template pointing at
/// the ordinal's claim (replacing volumes of the same name).
pub fn update_storage(set: &Value, pod: &mut Value) {
    let claims = claims_for(set, ordinal(pod));
    let mut volumes: Vec<Value> = claims
        .iter()
        .map(|(name, claim)| json!({"name": name, "persistentVolumeClaim": {"claimName": claim.name()}}))
        .collect();
    for v in pod["spec"]["volumes"].as_array().into_iter().flatten() {
        if !claims.iter().any(|(name, _)| v["name"].as_str() == Some(name.as_str())) {
            volumes.push(v.clone());
        }
    }
    if !volumes.is_empty() {
        pod["spec"]["volumes"] = Value::Array(volumes);
    }
}

/// `updateIdentity`: name, namespace, and the pod-name and pod-index labels.
pub fn update_identity(set: &Value, pod: &mut Value) {
    let o = ordinal(pod);
    let name = pod_name(set, o);
    pod.set_meta("name", json!(name));
    pod.set_meta("namespace", json!(set.namespace().unwrap_or("")));
    let mut labels = pod.labels().cloned().unwrap_or_default();
    labels.insert(POD_NAME_LABEL.into(), json!(name));
    labels.insert(POD_INDEX_LABEL.into(), json!(o.to_string()));
    pod.set_meta("labels", Value::Object(labels));
}

/// `newStatefulSetPod`: the pod of `ordinal` from the set's template, with
/// its identity (`hostname` = its name, `subdomain` = the governing Service)
/// and storage.
pub fn new_pod(set: &Value, ordinal: i64) -> Value {
    let mut pod = pod_from_template(&set["spec"]["template"], set, "");
    pod.remove_meta("generateName");
    pod.set_meta("name", json!(pod_name(set, ordinal)));
    update_identity(set, &mut pod);
    let name = pod.name().unwrap_or("").to_string();
    pod["spec"]["hostname"] = json!(name);
    match set["spec"]["serviceName"].as_str().filter(|s| !s.is_empty()) {
        Some(svc) => pod["spec"]["subdomain"] = json!(svc),
        None => {
            if let Some(spec) = pod["spec"].as_object_mut() {
                spec.remove("subdomain");
            }
        }
    }
    update_storage(set, &mut pod);
    pod
}

/// The revision a pod was made from.
pub fn pod_revision(pod: &Value) -> &str {
    pod.label(REVISION_LABEL).unwrap_or("")
}

fn set_pod_revision(pod: &mut Value, revision: &str) {
    let mut labels = pod.labels().cloned().unwrap_or_default();
    labels.insert(REVISION_LABEL.into(), json!(revision));
    pod.set_meta("labels", Value::Object(labels));
}

/// `newVersionedStatefulSetPod`: ordinals below the partition (or, without a
/// rolling update config, below the current replica count) are made at the
/// current revision, the rest at the update revision.
pub fn new_versioned_pod(current_set: &Value, update_set: &Value, current: &str, update: &str, ordinal: i64) -> Value {
    let strategy = &current_set["spec"]["updateStrategy"];
    let start = start_ordinal(current_set);
    let rolling = strategy["rollingUpdate"].is_object();
    let below_current = strategy["type"] == "RollingUpdate"
        && !rolling
        && ordinal < start + current_set["status"]["currentReplicas"].as_i64().unwrap_or(0);
    let below_partition = rolling && ordinal < start + strategy["rollingUpdate"]["partition"].as_i64().unwrap_or(0);
    let (set, revision) = if below_current || below_partition {
        (current_set, current)
    } else {
        (update_set, update)
    };
    let mut pod = new_pod(set, ordinal);
    set_pod_revision(&mut pod, revision);
    pod
}

/// Has a phase: the API made it.
pub fn is_created(pod: &Value) -> bool {
    !podutil::phase(pod).is_empty()
}

/// Running with `Ready=True`.
pub fn is_running_and_ready(pod: &Value) -> bool {
    podutil::phase(pod) == "Running" && podutil::is_ready(pod)
}

/// Ready for `min_ready_seconds` at `now`.
pub fn is_running_and_available(pod: &Value, min_ready_seconds: i64, now: jiff::Timestamp) -> bool {
    podutil::is_available(pod, min_ready_seconds, now)
}

/// Running, ready and not being deleted.
pub fn is_healthy(pod: &Value) -> bool {
    is_running_and_ready(pod) && !podutil::is_terminating(pod)
}

/// Not healthy, or not yet available.
pub fn is_unavailable(pod: &Value, min_ready_seconds: i64, now: jiff::Timestamp) -> bool {
    !is_healthy(pod) || !is_running_and_available(pod, min_ready_seconds, now)
}

/// `Parallel` pod management.
pub fn allows_burst(set: &Value) -> bool {
    set["spec"]["podManagementPolicy"] == "Parallel"
}

/// The retention policy (`whenDeleted`, `whenScaled`), `Retain` where unset.
pub fn retention_policy(set: &Value) -> (&str, &str) {
    let p = &set["spec"]["persistentVolumeClaimRetentionPolicy"];
    (
        p["whenDeleted"].as_str().unwrap_or("Retain"),
        p["whenScaled"].as_str().unwrap_or("Retain"),
    )
}

/// `matchesRef`: a reference to an object of that type and name (any uid).
fn matches_ref(reference: &Value, obj: &Value, api_version: &str, kind: &str) -> bool {
    reference["apiVersion"] == api_version && reference["kind"] == kind && reference["name"].as_str() == obj.name()
}

fn refs(obj: &Value) -> Vec<Value> {
    obj.owner_references()
}

fn has_owner_ref(target: &Value, owner: &Value) -> bool {
    refs(target)
        .iter()
        .any(|r| owner.uid().is_some() && r["uid"].as_str() == owner.uid())
}

/// `hasStaleOwnerRef`: a reference to an object of that name and type but another uid.
pub fn has_stale_owner_ref(target: &Value, obj: &Value, api_version: &str, kind: &str) -> bool {
    refs(target)
        .iter()
        .find(|r| matches_ref(r, obj, api_version, kind))
        .is_some_and(|r| r["uid"].as_str() != obj.uid())
}

fn is_set_ref(r: &Value, set: &Value) -> bool {
    matches_ref(r, set, "apps/v1", "StatefulSet")
}

fn is_pod_ref(r: &Value, pod: &Value) -> bool {
    matches_ref(r, pod, "v1", "Pod")
}

/// `hasUnexpectedController`: under a delete policy, the claim is controlled
/// by something other than this set and pod (or by an older one of them).
fn has_unexpected_controller(claim: &Value, set: &Value, pod: &Value) -> bool {
    if retention_policy(set) == ("Retain", "Retain") {
        return false;
    }
    refs(claim).iter().any(|r| {
        if is_set_ref(r, set) {
            return r["uid"].as_str() != set.uid();
        }
        if is_pod_ref(r, pod) {
            return r["uid"].as_str() != pod.uid();
        }
        r["controller"].as_bool() == Some(true)
    })
}

/// `hasNonControllerOwner`: the set or pod owns the claim without controlling it.
fn has_non_controller_owner(claim: &Value, set: &Value, pod: &Value) -> bool {
    refs(claim).iter().any(|r| {
        let ours = r["uid"]
            .as_str()
            .is_some_and(|u| Some(u) == set.uid() || Some(u) == pod.uid());
        ours && r["controller"].as_bool() != Some(true)
    })
}

/// `isClaimOwnerUpToDate`: the claim's owners follow the retention policy —
/// none for Retain/Retain; the set for `whenDeleted: Delete`; the pod once
/// scaled away for `whenScaled: Delete`. Claims managed by an earlier set or
/// pod of the same name, or by someone else, are left alone.
pub fn claim_owner_up_to_date(claim: &Value, set: &Value, pod: &Value) -> bool {
    if has_stale_owner_ref(claim, set, "apps/v1", "StatefulSet") || has_stale_owner_ref(claim, pod, "v1", "Pod") {
        return true;
    }
    if has_unexpected_controller(claim, set, pod) {
        return !(has_owner_ref(claim, set) || has_owner_ref(claim, pod));
    }
    if has_non_controller_owner(claim, set, pod) {
        return false;
    }
    let scaled_down = !in_ordinal_range(pod, set);
    let (set_ref, pod_ref) = (has_owner_ref(claim, set), has_owner_ref(claim, pod));
    match retention_policy(set) {
        ("Delete", "Retain") => set_ref && !pod_ref,
        ("Retain", "Delete") => !set_ref && scaled_down == pod_ref,
        ("Delete", "Delete") => scaled_down != set_ref && scaled_down == pod_ref,
        // Retain/Retain, and anything unknown treated as Retain.
        _ => !set_ref && !pod_ref,
    }
}

/// `updateClaimOwnerRefForSetAndPod`: the claim with its references to this
/// set and pod replaced by what the retention policy wants.
pub fn update_claim_owner_refs(claim: &Value, set: &Value, pod: &Value) -> Value {
    let unexpected = has_unexpected_controller(claim, set, pod);
    let mut kept: Vec<Value> = refs(claim)
        .into_iter()
        .filter(|r| !is_set_ref(r, set) && !is_pod_ref(r, pod))
        .collect();
    if !unexpected {
        let scaled_down = !in_ordinal_range(pod, set);
        let add = |kept: &mut Vec<Value>, owner: &Value| {
            if !kept.iter().any(|r| r["uid"].as_str() == owner.uid()) {
                kept.push(owner_reference(owner));
            }
        };
        match retention_policy(set) {
            ("Delete", "Retain") => add(&mut kept, set),
            ("Retain", "Delete") if scaled_down => add(&mut kept, pod),
            ("Delete", "Delete") => add(&mut kept, if scaled_down { pod } else { set }),
            _ => {}
        }
    }
    let mut out = claim.clone();
    if kept.is_empty() {
        out.remove_meta("ownerReferences");
    } else {
        out.set_meta("ownerReferences", Value::Array(kept));
    }
    out
}

/// The pod's claims that are not (yet) cached.
pub fn missing_claims(set: &Value, pod: &Value, claim: &dyn Fn(&str) -> Option<Arc<Value>>) -> bool {
    claims_for(set, ordinal(pod))
        .iter()
        .any(|(_, c)| claim(c.name().unwrap_or("")).is_none())
}

/// `ClaimsMatchRetentionPolicy`: every existing claim of the pod has the owners
/// the policy wants (missing claims are picked up later).
pub fn claims_match_retention(set: &Value, pod: &Value, claim: &dyn Fn(&str) -> Option<Arc<Value>>) -> bool {
    claims_for(set, ordinal(pod))
        .iter()
        .all(|(_, c)| claim(c.name().unwrap_or("")).is_none_or(|existing| claim_owner_up_to_date(&existing, set, pod)))
}

/// `PodClaimIsStale`: under `whenScaled: Delete`, a claim still owned by an
/// earlier pod of this name (it is about to be deleted with it).
pub fn pod_claim_is_stale(set: &Value, pod: &Value, claim: &dyn Fn(&str) -> Option<Arc<Value>>) -> bool {
    if retention_policy(set).1 == "Retain" {
        return false;
    }
    claims_for(set, ordinal(pod)).iter().any(|(_, c)| {
        claim(c.name().unwrap_or("")).is_some_and(|existing| has_stale_owner_ref(&existing, pod, "v1", "Pod"))
    })
}

/// The counts of a StatefulSet's status (`computeReplicaStatus`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaCounts {
    /// Created pods.
    pub replicas: i64,
    /// Running and ready.
    pub ready: i64,
    /// Ready for `minReadySeconds`.
    pub available: i64,
    /// At the current revision (not terminating).
    pub current: i64,
    /// At the update revision (not terminating).
    pub updated: i64,
}

/// Counts `pods` for the status.
pub fn count(
    pods: &[Arc<Value>],
    min_ready_seconds: i64,
    current: &str,
    update: &str,
    now: jiff::Timestamp,
) -> ReplicaCounts {
    let mut c = ReplicaCounts::default();
    for pod in pods {
        if is_created(pod) {
            c.replicas += 1;
        }
        if is_running_and_ready(pod) {
            c.ready += 1;
            if is_running_and_available(pod, min_ready_seconds, now) {
                c.available += 1;
            }
        }
        if is_created(pod) && !podutil::is_terminating(pod) {
            let rev = pod_revision(pod);
            if rev == current {
                c.current += 1;
            }
            if rev == update {
                c.updated += 1;
            }
        }
    }
    c
}

/// The StatefulSet status, as Kubernetes serialises it (zero counts omitted
/// where its fields are `omitempty`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Status {
    /// `observedGeneration`.
    pub observed_generation: i64,
    /// The counts.
    pub counts: ReplicaCounts,
    /// `currentRevision`.
    pub current_revision: String,
    /// `updateRevision`.
    pub update_revision: String,
    /// `collisionCount`.
    pub collision_count: i32,
}

impl Status {
    /// The status as JSON, keeping `conditions` from `old`.
    pub fn to_json(&self, old: &Value) -> Value {
        let mut s = Map::new();
        let mut put = |k: &str, v: i64, omit_zero: bool| {
            if v != 0 || !omit_zero {
                s.insert(k.into(), json!(v));
            }
        };
        put("observedGeneration", self.observed_generation, true);
        put("replicas", self.counts.replicas, false);
        put("readyReplicas", self.counts.ready, true);
        put("currentReplicas", self.counts.current, true);
        put("updatedReplicas", self.counts.updated, true);
        if !self.current_revision.is_empty() {
            s.insert("currentRevision".into(), json!(self.current_revision));
        }
        if !self.update_revision.is_empty() {
            s.insert("updateRevision".into(), json!(self.update_revision));
        }
        s.insert("collisionCount".into(), json!(self.collision_count));
        if let Some(c) = old.get("conditions").filter(|c| !c.is_null()) {
            s.insert("conditions".into(), c.clone());
        }
        s.insert("availableReplicas".into(), json!(self.counts.available));
        Value::Object(s)
    }

    /// `completeRollingUpdate`: once every replica is updated and ready, the
    /// update revision becomes the current one.
    pub fn complete_rolling_update(&mut self, set: &Value) {
        let want = replicas(set);
        if set["spec"]["updateStrategy"]["type"] == "RollingUpdate"
            && self.counts.updated == want
            && self.counts.ready == want
            && self.counts.replicas == want
        {
            self.counts.current = self.counts.updated;
            self.current_revision = self.update_revision.clone();
        }
    }

    /// `inconsistentStatus`: whether the set's status differs (a write is needed).
    pub fn differs_from(&self, old: &Value) -> bool {
        let n = |k: &str| old[k].as_i64().unwrap_or(0);
        let s = |k: &str| old[k].as_str().unwrap_or("").to_string();
        self.observed_generation > n("observedGeneration")
            || self.counts.replicas != n("replicas")
            || self.counts.current != n("currentReplicas")
            || self.counts.ready != n("readyReplicas")
            || self.counts.updated != n("updatedReplicas")
            || self.current_revision != s("currentRevision")
            || self.counts.available != n("availableReplicas")
            || self.update_revision != s("updateRevision")
            || i64::from(self.collision_count) != n("collisionCount")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn set(policy: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "web", "namespace": "d", "uid": "set-uid"},
            "spec": {"replicas": 3, "serviceName": "nginx", "selector": {"matchLabels": {"app": "web"}},
                "persistentVolumeClaimRetentionPolicy": policy,
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "i"}],
                    "volumes": [{"name": "www", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "x"}}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "www", "labels": {"tier": "data"}},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                    "status": {"phase": "Pending"}}]}})
    }

    #[test]
    fn ordinals_from_names() {
        let cases = [
            ("web-0", Some(("web", 0))),
            ("web-12", Some(("web", 12))),
            ("my-web-3", Some(("my-web", 3))),
            ("web", None),
            ("web-", None),
            ("web-x1", None),
            ("web-99999999999", None),
        ];
        for (name, want) in cases {
            assert_eq!(parent_and_ordinal(name), want, "{name}");
        }
    }

    #[test]
    fn pods_have_identity_storage_and_revision() {
        let s = set(json!(null));
        let mut current = s.clone();
        current["spec"]["template"]["spec"]["containers"][0]["image"] = json!("old");
        current["spec"]["updateStrategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 2}});
        let p = new_versioned_pod(&current, &s, "web-old", "web-new", 1);
        assert_eq!(p["metadata"]["name"], "web-1");
        assert!(p["metadata"].get("generateName").is_none());
        assert_eq!(
            p["metadata"]["labels"],
            json!({"app": "web", POD_NAME_LABEL: "web-1", POD_INDEX_LABEL: "1", REVISION_LABEL: "web-old"})
        );
        assert_eq!(p["metadata"]["ownerReferences"][0]["kind"], "StatefulSet");
        assert_eq!(p["spec"]["hostname"], "web-1");
        assert_eq!(p["spec"]["subdomain"], "nginx");
        assert_eq!(
            p["spec"]["containers"][0]["image"], "old",
            "below the partition: current revision"
        );
        // The claim replaces the template volume of the same name; others stay.
        assert_eq!(
            p["spec"]["volumes"],
            json!([{"name": "www", "persistentVolumeClaim": {"claimName": "www-web-1"}}, {"name": "cfg", "configMap": {"name": "x"}}])
        );
        assert!(identity_matches(&s, &p) && storage_matches(&s, &p));
        let at_partition = new_versioned_pod(&current, &s, "web-old", "web-new", 2);
        assert_eq!(pod_revision(&at_partition), "web-new");
        assert_eq!(at_partition["spec"]["containers"][0]["image"], "i");

        let mut other = p.clone();
        other["metadata"]["labels"][POD_NAME_LABEL] = json!("web-7");
        assert!(!identity_matches(&s, &other));
        other["spec"]["volumes"] = json!([]);
        assert!(!storage_matches(&s, &other));
        assert!(!is_member_of(&s, &json!({"metadata": {"name": "webby-0"}})));
    }

    #[test]
    fn claims_per_ordinal() {
        let claims = claims_for(&set(json!(null)), 2);
        let [(tpl, c)] = claims.as_slice() else {
            panic!("one claim")
        };
        assert_eq!(tpl, "www");
        assert_eq!(c["metadata"]["name"], "www-web-2");
        assert_eq!(c["metadata"]["namespace"], "d");
        assert_eq!(c["metadata"]["labels"], json!({"tier": "data", "app": "web"}));
        assert_eq!(c["kind"], "PersistentVolumeClaim");
        assert!(c.get("status").is_none());
    }

    #[test]
    fn claim_owners_follow_the_retention_policy() {
        let pod_in =
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "namespace": "d", "uid": "pod1"}});
        let pod_out =
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-5", "namespace": "d", "uid": "pod5"}});
        let claim = json!({"metadata": {"name": "www-web-1"}});
        let uids = |c: &Value| -> Vec<String> {
            c.owner_references()
                .iter()
                .map(|r| r["uid"].as_str().unwrap_or("").to_string())
                .collect()
        };
        // (whenDeleted, whenScaled, pod) → owners wanted.
        let cases: [(&str, &str, &Value, &[&str]); 8] = [
            ("Retain", "Retain", &pod_in, &[]),
            ("Retain", "Retain", &pod_out, &[]),
            ("Delete", "Retain", &pod_in, &["set-uid"]),
            ("Delete", "Retain", &pod_out, &["set-uid"]),
            ("Retain", "Delete", &pod_in, &[]),
            ("Retain", "Delete", &pod_out, &["pod5"]),
            ("Delete", "Delete", &pod_in, &["set-uid"]),
            ("Delete", "Delete", &pod_out, &["pod5"]),
        ];
        for (deleted, scaled, pod, want) in cases {
            let s = set(json!({"whenDeleted": deleted, "whenScaled": scaled}));
            let fixed = update_claim_owner_refs(&claim, &s, pod);
            assert_eq!(uids(&fixed), want, "{deleted}/{scaled} {}", pod["metadata"]["name"]);
            assert!(claim_owner_up_to_date(&fixed, &s, pod));
            assert_eq!(claim_owner_up_to_date(&claim, &s, pod), want.is_empty());
            assert!(fixed.owner_references().iter().all(|r| r["controller"] == true));
        }
        // Owned by an earlier set of the same name: left alone.
        let stale = json!({"metadata": {"name": "www-web-1", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "old", "controller": true}]}});
        let s = set(json!({"whenDeleted": "Retain", "whenScaled": "Retain"}));
        assert!(claim_owner_up_to_date(&stale, &s, &pod_in));
        // A claim of an earlier pod of the same name is stale under whenScaled: Delete.
        let old_pod_claim = json!({"metadata": {"name": "www-web-1", "ownerReferences": [
            {"apiVersion": "v1", "kind": "Pod", "name": "web-1", "uid": "gone", "controller": true}]}});
        let lookup = |_: &str| Some(Arc::new(old_pod_claim.clone()));
        let new_pod = json!({"metadata": {"name": "web-1"}});
        assert!(pod_claim_is_stale(
            &set(json!({"whenScaled": "Delete"})),
            &new_pod,
            &lookup
        ));
        assert!(!pod_claim_is_stale(
            &set(json!({"whenScaled": "Retain"})),
            &new_pod,
            &lookup
        ));
    }

    #[test]
    fn status_serialisation_and_completion() {
        let mut st = Status {
            observed_generation: 2,
            counts: ReplicaCounts {
                replicas: 3,
                ready: 3,
                available: 3,
                current: 1,
                updated: 3,
            },
            current_revision: "web-a".into(),
            update_revision: "web-b".into(),
            collision_count: 0,
        };
        let mut s = set(json!(null));
        s["spec"]["updateStrategy"] = json!({"type": "RollingUpdate"});
        st.complete_rolling_update(&s);
        assert_eq!((st.counts.current, st.current_revision.as_str()), (3, "web-b"));
        let j = st.to_json(&json!({"conditions": [{"type": "X"}]}));
        assert_eq!(
            j,
            json!({"observedGeneration": 2, "replicas": 3, "readyReplicas": 3, "currentReplicas": 3, "updatedReplicas": 3,
                "currentRevision": "web-b", "updateRevision": "web-b", "collisionCount": 0,
                "conditions": [{"type": "X"}], "availableReplicas": 3})
        );
        assert!(!st.differs_from(&j));
        assert!(st.differs_from(&json!({})));
        let empty = Status::default().to_json(&Value::Null);
        assert_eq!(
            empty,
            json!({"replicas": 0, "collisionCount": 0, "availableReplicas": 0})
        );
    }
}
