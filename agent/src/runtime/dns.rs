//! The files a pod's containers see as `/etc/hosts`, `/etc/resolv.conf` and
//! `/etc/hostname`, written as the kubelet writes them.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::Pod;

/// The most nameservers a resolv.conf takes (glibc's MAXNS).
const MAX_NAMESERVERS: usize = 3;
/// Kubernetes' limit on search domains (MaxDNSSearchPaths).
const MAX_SEARCHES: usize = 32;

/// The pod's hostname: `spec.hostname`, else the pod name, cut to 63 characters
/// with trailing `-`/`.` removed (kubelet's truncation).
pub fn pod_hostname(pod: &Pod) -> String {
    let spec_host = pod
        .spec
        .as_ref()
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty());
    let name = spec_host.unwrap_or_else(|| pod.metadata.name.clone().unwrap_or_default());
    if name.len() <= 63 {
        return name;
    }
    name[..63].trim_end_matches(['-', '.']).to_string()
}

/// `<subdomain>.<namespace>.svc.<cluster-domain>` when the pod has a subdomain.
pub fn host_domain(pod: &Pod, cluster_domain: &str) -> Option<String> {
    let sub = pod.spec.as_ref()?.subdomain.clone().filter(|s| !s.is_empty())?;
    let ns = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    Some(format!("{sub}.{ns}.svc.{cluster_domain}"))
}

fn host_aliases(pod: &Pod) -> String {
    let aliases = pod
        .spec
        .as_ref()
        .and_then(|s| s.host_aliases.clone())
        .unwrap_or_default();
    if aliases.is_empty() {
        return String::new();
    }
    let mut out = String::from("\n# Entries added by HostAliases.\n");
    for a in aliases {
        let names = a.hostnames.unwrap_or_default().join("\t");
        out.push_str(&format!("{}\t{}\n", a.ip, names));
    }
    out
}

/// The managed `/etc/hosts` of a pod with its own network namespace.
pub fn hosts_file(pod: &Pod, pod_ips: &[IpAddr], cluster_domain: &str) -> String {
    let hostname = pod_hostname(pod);
    let mut out = String::from("# Kubernetes-managed hosts file.\n");
    out.push_str("127.0.0.1\tlocalhost\n");
    out.push_str("::1\tlocalhost ip6-localhost ip6-loopback\n");
    out.push_str("fe00::0\tip6-localnet\n");
    out.push_str("fe00::0\tip6-mcastprefix\n");
    out.push_str("fe00::1\tip6-allnodes\n");
    out.push_str("fe00::2\tip6-allrouters\n");
    let domain = host_domain(pod, cluster_domain);
    for ip in pod_ips {
        match &domain {
            Some(d) => out.push_str(&format!("{ip}\t{hostname}.{d}\t{hostname}\n")),
            None => out.push_str(&format!("{ip}\t{hostname}\n")),
        }
    }
    out.push_str(&host_aliases(pod));
    out
}

/// The `/etc/hosts` of a host-network pod: the node's file under kubelet's header.
pub fn host_network_hosts_file(pod: &Pod, node_hosts: &str) -> String {
    let mut out = String::from("# Kubernetes-managed hosts file (host network).\n");
    out.push_str(node_hosts);
    out.push_str(&host_aliases(pod));
    out
}

/// A parsed resolv.conf.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvConf {
    /// `nameserver` lines.
    pub nameservers: Vec<String>,
    /// `search` (or `domain`) domains.
    pub searches: Vec<String>,
    /// `options` entries.
    pub options: Vec<String>,
}

impl ResolvConf {
    /// Parses a resolv.conf (comments and unknown lines are skipped).
    pub fn parse(text: &str) -> ResolvConf {
        let mut r = ResolvConf::default();
        for line in text.lines() {
            let line = line.split(['#', ';']).next().unwrap_or("");
            let mut f = line.split_whitespace();
            match f.next() {
                Some("nameserver") => r.nameservers.extend(f.next().map(String::from)),
                Some("search") | Some("domain") => r.searches = f.map(String::from).collect(),
                Some("options") => r.options.extend(f.map(String::from)),
                _ => {}
            }
        }
        r
    }

    /// The file text, in the order the kubelet/CRI writes it (search, nameserver, options).
    pub fn render(&self) -> String {
        let mut out = String::new();
        if !self.searches.is_empty() {
            out.push_str(&format!("search {}\n", self.searches.join(" ")));
        }
        for ns in &self.nameservers {
            out.push_str(&format!("nameserver {ns}\n"));
        }
        if !self.options.is_empty() {
            out.push_str(&format!("options {}\n", self.options.join(" ")));
        }
        out
    }
}

fn dedup(v: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in v {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

fn merge_options(existing: &[String], pod: &[k8s_openapi::api::core::v1::PodDNSConfigOption]) -> Vec<String> {
    let mut opts: Vec<(String, String)> = Vec::new();
    let mut set = |name: String, value: String| match opts.iter_mut().find(|(n, _)| *n == name) {
        Some(e) => e.1 = value,
        None => opts.push((name, value)),
    };
    for o in existing {
        match o.split_once(':') {
            Some((n, v)) => set(n.to_string(), v.to_string()),
            None => set(o.clone(), String::new()),
        }
    }
    for o in pod {
        set(o.name.clone().unwrap_or_default(), o.value.clone().unwrap_or_default());
    }
    opts.into_iter()
        .filter(|(n, _)| !n.is_empty())
        .map(|(n, v)| if v.is_empty() { n } else { format!("{n}:{v}") })
        .collect()
}

/// The pod's resolv.conf per `dnsPolicy` (+ `dnsConfig`), given the node's resolv.conf.
pub fn resolv_conf(pod: &Pod, node_resolv: &str, cluster_dns: IpAddr, cluster_domain: &str) -> ResolvConf {
    let spec = pod.spec.clone().unwrap_or_default();
    let host_network = spec.host_network.unwrap_or(false);
    let policy = spec.dns_policy.clone().unwrap_or_else(|| "ClusterFirst".into());
    let node = ResolvConf::parse(node_resolv);
    let cluster_first = match policy.as_str() {
        "ClusterFirstWithHostNet" => true,
        "ClusterFirst" => !host_network,
        _ => false,
    };
    let mut conf = if policy == "None" {
        ResolvConf::default()
    } else if cluster_first {
        let ns = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
        let mut searches = vec![
            format!("{ns}.svc.{cluster_domain}"),
            format!("svc.{cluster_domain}"),
            cluster_domain.to_string(),
        ];
        searches.extend(node.searches.iter().cloned());
        ResolvConf {
            nameservers: vec![cluster_dns.to_string()],
            searches,
            options: vec!["ndots:5".into()],
        }
    } else {
        node
    };
    if let Some(dc) = spec.dns_config {
        conf.nameservers.extend(dc.nameservers.unwrap_or_default());
        conf.searches.extend(dc.searches.unwrap_or_default());
        conf.options = merge_options(&conf.options, &dc.options.unwrap_or_default());
    }
    conf.nameservers = dedup(conf.nameservers);
    conf.nameservers.truncate(MAX_NAMESERVERS);
    conf.searches = dedup(conf.searches);
    conf.searches.truncate(MAX_SEARCHES);
    conf
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn hosts_with_subdomain_and_aliases() {
        let p = pod(serde_json::json!({
            "metadata": {"name": "web-0", "namespace": "shop"},
            "spec": {"containers": [], "subdomain": "web",
                     "hostAliases": [{"ip": "10.1.2.3", "hostnames": ["foo.local", "bar.local"]}]}
        }));
        let text = hosts_file(&p, &["10.42.0.7".parse().unwrap()], "cluster.local");
        assert!(text.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"));
        assert!(text.contains("10.42.0.7\tweb-0.web.shop.svc.cluster.local\tweb-0\n"));
        assert!(text.ends_with("\n# Entries added by HostAliases.\n10.1.2.3\tfoo.local\tbar.local\n"));
    }

    #[test]
    fn hostname_is_truncated() {
        let long = format!("{}-{}", "a".repeat(62), "b".repeat(10));
        let p = pod(serde_json::json!({"metadata": {"name": long}, "spec": {"containers": []}}));
        assert_eq!(pod_hostname(&p), "a".repeat(62));
    }

    #[test]
    fn cluster_first() {
        let p = pod(serde_json::json!({"metadata": {"name": "p", "namespace": "dev"}, "spec": {"containers": []}}));
        let c = resolv_conf(
            &p,
            "nameserver 1.1.1.1\nsearch example.com\n",
            "10.43.0.10".parse().unwrap(),
            "cluster.local",
        );
        assert_eq!(
            c.render(),
            "search dev.svc.cluster.local svc.cluster.local cluster.local example.com\nnameserver 10.43.0.10\noptions ndots:5\n"
        );
    }

    #[test]
    fn host_network_cluster_first_falls_back_to_default() {
        let p = pod(serde_json::json!({"metadata": {"name": "p"}, "spec": {"containers": [], "hostNetwork": true}}));
        let c = resolv_conf(
            &p,
            "nameserver 1.1.1.1\noptions edns0\n",
            "10.43.0.10".parse().unwrap(),
            "cluster.local",
        );
        assert_eq!(c.render(), "nameserver 1.1.1.1\noptions edns0\n");
        let p2 = pod(serde_json::json!({"metadata": {"name": "p"},
            "spec": {"containers": [], "hostNetwork": true, "dnsPolicy": "ClusterFirstWithHostNet"}}));
        let c2 = resolv_conf(
            &p2,
            "nameserver 1.1.1.1\n",
            "10.43.0.10".parse().unwrap(),
            "cluster.local",
        );
        assert_eq!(c2.nameservers, vec!["10.43.0.10"]);
    }

    #[test]
    fn none_with_dns_config() {
        let p = pod(
            serde_json::json!({"metadata": {"name": "p"}, "spec": {"containers": [], "dnsPolicy": "None",
            "dnsConfig": {"nameservers": ["8.8.8.8", "8.8.8.8"], "searches": ["a.b"],
                          "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}}}),
        );
        let c = resolv_conf(
            &p,
            "nameserver 1.1.1.1\n",
            "10.43.0.10".parse().unwrap(),
            "cluster.local",
        );
        assert_eq!(c.render(), "search a.b\nnameserver 8.8.8.8\noptions ndots:2 edns0\n");
    }
}
