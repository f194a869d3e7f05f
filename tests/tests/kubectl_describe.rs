//! End-to-end: `kubectl describe` output for the kinds labs describe, compared line by
//! line with what kubectl prints for the same objects on a real cluster. kubectl renders
//! describe output itself, so what these tests check is that k1s hands it the same
//! objects (defaults, status, events found by `involvedObject`) as Kubernetes does.
//! Expected text follows kubectl's describers (k8s.io/kubectl/pkg/describe).

use k1s_e2e::{wait_for, Server};

const OBJECTS: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
  labels: {app: web}
spec:
  clusterIP: 10.43.200.10
  selector: {app: web}
  ports:
  - name: http
    port: 80
    targetPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: web-np
  namespace: shop
spec:
  type: NodePort
  clusterIP: 10.43.200.11
  selector: {app: web}
  ports:
  - port: 80
    targetPort: http
    nodePort: 30555
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
data:
  MODE: fast
  config.ini: |
    [main]
    x=1
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
  namespace: shop
type: Opaque
stringData:
  password: s3cret
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {app: web}
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: busybox:1.36
        command: ["httpd", "-f", "-p", "8080"]
        ports:
        - containerPort: 8080
        env:
        - name: MODE
          valueFrom:
            configMapKeyRef: {name: settings, key: MODE}
        resources:
          requests: {cpu: 100m, memory: 64Mi}
          limits: {memory: 128Mi}
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: report
  namespace: shop
spec:
  schedule: "*/5 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: report
            image: busybox:1.36
            command: ["date"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: pod-reader
  namespace: shop
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: read-pods
  namespace: shop
subjects:
- kind: ServiceAccount
  name: reader
  namespace: shop
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: pod-reader
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-frontend
  namespace: shop
spec:
  podSelector:
    matchLabels: {app: web}
  ingress:
  - from:
    - podSelector:
        matchLabels: {app: frontend}
    ports:
    - port: 80
"#;

/// Drops the lines whose values change from run to run (creation times) and folds the
/// column padding kubectl's tabwriter chooses, which depends on the widest cell of a block.
fn stable(out: &str) -> String {
    out.lines()
        .filter(|l| !l.starts_with("CreationTimestamp:") && !l.starts_with("Created on:"))
        .map(|l| {
            let indent = l.len() - l.trim_start().len();
            format!("{}{}", &l[..indent], l.split_whitespace().collect::<Vec<_>>().join(" "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_describe(server: &Server, args: &[&str], want: &str) {
    let mut full = vec!["describe"];
    full.extend_from_slice(args);
    let got = stable(&server.kubectl_ok(&full));
    let want = stable(want.trim_start_matches('\n'));
    if got != want {
        for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
            assert_eq!(
                g,
                w,
                "kubectl describe {}: line {} differs\nfull output:\n{got}",
                args.join(" "),
                i + 1
            );
        }
        assert_eq!(got, want, "kubectl describe {}: line count differs", args.join(" "));
    }
}

#[test]
fn describe_matches_kubernetes_for_everyday_kinds() {
    // The Deployment is described as created, before any controller acted on it.
    let server = Server::start_with_args(&[k1s_e2e::NO_WORKLOAD_CONTROLLERS]).expect("server starts");
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(OBJECTS));
    server.kubectl_ok(&["create", "serviceaccount", "reader", "-n", "shop"]);
    // Created, not applied: kubectl's PriorityClass describer prints annotations raw,
    // last-applied-configuration included.
    server.kubectl_ok(&[
        "create",
        "priorityclass",
        "high",
        "--value=1000",
        "--description=important workloads",
    ]);
    // The Services' EndpointSlices (no pods yet): kubectl then shows an empty
    // `Endpoints:` where it shows `<none>` for a Service without slices.
    for svc in ["web", "web-np"] {
        wait_for("the EndpointSlice", std::time::Duration::from_secs(10), || {
            let selector = format!("kubernetes.io/service-name={svc}");
            let out = server.kubectl_ok(&["get", "endpointslices", "-n", "shop", "-l", &selector, "-o", "name"]);
            (!out.trim().is_empty()).then_some(())
        });
    }

    assert_describe(
        &server,
        &["service", "web", "-n", "shop"],
        r#"
Name:                     web
Namespace:                shop
Labels:                   app=web
Annotations:              <none>
Selector:                 app=web
Type:                     ClusterIP
IP Family Policy:         SingleStack
IP Families:              IPv4
IP:                       10.43.200.10
IPs:                      10.43.200.10
Port:                     http  80/TCP
TargetPort:               8080/TCP
Endpoints:
Session Affinity:         None
Internal Traffic Policy:  Cluster
Events:                   <none>
"#,
    );
    assert_describe(
        &server,
        &["service", "web-np", "-n", "shop"],
        r#"
Name:                     web-np
Namespace:                shop
Labels:                   <none>
Annotations:              <none>
Selector:                 app=web
Type:                     NodePort
IP Family Policy:         SingleStack
IP Families:              IPv4
IP:                       10.43.200.11
IPs:                      10.43.200.11
Port:                     <unset>  80/TCP
TargetPort:               http/TCP
NodePort:                 <unset>  30555/TCP
Endpoints:
Session Affinity:         None
External Traffic Policy:  Cluster
Internal Traffic Policy:  Cluster
Events:                   <none>
"#,
    );
    assert_describe(
        &server,
        &["configmap", "settings", "-n", "shop"],
        r#"
Name:         settings
Namespace:    shop
Labels:       <none>
Annotations:  <none>

Data
====
MODE:
----
fast

config.ini:
----
[main]
x=1



BinaryData
====

Events:  <none>
"#,
    );
    assert_describe(
        &server,
        &["secret", "creds", "-n", "shop"],
        r#"
Name:         creds
Namespace:    shop
Labels:       <none>
Annotations:  <none>

Type:  Opaque

Data
====
password:  6 bytes
"#,
    );
    assert_describe(
        &server,
        &["deployment", "web", "-n", "shop"],
        r#"
Name:                   web
Namespace:              shop
CreationTimestamp:      (dropped)
Labels:                 app=web
Annotations:            <none>
Selector:               app=web
Replicas:               3 desired | 0 updated | 0 total | 0 available | 0 unavailable
StrategyType:           RollingUpdate
MinReadySeconds:        0
RollingUpdateStrategy:  25% max unavailable, 25% max surge
Pod Template:
  Labels:  app=web
  Containers:
   web:
    Image:      busybox:1.36
    Port:       8080/TCP
    Host Port:  0/TCP
    Command:
      httpd
      -f
      -p
      8080
    Limits:
      memory:  128Mi
    Requests:
      cpu:     100m
      memory:  64Mi
    Environment:
      MODE:  <set to the key 'MODE' of config map 'settings'>  Optional: false
    Mounts:  <none>
  Volumes:   <none>
  Node-Selectors:  <none>
  Tolerations:     <none>
Events:            <none>
"#,
    );
    assert_describe(
        &server,
        &["cronjob", "report", "-n", "shop"],
        r#"
Name:                          report
Namespace:                     shop
Labels:                        <none>
Annotations:                   <none>
Schedule:                      */5 * * * *
Concurrency Policy:            Allow
Suspend:                       False
Successful Job History Limit:  3
Failed Job History Limit:      1
Starting Deadline Seconds:     <unset>
Selector:                      <unset>
Parallelism:                   <unset>
Completions:                   <unset>
Pod Template:
  Labels:  <none>
  Containers:
   report:
    Image:      busybox:1.36
    Port:       <none>
    Host Port:  <none>
    Command:
      date
    Environment:     <none>
    Mounts:          <none>
  Volumes:           <none>
  Node-Selectors:    <none>
  Tolerations:       <none>
Last Schedule Time:  <unset>
Active Jobs:         <none>
Events:              <none>
"#,
    );
    assert_describe(
        &server,
        &["role", "pod-reader", "-n", "shop"],
        r#"
Name:         pod-reader
Labels:       <none>
Annotations:  <none>
PolicyRule:
  Resources  Non-Resource URLs  Resource Names  Verbs
  ---------  -----------------  --------------  -----
  pods       []                 []              [get list watch]
"#,
    );
    assert_describe(
        &server,
        &["rolebinding", "read-pods", "-n", "shop"],
        r#"
Name:         read-pods
Labels:       <none>
Annotations:  <none>
Role:
  Kind:  Role
  Name:  pod-reader
Subjects:
  Kind            Name    Namespace
  ----            ----    ---------
  ServiceAccount  reader  shop
"#,
    );
    assert_describe(
        &server,
        &["networkpolicy", "allow-frontend", "-n", "shop"],
        r#"
Name:         allow-frontend
Namespace:    shop
Labels:       <none>
Annotations:  <none>
Spec:
  PodSelector:     app=web
  Allowing ingress traffic:
    To Port: 80/TCP
    From:
      PodSelector: app=frontend
  Not affecting egress traffic
  Policy Types: Ingress
"#,
    );
    assert_describe(
        &server,
        &["priorityclass", "high"],
        r#"
Name:              high
Value:             1000
GlobalDefault:     false
PreemptionPolicy:  PreemptLowerPriority
Description:       important workloads
Annotations:       <none>
Events:            <none>
"#,
    );
    assert_describe(
        &server,
        &["serviceaccount", "reader", "-n", "shop"],
        r#"
Name:                reader
Namespace:           shop
Labels:              <none>
Annotations:         <none>
Image pull secrets:  <none>
Mountable secrets:   <none>
Tokens:              <none>
Events:              <none>
"#,
    );
}

#[test]
fn describe_shows_the_events_of_the_object_only() {
    // The events are written by hand: no deployment controller adds its own.
    let server = Server::start_with_args(&[k1s_e2e::NO_WORKLOAD_CONTROLLERS]).expect("server starts");
    server.kubectl_ok(&["create", "deployment", "web", "--image=busybox:1.36"]);
    server.kubectl_ok(&["create", "deployment", "other", "--image=busybox:1.36"]);
    let uid = server.kubectl_ok(&["get", "deployment", "web", "-o", "jsonpath={.metadata.uid}"]);
    let event = |name: &str, object: &str, uid: &str, reason: &str, message: &str| {
        format!(
            r#"{{"apiVersion":"v1","kind":"Event","metadata":{{"name":"{name}","namespace":"default"}},
            "involvedObject":{{"apiVersion":"apps/v1","kind":"Deployment","name":"{object}","namespace":"default","uid":"{uid}"}},
            "reason":"{reason}","message":"{message}","type":"Normal","count":1,
            "source":{{"component":"deployment-controller"}},
            "firstTimestamp":"2026-01-01T00:00:00Z","lastTimestamp":"2026-01-01T00:00:00Z"}}"#
        )
    };
    server.kubectl_stdin_ok(
        &["create", "-f", "-"],
        Some(&event(
            "web.1",
            "web",
            &uid,
            "ScalingReplicaSet",
            "Scaled up replica set web-abc to 1",
        )),
    );
    server.kubectl_stdin_ok(
        &["create", "-f", "-"],
        Some(&event(
            "other.1",
            "other",
            "x",
            "ScalingReplicaSet",
            "Scaled up replica set other-abc to 1",
        )),
    );
    let out = server.kubectl_ok(&["describe", "deployment", "web"]);
    let events = out.split("Events:").nth(1).unwrap_or_default();
    assert!(events.contains("Type    Reason             Age"), "{out}");
    let rows: Vec<&str> = events.lines().filter(|l| l.contains("ScalingReplicaSet")).collect();
    assert_eq!(rows.len(), 1, "{out}");
    assert!(
        rows[0].contains("deployment-controller  Scaled up replica set web-abc to 1"),
        "{out}"
    );
    assert!(rows[0].trim_start().starts_with("Normal  ScalingReplicaSet"), "{out}");
}
