//! Test doubles: a scripted [`ProbeExec`] and an [`EventSink`] that records.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{EventSink, ProbeExec};

type Scripted = Result<(i32, Vec<u8>), String>;

/// Answers exec calls by the command's first word from a script; the last
/// answer of a script repeats. Records every call.
#[derive(Default, Clone)]
pub(crate) struct FakeExec {
    scripts: Arc<Mutex<HashMap<String, (VecDeque<Scripted>, Option<Scripted>)>>>,
    hanging: Arc<Mutex<HashSet<String>>>,
    calls: Arc<Mutex<Vec<(String, tokio::time::Instant)>>>,
}

impl FakeExec {
    /// Sets the answers for commands starting with `name`.
    pub fn script(&self, name: &str, answers: Vec<Scripted>) {
        lock(&self.scripts).insert(name.to_string(), (answers.into(), None));
    }

    /// Commands starting with `name` never finish.
    pub fn hang(&self, name: &str) {
        lock(&self.hanging).insert(name.to_string());
    }

    /// How many times a command starting with `name` ran.
    pub fn calls(&self, name: &str) -> usize {
        lock(&self.calls).iter().filter(|(n, _)| n == name).count()
    }

    /// When the calls of `name` ran (tokio clock).
    pub fn call_times(&self, name: &str) -> Vec<tokio::time::Instant> {
        lock(&self.calls)
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, t)| *t)
            .collect()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ProbeExec for FakeExec {
    fn exec_sync<'a>(
        &'a self,
        _container_id: &'a str,
        command: &'a [String],
        _timeout: Duration,
    ) -> BoxFuture<'a, anyhow::Result<(i32, Vec<u8>)>> {
        Box::pin(async move {
            let name = command.first().cloned().unwrap_or_default();
            lock(&self.calls).push((name.clone(), tokio::time::Instant::now()));
            if lock(&self.hanging).contains(&name) {
                futures::future::pending::<()>().await;
            }
            let answer = {
                let mut scripts = lock(&self.scripts);
                match scripts.get_mut(&name) {
                    Some((queue, last)) => {
                        if let Some(next) = queue.pop_front() {
                            *last = Some(next.clone());
                            Some(next)
                        } else {
                            last.clone()
                        }
                    }
                    None => None,
                }
            };
            match answer {
                Some(Ok(v)) => Ok(v),
                Some(Err(e)) => Err(anyhow::anyhow!(e)),
                None => Err(anyhow::anyhow!("no script for {name}")),
            }
        })
    }
}

/// One recorded event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Recorded {
    pub type_: String,
    pub reason: String,
    pub message: String,
    pub field_path: Option<String>,
}

/// Keeps every event.
#[derive(Default, Clone)]
pub(crate) struct Events(pub Arc<Mutex<Vec<Recorded>>>);

impl Events {
    pub fn all(&self) -> Vec<Recorded> {
        lock(&self.0).clone()
    }

    pub fn messages(&self) -> Vec<String> {
        lock(&self.0).iter().map(|e| e.message.clone()).collect()
    }
}

impl EventSink for Events {
    fn event(&self, _pod: &Pod, type_: &str, reason: &str, message: String, field_path: Option<String>) {
        lock(&self.0).push(Recorded {
            type_: type_.into(),
            reason: reason.into(),
            message,
            field_path,
        });
    }
}

/// A pod `web` in `default` with the given containers.
pub(crate) fn pod(containers: Vec<Container>) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some("web".into()),
            namespace: Some("default".into()),
            uid: Some("uid-1".into()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers,
            ..Default::default()
        }),
        status: None,
    }
}
