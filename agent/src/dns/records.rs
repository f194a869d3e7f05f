//! The cluster's DNS data as CoreDNS's `kubernetes` plugin serves it: a
//! [`Snapshot`] of the Services and their EndpointSlices, and [`lookup`], the
//! pure answer to one question against it (no I/O, no API calls).

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use k1s_proto::meta::ObjectMeta;
use serde_json::Value;

/// The TTL of every record (CoreDNS's `ttl` default in the kubernetes plugin).
pub const TTL: u32 = 5;
/// The label that ties an EndpointSlice to its Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// The schema version CoreDNS answers for `dns-version.<zone>` TXT.
const DNS_SCHEMA_VERSION: &str = "1.1.0";

/// A port of a Service or of an EndpointSlice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortEntry {
    /// The port's name (may be empty).
    pub name: String,
    /// `tcp`, `udp` or `sctp` (lower case, as SRV names spell it).
    pub protocol: String,
    /// The port number.
    pub port: u16,
}

/// One address of an EndpointSlice that DNS publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointEntry {
    /// The address.
    pub ip: IpAddr,
    /// `endpoints[].hostname` (StatefulSet pods, `spec.hostname` + `subdomain`).
    pub hostname: Option<String>,
    /// The ports of the slice the address is in.
    pub ports: Vec<PortEntry>,
}

impl EndpointEntry {
    /// The first label of the endpoint's name: its hostname, else its address
    /// with `.`/`:` turned into `-` (CoreDNS's `endpoint_pod_names` off).
    pub fn label(&self) -> String {
        match &self.hostname {
            Some(h) => h.to_ascii_lowercase(),
            None => dashed(&self.ip),
        }
    }
}

/// What a Service name resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceKind {
    /// A/AAAA of the cluster IPs.
    ClusterIp(Vec<IpAddr>),
    /// `clusterIP: None`: A/AAAA of the ready endpoints.
    Headless,
    /// A CNAME to `spec.externalName`.
    ExternalName(String),
}

/// A Service as DNS sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEntry {
    /// How the name resolves.
    pub kind: ServiceKind,
    /// `spec.ports`.
    pub ports: Vec<PortEntry>,
    /// The published addresses of its EndpointSlices (ready ones, or all with
    /// `publishNotReadyAddresses`).
    pub endpoints: Vec<EndpointEntry>,
}

/// The cluster's DNS data at one moment, built from informer caches.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The cluster domain, lower case, without the trailing dot (`cluster.local`).
    zone: String,
    /// The cluster DNS Service address (the glue of `ns.dns.<zone>`).
    dns_ip: Option<IpAddr>,
    /// Services by (namespace, name).
    services: HashMap<(String, String), ServiceEntry>,
    /// Namespaces that hold at least one Service.
    namespaces: BTreeSet<String>,
    /// Reverse names (FQDN without the trailing dot) of cluster IPs and endpoint addresses.
    reverse: HashMap<IpAddr, Vec<String>>,
    /// The SOA serial (the time of the last change, as CoreDNS).
    serial: u32,
}

/// An answer from the cluster's data.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// NOERROR or NXDOMAIN.
    pub code: ResponseCode,
    /// The answer section.
    pub answers: Vec<Record>,
    /// The authority section (the zone's SOA for NXDOMAIN and NODATA).
    pub authority: Vec<Record>,
    /// The additional section (addresses of SRV targets).
    pub additionals: Vec<Record>,
}

/// The address in a name: `10-42-0-7` → 10.42.0.7, `fd00--1` → fd00::1.
pub fn undashed(label: &str) -> Option<IpAddr> {
    if label.contains('.') || label.contains(':') {
        return None;
    }
    if let Ok(ip) = label.replace('-', ".").parse::<Ipv4Addr>() {
        return Some(IpAddr::V4(ip));
    }
    label.replace('-', ":").parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

/// The address as a DNS label: `.`/`:` replaced by `-`.
pub fn dashed(ip: &IpAddr) -> String {
    ip.to_string().replace(['.', ':'], "-")
}

fn ports_of(list: &Value) -> Vec<PortEntry> {
    list.as_array()
        .map(|ports| {
            ports
                .iter()
                .filter_map(|p| {
                    Some(PortEntry {
                        name: p["name"].as_str().unwrap_or("").to_ascii_lowercase(),
                        protocol: p["protocol"].as_str().unwrap_or("TCP").to_ascii_lowercase(),
                        port: u16::try_from(p["port"].as_u64()?).ok()?,
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

fn service_entry(svc: &Value) -> ServiceEntry {
    let spec = &svc["spec"];
    let kind = if spec["type"] == "ExternalName" {
        ServiceKind::ExternalName(
            spec["externalName"]
                .as_str()
                .unwrap_or("")
                .trim_end_matches('.')
                .to_string(),
        )
    } else if spec["clusterIP"] == "None" {
        ServiceKind::Headless
    } else {
        let mut ips: Vec<IpAddr> = spec["clusterIPs"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()?.parse().ok()).collect())
            .unwrap_or_default();
        if ips.is_empty() {
            ips.extend(spec["clusterIP"].as_str().and_then(|s| s.parse::<IpAddr>().ok()));
        }
        ServiceKind::ClusterIp(ips)
    };
    ServiceEntry {
        kind,
        ports: ports_of(&spec["ports"]),
        endpoints: Vec::new(),
    }
}

/// The endpoints of a slice that DNS publishes: ready ones (a missing
/// `ready` counts as ready), or every one when the Service publishes not-ready addresses.
fn slice_endpoints(slice: &Value, publish_not_ready: bool) -> Vec<EndpointEntry> {
    let ports = ports_of(&slice["ports"]);
    let Some(endpoints) = slice["endpoints"].as_array() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for ep in endpoints {
        let ready = ep["conditions"]["ready"].as_bool().unwrap_or(true);
        if !ready && !publish_not_ready {
            continue;
        }
        let hostname = ep["hostname"].as_str().filter(|h| !h.is_empty()).map(String::from);
        for addr in ep["addresses"].as_array().into_iter().flatten() {
            if let Some(ip) = addr.as_str().and_then(|s| s.parse::<IpAddr>().ok()) {
                out.push(EndpointEntry {
                    ip,
                    hostname: hostname.clone(),
                    ports: ports.clone(),
                });
            }
        }
    }
    out
}

impl Snapshot {
    /// Builds the snapshot of `services` and `slices` for the cluster domain `zone`.
    pub fn build(
        zone: &str,
        dns_ip: Option<IpAddr>,
        services: &[Arc<Value>],
        slices: &[Arc<Value>],
        serial: u32,
    ) -> Snapshot {
        let zone = zone.trim_end_matches('.').to_ascii_lowercase();
        let mut entries: HashMap<(String, String), ServiceEntry> = HashMap::new();
        let mut publish: HashMap<(String, String), bool> = HashMap::new();
        for svc in services {
            let (Some(ns), Some(name)) = (svc.namespace(), svc.name()) else {
                continue;
            };
            let key = (ns.to_ascii_lowercase(), name.to_ascii_lowercase());
            publish.insert(
                key.clone(),
                svc["spec"]["publishNotReadyAddresses"].as_bool().unwrap_or(false),
            );
            entries.insert(key, service_entry(svc));
        }
        for slice in slices {
            let (Some(ns), Some(service)) = (slice.namespace(), slice.label(SERVICE_NAME_LABEL)) else {
                continue;
            };
            let key = (ns.to_ascii_lowercase(), service.to_ascii_lowercase());
            let Some(entry) = entries.get_mut(&key) else {
                continue;
            };
            let publish_not_ready = publish.get(&key).copied().unwrap_or(false);
            entry.endpoints.extend(slice_endpoints(slice, publish_not_ready));
        }
        let mut reverse: HashMap<IpAddr, Vec<String>> = HashMap::new();
        let mut namespaces = BTreeSet::new();
        let mut keys: Vec<&(String, String)> = entries.keys().collect();
        keys.sort();
        for key in keys {
            let (ns, name) = key;
            namespaces.insert(ns.clone());
            let entry = &entries[key];
            let fqdn = format!("{name}.{ns}.svc.{zone}");
            if let ServiceKind::ClusterIp(ips) = &entry.kind {
                for ip in ips {
                    push_unique(reverse.entry(*ip).or_default(), fqdn.clone());
                }
            }
            for ep in &entry.endpoints {
                push_unique(reverse.entry(ep.ip).or_default(), format!("{}.{fqdn}", ep.label()));
            }
        }
        Snapshot {
            zone,
            dns_ip,
            services: entries,
            namespaces,
            reverse,
            serial,
        }
    }

    /// The cluster domain this snapshot answers for.
    pub fn zone(&self) -> &str {
        &self.zone
    }

    /// A Service by namespace and name (lower case).
    pub fn service(&self, namespace: &str, name: &str) -> Option<&ServiceEntry> {
        self.services.get(&(namespace.to_string(), name.to_string()))
    }

    /// The number of Services in the snapshot.
    pub fn len(&self) -> usize {
        self.services.len()
    }

    /// Whether the snapshot holds no Service.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    fn zone_name(&self) -> Name {
        name(&self.zone)
    }

    fn soa(&self) -> Record {
        let zone = self.zone_name();
        let mname = name(&format!("ns.dns.{}", self.zone));
        let rname = name(&format!("hostmaster.{}", self.zone));
        Record::from_rdata(
            zone,
            TTL,
            RData::SOA(SOA::new(mname, rname, self.serial, 7200, 1800, 86400, TTL)),
        )
    }

    fn no_data(&self) -> Answer {
        Answer {
            code: ResponseCode::NoError,
            answers: Vec::new(),
            authority: vec![self.soa()],
            additionals: Vec::new(),
        }
    }

    fn nx_domain(&self) -> Answer {
        Answer {
            code: ResponseCode::NXDomain,
            ..self.no_data()
        }
    }

    fn records(&self, answers: Vec<Record>, additionals: Vec<Record>) -> Answer {
        if answers.is_empty() {
            return self.no_data();
        }
        Answer {
            code: ResponseCode::NoError,
            answers,
            authority: Vec::new(),
            additionals,
        }
    }
}

fn push_unique(v: &mut Vec<String>, s: String) {
    if !v.contains(&s) {
        v.push(s);
    }
}

/// A name from text built here (always valid; an invalid one becomes the root).
fn name(text: &str) -> Name {
    let mut n = Name::from_ascii(text).unwrap_or_else(|_| Name::root());
    n.set_fqdn(true);
    n
}

fn address_records(owner: &Name, ips: impl IntoIterator<Item = IpAddr>, qtype: RecordType) -> Vec<Record> {
    let mut seen = BTreeSet::new();
    ips.into_iter()
        .filter(|ip| seen.insert(*ip))
        .filter_map(|ip| match (ip, qtype) {
            (IpAddr::V4(v4), RecordType::A) => Some(Record::from_rdata(owner.clone(), TTL, RData::A(A(v4)))),
            (IpAddr::V6(v6), RecordType::AAAA) => Some(Record::from_rdata(owner.clone(), TTL, RData::AAAA(AAAA(v6)))),
            _ => None,
        })
        .collect()
}

/// Answers `qname`/`qtype` from the snapshot, or `None` when the name is not
/// the cluster's (forward it): names outside the cluster domain, and reverse
/// names of addresses that are neither a cluster IP nor an endpoint.
pub fn lookup(snap: &Snapshot, qname: &Name, qtype: RecordType) -> Option<Answer> {
    let lower = qname.to_lowercase().to_ascii();
    let lower = lower.trim_end_matches('.');
    if lower.ends_with(".in-addr.arpa") || lower.ends_with(".ip6.arpa") {
        return reverse(snap, qname, qtype);
    }
    let rest = if lower == snap.zone {
        ""
    } else {
        lower.strip_suffix(&snap.zone)?.strip_suffix('.')?
    };
    let labels: Vec<&str> = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split('.').collect()
    };
    Some(in_zone(snap, qname, qtype, &labels))
}

fn reverse(snap: &Snapshot, qname: &Name, qtype: RecordType) -> Option<Answer> {
    let net = qname.parse_arpa_name().ok()?;
    if net.prefix_len() != net.max_prefix_len() {
        return None;
    }
    let targets = snap.reverse.get(&net.addr())?;
    if qtype != RecordType::PTR {
        return Some(snap.no_data());
    }
    let answers = targets
        .iter()
        .map(|t| Record::from_rdata(qname.clone(), TTL, RData::PTR(PTR(name(t)))))
        .collect();
    Some(snap.records(answers, Vec::new()))
}

fn in_zone(snap: &Snapshot, qname: &Name, qtype: RecordType, labels: &[&str]) -> Answer {
    match labels {
        [] => apex(snap, qname, qtype),
        ["dns-version"] => {
            if qtype != RecordType::TXT {
                return snap.no_data();
            }
            let txt = RData::TXT(TXT::new(vec![DNS_SCHEMA_VERSION.to_string()]));
            snap.records(vec![Record::from_rdata(qname.clone(), TTL, txt)], Vec::new())
        }
        ["ns", "dns"] => match snap.dns_ip {
            Some(ip) => snap.records(address_records(qname, [ip], qtype), Vec::new()),
            None => snap.nx_domain(),
        },
        // Empty non-terminals: the name exists because names below it do.
        ["dns"] | ["svc"] | ["pod"] => snap.no_data(),
        [ns, "svc"] | [ns, "pod"] if snap.namespaces.contains(*ns) => snap.no_data(),
        [service, ns, "svc"] => match snap.service(ns, service) {
            Some(svc) => service_records(snap, qname, qtype, svc, service, ns),
            None => snap.nx_domain(),
        },
        [endpoint, service, ns, "svc"] => match snap.service(ns, service) {
            Some(svc) => {
                let ips: Vec<IpAddr> = svc
                    .endpoints
                    .iter()
                    .filter(|e| e.label() == *endpoint)
                    .map(|e| e.ip)
                    .collect();
                if ips.is_empty() {
                    // `_port._proto` alone is an empty non-terminal of an SRV name.
                    if endpoint.starts_with('_') && svc.ports.iter().any(|p| format!("_{}", p.protocol) == *endpoint) {
                        return snap.no_data();
                    }
                    return snap.nx_domain();
                }
                snap.records(address_records(qname, ips, qtype), Vec::new())
            }
            None => snap.nx_domain(),
        },
        [port, proto, service, ns, "svc"] => match snap.service(ns, service) {
            Some(svc) => named_port_srv(snap, qname, qtype, svc, service, ns, port, proto),
            None => snap.nx_domain(),
        },
        [address, _ns, "pod"] => match undashed(address) {
            // `pods insecure`: any namespace, the address as written.
            Some(ip) => snap.records(address_records(qname, [ip], qtype), Vec::new()),
            None => snap.nx_domain(),
        },
        _ => snap.nx_domain(),
    }
}

fn apex(snap: &Snapshot, qname: &Name, qtype: RecordType) -> Answer {
    match qtype {
        RecordType::SOA => snap.records(vec![snap.soa()], Vec::new()),
        RecordType::NS => {
            let ns = name(&format!("ns.dns.{}", snap.zone));
            let glue = snap
                .dns_ip
                .map(|ip| address_records(&ns, [ip], RecordType::A))
                .unwrap_or_default();
            let rec = Record::from_rdata(qname.clone(), TTL, RData::NS(NS(ns)));
            snap.records(vec![rec], glue)
        }
        _ => snap.no_data(),
    }
}

fn service_records(
    snap: &Snapshot,
    qname: &Name,
    qtype: RecordType,
    svc: &ServiceEntry,
    service: &str,
    ns: &str,
) -> Answer {
    if let ServiceKind::ExternalName(target) = &svc.kind {
        let rec = Record::from_rdata(qname.clone(), TTL, RData::CNAME(CNAME(name(target))));
        return snap.records(vec![rec], Vec::new());
    }
    match qtype {
        RecordType::A | RecordType::AAAA => {
            let ips: Vec<IpAddr> = match &svc.kind {
                ServiceKind::ClusterIp(ips) => ips.clone(),
                _ => svc.endpoints.iter().map(|e| e.ip).collect(),
            };
            snap.records(address_records(qname, ips, qtype), Vec::new())
        }
        RecordType::SRV => {
            let (answers, additionals) = srv_records(snap, qname, svc, service, ns, |_| true);
            snap.records(answers, additionals)
        }
        _ => snap.no_data(),
    }
}

#[allow(clippy::too_many_arguments)]
fn named_port_srv(
    snap: &Snapshot,
    qname: &Name,
    qtype: RecordType,
    svc: &ServiceEntry,
    service: &str,
    ns: &str,
    port: &str,
    proto: &str,
) -> Answer {
    let (Some(port), Some(proto)) = (port.strip_prefix('_'), proto.strip_prefix('_')) else {
        return snap.nx_domain();
    };
    let matches = |p: &PortEntry| !p.name.is_empty() && p.name == port && p.protocol == proto;
    let exists = match svc.kind {
        ServiceKind::Headless => svc.endpoints.iter().any(|e| e.ports.iter().any(matches)),
        _ => svc.ports.iter().any(matches),
    };
    if !exists {
        return snap.nx_domain();
    }
    if qtype != RecordType::SRV {
        return snap.no_data();
    }
    let (answers, additionals) = srv_records(snap, qname, svc, service, ns, matches);
    snap.records(answers, additionals)
}

/// SRV records: for a ClusterIP Service one per port with the Service as
/// target; for a headless one, one per endpoint and port with the endpoint's
/// name as target and its address in the additional section.
fn srv_records(
    snap: &Snapshot,
    qname: &Name,
    svc: &ServiceEntry,
    service: &str,
    ns: &str,
    want: impl Fn(&PortEntry) -> bool,
) -> (Vec<Record>, Vec<Record>) {
    let svc_fqdn = format!("{service}.{ns}.svc.{}", snap.zone);
    let mut targets: Vec<(u16, String, Option<IpAddr>)> = Vec::new();
    match &svc.kind {
        ServiceKind::Headless => {
            for ep in &svc.endpoints {
                for p in ep.ports.iter().filter(|p| want(p)) {
                    let t = (p.port, format!("{}.{svc_fqdn}", ep.label()), Some(ep.ip));
                    if !targets.contains(&t) {
                        targets.push(t);
                    }
                }
            }
        }
        _ => {
            let ip = match &svc.kind {
                ServiceKind::ClusterIp(ips) => ips.first().copied(),
                _ => None,
            };
            for p in svc.ports.iter().filter(|p| want(p)) {
                let t = (p.port, svc_fqdn.clone(), ip);
                if !targets.contains(&t) {
                    targets.push(t);
                }
            }
        }
    }
    if targets.is_empty() {
        return (Vec::new(), Vec::new());
    }
    // CoreDNS spreads a weight of 100 over the records of one priority.
    let weight = u16::try_from(100 / targets.len()).unwrap_or(0);
    let mut answers = Vec::new();
    let mut additionals = Vec::new();
    for (port, target, ip) in targets {
        let target = name(&target);
        answers.push(Record::from_rdata(
            qname.clone(),
            TTL,
            RData::SRV(SRV::new(0, weight, port, target.clone())),
        ));
        if let Some(ip) = ip.filter(|_| !additionals.iter().any(|r: &Record| r.name == target)) {
            let qtype = if ip.is_ipv4() { RecordType::A } else { RecordType::AAAA };
            additionals.extend(address_records(&target, [ip], qtype));
        }
    }
    (answers, additionals)
}

#[cfg(test)]
mod tests;
