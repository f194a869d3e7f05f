//! A container's securityContext (with the pod's as defaults) turned into
//! the runtime's settings.

use k8s_openapi::api::core::v1::{Container, PodSecurityContext, SecurityContext};

/// The security settings of one container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Security {
    /// uid/gid when the securityContext names a user.
    pub user: Option<(u32, u32)>,
    /// The image's `User` when the securityContext does not name one.
    pub image_user: Option<String>,
    /// Supplementary groups: the pod's `supplementalGroups` and `fsGroup`.
    pub supplemental_groups: Vec<u32>,
    /// Capabilities to add (without `CAP_`).
    pub cap_add: Vec<String>,
    /// Capabilities to drop (without `CAP_`).
    pub cap_drop: Vec<String>,
    /// Privileged.
    pub privileged: bool,
    /// Read-only root filesystem.
    pub read_only_rootfs: bool,
    /// `allowPrivilegeEscalation: false`.
    pub no_new_privileges: bool,
    /// seccomp `RuntimeDefault`.
    pub seccomp_runtime_default: bool,
}

fn cap_name(c: &str) -> String {
    let upper = c.to_uppercase();
    upper.strip_prefix("CAP_").map(str::to_string).unwrap_or(upper)
}

/// The numeric uid and gid of an image `User` of the form `uid` or `uid:gid`.
fn numeric_image_user(user: &str) -> Option<(u32, Option<u32>)> {
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let uid = u.parse().ok()?;
    let gid = match g {
        Some(g) => Some(g.parse().ok()?),
        None => None,
    };
    Some((uid, gid))
}

/// Resolves the container's security settings.
pub fn security(pod_sc: Option<&PodSecurityContext>, container: &Container, image_user: &str) -> Security {
    let sc: Option<&SecurityContext> = container.security_context.as_ref();
    let run_as_user = sc.and_then(|s| s.run_as_user).or(pod_sc.and_then(|p| p.run_as_user));
    let run_as_group = sc.and_then(|s| s.run_as_group).or(pod_sc.and_then(|p| p.run_as_group));
    let image_user = image_user.trim();
    let (user, image_user_out) = match (run_as_user, run_as_group) {
        (Some(uid), gid) => {
            // Without runAsGroup the group is the image's (numeric) one, else root's.
            let gid = gid.or_else(|| numeric_image_user(image_user).and_then(|(_, g)| g.map(i64::from)));
            (Some((uid as u32, gid.unwrap_or(0) as u32)), None)
        }
        (None, Some(gid)) => match numeric_image_user(image_user) {
            Some((uid, _)) => (Some((uid, gid as u32)), None),
            None if image_user.is_empty() => (Some((0, gid as u32)), None),
            None => (None, Some(image_user.to_string())),
        },
        (None, None) if image_user.is_empty() => (None, None),
        (None, None) => (None, Some(image_user.to_string())),
    };
    let mut groups: Vec<u32> = Vec::new();
    if let Some(p) = pod_sc {
        for g in p.supplemental_groups.iter().flatten() {
            groups.push(*g as u32);
        }
        if let Some(fs) = p.fs_group {
            groups.push(fs as u32);
        }
    }
    groups.dedup();
    let caps = sc.and_then(|s| s.capabilities.as_ref());
    let seccomp = sc
        .and_then(|s| s.seccomp_profile.as_ref())
        .or(pod_sc.and_then(|p| p.seccomp_profile.as_ref()));
    Security {
        user,
        image_user: image_user_out,
        supplemental_groups: groups,
        cap_add: caps
            .and_then(|c| c.add.as_ref())
            .into_iter()
            .flatten()
            .map(|c| cap_name(c))
            .collect(),
        cap_drop: caps
            .and_then(|c| c.drop.as_ref())
            .into_iter()
            .flatten()
            .map(|c| cap_name(c))
            .collect(),
        privileged: sc.and_then(|s| s.privileged).unwrap_or(false),
        read_only_rootfs: sc.and_then(|s| s.read_only_root_filesystem).unwrap_or(false),
        no_new_privileges: sc.and_then(|s| s.allow_privilege_escalation) == Some(false),
        seccomp_runtime_default: seccomp.is_some_and(|p| p.type_ == "RuntimeDefault"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn c(sc: serde_json::Value) -> Container {
        serde_json::from_value(json!({"name": "c", "securityContext": sc})).unwrap()
    }

    fn psc(v: serde_json::Value) -> PodSecurityContext {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn users_and_groups() {
        let pod = psc(json!({"runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000, "supplementalGroups": [4000]}));
        let s = security(Some(&pod), &c(json!({})), "");
        assert_eq!(s.user, Some((1000, 3000)));
        assert_eq!(s.supplemental_groups, [4000, 2000]);
        let s = security(Some(&pod), &c(json!({"runAsUser": 5})), "nobody");
        assert_eq!(s.user, Some((5, 3000)));
        let s = security(None, &c(json!({"runAsUser": 7})), "10:20");
        assert_eq!(s.user, Some((7, 20)));
        let s = security(None, &c(json!({})), "nobody");
        assert_eq!((s.user, s.image_user.as_deref()), (None, Some("nobody")));
        let s = security(None, &c(json!({})), "");
        assert_eq!((s.user, s.image_user), (None, None));
    }

    #[test]
    fn flags_and_capabilities() {
        let s = security(
            Some(&psc(json!({"seccompProfile": {"type": "RuntimeDefault"}}))),
            &c(
                json!({"privileged": true, "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
                "capabilities": {"add": ["NET_ADMIN", "CAP_SYS_TIME"], "drop": ["ALL"]}}),
            ),
            "",
        );
        assert!(s.privileged && s.read_only_rootfs && s.no_new_privileges && s.seccomp_runtime_default);
        assert_eq!(s.cap_add, ["NET_ADMIN", "SYS_TIME"]);
        assert_eq!(s.cap_drop, ["ALL"]);
        let s = security(
            Some(&psc(json!({"seccompProfile": {"type": "RuntimeDefault"}}))),
            &c(json!({"seccompProfile": {"type": "Unconfined"}, "allowPrivilegeEscalation": true})),
            "",
        );
        assert!(!s.seccomp_runtime_default && !s.no_new_privileges);
    }
}
