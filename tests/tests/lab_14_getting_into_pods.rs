//! Lab L14 — getting into pods: `exec -it` with a real TTY (under tmux),
//! `exec` without a TTY (streams and exit code), `port-forward` (pod and
//! service), `cp` both ways, `attach`, and `run -it --rm`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use k1s_e2e::{free_port, wait_for, Server};

const PODS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: shell, labels: {app: shell}}
spec:
  containers:
  - name: sh
    image: busybox:1.36
    command: ["sleep", "3600"]
---
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  containers:
  - name: web
    image: python:3.11-slim
    command: ["sh", "-c", "mkdir -p /srv && echo hello-from-web > /srv/index.html && cd /srv && exec python -m http.server 80"]
    ports: [{containerPort: 80, name: http}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 8000, targetPort: http}]
---
apiVersion: v1
kind: Pod
metadata: {name: talker}
spec:
  containers:
  - name: talker
    image: busybox:1.36
    command: ["sh", "-c", "i=0; while true; do i=$((i+1)); echo line $i; sleep 1; done"]
"#;

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux").args(args).output().expect("tmux");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// GET / through a forwarded local port.
fn http_get(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

fn port_forward(server: &Server, target: &str, remote: &str) -> (std::process::Child, u16) {
    let local = free_port();
    let child = Command::new("kubectl")
        .args(["port-forward", target, &format!("{local}:{remote}")])
        .env("KUBECONFIG", &server.kubeconfig)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl port-forward");
    (child, local)
}

#[test]
fn lab_14_getting_into_pods() {
    let server = Server::start_node().expect("server");
    server.import_test_images().expect("import test images");
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(PODS));
    for pod in ["shell", "web", "talker"] {
        server.wait_pod("default", pod, "1/1", "Running", Duration::from_secs(30));
    }

    // exec without a TTY: stdout and stderr apart, the exit code passed on.
    let out = server.kubectl(&[
        "exec",
        "shell",
        "--",
        "sh",
        "-c",
        "echo to-out; echo to-err >&2; exit 7",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "to-out\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("to-err"));
    assert_eq!(out.status.code(), Some(7), "{out:?}");
    let echoed = server.kubectl_stdin_ok(&["exec", "-i", "shell", "--", "cat"], Some("through stdin\n"));
    assert_eq!(echoed, "through stdin\n");

    // exec -it: a shell with a working TTY (size, resize, Ctrl-C).
    let session = format!("k1s-l14-{}", std::process::id());
    let cmd = format!(
        "KUBECONFIG={} kubectl exec -it shell -- sh",
        server.kubeconfig.display()
    );
    tmux(&["new-session", "-d", "-s", &session, "-x", "100", "-y", "30", &cmd]);
    let pane = |s: &str| tmux(&["capture-pane", "-p", "-t", s]);
    wait_for("a prompt", Duration::from_secs(15), || {
        pane(&session).contains('#').then_some(())
    });
    tmux(&["send-keys", "-t", &session, "echo sum=$((40+2)); stty size", "Enter"]);
    wait_for("the command output", Duration::from_secs(10), || {
        let p = pane(&session);
        (p.contains("sum=42") && p.contains("30 100")).then_some(())
    });
    tmux(&["resize-window", "-t", &session, "-x", "90", "-y", "25"]);
    std::thread::sleep(Duration::from_millis(500));
    tmux(&["send-keys", "-t", &session, "clear; stty size", "Enter"]);
    wait_for("the new size", Duration::from_secs(10), || {
        pane(&session).contains("25 90").then_some(())
    });
    tmux(&["send-keys", "-t", &session, "sleep 300", "Enter"]);
    std::thread::sleep(Duration::from_millis(500));
    tmux(&["send-keys", "-t", &session, "C-c", ""]);
    tmux(&["send-keys", "-t", &session, "echo after-interrupt", "Enter"]);
    wait_for("Ctrl-C to interrupt", Duration::from_secs(10), || {
        pane(&session).contains("after-interrupt\n").then_some(())
    });
    tmux(&["send-keys", "-t", &session, "exit", "Enter"]);
    let _ = Command::new("tmux").args(["kill-session", "-t", &session]).output();

    // port-forward to a pod and to a service.
    for target in ["pod/web", "svc/web"] {
        let remote = if target == "svc/web" { "8000" } else { "80" };
        let (mut child, local) = port_forward(&server, target, remote);
        let body = wait_for("a forwarded response", Duration::from_secs(15), || {
            http_get(local).filter(|b| b.contains("hello-from-web"))
        });
        assert!(body.starts_with("HTTP/1.0 200"), "{body}");
        let _ = child.kill();
        let _ = child.wait();
    }

    // cp into and out of a container.
    let dir = tempfile::tempdir().expect("tempdir");
    let local = dir.path().join("note.txt");
    std::fs::write(&local, "copied in\n").expect("write");
    server.kubectl_ok(&["cp", &local.display().to_string(), "shell:/tmp/note.txt"]);
    assert_eq!(
        server.kubectl_ok(&["exec", "shell", "--", "cat", "/tmp/note.txt"]),
        "copied in\n"
    );
    server.kubectl_ok(&["exec", "shell", "--", "sh", "-c", "echo copied out > /tmp/out.txt"]);
    let back = dir.path().join("out.txt");
    server.kubectl_ok(&["cp", "shell:/tmp/out.txt", &back.display().to_string()]);
    assert_eq!(std::fs::read_to_string(&back).unwrap_or_default(), "copied out\n");

    // attach streams the running container's output.
    let mut attach = Command::new("kubectl")
        .args(["attach", "talker"])
        .env("KUBECONFIG", &server.kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl attach");
    let mut stdout = attach.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut got = Vec::new();
    wait_for("attached output", Duration::from_secs(15), || {
        while let Ok(chunk) = rx.try_recv() {
            got.extend(chunk);
        }
        String::from_utf8_lossy(&got).contains("line ").then_some(())
    });
    let _ = attach.kill();
    let _ = attach.wait();

    // run -it --rm: an interactive one-off pod, removed afterwards.
    let out = server.kubectl_stdin_ok(
        &[
            "run",
            "oneoff",
            "--image=busybox:1.36",
            "--restart=Never",
            "-i",
            "--rm",
            "--",
            "sh",
            "-c",
            "read x; echo got-$x",
        ],
        Some("hello\n"),
    );
    assert!(out.contains("got-hello"), "{out}");
    wait_for("the one-off pod to go", Duration::from_secs(30), || {
        (!server.kubectl(&["get", "pod", "oneoff"]).status.success()).then_some(())
    });
}
