//! The runtime behind the traits the other parts of the agent code against:
//! the pod workers' [`PodRuntime`] and streaming's [`ExecBackend`] (the probes'
//! `ProbeExec` is in `probes::adapter`).

use std::time::Duration;

use futures::future::BoxFuture;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;

use super::{ContainerInfo, ContainerSpec, ExecRequest, Runtime, Sandbox};
use crate::pods::deps::{BoxFut, PodRuntime};
use crate::streaming::{AttachSession, ExecBackend, ExecSession, TermSize};

impl PodRuntime for Runtime {
    fn ensure_sandbox<'a>(&'a self, pod: &'a Pod) -> BoxFut<'a, anyhow::Result<Sandbox>> {
        Box::pin(Runtime::ensure_sandbox(self, pod))
    }

    fn remove_sandbox<'a>(&'a self, pod_uid: &'a str) -> BoxFut<'a, anyhow::Result<()>> {
        Box::pin(Runtime::remove_sandbox(self, pod_uid))
    }

    fn list_sandboxes(&self) -> BoxFut<'_, anyhow::Result<Vec<String>>> {
        Box::pin(Runtime::list_sandboxes(self))
    }

    fn create_container<'a>(&'a self, sandbox: &'a Sandbox, spec: &'a ContainerSpec) -> BoxFut<'a, anyhow::Result<()>> {
        Box::pin(Runtime::create_container(self, sandbox, spec))
    }

    fn start_container<'a>(&'a self, id: &'a str) -> BoxFut<'a, anyhow::Result<Timestamp>> {
        Box::pin(Runtime::start_container(self, id))
    }

    fn stop_container<'a>(&'a self, id: &'a str, grace: Duration) -> BoxFut<'a, anyhow::Result<()>> {
        Box::pin(Runtime::stop_container(self, id, grace))
    }

    fn remove_container<'a>(&'a self, id: &'a str) -> BoxFut<'a, anyhow::Result<()>> {
        Box::pin(Runtime::remove_container(self, id))
    }

    fn list_containers(&self) -> BoxFut<'_, anyhow::Result<Vec<ContainerInfo>>> {
        Box::pin(Runtime::list_containers(self))
    }
}

impl ExecBackend for Runtime {
    fn exec(&self, container_id: &str, req: ExecRequest) -> BoxFuture<'_, anyhow::Result<ExecSession>> {
        let id = container_id.to_string();
        Box::pin(async move {
            let tty = req.tty;
            let mut p = Runtime::exec(self, &id, req).await?;
            let resizer = p.resizer();
            let stdin = p.stdin.take().map(|s| Box::pin(s) as crate::streaming::StdinWriter);
            let stdout = p.stdout.take().map(|s| Box::pin(s) as crate::streaming::OutputReader);
            let stderr = p.stderr.take().map(|s| Box::pin(s) as crate::streaming::OutputReader);
            let resize: Option<crate::streaming::Resizer> = if tty {
                Some(Box::new(move |size: TermSize| {
                    let r = resizer.clone();
                    Box::pin(async move { r.resize(size.width, size.height).await }) as BoxFuture<'static, _>
                }))
            } else {
                None
            };
            Ok(ExecSession {
                stdin,
                stdout,
                stderr,
                resize,
                exit: Box::pin(async move { p.wait().await }),
            })
        })
    }

    fn attach(&self, container_id: &str, stdin: bool, tty: bool) -> BoxFuture<'_, anyhow::Result<AttachSession>> {
        let id = container_id.to_string();
        Box::pin(async move {
            let io = Runtime::attach(self, &id).await?;
            let resizer = io.resizer.clone();
            let resize: Option<crate::streaming::Resizer> = if tty && io.tty {
                Some(Box::new(move |size: TermSize| {
                    let r = resizer.clone();
                    Box::pin(async move { r.resize(size.width, size.height).await }) as BoxFuture<'static, _>
                }))
            } else {
                None
            };
            let stdin = if stdin {
                io.stdin.map(|s| Box::pin(s) as crate::streaming::StdinWriter)
            } else {
                None
            };
            Ok(AttachSession { stdin, resize })
        })
    }
}
