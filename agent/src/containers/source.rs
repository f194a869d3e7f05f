//! Where the agent reads the API objects a pod refers to (ConfigMaps, Secrets,
//! Services) and asks for ServiceAccount tokens. [`ApiSource`] goes through the
//! in-process API client; tests use fakes.

use futures::future::BoxFuture;
use jiff::Timestamp;
use k1s_apiserver::client::Client;
use k1s_proto::resources::find;
use k1s_proto::ApiError;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

/// A failed lookup other than "not found" (which the getters report as `None`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// What a projected `serviceAccountToken` source asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenRequest {
    /// The pod's namespace.
    pub namespace: String,
    /// The ServiceAccount.
    pub service_account: String,
    /// Audiences (empty: the API server's).
    pub audiences: Vec<String>,
    /// Requested lifetime in seconds.
    pub expiration_seconds: i64,
    /// The pod the token is bound to.
    pub pod_name: String,
    /// See `pod_name`.
    pub pod_uid: String,
}

/// A token issued through the TokenRequest API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The JWT.
    pub token: String,
    /// When it expires.
    pub expires: Timestamp,
}

/// The API objects containers and volumes are built from.
pub trait ObjectSource: Send + Sync {
    /// A ConfigMap, `None` when it does not exist.
    fn config_map<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<ConfigMap>, SourceError>>;
    /// A Secret, `None` when it does not exist.
    fn secret<'a>(&'a self, namespace: &'a str, name: &'a str) -> BoxFuture<'a, Result<Option<Secret>, SourceError>>;
    /// The Services of a namespace.
    fn services<'a>(&'a self, namespace: &'a str) -> BoxFuture<'a, Result<Vec<Service>, SourceError>>;
    /// Requests a ServiceAccount token bound to a pod (`serviceaccounts/token`).
    fn token<'a>(&'a self, req: &'a TokenRequest) -> BoxFuture<'a, Result<IssuedToken, SourceError>>;
}

/// [`ObjectSource`] over the in-process API client.
#[derive(Clone)]
pub struct ApiSource {
    client: Client,
}

impl ApiSource {
    /// A source reading through `client`.
    pub fn new(client: Client) -> ApiSource {
        ApiSource { client }
    }

    async fn get<T: DeserializeOwned>(
        &self,
        plural: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Option<T>, SourceError> {
        let info = find("", "v1", plural).ok_or_else(|| SourceError(format!("unknown resource {plural}")))?;
        match self.client.get(info, Some(namespace), name).await {
            Ok(v) => serde_json::from_value(v)
                .map(Some)
                .map_err(|e| SourceError(format!("cannot decode {plural} {namespace}/{name}: {e}"))),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(api_error(e)),
        }
    }
}

fn api_error(e: ApiError) -> SourceError {
    SourceError(e.message)
}

impl ObjectSource for ApiSource {
    fn config_map<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<ConfigMap>, SourceError>> {
        Box::pin(self.get("configmaps", namespace, name))
    }

    fn secret<'a>(&'a self, namespace: &'a str, name: &'a str) -> BoxFuture<'a, Result<Option<Secret>, SourceError>> {
        Box::pin(self.get("secrets", namespace, name))
    }

    fn services<'a>(&'a self, namespace: &'a str) -> BoxFuture<'a, Result<Vec<Service>, SourceError>> {
        Box::pin(async move {
            let info = find("", "v1", "services").ok_or_else(|| SourceError("unknown resource services".into()))?;
            let list = self.client.list(info, Some(namespace), "").await.map_err(api_error)?;
            let items = list.get("items").cloned().unwrap_or(Value::Array(Vec::new()));
            serde_json::from_value(items).map_err(|e| SourceError(format!("cannot decode services: {e}")))
        })
    }

    fn token<'a>(&'a self, req: &'a TokenRequest) -> BoxFuture<'a, Result<IssuedToken, SourceError>> {
        Box::pin(async move {
            let info = find("", "v1", "serviceaccounts")
                .ok_or_else(|| SourceError("unknown resource serviceaccounts".into()))?;
            let body = json!({
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "metadata": {"name": req.service_account},
                "spec": {
                    "audiences": req.audiences,
                    "expirationSeconds": req.expiration_seconds,
                    "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": req.pod_name, "uid": req.pod_uid},
                },
            });
            let out = self
                .client
                .create_subresource(info, Some(&req.namespace), &req.service_account, "token", &body)
                .await
                .map_err(api_error)?;
            let token = out["status"]["token"]
                .as_str()
                .ok_or_else(|| SourceError("TokenRequest response has no token".into()))?
                .to_string();
            let expires = out["status"]["expirationTimestamp"]
                .as_str()
                .and_then(|s| s.parse::<Timestamp>().ok())
                .ok_or_else(|| SourceError("TokenRequest response has no expirationTimestamp".into()))?;
            Ok(IssuedToken { token, expires })
        })
    }
}

#[cfg(test)]
pub(crate) mod fake {
    //! An in-memory [`ObjectSource`] for tests.
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use super::*;

    /// Objects keyed by `namespace/name`.
    #[derive(Default)]
    pub struct FakeSource {
        pub config_maps: Mutex<BTreeMap<String, ConfigMap>>,
        pub secrets: Mutex<BTreeMap<String, Secret>>,
        pub services: Mutex<Vec<Service>>,
        pub tokens_issued: Mutex<u32>,
    }

    impl FakeSource {
        pub fn add_config_map(&self, ns: &str, name: &str, data: &[(&str, &str)]) {
            let cm: ConfigMap = serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": ns},
                "data": data.iter().map(|(k, v)| (k.to_string(), Value::from(*v))).collect::<serde_json::Map<_, _>>(),
            }))
            .expect("config map");
            self.config_maps
                .lock()
                .expect("lock")
                .insert(format!("{ns}/{name}"), cm);
        }

        pub fn add_secret(&self, ns: &str, name: &str, data: &[(&str, &[u8])]) {
            use base64::Engine;
            let b64 = base64::engine::general_purpose::STANDARD;
            let secret: Secret = serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": ns},
                "data": data.iter().map(|(k, v)| (k.to_string(), Value::from(b64.encode(v)))).collect::<serde_json::Map<_, _>>(),
            }))
            .expect("secret");
            self.secrets
                .lock()
                .expect("lock")
                .insert(format!("{ns}/{name}"), secret);
        }

        pub fn add_service(&self, svc: Value) {
            self.services
                .lock()
                .expect("lock")
                .push(serde_json::from_value(svc).expect("service"));
        }
    }

    impl ObjectSource for FakeSource {
        fn config_map<'a>(
            &'a self,
            namespace: &'a str,
            name: &'a str,
        ) -> BoxFuture<'a, Result<Option<ConfigMap>, SourceError>> {
            let v = self
                .config_maps
                .lock()
                .expect("lock")
                .get(&format!("{namespace}/{name}"))
                .cloned();
            Box::pin(async move { Ok(v) })
        }

        fn secret<'a>(
            &'a self,
            namespace: &'a str,
            name: &'a str,
        ) -> BoxFuture<'a, Result<Option<Secret>, SourceError>> {
            let v = self
                .secrets
                .lock()
                .expect("lock")
                .get(&format!("{namespace}/{name}"))
                .cloned();
            Box::pin(async move { Ok(v) })
        }

        fn services<'a>(&'a self, namespace: &'a str) -> BoxFuture<'a, Result<Vec<Service>, SourceError>> {
            let v: Vec<Service> = self
                .services
                .lock()
                .expect("lock")
                .iter()
                .filter(|s| s.metadata.namespace.as_deref() == Some(namespace))
                .cloned()
                .collect();
            Box::pin(async move { Ok(v) })
        }

        fn token<'a>(&'a self, req: &'a TokenRequest) -> BoxFuture<'a, Result<IssuedToken, SourceError>> {
            let n = {
                let mut n = self.tokens_issued.lock().expect("lock");
                *n += 1;
                *n
            };
            Box::pin(async move {
                let expires = Timestamp::now()
                    .checked_add(jiff::SignedDuration::from_secs(req.expiration_seconds))
                    .map_err(|e| SourceError(e.to_string()))?;
                Ok(IssuedToken {
                    token: format!("token-{}-{n}", req.service_account),
                    expires,
                })
            })
        }
    }
}
