//! The `RuntimeDefault` seccomp profile: everything allowed except the system
//! calls Docker's and containerd's default profiles keep from containers, unless
//! the container holds the capability that makes them legitimate.

use serde_json::{json, Value};

/// Blocked system calls, each with the capability that re-allows it (if any).
const BLOCKED: &[(&str, Option<&str>)] = &[
    ("acct", Some("SYS_PACCT")),
    ("add_key", None),
    ("bpf", Some("SYS_ADMIN")),
    ("clock_adjtime", Some("SYS_TIME")),
    ("clock_settime", Some("SYS_TIME")),
    ("create_module", Some("SYS_MODULE")),
    ("delete_module", Some("SYS_MODULE")),
    ("finit_module", Some("SYS_MODULE")),
    ("fsconfig", Some("SYS_ADMIN")),
    ("fsmount", Some("SYS_ADMIN")),
    ("fsopen", Some("SYS_ADMIN")),
    ("fspick", Some("SYS_ADMIN")),
    ("get_kernel_syms", Some("SYS_MODULE")),
    ("get_mempolicy", Some("SYS_NICE")),
    ("init_module", Some("SYS_MODULE")),
    ("ioperm", Some("SYS_RAWIO")),
    ("iopl", Some("SYS_RAWIO")),
    ("kcmp", Some("SYS_PTRACE")),
    ("kexec_file_load", Some("SYS_BOOT")),
    ("kexec_load", Some("SYS_BOOT")),
    ("keyctl", None),
    ("lookup_dcookie", Some("SYS_ADMIN")),
    ("mbind", Some("SYS_NICE")),
    ("mount", Some("SYS_ADMIN")),
    ("mount_setattr", Some("SYS_ADMIN")),
    ("move_mount", Some("SYS_ADMIN")),
    ("move_pages", Some("SYS_NICE")),
    ("name_to_handle_at", Some("SYS_ADMIN")),
    ("nfsservctl", None),
    ("open_by_handle_at", Some("DAC_READ_SEARCH")),
    ("open_tree", Some("SYS_ADMIN")),
    ("perf_event_open", Some("SYS_ADMIN")),
    ("pivot_root", Some("SYS_ADMIN")),
    ("query_module", Some("SYS_MODULE")),
    ("quotactl", Some("SYS_ADMIN")),
    ("reboot", Some("SYS_BOOT")),
    ("request_key", None),
    ("set_mempolicy", Some("SYS_NICE")),
    ("setns", Some("SYS_ADMIN")),
    ("settimeofday", Some("SYS_TIME")),
    ("stime", Some("SYS_TIME")),
    ("swapoff", Some("SYS_ADMIN")),
    ("swapon", Some("SYS_ADMIN")),
    ("sysfs", None),
    ("_sysctl", None),
    ("umount", Some("SYS_ADMIN")),
    ("umount2", Some("SYS_ADMIN")),
    ("unshare", Some("SYS_ADMIN")),
    ("uselib", None),
    ("userfaultfd", None),
    ("ustat", None),
    ("vm86", None),
    ("vm86old", None),
];

/// The profile for a container with these capabilities (names without `CAP_`).
pub fn runtime_default(capabilities: &[String]) -> Value {
    let has = |c: &str| capabilities.iter().any(|x| x == c);
    let names: Vec<&str> = BLOCKED
        .iter()
        .filter(|(_, cap)| cap.map(|c| !has(c)).unwrap_or(true))
        .map(|(n, _)| *n)
        .collect();
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": names, "action": "SCMP_ACT_ERRNO", "errnoRet": 1}
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sys_admin_reallows_mount() {
        let plain = runtime_default(&["CHOWN".into()]);
        let names = plain["syscalls"][0]["names"].as_array().unwrap();
        assert!(names.iter().any(|n| n == "mount"));
        assert!(names.iter().any(|n| n == "keyctl"));
        let admin = runtime_default(&["SYS_ADMIN".into()]);
        let names = admin["syscalls"][0]["names"].as_array().unwrap();
        assert!(!names.iter().any(|n| n == "mount"));
        assert!(names.iter().any(|n| n == "keyctl"));
    }
}
