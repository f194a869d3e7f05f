//! Rule generation: the proxier's model to `iptables-restore` text, in
//! kube-proxy's iptables layout (`pkg/proxy/iptables/proxier.go`), under k1s's
//! chain prefix. Pure: the same input gives the same text.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::model::{Endpoint, ServicePort};
use super::names::Chains;

/// The bit marking packets to masquerade (kube-proxy's `--masquerade-bit` 14).
pub const MASQ_MARK: &str = "0x4000";
/// The comment on the masquerade rule of pod traffic leaving the cluster network.
pub const POD_EGRESS_COMMENT: &str = "masquerade pod traffic leaving the cluster network";

/// What the rules depend on besides the services.
#[derive(Debug, Clone)]
pub struct RuleContext {
    /// Chain names.
    pub chains: Chains,
    /// The pod network (`--cluster-cidr`): traffic from outside it to a ClusterIP is masqueraded.
    pub cluster_cidr: String,
    /// This node's pod range (`--pod-cidr`): its traffic leaving the cluster network is masqueraded.
    pub pod_cidr: String,
    /// The pod bridge: route_localnet is on for it, so martian loopback traffic from it is dropped.
    pub bridge: String,
}

/// A rule in a built-in chain that jumps into one of k1s's chains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jump {
    /// `nat` or `filter`.
    pub table: &'static str,
    /// The built-in chain (`PREROUTING`, `INPUT`…).
    pub chain: &'static str,
    /// The rule's arguments (after `-A chain`).
    pub args: Vec<String>,
}

/// The jump rules from the built-in chains, as kube-proxy installs them.
pub fn jumps(chains: &Chains) -> Vec<Jump> {
    let services = chains.fixed("SERVICES");
    let external = chains.fixed("EXTERNAL-SERVICES");
    let new = ["-m", "conntrack", "--ctstate", "NEW"];
    let jump = |table, chain, pre: &[&str], comment: &str, target: &str| Jump {
        table,
        chain,
        args: pre
            .iter()
            .map(|s| s.to_string())
            .chain(["-m", "comment", "--comment", comment, "-j", target].map(String::from))
            .collect(),
    };
    vec![
        jump("nat", "PREROUTING", &[], "kubernetes service portals", &services),
        jump("nat", "OUTPUT", &[], "kubernetes service portals", &services),
        jump(
            "nat",
            "POSTROUTING",
            &[],
            "kubernetes postrouting rules",
            &chains.fixed("POSTROUTING"),
        ),
        jump(
            "filter",
            "INPUT",
            &new,
            "kubernetes externally-visible service portals",
            &external,
        ),
        jump(
            "filter",
            "INPUT",
            &[],
            "kubernetes firewall for localnet",
            &chains.fixed("FIREWALL"),
        ),
        jump(
            "filter",
            "FORWARD",
            &[],
            "kubernetes forwarding rules",
            &chains.fixed("FORWARD"),
        ),
        jump("filter", "FORWARD", &new, "kubernetes service portals", &services),
        jump(
            "filter",
            "FORWARD",
            &new,
            "kubernetes externally-visible service portals",
            &external,
        ),
        jump("filter", "OUTPUT", &new, "kubernetes service portals", &services),
    ]
}

/// The generated rules of both tables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ruleset {
    /// filter chains, in declaration order.
    pub filter_chains: Vec<String>,
    /// filter rules (`-A …` lines).
    pub filter: Vec<String>,
    /// nat chains, in declaration order.
    pub nat_chains: Vec<String>,
    /// nat rules.
    pub nat: Vec<String>,
}

impl Ruleset {
    /// Every chain, as (table, chain).
    pub fn chain_set(&self) -> BTreeSet<(String, String)> {
        let filter = self.filter_chains.iter().map(|c| ("filter".to_string(), c.clone()));
        let nat = self.nat_chains.iter().map(|c| ("nat".to_string(), c.clone()));
        filter.chain(nat).collect()
    }

    /// The `iptables-restore --noflush` input: every chain declared (so flushed and
    /// rewritten whole), the rules, and `stale` chains (table, chain) flushed and deleted.
    pub fn restore_text(&self, stale: &BTreeSet<(String, String)>) -> String {
        let mut out = String::new();
        for (table, chains, rules) in [
            ("filter", &self.filter_chains, &self.filter),
            ("nat", &self.nat_chains, &self.nat),
        ] {
            let gone: Vec<&String> = stale.iter().filter(|(t, _)| t == table).map(|(_, c)| c).collect();
            let _ = writeln!(out, "*{table}");
            for c in chains.iter().chain(gone.iter().copied()) {
                let _ = writeln!(out, ":{c} - [0:0]");
            }
            for r in rules {
                out.push_str(r);
                out.push('\n');
            }
            for c in gone {
                let _ = writeln!(out, "-X {c}");
            }
            out.push_str("COMMIT\n");
        }
        out
    }
}

/// kube-proxy's `%0.10f` probability for the i-th of n endpoints.
fn probability(i: usize, n: usize) -> String {
    format!("{:.10}", 1.0 / (n - i) as f64)
}

/// `-m tcp -p tcp`, as kube-proxy writes the protocol match.
fn proto(p: &str) -> String {
    format!("-m {p} -p {p}")
}

/// Generates the rules for `ports`.
pub fn generate(ctx: &RuleContext, ports: &[ServicePort]) -> Ruleset {
    let c = &ctx.chains;
    let services = c.fixed("SERVICES");
    let external_services = c.fixed("EXTERNAL-SERVICES");
    let forward = c.fixed("FORWARD");
    let firewall = c.fixed("FIREWALL");
    let nodeports = c.fixed("NODEPORTS");
    let postrouting = c.fixed("POSTROUTING");
    let mark_masq = c.fixed("MARK-MASQ");
    let mut r = Ruleset {
        filter_chains: vec![
            services.clone(),
            external_services.clone(),
            forward.clone(),
            firewall.clone(),
        ],
        nat_chains: vec![
            services.clone(),
            nodeports.clone(),
            postrouting.clone(),
            mark_masq.clone(),
        ],
        ..Default::default()
    };

    // Pod traffic leaving the cluster network, one rule for the node (as flannel
    // does; the bridge plugin's ipMasq would cost a chain per pod). First, since
    // the RETURN below ends the chain for unmarked packets; a marked packet it
    // catches gets the same SNAT the mark would give it. Traffic to pods and to
    // the cluster DNS on the bridge gateway (inside the pod range) keeps its source.
    r.nat.push(format!(
        "-A {postrouting} -s {} ! -d {} -m comment --comment \"{POD_EGRESS_COMMENT}\" -j MASQUERADE --random-fully",
        ctx.pod_cidr, ctx.cluster_cidr
    ));
    r.nat.push(format!(
        "-A {postrouting} -m mark ! --mark {MASQ_MARK}/{MASQ_MARK} -j RETURN"
    ));
    r.nat.push(format!("-A {postrouting} -j MARK --xor-mark {MASQ_MARK}"));
    r.nat.push(format!(
        "-A {postrouting} -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully"
    ));
    r.nat.push(format!("-A {mark_masq} -j MARK --or-mark {MASQ_MARK}"));

    r.filter.push(format!(
        "-A {forward} -m comment --comment \"kubernetes forwarding rules\" -m mark --mark {MASQ_MARK}/{MASQ_MARK} -j ACCEPT"
    ));
    for dir in ["-s", "-d"] {
        r.filter.push(format!(
            "-A {forward} {dir} {} -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
            ctx.cluster_cidr
        ));
    }
    r.filter.push(format!(
        "-A {firewall} -i {} ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment \"block incoming localnet connections\" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP",
        ctx.bridge
    ));

    for sp in ports {
        service_port(ctx, sp, &mut r);
    }

    r.nat.push(format!(
        "-A {services} -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j {nodeports}"
    ));
    r
}

/// The rules of one service port.
fn service_port(ctx: &RuleContext, sp: &ServicePort, r: &mut Ruleset) {
    let c = &ctx.chains;
    let services = c.fixed("SERVICES");
    let external_services = c.fixed("EXTERNAL-SERVICES");
    let nodeports = c.fixed("NODEPORTS");
    let mark_masq = c.fixed("MARK-MASQ");
    let (name, pr) = (&sp.name, proto(&sp.protocol));
    let svc_chain = c.svc(name, &sp.protocol);
    let svl_chain = c.svl(name, &sp.protocol);
    let ext_chain = c.ext(name, &sp.protocol);

    let cluster_eps = sp.cluster_endpoints();
    let external_eps = sp.external_endpoints();
    // The cluster policy chain balances over every usable endpoint, the local one over this node's.
    let all_eps = sp.usable_endpoints();
    let local_eps = sp.local_endpoints();
    let has_endpoints = !all_eps.is_empty();
    let internal_chain = if sp.internal_local { &svl_chain } else { &svc_chain };
    let uses_cluster_chain = has_endpoints && (!sp.internal_local || sp.external());
    let uses_local_chain = !local_eps.is_empty() && (sp.internal_local || sp.external_local);

    // ClusterIP.
    let dst = format!("-d {}/32 --dport {}", sp.cluster_ip, sp.port);
    if !cluster_eps.is_empty() {
        r.nat.push(format!(
            "-A {services} -m comment --comment \"{name} cluster IP\" {pr} {dst} -j {internal_chain}"
        ));
    } else if !has_endpoints {
        r.filter.push(format!(
            "-A {services} -m comment --comment \"{name} has no endpoints\" {pr} {dst} -j REJECT"
        ));
    } else {
        r.filter.push(format!(
            "-A {services} -m comment --comment \"{name} has no local endpoints\" {pr} {dst} -j DROP"
        ));
    }

    // Destinations from outside: external IPs, load-balancer IPs, the node port.
    if sp.external() {
        let mut ext_dsts: Vec<(String, &str)> = Vec::new();
        for ip in &sp.external_ips {
            ext_dsts.push((format!("-d {ip}/32 --dport {}", sp.port), "external IP"));
        }
        for ip in &sp.load_balancer_ips {
            ext_dsts.push((format!("-d {ip}/32 --dport {}", sp.port), "loadbalancer IP"));
        }
        if !external_eps.is_empty() {
            for (d, what) in &ext_dsts {
                r.nat.push(format!(
                    "-A {services} -m comment --comment \"{name} {what}\" {pr} {d} -j {ext_chain}"
                ));
            }
            if let Some(np) = sp.node_port {
                r.nat.push(format!(
                    "-A {nodeports} -m comment --comment \"{name}\" {pr} --dport {np} -j {ext_chain}"
                ));
            }
            r.nat_chains.push(ext_chain.clone());
            if sp.external_local {
                r.nat.push(format!(
                    "-A {ext_chain} -m comment --comment \"pod traffic for {name} external destinations\" -s {} -j {svc_chain}",
                    ctx.cluster_cidr
                ));
                r.nat.push(format!(
                    "-A {ext_chain} -m comment --comment \"masquerade LOCAL traffic for {name} external destinations\" -m addrtype --src-type LOCAL -j {mark_masq}"
                ));
                r.nat.push(format!(
                    "-A {ext_chain} -m comment --comment \"route LOCAL traffic for {name} external destinations\" -m addrtype --src-type LOCAL -j {svc_chain}"
                ));
                r.nat.push(format!("-A {ext_chain} -j {svl_chain}"));
            } else {
                r.nat.push(format!(
                    "-A {ext_chain} -m comment --comment \"masquerade traffic for {name} external destinations\" -j {mark_masq}"
                ));
                r.nat.push(format!("-A {ext_chain} -j {svc_chain}"));
            }
        } else {
            let (why, verdict) = if has_endpoints {
                ("has no local endpoints", "DROP")
            } else {
                ("has no endpoints", "REJECT")
            };
            for (d, _) in &ext_dsts {
                r.filter.push(format!(
                    "-A {external_services} -m comment --comment \"{name} {why}\" {pr} {d} -j {verdict}"
                ));
            }
            if let Some(np) = sp.node_port {
                r.filter.push(format!(
                    "-A {external_services} -m comment --comment \"{name} {why}\" -m addrtype --dst-type LOCAL {pr} --dport {np} -j {verdict}"
                ));
            }
        }
    }

    if uses_cluster_chain {
        r.nat_chains.push(svc_chain.clone());
        r.nat.push(format!(
            "-A {svc_chain} -m comment --comment \"{name} cluster IP\" {pr} {dst} ! -s {} -j {mark_masq}",
            ctx.cluster_cidr
        ));
        balance(ctx, sp, &svc_chain, &all_eps, r);
    }
    if uses_local_chain {
        r.nat_chains.push(svl_chain.clone());
        balance(ctx, sp, &svl_chain, &local_eps, r);
    }
    // Endpoint chains, once each, for the endpoints either policy chain uses.
    let mut seps: Vec<&Endpoint> = Vec::new();
    if uses_cluster_chain {
        seps.extend(all_eps.iter().copied());
    }
    if uses_local_chain {
        seps.extend(local_eps.iter().copied());
    }
    seps.sort_by_key(|e| (e.ip, e.port));
    seps.dedup();
    for ep in seps {
        let sep = c.sep(name, &sp.protocol, &ep.addr());
        r.nat_chains.push(sep.clone());
        r.nat.push(format!(
            "-A {sep} -m comment --comment \"{name}\" -s {}/32 -j {mark_masq}",
            ep.ip
        ));
        let recent = match sp.affinity_seconds {
            Some(_) => format!(" -m recent --name {sep} --mask 255.255.255.255 --rsource --set"),
            None => String::new(),
        };
        r.nat.push(format!(
            "-A {sep} -m comment --comment \"{name}\"{recent} {pr} -j DNAT --to-destination {}",
            ep.addr()
        ));
    }
}

/// The load-balancing rules of a policy chain: affinity checks first, then one
/// rule per endpoint with `statistic --probability 1/(n-i)`, the last unconditional.
fn balance(ctx: &RuleContext, sp: &ServicePort, chain: &str, eps: &[&Endpoint], r: &mut Ruleset) {
    let c = &ctx.chains;
    let name = &sp.name;
    if let Some(seconds) = sp.affinity_seconds {
        for ep in eps {
            let sep = c.sep(name, &sp.protocol, &ep.addr());
            r.nat.push(format!(
                "-A {chain} -m comment --comment \"{name} -> {}\" -m recent --name {sep} --mask 255.255.255.255 --rsource --rcheck --seconds {seconds} --reap -j {sep}",
                ep.addr()
            ));
        }
    }
    let n = eps.len();
    for (i, ep) in eps.iter().enumerate() {
        let sep = c.sep(name, &sp.protocol, &ep.addr());
        let stat = if i + 1 < n {
            format!(" -m statistic --mode random --probability {}", probability(i, n))
        } else {
            String::new()
        };
        r.nat.push(format!(
            "-A {chain} -m comment --comment \"{name} -> {}\"{stat} -j {sep}",
            ep.addr()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::model::{Endpoint, ServicePort};
    use std::net::Ipv4Addr;

    fn ctx() -> RuleContext {
        RuleContext {
            chains: Chains::new("K1S"),
            cluster_cidr: "10.42.0.0/16".into(),
            pod_cidr: "10.42.0.0/24".into(),
            bridge: "k1s0".into(),
        }
    }

    fn ep(last: u8, ready: bool) -> Endpoint {
        Endpoint {
            ip: Ipv4Addr::new(10, 42, 0, last),
            port: 8080,
            ready,
            serving: ready,
            terminating: false,
            local: true,
        }
    }

    fn port(name: &str, ip: u8, endpoints: Vec<Endpoint>) -> ServicePort {
        ServicePort {
            name: name.into(),
            protocol: "tcp".into(),
            cluster_ip: Ipv4Addr::new(10, 43, 0, ip),
            port: 80,
            node_port: None,
            external_ips: vec![],
            load_balancer_ips: vec![],
            external_local: false,
            internal_local: false,
            affinity_seconds: None,
            endpoints,
        }
    }

    /// The rules of one service (the fixed chains' rules left out), with hashes shortened.
    fn service_rules(sp: ServicePort) -> String {
        let base = generate(&ctx(), &[]);
        let r = generate(&ctx(), &[sp]);
        let mut out = String::new();
        for (table, all, fixed) in [("filter", &r.filter, &base.filter), ("nat", &r.nat, &base.nat)] {
            for rule in all.iter().filter(|x| !fixed.contains(x)) {
                out.push_str(&format!("{table} {rule}\n"));
            }
        }
        out
    }

    #[test]
    fn cluster_ip_balances_over_ready_endpoints() {
        let sp = port("shop/web:http", 5, vec![ep(6, true), ep(7, true), ep(8, false)]);
        let want = "\
nat -A K1S-SERVICES -m comment --comment \"shop/web:http cluster IP\" -m tcp -p tcp -d 10.43.0.5/32 --dport 80 -j K1S-SVC-67NZLRHBNDSAWJRO
nat -A K1S-SVC-67NZLRHBNDSAWJRO -m comment --comment \"shop/web:http cluster IP\" -m tcp -p tcp -d 10.43.0.5/32 --dport 80 ! -s 10.42.0.0/16 -j K1S-MARK-MASQ
nat -A K1S-SVC-67NZLRHBNDSAWJRO -m comment --comment \"shop/web:http -> 10.42.0.6:8080\" -m statistic --mode random --probability 0.5000000000 -j K1S-SEP-SRPD57ORGF7WTGQS
nat -A K1S-SVC-67NZLRHBNDSAWJRO -m comment --comment \"shop/web:http -> 10.42.0.7:8080\" -j K1S-SEP-E2T6JCQWK7GVT7FA
nat -A K1S-SEP-SRPD57ORGF7WTGQS -m comment --comment \"shop/web:http\" -s 10.42.0.6/32 -j K1S-MARK-MASQ
nat -A K1S-SEP-SRPD57ORGF7WTGQS -m comment --comment \"shop/web:http\" -m tcp -p tcp -j DNAT --to-destination 10.42.0.6:8080
nat -A K1S-SEP-E2T6JCQWK7GVT7FA -m comment --comment \"shop/web:http\" -s 10.42.0.7/32 -j K1S-MARK-MASQ
nat -A K1S-SEP-E2T6JCQWK7GVT7FA -m comment --comment \"shop/web:http\" -m tcp -p tcp -j DNAT --to-destination 10.42.0.7:8080
";
        assert_eq!(service_rules(sp), want);
    }

    #[test]
    fn probabilities_for_three() {
        let sp = port("a/b", 5, vec![ep(1, true), ep(2, true), ep(3, true)]);
        let text = service_rules(sp);
        assert!(text.contains("--probability 0.3333333333 -j"), "{text}");
        assert!(text.contains("--probability 0.5000000000 -j"), "{text}");
        assert_eq!(
            text.matches("--probability").count(),
            2,
            "the last endpoint takes the rest"
        );
    }

    #[test]
    fn node_port_with_affinity() {
        let mut sp = port("shop/web:http", 5, vec![ep(6, true)]);
        sp.node_port = Some(30080);
        sp.affinity_seconds = Some(60);
        let text = service_rules(sp);
        for want in [
            "nat -A K1S-NODEPORTS -m comment --comment \"shop/web:http\" -m tcp -p tcp --dport 30080 -j K1S-EXT-67NZLRHBNDSAWJRO\n",
            "nat -A K1S-EXT-67NZLRHBNDSAWJRO -m comment --comment \"masquerade traffic for shop/web:http external destinations\" -j K1S-MARK-MASQ\n\
             nat -A K1S-EXT-67NZLRHBNDSAWJRO -j K1S-SVC-67NZLRHBNDSAWJRO\n",
            "-m recent --name K1S-SEP-SRPD57ORGF7WTGQS --mask 255.255.255.255 --rsource --rcheck --seconds 60 --reap -j K1S-SEP-SRPD57ORGF7WTGQS\n",
            "-m recent --name K1S-SEP-SRPD57ORGF7WTGQS --mask 255.255.255.255 --rsource --set -m tcp -p tcp -j DNAT --to-destination 10.42.0.6:8080\n",
        ] {
            assert!(text.contains(want), "{want}\nnot in\n{text}");
        }
    }

    #[test]
    fn external_local_and_load_balancer_ip() {
        let mut sp = port("shop/web:http", 5, vec![ep(6, true)]);
        sp.node_port = Some(30080);
        sp.external_local = true;
        sp.load_balancer_ips = vec![Ipv4Addr::new(192, 0, 2, 2)];
        let text = service_rules(sp);
        let want = "\
nat -A K1S-SERVICES -m comment --comment \"shop/web:http loadbalancer IP\" -m tcp -p tcp -d 192.0.2.2/32 --dport 80 -j K1S-EXT-67NZLRHBNDSAWJRO
nat -A K1S-NODEPORTS -m comment --comment \"shop/web:http\" -m tcp -p tcp --dport 30080 -j K1S-EXT-67NZLRHBNDSAWJRO
nat -A K1S-EXT-67NZLRHBNDSAWJRO -m comment --comment \"pod traffic for shop/web:http external destinations\" -s 10.42.0.0/16 -j K1S-SVC-67NZLRHBNDSAWJRO
nat -A K1S-EXT-67NZLRHBNDSAWJRO -m comment --comment \"masquerade LOCAL traffic for shop/web:http external destinations\" -m addrtype --src-type LOCAL -j K1S-MARK-MASQ
nat -A K1S-EXT-67NZLRHBNDSAWJRO -m comment --comment \"route LOCAL traffic for shop/web:http external destinations\" -m addrtype --src-type LOCAL -j K1S-SVC-67NZLRHBNDSAWJRO
nat -A K1S-EXT-67NZLRHBNDSAWJRO -j K1S-SVL-67NZLRHBNDSAWJRO
";
        assert!(text.contains(want), "{text}");
        assert!(text.contains("nat -A K1S-SVL-67NZLRHBNDSAWJRO -m comment --comment \"shop/web:http -> 10.42.0.6:8080\" -j K1S-SEP-SRPD57ORGF7WTGQS\n"));
        // A remote endpoint only: outside traffic is dropped, cluster traffic still flows.
        let mut remote = ep(6, true);
        remote.local = false;
        let mut sp = port("shop/web:http", 5, vec![remote]);
        sp.node_port = Some(30080);
        sp.external_local = true;
        let text = service_rules(sp);
        assert!(text.contains("filter -A K1S-EXTERNAL-SERVICES -m comment --comment \"shop/web:http has no local endpoints\" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30080 -j DROP\n"), "{text}");
        assert!(
            text.contains("-j K1S-SVC-67NZLRHBNDSAWJRO\n") && !text.contains("K1S-NODEPORTS"),
            "{text}"
        );
    }

    #[test]
    fn no_ready_endpoints_reject() {
        let mut sp = port("shop/web:http", 5, vec![ep(9, false)]);
        sp.node_port = Some(30080);
        sp.load_balancer_ips = vec![Ipv4Addr::new(192, 0, 2, 2)];
        let want = "\
filter -A K1S-SERVICES -m comment --comment \"shop/web:http has no endpoints\" -m tcp -p tcp -d 10.43.0.5/32 --dport 80 -j REJECT
filter -A K1S-EXTERNAL-SERVICES -m comment --comment \"shop/web:http has no endpoints\" -m tcp -p tcp -d 192.0.2.2/32 --dport 80 -j REJECT
filter -A K1S-EXTERNAL-SERVICES -m comment --comment \"shop/web:http has no endpoints\" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30080 -j REJECT
";
        assert_eq!(service_rules(sp), want);
    }

    #[test]
    fn internal_local_uses_the_local_chain() {
        let mut remote = ep(7, true);
        remote.local = false;
        let mut sp = port("a/b", 5, vec![ep(6, true), remote]);
        sp.internal_local = true;
        let text = service_rules(sp);
        assert!(text.contains("--dport 80 -j K1S-SVL-"), "{text}");
        assert!(
            !text.contains("K1S-SVC-"),
            "no cluster chain for an internal-only local service: {text}"
        );
        assert!(
            text.contains("DNAT --to-destination 10.42.0.6:8080") && !text.contains("10.42.0.7"),
            "{text}"
        );
    }

    #[test]
    fn restore_text_declares_flushes_and_deletes() {
        let stale = [("nat".to_string(), "K1S-SVC-OLD".to_string())].into_iter().collect();
        let text = generate(&ctx(), &[]).restore_text(&stale);
        assert!(text.starts_with("*filter\n:K1S-SERVICES - [0:0]\n:K1S-EXTERNAL-SERVICES - [0:0]\n:K1S-FORWARD - [0:0]\n:K1S-FIREWALL - [0:0]\n"), "{text}");
        assert!(
            text.contains(":K1S-SVC-OLD - [0:0]\n") && text.ends_with("-X K1S-SVC-OLD\nCOMMIT\n"),
            "{text}"
        );
        assert!(text.contains("-A K1S-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j K1S-NODEPORTS\n"));
        assert!(text.contains("-A K1S-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully\n"));
        assert_eq!(text.matches("COMMIT\n").count(), 2);
    }

    #[test]
    fn postrouting_masquerades_pod_egress_and_marked_traffic() {
        let r = generate(&ctx(), &[port("a/b", 5, vec![ep(6, true)])]);
        let postrouting: Vec<&str> = r
            .nat
            .iter()
            .filter(|l| l.starts_with("-A K1S-POSTROUTING "))
            .map(String::as_str)
            .collect();
        assert_eq!(
            postrouting,
            [
                "-A K1S-POSTROUTING -s 10.42.0.0/24 ! -d 10.42.0.0/16 -m comment --comment \"masquerade pod traffic leaving the cluster network\" -j MASQUERADE --random-fully",
                "-A K1S-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
                "-A K1S-POSTROUTING -j MARK --xor-mark 0x4000",
                "-A K1S-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully",
            ]
        );
        // Declared with the rest, so applied in the same restore.
        assert!(r.nat_chains.iter().any(|c| c == "K1S-POSTROUTING"));
        let text = r.restore_text(&BTreeSet::new());
        let nat = text.split("*nat\n").nth(1).expect("nat table");
        assert!(nat.contains(postrouting[0]) && nat.ends_with("COMMIT\n"), "{text}");
    }

    #[test]
    fn jump_rules() {
        let j = jumps(&Chains::new("K1S120"));
        assert_eq!(j.len(), 9);
        assert_eq!(j[0].table, "nat");
        assert_eq!(j[0].chain, "PREROUTING");
        assert_eq!(
            j[0].args.join(" "),
            "-m comment --comment kubernetes service portals -j K1S120-SERVICES"
        );
        assert!(j
            .iter()
            .all(|j| j.args.last().is_some_and(|t| t.starts_with("K1S120-"))));
    }
}
