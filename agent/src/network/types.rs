//! The CNI wire types k1s reads: a plugin's result and its error object.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// A CNI result (spec 1.0.0 `Success` object); unknown fields are kept so a
/// result passed on as `prevResult` loses nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CniResult {
    /// The spec version of the result.
    #[serde(rename = "cniVersion", default)]
    pub cni_version: String,
    /// Interfaces created (host side and container side).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<CniInterface>,
    /// Addresses assigned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<CniIp>,
    /// Everything else (`routes`, `dns`, …).
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

/// One interface of a result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CniInterface {
    /// Interface name.
    pub name: String,
    /// MAC address.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
    /// The netns path for container-side interfaces, empty on the host side.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sandbox: String,
    /// Other fields (`mtu`, `socketPath`…).
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

/// One address of a result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CniIp {
    /// CIDR notation (`10.42.0.5/24`).
    pub address: String,
    /// The gateway, when the plugin set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Index into `interfaces`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
}

impl CniResult {
    /// The addresses without their prefix length (`10.42.0.5/24` → `10.42.0.5`).
    pub fn ip_addrs(&self) -> Vec<IpAddr> {
        self.ips
            .iter()
            .filter_map(|ip| ip.address.split('/').next())
            .filter_map(|s| s.parse().ok())
            .collect()
    }
}

/// A plugin's error object (printed on stdout with a non-zero exit).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct CniError {
    /// The error code (`7` invalid network config, `11` try again later, …).
    #[serde(default)]
    pub code: u32,
    /// Short message.
    #[serde(default)]
    pub msg: String,
    /// Longer details.
    #[serde(default)]
    pub details: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_a_bridge_result_and_keeps_unknown_fields() {
        let v = json!({"cniVersion": "1.0.0",
            "interfaces": [{"name": "k1s0", "mac": "aa"}, {"name": "veth1", "mac": "bb"},
                           {"name": "eth0", "mac": "cc", "sandbox": "/run/netns/x"}],
            "ips": [{"address": "10.42.0.5/24", "gateway": "10.42.0.1", "interface": 2},
                    {"address": "fd00::5/64"}],
            "routes": [{"dst": "0.0.0.0/0"}], "dns": {}});
        let r: CniResult = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(
            r.ip_addrs(),
            vec![
                "10.42.0.5".parse::<IpAddr>().unwrap(),
                "fd00::5".parse::<IpAddr>().unwrap()
            ]
        );
        assert_eq!(r.interfaces[2].sandbox, "/run/netns/x");
        assert_eq!(serde_json::to_value(&r).unwrap(), v);
    }

    #[test]
    fn parses_an_error() {
        let e: CniError = serde_json::from_str(r#"{"cniVersion":"1.0.0","code":7,"msg":"bad"}"#).unwrap();
        assert_eq!((e.code, e.msg.as_str(), e.details.as_str()), (7, "bad", ""));
    }
}
