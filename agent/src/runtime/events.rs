//! containerd's event stream: task exits (recorded as soon as they happen, in
//! addition to each task's own `Wait`) and OOM kills (remembered for the exit reason).

use std::sync::Weak;
use std::time::Duration;

use containerd_client::events::{TaskExit, TaskOom};
use containerd_client::services::v1::SubscribeRequest;
use prost::Message;
use tracing::{debug, warn};

use super::containers::ts_from_proto;
use super::{Inner, Runtime};
use crate::containerd::NAMESPACE;

/// Listens until the runtime is dropped, reconnecting with back-off.
pub(crate) async fn run(inner: Weak<Inner>) {
    let mut delay = Duration::from_millis(200);
    loop {
        let Some(strong) = inner.upgrade() else { return };
        let rt = Runtime { inner: strong };
        let c = rt.inner.containerd.clone();
        let req = SubscribeRequest {
            filters: vec![
                format!("namespace=={NAMESPACE},topic==\"/tasks/exit\""),
                format!("namespace=={NAMESPACE},topic==\"/tasks/oom\""),
            ],
        };
        let stream = c.events().subscribe(c.request(req)).await;
        drop(rt);
        match stream {
            Ok(s) => {
                delay = Duration::from_millis(200);
                let mut s = s.into_inner();
                loop {
                    match s.message().await {
                        Ok(Some(env)) => {
                            let Some(strong) = inner.upgrade() else { return };
                            let rt = Runtime { inner: strong };
                            handle(&rt, &env.topic, env.event).await;
                        }
                        Ok(None) => break,
                        Err(e) => {
                            debug!("containerd event stream ended: {e}");
                            break;
                        }
                    }
                }
                // Exits missed while disconnected are found by the next list or waiter.
                if let Some(strong) = inner.upgrade() {
                    let rt = Runtime { inner: strong };
                    if let Err(e) = rt.list_containers().await {
                        debug!("reconcile after event stream loss: {e:#}");
                    }
                }
            }
            Err(e) => debug!("cannot subscribe to containerd events: {e}"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

async fn handle(rt: &Runtime, topic: &str, event: Option<prost_types::Any>) {
    let Some(any) = event else { return };
    match topic {
        "/tasks/oom" => {
            if let Ok(oom) = TaskOom::decode(any.value.as_slice()) {
                rt.inner
                    .ooms
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(oom.container_id);
            }
        }
        "/tasks/exit" => {
            let Ok(exit) = TaskExit::decode(any.value.as_slice()) else {
                return;
            };
            // Only the init process ends the container (exec processes exit too).
            if exit.id != exit.container_id {
                return;
            }
            let rt = rt.clone();
            tokio::spawn(async move {
                if let Err(e) = rt
                    .record_exit(&exit.container_id, exit.exit_status, ts_from_proto(exit.exited_at))
                    .await
                {
                    warn!(container = %exit.container_id, "cannot record exit: {e:#}");
                }
            });
        }
        _ => {}
    }
}
