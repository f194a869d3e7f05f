//! The shape of the generated message table (`schema.rs`) and lookups into it.

use super::schema::{KINDS, MESSAGES};

/// What a field holds on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    /// `string` (length-delimited).
    S,
    /// `bytes` (length-delimited); JSON is base64 unless a special type says otherwise.
    B,
    /// `bool` (varint).
    Bo,
    /// `int32` (varint).
    I32,
    /// `int64` (varint).
    I64,
    /// `double` (64-bit).
    F64,
    /// A message: index into [`MESSAGES`].
    M(u16),
}

/// How many values a field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Card {
    /// One value (proto2 `optional`).
    O,
    /// `repeated`.
    R,
    /// `map<string, ty>`: repeated entries {key = 1, value = 2}.
    Mp,
    /// A Go embedded struct (`json:",inline"`): a nested message whose fields JSON merges into the parent.
    In,
}

/// When encoding/json prints a singular field, given how Go's protobuf encoder writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emit {
    /// No `omitempty` (a required field): always printed, zero value when absent.
    A,
    /// A pointer, slice, map or struct: printed when present on the wire.
    P,
    /// A plain value with `omitempty`: Go writes it always, JSON prints it only when non-zero.
    Z,
}

/// Messages whose JSON form is not an object of their fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Special {
    /// An object of the fields.
    Plain,
    /// `meta.v1.Time` {seconds, nanos}: RFC 3339 in seconds, `null` when zero.
    Time,
    /// `meta.v1.MicroTime`: RFC 3339 with 6 fractional digits, `null` when zero.
    MicroTime,
    /// `meta.v1.Duration` {duration (ns)}: a Go duration string.
    Duration,
    /// `resource.Quantity` {string}: the string.
    Quantity,
    /// `intstr.IntOrString` {type, intVal, strVal}: a number or a string.
    IntOrString,
    /// `runtime.RawExtension` {raw}: the embedded JSON (or embedded protobuf object).
    RawExtension,
    /// `meta.v1.FieldsV1`, apiextensions `JSON` {raw}: the embedded JSON.
    EmbeddedJson,
    /// A named `[]string` (`ExtraValue`, `Verbs`) {items}: a list.
    StringList,
    /// apiextensions `JSONSchemaPropsOrArray` {schema, jSONSchemas}.
    SchemaOrArray,
    /// apiextensions `JSONSchemaPropsOrBool` {allows, schema}.
    SchemaOrBool,
    /// apiextensions `JSONSchemaPropsOrStringArray` {schema, property}.
    SchemaOrStringArray,
}

/// One field of a message.
#[derive(Debug)]
pub struct Field {
    /// Protobuf field number.
    pub tag: u32,
    /// JSON name (Kubernetes' Go `json` tag).
    pub json: &'static str,
    /// Wire type of a value.
    pub ty: Ty,
    /// One, repeated, map or inline.
    pub card: Card,
    /// When JSON prints a singular field.
    pub emit: Emit,
}

/// One protobuf message.
#[derive(Debug)]
pub struct Message {
    /// Full protobuf name, e.g. `k8s.io.api.core.v1.Pod`.
    pub name: &'static str,
    /// How the message is printed as JSON.
    pub special: Special,
    /// Fields sorted by tag.
    pub fields: &'static [Field],
}

/// A top-level kind that can be the body of a request.
#[derive(Debug)]
pub struct Kind {
    /// `v1`, `apps/v1`, …
    pub api_version: &'static str,
    /// `Namespace`, `DeleteOptions`, …
    pub kind: &'static str,
    /// Index into [`MESSAGES`].
    pub message: u16,
}

/// The message index of a top-level `apiVersion`/`kind`.
pub fn message_for_kind(api_version: &str, kind: &str) -> Option<u16> {
    let i = KINDS
        .binary_search_by(|k| (k.api_version, k.kind).cmp(&(api_version, kind)))
        .ok()?;
    Some(KINDS[i].message)
}

/// A message by its full protobuf name.
#[cfg(test)]
pub fn message_by_name(name: &str) -> Option<&'static Message> {
    MESSAGES
        .binary_search_by(|m| m.name.cmp(name))
        .ok()
        .map(|i| &MESSAGES[i])
}

/// The message at a schema index.
pub fn message(index: u16) -> &'static Message {
    &MESSAGES[usize::from(index)]
}

impl Message {
    /// The position of the field with this tag in [`Message::fields`].
    pub fn field_index(&self, tag: u32) -> Option<usize> {
        self.fields.binary_search_by_key(&tag, |f| f.tag).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_and_references_resolve() {
        assert!(MESSAGES.windows(2).all(|w| w[0].name < w[1].name));
        assert!(KINDS
            .windows(2)
            .all(|w| (w[0].api_version, w[0].kind) < (w[1].api_version, w[1].kind)));
        for m in MESSAGES {
            assert!(m.fields.windows(2).all(|w| w[0].tag < w[1].tag), "{}", m.name);
            for f in m.fields {
                if let Ty::M(i) = f.ty {
                    assert!(usize::from(i) < MESSAGES.len(), "{}.{}", m.name, f.json);
                }
                if f.card == Card::In {
                    assert!(matches!(f.ty, Ty::M(_)), "{}.{}", m.name, f.json);
                }
            }
        }
        for k in KINDS {
            assert!(usize::from(k.message) < MESSAGES.len());
        }
    }

    #[test]
    fn kinds_map_to_their_messages() {
        let cases = [
            ("v1", "Namespace", "k8s.io.api.core.v1.Namespace"),
            ("v1", "PodList", "k8s.io.api.core.v1.PodList"),
            ("apps/v1", "Deployment", "k8s.io.api.apps.v1.Deployment"),
            ("apps/v1beta2", "Scale", "k8s.io.api.apps.v1beta2.Scale"),
            (
                "rbac.authorization.k8s.io/v1",
                "RoleBinding",
                "k8s.io.api.rbac.v1.RoleBinding",
            ),
            (
                "v1",
                "DeleteOptions",
                "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions",
            ),
            (
                "meta.k8s.io/v1",
                "DeleteOptions",
                "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions",
            ),
            (
                "batch/v1",
                "DeleteOptions",
                "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions",
            ),
            (
                "authorization.k8s.io/v1",
                "SelfSubjectAccessReview",
                "k8s.io.api.authorization.v1.SelfSubjectAccessReview",
            ),
            (
                "authentication.k8s.io/v1",
                "TokenRequest",
                "k8s.io.api.authentication.v1.TokenRequest",
            ),
            (
                "authentication.k8s.io/v1",
                "TokenReview",
                "k8s.io.api.authentication.v1.TokenReview",
            ),
            ("policy/v1", "Eviction", "k8s.io.api.policy.v1.Eviction"),
            ("autoscaling/v1", "Scale", "k8s.io.api.autoscaling.v1.Scale"),
            (
                "autoscaling/v2",
                "HorizontalPodAutoscaler",
                "k8s.io.api.autoscaling.v2.HorizontalPodAutoscaler",
            ),
            (
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                "k8s.io.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
            ),
            (
                "apiregistration.k8s.io/v1",
                "APIService",
                "k8s.io.kube-aggregator.pkg.apis.apiregistration.v1.APIService",
            ),
        ];
        for (av, kind, want) in cases {
            assert_eq!(
                message_for_kind(av, kind).map(|i| message(i).name),
                Some(want),
                "{av} {kind}"
            );
        }
        assert!(message_for_kind("v1", "PodSpec").is_none());
        assert!(message_by_name("k8s.io.api.core.v1.PodSpec")
            .is_some_and(|m| m.fields.iter().any(|f| f.json == "containers")));
        assert!(message_for_kind("v2", "Namespace").is_none());
    }
}
