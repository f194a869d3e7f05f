//! The remotecommand channel protocols over WebSocket: every binary message
//! starts with a channel byte — 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize,
//! and (v5) 255 to close a channel (its payload names the channel).

use serde_json::{json, Value};

/// Standard input (client → server).
pub const STDIN: u8 = 0;
/// Standard output (server → client).
pub const STDOUT: u8 = 1;
/// Standard error (server → client).
pub const STDERR: u8 = 2;
/// The error channel: text (v1–v3) or a `metav1.Status` (v4, v5).
pub const ERROR: u8 = 3;
/// Terminal resize, JSON `{"Width":…,"Height":…}` (v3+).
pub const RESIZE: u8 = 4;
/// Close the channel named by the payload's first byte (v5).
pub const CLOSE: u8 = 255;

/// A remotecommand protocol version, as negotiated through `Sec-WebSocket-Protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Protocol {
    /// `channel.k8s.io`: no resize, error as text.
    V1,
    /// `v2.channel.k8s.io`.
    V2,
    /// `v3.channel.k8s.io`: resize.
    V3,
    /// `v4.channel.k8s.io`: the error channel carries a `metav1.Status`.
    V4,
    /// `v5.channel.k8s.io`: the close channel (255).
    V5,
}

impl Protocol {
    /// The WebSocket subprotocol name.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::V1 => "channel.k8s.io",
            Protocol::V2 => "v2.channel.k8s.io",
            Protocol::V3 => "v3.channel.k8s.io",
            Protocol::V4 => "v4.channel.k8s.io",
            Protocol::V5 => "v5.channel.k8s.io",
        }
    }

    /// The protocol named `name`, if supported.
    pub fn from_name(name: &str) -> Option<Protocol> {
        [Protocol::V5, Protocol::V4, Protocol::V3, Protocol::V2, Protocol::V1]
            .into_iter()
            .find(|p| p.name() == name)
    }

    /// The newest protocol among those offered; with none offered, `channel.k8s.io`
    /// (as the kubelet assumes); `None` when protocols were offered but none is known.
    pub fn negotiate<'a>(offered: impl IntoIterator<Item = &'a str>) -> Option<Protocol> {
        let mut any = false;
        let mut best = None;
        for name in offered {
            any = true;
            if let Some(p) = Protocol::from_name(name.trim()) {
                best = best.max(Some(p));
            }
        }
        if any {
            best
        } else {
            Some(Protocol::V1)
        }
    }

    /// Whether resize messages are understood.
    pub fn supports_resize(self) -> bool {
        self >= Protocol::V3
    }

    /// Whether the error channel carries a JSON `metav1.Status`.
    pub fn structured_errors(self) -> bool {
        self >= Protocol::V4
    }

    /// Whether the client can close stdin with a close message.
    pub fn supports_close(self) -> bool {
        self >= Protocol::V5
    }
}

/// A message on a channel.
pub fn encode(channel: u8, data: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(data.len() + 1);
    msg.push(channel);
    msg.extend_from_slice(data);
    msg
}

/// Splits a message into its channel and payload; `None` for an empty message.
pub fn decode(msg: &[u8]) -> Option<(u8, &[u8])> {
    let (&channel, data) = msg.split_first()?;
    Some((channel, data))
}

/// How a command ended, as reported on the error channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Exit code 0 (or attach ended).
    Success,
    /// A non-zero exit code.
    ExitCode(i32),
    /// The command could not be run.
    Error(String),
}

/// The error-channel payload for `outcome` under `protocol`; `None` when nothing is sent
/// (success under v1–v3).
pub fn status_payload(protocol: Protocol, outcome: &Outcome) -> Option<Vec<u8>> {
    if !protocol.structured_errors() {
        return match outcome {
            Outcome::Success => None,
            Outcome::ExitCode(code) => {
                Some(format!("command terminated with non-zero exit code: exit status {code}").into_bytes())
            }
            Outcome::Error(msg) => Some(msg.clone().into_bytes()),
        };
    }
    let status: Value = match outcome {
        Outcome::Success => json!({"metadata": {}, "status": "Success"}),
        Outcome::ExitCode(code) => json!({
            "metadata": {},
            "status": "Failure",
            "message": format!("command terminated with non-zero exit code: exit status {code}"),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
        }),
        Outcome::Error(msg) => json!({
            "metadata": {},
            "status": "Failure",
            "message": msg,
            "reason": "InternalError",
            "details": {"causes": [{"message": msg}]},
            "code": 500,
        }),
    };
    Some(serde_json::to_vec(&status).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_prefers_newest() {
        assert_eq!(
            Protocol::negotiate(["v4.channel.k8s.io", "v5.channel.k8s.io"]),
            Some(Protocol::V5)
        );
        assert_eq!(
            Protocol::negotiate(["base64.channel.k8s.io", "channel.k8s.io"]),
            Some(Protocol::V1)
        );
        assert_eq!(Protocol::negotiate([]), Some(Protocol::V1));
        assert_eq!(Protocol::negotiate(["SPDY/3.1+portforward.k8s.io"]), None);
        assert!(Protocol::V5.supports_close() && !Protocol::V4.supports_close());
        assert!(Protocol::V3.supports_resize() && !Protocol::V2.supports_resize());
    }

    #[test]
    fn framing_roundtrip() {
        let msg = encode(STDOUT, b"hello");
        assert_eq!(msg, b"\x01hello");
        assert_eq!(decode(&msg), Some((STDOUT, &b"hello"[..])));
        assert_eq!(decode(&[CLOSE, STDIN]), Some((CLOSE, &[STDIN][..])));
        assert_eq!(decode(&[]), None);
    }

    #[test]
    fn status_of_exit_codes() {
        let v: Value = serde_json::from_slice(&status_payload(Protocol::V5, &Outcome::ExitCode(3)).unwrap()).unwrap();
        assert_eq!(v["status"], "Failure");
        assert_eq!(v["reason"], "NonZeroExitCode");
        assert_eq!(v["details"]["causes"][0]["reason"], "ExitCode");
        assert_eq!(v["details"]["causes"][0]["message"], "3");
        let ok: Value = serde_json::from_slice(&status_payload(Protocol::V4, &Outcome::Success).unwrap()).unwrap();
        assert_eq!(ok["status"], "Success");
        assert_eq!(status_payload(Protocol::V2, &Outcome::Success), None);
    }
}
