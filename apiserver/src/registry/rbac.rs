//! Roles, ClusterRoles, RoleBindings and ClusterRoleBindings
//! (pkg/registry/rbac, rbac/v1 defaults, rbac validation).

use k1s_proto::FieldError;
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, Role, RoleRef, Subject};
use serde_json::Value;

use super::names;
use super::util::{typed, validate_selector, with_typed};
use super::Strategy;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// The Role and ClusterRole strategy (`cluster` allows non-resource URLs and aggregation).
pub struct RoleStrategy {
    /// Whether this is the ClusterRole strategy.
    pub cluster: bool,
}
/// The RoleBinding and ClusterRoleBinding strategy.
pub struct BindingStrategy {
    /// Whether this is the ClusterRoleBinding strategy.
    pub cluster: bool,
}

fn validate_rules(rules: &[PolicyRule], cluster: bool, errs: &mut Vec<FieldError>) {
    for (i, r) in rules.iter().enumerate() {
        let p = format!("rules[{i}]");
        if r.verbs.is_empty() {
            errs.push(FieldError::required(
                format!("{p}.verbs"),
                "verbs must contain at least one value",
            ));
        }
        let urls = r.non_resource_urls.as_ref().is_some_and(|u| !u.is_empty());
        let resources = r.resources.as_ref().is_some_and(|u| !u.is_empty());
        if urls {
            if !cluster {
                errs.push(FieldError::invalid(
                    format!("{p}.nonResourceURLs"),
                    serde_json::json!(r.non_resource_urls),
                    "namespaced rules cannot apply to non-resource URLs",
                ));
            }
            if r.api_groups.as_ref().is_some_and(|g| !g.is_empty()) || resources {
                errs.push(FieldError::invalid(
                    format!("{p}.nonResourceURLs"),
                    serde_json::json!(r.non_resource_urls),
                    "rules cannot apply to both regular resources and non-resource URLs",
                ));
            }
            continue;
        }
        if r.api_groups.as_ref().is_none_or(Vec::is_empty) {
            errs.push(FieldError::required(
                format!("{p}.apiGroups"),
                "resource rules must supply at least one api group",
            ));
        }
        if !resources {
            errs.push(FieldError::required(
                format!("{p}.resources"),
                "resource rules must supply at least one resource",
            ));
        }
    }
}

impl Strategy for RoleStrategy {
    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        if self.cluster {
            let Some(cr) = typed::<ClusterRole>(obj) else {
                return errs;
            };
            validate_rules(cr.rules.as_deref().unwrap_or(&[]), true, &mut errs);
            if let Some(agg) = &cr.aggregation_rule {
                for (i, s) in agg.cluster_role_selectors.iter().flatten().enumerate() {
                    errs.extend(validate_selector(
                        s,
                        &format!("aggregationRule.clusterRoleSelectors[{i}]"),
                    ));
                }
            }
        } else if let Some(r) = typed::<Role>(obj) {
            validate_rules(r.rules.as_deref().unwrap_or(&[]), false, &mut errs);
        }
        errs
    }
}

fn validate_subjects(subjects: &[Subject], cluster: bool, errs: &mut Vec<FieldError>) {
    for (i, s) in subjects.iter().enumerate() {
        let p = format!("subjects[{i}]");
        if s.name.is_empty() {
            errs.push(FieldError::required(format!("{p}.name"), ""));
        }
        match s.kind.as_str() {
            "ServiceAccount" => {
                if !s.name.is_empty() {
                    for m in names::is_dns1123_subdomain(&s.name) {
                        errs.push(FieldError::invalid(format!("{p}.name"), s.name.as_str(), m));
                    }
                }
                if s.api_group.as_deref().is_some_and(|g| !g.is_empty()) {
                    errs.push(FieldError::not_supported(
                        format!("{p}.apiGroup"),
                        s.api_group.clone().unwrap_or_default(),
                        &[""],
                    ));
                }
                if cluster && s.namespace.as_deref().is_none_or(str::is_empty) {
                    errs.push(FieldError::required(format!("{p}.namespace"), ""));
                }
            }
            "User" | "Group" => {
                if s.api_group.as_deref() != Some(RBAC_GROUP) {
                    errs.push(FieldError::not_supported(
                        format!("{p}.apiGroup"),
                        s.api_group.clone().unwrap_or_default(),
                        &[RBAC_GROUP],
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                format!("{p}.kind"),
                other,
                &["ServiceAccount", "User", "Group"],
            )),
        }
    }
}

fn binding_parts(obj: &Value) -> (RoleRef, Vec<Subject>) {
    let role_ref = typed::<RoleRef>(&obj["roleRef"]).unwrap_or_default();
    let subjects = typed::<Vec<Subject>>(&obj["subjects"]).unwrap_or_default();
    (role_ref, subjects)
}

impl Strategy for BindingStrategy {
    fn default(&self, obj: &mut Value) {
        let Some(map) = obj.as_object_mut() else { return };
        if let Some(r) = map.get_mut("roleRef").and_then(Value::as_object_mut) {
            if r.get("apiGroup").and_then(Value::as_str).is_none_or(str::is_empty) {
                r.insert("apiGroup".into(), RBAC_GROUP.into());
            }
        }
        if let Some(subjects) = map.get_mut("subjects") {
            with_typed::<Vec<Subject>>(subjects, |list| {
                for s in list.iter_mut() {
                    if s.api_group.as_deref().is_none_or(str::is_empty) && (s.kind == "User" || s.kind == "Group") {
                        s.api_group = Some(RBAC_GROUP.into());
                    }
                }
            });
        }
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let (role_ref, subjects) = binding_parts(obj);
        let mut errs = Vec::new();
        if role_ref.api_group != RBAC_GROUP {
            errs.push(FieldError::not_supported(
                "roleRef.apiGroup",
                role_ref.api_group.as_str(),
                &[RBAC_GROUP],
            ));
        }
        let kinds: &[&str] = if self.cluster {
            &["ClusterRole"]
        } else {
            &["Role", "ClusterRole"]
        };
        if !kinds.contains(&role_ref.kind.as_str()) {
            errs.push(FieldError::not_supported("roleRef.kind", role_ref.kind.as_str(), kinds));
        }
        if role_ref.name.is_empty() {
            errs.push(FieldError::required("roleRef.name", ""));
        } else {
            for m in names::is_dns1123_subdomain(&role_ref.name)
                .into_iter()
                .filter(|_| role_ref.name.contains('/'))
            {
                errs.push(FieldError::invalid("roleRef.name", role_ref.name.as_str(), m));
            }
        }
        validate_subjects(&subjects, self.cluster, &mut errs);
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = self.validate_create(new);
        let (n, _) = binding_parts(new);
        let (o, _) = binding_parts(old);
        if n != o {
            errs.push(FieldError::invalid_shown(
                "roleRef",
                format!(
                    "rbac.RoleRef{{APIGroup:{:?}, Kind:{:?}, Name:{:?}}}",
                    n.api_group, n.kind, n.name
                ),
                "cannot change roleRef",
            ));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn binding_defaults_validation_and_role_ref_immutable() {
        let mut rb = json!({"metadata": {"name": "b"}, "roleRef": {"kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "jane"}, {"kind": "ServiceAccount", "name": "default", "namespace": "x"}]});
        let s = BindingStrategy { cluster: false };
        s.default(&mut rb);
        assert_eq!(rb["roleRef"]["apiGroup"], RBAC_GROUP);
        assert_eq!(rb["subjects"][0]["apiGroup"], RBAC_GROUP);
        assert!(s.validate_create(&rb).is_empty(), "{:?}", s.validate_create(&rb));
        let mut changed = rb.clone();
        changed["roleRef"]["name"] = json!("edit");
        let errs: Vec<String> = s
            .validate_update(&changed, &rb)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec!["roleRef: Invalid value: rbac.RoleRef{APIGroup:\"rbac.authorization.k8s.io\", Kind:\"ClusterRole\", Name:\"edit\"}: cannot change roleRef".to_string()]
        );
        let crb = BindingStrategy { cluster: true };
        let mut bad =
            json!({"roleRef": {"kind": "Role", "name": "r"}, "subjects": [{"kind": "ServiceAccount", "name": "sa"}]});
        crb.default(&mut bad);
        let errs: Vec<String> = crb.validate_create(&bad).iter().map(ToString::to_string).collect();
        assert_eq!(
            errs,
            vec![
                "roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\"".to_string(),
                "subjects[0].namespace: Required value".to_string()
            ]
        );
    }

    #[test]
    fn role_rules() {
        let role = json!({"rules": [{"verbs": [], "resources": ["pods"]}, {"verbs": ["get"], "apiGroups": [""], "nonResourceURLs": ["/healthz"]}]});
        let errs: Vec<String> = RoleStrategy { cluster: false }
            .validate_create(&role)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errs.len(), 4, "{errs:?}");
        assert_eq!(
            errs[0],
            "rules[0].verbs: Required value: verbs must contain at least one value"
        );
    }
}
