//! ResourceQuotas and LimitRanges (pkg/registry/core/{resourcequota,limitrange}
//! strategies, core/v1 LimitRangeItem defaults).

use std::collections::BTreeMap;

use k1s_proto::FieldError;
use k8s_openapi::api::core::v1::{LimitRange, ResourceQuota};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde_json::Value;

use super::util::{one_of, parse_quantity, typed, with_typed, QUANTITY_MSG};
use super::Strategy;

/// The ResourceQuota strategy.
pub struct ResourceQuotaStrategy;
/// The LimitRange strategy.
pub struct LimitRangeStrategy;

type Resources = BTreeMap<String, Quantity>;

fn validate_quantities(map: Option<&Resources>, path: &str, errs: &mut Vec<FieldError>) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for (k, q) in map.into_iter().flatten() {
        match parse_quantity(&q.0) {
            None => errs.push(FieldError::invalid(format!("{path}[{k}]"), q.0.as_str(), QUANTITY_MSG)),
            Some(v) if v < 0.0 => errs.push(FieldError::invalid(
                format!("{path}[{k}]"),
                q.0.as_str(),
                "must be greater than or equal to 0",
            )),
            Some(v) => {
                out.insert(k.clone(), v);
            }
        }
    }
    out
}

impl Strategy for ResourceQuotaStrategy {
    fn prepare_for_create(&self, obj: &mut Value) {
        super::util::clear_status(obj);
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let spec = typed::<ResourceQuota>(obj).and_then(|q| q.spec).unwrap_or_default();
        let mut errs = Vec::new();
        validate_quantities(spec.hard.as_ref(), "spec.hard", &mut errs);
        const SCOPES: &[&str] = &[
            "BestEffort",
            "CrossNamespacePodAffinity",
            "NotBestEffort",
            "NotTerminating",
            "PriorityClass",
            "Terminating",
        ];
        for (i, s) in spec.scopes.iter().flatten().enumerate() {
            errs.extend(one_of(Some(s), &format!("spec.scopes[{i}]"), SCOPES));
        }
        errs
    }

    fn validate_status_update(&self, new: &Value, _old: &Value) -> Vec<FieldError> {
        let status = typed::<ResourceQuota>(new).and_then(|q| q.status).unwrap_or_default();
        let mut errs = Vec::new();
        validate_quantities(status.hard.as_ref(), "status.hard", &mut errs);
        validate_quantities(status.used.as_ref(), "status.used", &mut errs);
        errs
    }
}

impl Strategy for LimitRangeStrategy {
    fn default(&self, obj: &mut Value) {
        with_typed::<LimitRange>(obj, |lr| {
            for item in lr.spec.iter_mut().flat_map(|s| s.limits.iter_mut()) {
                if item.type_ != "Container" {
                    continue;
                }
                let default = item.default.get_or_insert_with(BTreeMap::new);
                for (k, v) in item.max.iter().flatten() {
                    default.entry(k.clone()).or_insert_with(|| v.clone());
                }
                let request = item.default_request.get_or_insert_with(BTreeMap::new);
                for (k, v) in default.iter() {
                    request.entry(k.clone()).or_insert_with(|| v.clone());
                }
                for (k, v) in item.min.iter().flatten() {
                    request.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        });
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let spec = typed::<LimitRange>(obj).and_then(|l| l.spec).unwrap_or_default();
        let mut errs = Vec::new();
        for (i, item) in spec.limits.iter().enumerate() {
            let p = format!("spec.limits[{i}]");
            errs.extend(one_of(
                Some(&item.type_),
                &format!("{p}.type"),
                &["Container", "PersistentVolumeClaim", "Pod"],
            ));
            let min = validate_quantities(item.min.as_ref(), &format!("{p}.min"), &mut errs);
            let max = validate_quantities(item.max.as_ref(), &format!("{p}.max"), &mut errs);
            let default = validate_quantities(item.default.as_ref(), &format!("{p}.default"), &mut errs);
            let request = validate_quantities(item.default_request.as_ref(), &format!("{p}.defaultRequest"), &mut errs);
            if item.type_ == "Pod" && (!default.is_empty() || !request.is_empty()) {
                let field = if default.is_empty() {
                    "defaultRequest"
                } else {
                    "default"
                };
                errs.push(FieldError::forbidden(
                    format!("{p}.{field}"),
                    "may not be specified when `type` is 'Pod'",
                ));
            }
            let show =
                |m: Option<&Resources>, k: &str| m.and_then(|m| m.get(k)).map(|q| q.0.clone()).unwrap_or_default();
            for (k, lo) in &min {
                if max.get(k).is_some_and(|hi| lo > hi) {
                    errs.push(FieldError::invalid(
                        format!("{p}.min[{k}]"),
                        show(item.min.as_ref(), k),
                        format!(
                            "min value {} is greater than max value {}",
                            show(item.min.as_ref(), k),
                            show(item.max.as_ref(), k)
                        ),
                    ));
                }
            }
            for (k, req) in &request {
                if default.get(k).is_some_and(|d| req > d) {
                    errs.push(FieldError::invalid(
                        format!("{p}.defaultRequest[{k}]"),
                        show(item.default_request.as_ref(), k),
                        format!(
                            "default request value {} is greater than default limit value {}",
                            show(item.default_request.as_ref(), k),
                            show(item.default.as_ref(), k)
                        ),
                    ));
                }
            }
            for (k, d) in &default {
                if max.get(k).is_some_and(|hi| d > hi) {
                    errs.push(FieldError::invalid(
                        format!("{p}.default[{k}]"),
                        show(item.default.as_ref(), k),
                        format!(
                            "default value {} is greater than max value {}",
                            show(item.default.as_ref(), k),
                            show(item.max.as_ref(), k)
                        ),
                    ));
                }
            }
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn limit_range_defaults() {
        let mut lr = json!({"metadata": {"name": "l"}, "spec": {"limits": [{"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "64Mi"}}]}});
        LimitRangeStrategy.default(&mut lr);
        let item = &lr["spec"]["limits"][0];
        assert_eq!(item["default"], json!({"cpu": "2"}));
        assert_eq!(item["defaultRequest"], json!({"cpu": "2", "memory": "64Mi"}));
        assert!(LimitRangeStrategy.validate_create(&lr).is_empty());
        let bad = json!({"spec": {"limits": [{"type": "Container", "default": {"cpu": "1"}, "defaultRequest": {"cpu": "2"}}]}});
        let errs: Vec<String> = LimitRangeStrategy
            .validate_create(&bad)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec!["spec.limits[0].defaultRequest[cpu]: Invalid value: \"2\": default request value 2 is greater than default limit value 1".to_string()]
        );
    }

    #[test]
    fn quota_quantities() {
        let q = json!({"spec": {"hard": {"pods": "10", "cpu": "x"}}});
        let errs = ResourceQuotaStrategy.validate_create(&q);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "spec.hard[cpu]");
    }
}
