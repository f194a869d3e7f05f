//! Golden output of `kubectl get` and `kubectl get -o wide` for the kinds outside the
//! core group: the real kubectl renders the server's Tables, and every column is compared
//! with what Kubernetes 1.33's printers produce for the same objects (written from the
//! printers' rules). Statuses are set through the status subresource, as controllers would.
//!
//! Cells that depend on the clock use patterns: `{age}` is a `HumanDuration`
//! (`5s`, `3m10s`, `2d`, `1y20d`), `{time}` an RFC 3339 timestamp.

use k1s_e2e::Server;

const NS: &str = "tbl";

const WORKLOADS: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: tbl}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: nginx, image: "nginx:1.27"}
      - {name: sidecar, image: "busybox:1.36"}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web-rs, namespace: tbl}
spec:
  replicas: 2
  selector:
    matchLabels: {app: rs}
    matchExpressions:
    - {key: tier, operator: In, values: [fe, be]}
  template:
    metadata: {labels: {app: rs, tier: fe}}
    spec:
      containers:
      - {name: app, image: "app:2"}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: tbl}
spec:
  replicas: 2
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - {name: pg, image: "postgres:16"}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: tbl}
spec:
  selector: {matchLabels: {name: agent}}
  template:
    metadata: {labels: {name: agent}}
    spec:
      nodeSelector: {kubernetes.io/os: linux, disk: ssd}
      containers:
      - {name: agent, image: "agent:1"}
---
apiVersion: batch/v1
kind: Job
metadata: {name: pi, namespace: tbl}
spec:
  completions: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: pi, image: "perl:5.34"}
---
apiVersion: batch/v1
kind: Job
metadata: {name: queue, namespace: tbl}
spec:
  parallelism: 3
  suspend: true
  template:
    spec:
      restartPolicy: OnFailure
      containers:
      - {name: worker, image: "worker:1"}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: hello, namespace: tbl}
spec:
  schedule: "*/5 * * * *"
  timeZone: Etc/UTC
  suspend: true
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - {name: hello, image: "busybox:1.36"}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, namespace: tbl}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 10
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
  - type: Resource
    resource: {name: memory, target: {type: AverageValue, averageValue: 100Mi}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web-pdb, namespace: tbl}
spec:
  minAvailable: 2
  selector: {matchLabels: {app: web}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: db-pdb, namespace: tbl}
spec:
  maxUnavailable: 25%
  selector: {matchLabels: {app: db}}
"#;

const NETWORK_AND_MORE: &str = r#"
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: tbl-nginx}
spec:
  controller: k8s.io/ingress-nginx
  parameters: {apiGroup: k8s.example.com, kind: IngressParameters, name: external-lb}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: tbl}
spec:
  ingressClassName: tbl-nginx
  tls:
  - hosts: [a.example.com]
  rules:
  - host: a.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
  - host: b.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: plain, namespace: tbl}
spec:
  defaultBackend: {service: {name: web, port: {number: 80}}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db, namespace: tbl}
spec:
  podSelector: {matchLabels: {role: db}}
  policyTypes: [Ingress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: tbl}
spec:
  podSelector: {}
  policyTypes: [Ingress]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader, namespace: tbl}
rules:
- {apiGroups: [""], resources: [pods], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: read, namespace: tbl}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects:
- {kind: User, apiGroup: rbac.authorization.k8s.io, name: alice}
- {kind: User, apiGroup: rbac.authorization.k8s.io, name: bob}
- {kind: Group, apiGroup: rbac.authorization.k8s.io, name: devs}
- {kind: ServiceAccount, name: ci, namespace: tbl}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: tbl-ops}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: tbl-ops}
subjects:
- {kind: Group, apiGroup: rbac.authorization.k8s.io, name: ops}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: tbl-fast
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: example.com/fast
reclaimPolicy: Retain
volumeBindingMode: WaitForFirstConsumer
allowVolumeExpansion: true
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: tbl-slow}
provisioner: example.com/slow
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-abc, namespace: tbl, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports:
- {name: http, port: 80, protocol: TCP}
endpoints:
- addresses: [10.42.0.5]
- addresses: [10.42.0.6, 10.42.0.7]
- addresses: [10.42.0.8]
---
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: leader, namespace: tbl}
spec: {holderIdentity: node-a, leaseDurationSeconds: 15}
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: tbl-low}
value: 100
preemptionPolicy: Never
description: batch work
"#;

/// A `HumanDuration`: one or more `<digits><unit>` groups.
fn is_duration(s: &str) -> bool {
    let mut digits = false;
    let mut groups = 0;
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits = true;
        } else if "smhdy".contains(c) && digits {
            digits = false;
            groups += 1;
        } else {
            return false;
        }
    }
    !digits && groups > 0
}

/// An RFC 3339 timestamp as the server writes it (`2025-01-02T03:04:05Z`).
fn is_time(s: &str) -> bool {
    s.len() == 20 && s.as_bytes()[10] == b'T' && s.ends_with('Z') && s[..4].chars().all(|c| c.is_ascii_digit())
}

fn cell_matches(want: &str, got: &str) -> bool {
    match want {
        "{age}" => is_duration(got),
        "{time}" => is_time(got),
        _ => want == got,
    }
}

/// Splits kubectl's aligned table into cells by the header columns' offsets
/// (empty cells and cells with single spaces survive this).
fn parse_table(out: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = out.lines();
    let header = lines.next().unwrap_or_default();
    let mut starts = Vec::new();
    let bytes = header.as_bytes();
    for i in 0..bytes.len() {
        let begins = bytes[i] != b' ' && (i == 0 || (i >= 2 && bytes[i - 1] == b' ' && bytes[i - 2] == b' '));
        if begins {
            starts.push(i);
        }
    }
    let cut = |line: &str| -> Vec<String> {
        starts
            .iter()
            .enumerate()
            .map(|(n, &s)| {
                let end = starts.get(n + 1).copied().unwrap_or(line.len()).min(line.len());
                line.get(s.min(line.len())..end).unwrap_or_default().trim().to_string()
            })
            .collect()
    };
    let headers = cut(header);
    let rows = lines.filter(|l| !l.trim().is_empty()).map(cut).collect();
    (headers, rows)
}

/// Runs `kubectl <args>` and compares the table, header by header and cell by cell.
fn expect_table(server: &Server, args: &[&str], headers: &[&str], rows: &[Vec<String>]) {
    let out = server.kubectl_ok(args);
    let (got_headers, got_rows) = parse_table(&out);
    let context = format!("kubectl {}:\n{out}", args.join(" "));
    assert_eq!(got_headers, headers, "headers of {context}");
    assert_eq!(got_rows.len(), rows.len(), "row count of {context}");
    for (got, want) in got_rows.iter().zip(rows) {
        assert_eq!(got.len(), want.len(), "cells of {context}");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                cell_matches(w, g),
                "column {} is {g:?}, want {w:?} in {context}",
                headers[i]
            );
        }
    }
}

/// `kubectl get <kind> -n tbl`.
fn get(kind: &str) -> Vec<&str> {
    vec!["get", kind, "-n", NS]
}

/// `kubectl get <kind> -o wide -n tbl`.
fn wide(kind: &str) -> Vec<&str> {
    vec!["get", kind, "-o", "wide", "-n", NS]
}

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

fn patch_status(server: &Server, resource: &str, name: &str, status: &str) {
    server.kubectl_ok(&[
        "patch",
        resource,
        name,
        "-n",
        NS,
        "--subresource=status",
        "--type=merge",
        "-p",
        status,
    ]);
}

fn uid(server: &Server, resource: &str, name: &str) -> String {
    server.kubectl_ok(&["get", resource, name, "-n", NS, "-o", "jsonpath={.metadata.uid}"])
}

#[test]
fn group_kinds_print_like_kubernetes() {
    // The statuses below are written by hand: no workload controller may rewrite them.
    let server = Server::start_with_args(&[k1s_e2e::NO_WORKLOAD_CONTROLLERS]).expect("server starts");
    server.kubectl_ok(&["create", "namespace", NS]);
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(WORKLOADS));
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(NETWORK_AND_MORE));

    patch_status(
        &server,
        "deployment",
        "web",
        r#"{"status":{"observedGeneration":1,"replicas":3,"updatedReplicas":2,"readyReplicas":1,"availableReplicas":1,"unavailableReplicas":2}}"#,
    );
    patch_status(
        &server,
        "replicaset",
        "web-rs",
        r#"{"status":{"replicas":2,"readyReplicas":1,"availableReplicas":1}}"#,
    );
    patch_status(
        &server,
        "statefulset",
        "db",
        r#"{"status":{"replicas":2,"readyReplicas":1,"currentReplicas":2,"updatedReplicas":2,"availableReplicas":1}}"#,
    );
    patch_status(
        &server,
        "daemonset",
        "agent",
        r#"{"status":{"desiredNumberScheduled":1,"currentNumberScheduled":1,"numberMisscheduled":0,"numberReady":1,"updatedNumberScheduled":1,"numberAvailable":0,"numberUnavailable":1}}"#,
    );
    patch_status(
        &server,
        "job",
        "pi",
        r#"{"status":{"startTime":"2025-01-01T00:00:00Z","completionTime":"2025-01-01T00:01:05Z","succeeded":2,"ready":0,"terminating":0,
            "uncountedTerminatedPods":{},
            "conditions":[{"type":"SuccessCriteriaMet","status":"True","reason":"CompletionsReached","lastProbeTime":"2025-01-01T00:01:05Z","lastTransitionTime":"2025-01-01T00:01:05Z"},
                          {"type":"Complete","status":"True","reason":"CompletionsReached","lastProbeTime":"2025-01-01T00:01:05Z","lastTransitionTime":"2025-01-01T00:01:05Z"}]}}"#,
    );
    patch_status(
        &server,
        "job",
        "queue",
        r#"{"status":{"conditions":[{"type":"Suspended","status":"True","reason":"JobSuspended","lastProbeTime":"2025-01-01T00:00:00Z","lastTransitionTime":"2025-01-01T00:00:00Z"}]}}"#,
    );
    patch_status(
        &server,
        "cronjob",
        "hello",
        r#"{"status":{"lastScheduleTime":"2025-01-01T00:00:00Z"}}"#,
    );
    patch_status(
        &server,
        "horizontalpodautoscaler.v2.autoscaling",
        "web",
        r#"{"status":{"currentReplicas":3,"desiredReplicas":3,"currentMetrics":[
            {"type":"Resource","resource":{"name":"cpu","current":{"averageUtilization":45,"averageValue":"120m"}}},
            {"type":"Resource","resource":{"name":"memory","current":{"averageValue":"80Mi"}}}]}}"#,
    );
    patch_status(
        &server,
        "poddisruptionbudget",
        "web-pdb",
        r#"{"status":{"observedGeneration":1,"disruptionsAllowed":1,"currentHealthy":3,"desiredHealthy":2,"expectedPods":3}}"#,
    );
    patch_status(
        &server,
        "ingress",
        "web",
        r#"{"status":{"loadBalancer":{"ingress":[{"ip":"10.0.0.9"},{"hostname":"lb.example.com"}]}}}"#,
    );

    let sts_uid = uid(&server, "statefulset", "db");
    let revision = format!(
        "apiVersion: apps/v1\nkind: ControllerRevision\nmetadata:\n  name: db-1\n  namespace: {NS}\n  ownerReferences:\n  - {{apiVersion: apps/v1, kind: StatefulSet, name: db, uid: {sts_uid}, controller: true}}\ndata: {{}}\nrevision: 1\n"
    );
    server.kubectl_stdin_ok(&["apply", "-f", "-"], Some(&revision));

    // apps
    expect_table(
        &server,
        &get("deployments"),
        &["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        &[row(&["web", "1/3", "2", "1", "{age}"])],
    );
    expect_table(
        &server,
        &wide("deployments"),
        &[
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR",
        ],
        &[row(&[
            "web",
            "1/3",
            "2",
            "1",
            "{age}",
            "nginx,sidecar",
            "nginx:1.27,busybox:1.36",
            "app=web",
        ])],
    );
    expect_table(
        &server,
        &wide("replicasets"),
        &[
            "NAME",
            "DESIRED",
            "CURRENT",
            "READY",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR",
        ],
        &[row(&[
            "web-rs",
            "2",
            "2",
            "1",
            "{age}",
            "app",
            "app:2",
            "app=rs,tier in (be,fe)",
        ])],
    );
    expect_table(
        &server,
        &get("statefulsets"),
        &["NAME", "READY", "AGE"],
        &[row(&["db", "1/2", "{age}"])],
    );
    expect_table(
        &server,
        &wide("statefulsets"),
        &["NAME", "READY", "AGE", "CONTAINERS", "IMAGES"],
        &[row(&["db", "1/2", "{age}", "pg", "postgres:16"])],
    );
    expect_table(
        &server,
        &get("daemonsets"),
        &[
            "NAME",
            "DESIRED",
            "CURRENT",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "NODE SELECTOR",
            "AGE",
        ],
        &[row(&[
            "agent",
            "1",
            "1",
            "1",
            "1",
            "0",
            "disk=ssd,kubernetes.io/os=linux",
            "{age}",
        ])],
    );
    expect_table(
        &server,
        &wide("daemonsets"),
        &[
            "NAME",
            "DESIRED",
            "CURRENT",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "NODE SELECTOR",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR",
        ],
        &[row(&[
            "agent",
            "1",
            "1",
            "1",
            "1",
            "0",
            "disk=ssd,kubernetes.io/os=linux",
            "{age}",
            "agent",
            "agent:1",
            "name=agent",
        ])],
    );
    expect_table(
        &server,
        &get("controllerrevisions"),
        &["NAME", "CONTROLLER", "REVISION", "AGE"],
        &[row(&["db-1", "statefulset.apps/db", "1", "{age}"])],
    );

    // `kubectl get all` prints one table per kind of the `all` category, names prefixed with the kind.
    let all = server.kubectl_ok(&["get", "all", "-n", NS]);
    let section = |prefix: &str| -> String {
        all.split("\n\n")
            .find(|s| s.lines().nth(1).is_some_and(|l| l.starts_with(prefix)))
            .unwrap_or_else(|| panic!("no {prefix} table in kubectl get all:\n{all}"))
            .to_string()
    };
    let (headers, rows) = parse_table(&section("deployment.apps/"));
    assert_eq!(headers, ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]);
    assert_eq!(rows[0][..4], ["deployment.apps/web", "1/3", "2", "1"]);
    let (headers, rows) = parse_table(&section("horizontalpodautoscaler.autoscaling/"));
    assert_eq!(headers[2], "TARGETS");
    assert_eq!(rows[0][2], "cpu: 45%/50%, memory: 80Mi/100Mi");
    let (headers, rows) = parse_table(&section("job.batch/"));
    assert_eq!(headers[1..4], ["STATUS", "COMPLETIONS", "DURATION"]);
    assert_eq!(rows[0][..4], ["job.batch/pi", "Complete", "2/2", "65s"]);

    // batch
    let pi_selector = format!("batch.kubernetes.io/controller-uid={}", uid(&server, "job", "pi"));
    let queue_selector = format!("batch.kubernetes.io/controller-uid={}", uid(&server, "job", "queue"));
    expect_table(
        &server,
        &get("jobs"),
        &["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"],
        &[
            row(&["pi", "Complete", "2/2", "65s", "{age}"]),
            row(&["queue", "Suspended", "0/1 of 3", "", "{age}"]),
        ],
    );
    expect_table(
        &server,
        &wide("jobs"),
        &[
            "NAME",
            "STATUS",
            "COMPLETIONS",
            "DURATION",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR",
        ],
        &[
            row(&["pi", "Complete", "2/2", "65s", "{age}", "pi", "perl:5.34", &pi_selector]),
            row(&[
                "queue",
                "Suspended",
                "0/1 of 3",
                "",
                "{age}",
                "worker",
                "worker:1",
                &queue_selector,
            ]),
        ],
    );
    expect_table(
        &server,
        &wide("cronjobs"),
        &[
            "NAME",
            "SCHEDULE",
            "TIMEZONE",
            "SUSPEND",
            "ACTIVE",
            "LAST SCHEDULE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR",
        ],
        &[row(&[
            "hello",
            "*/5 * * * *",
            "Etc/UTC",
            "True",
            "0",
            "{age}",
            "{age}",
            "hello",
            "busybox:1.36",
            "<none>",
        ])],
    );

    // autoscaling: the same cells whichever version the client reads.
    for resource in [
        "hpa",
        "horizontalpodautoscalers.v1.autoscaling",
        "horizontalpodautoscalers.v2.autoscaling",
    ] {
        expect_table(
            &server,
            &get(resource),
            &["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"],
            &[row(&[
                "web",
                "Deployment/web",
                "cpu: 45%/50%, memory: 80Mi/100Mi",
                "1",
                "10",
                "3",
                "{age}",
            ])],
        );
    }

    // policy
    expect_table(
        &server,
        &get("poddisruptionbudgets"),
        &["NAME", "MIN AVAILABLE", "MAX UNAVAILABLE", "ALLOWED DISRUPTIONS", "AGE"],
        &[
            row(&["db-pdb", "N/A", "25%", "0", "{age}"]),
            row(&["web-pdb", "2", "N/A", "1", "{age}"]),
        ],
    );

    // networking
    expect_table(
        &server,
        &get("ingresses"),
        &["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"],
        &[
            row(&["plain", "<none>", "*", "", "80", "{age}"]),
            row(&[
                "web",
                "tbl-nginx",
                "a.example.com,b.example.com",
                "10.0.0.9,lb.example.com",
                "80, 443",
                "{age}",
            ]),
        ],
    );
    expect_table(
        &server,
        &["get", "ingressclass", "tbl-nginx"],
        &["NAME", "CONTROLLER", "PARAMETERS", "AGE"],
        &[row(&[
            "tbl-nginx",
            "k8s.io/ingress-nginx",
            "IngressParameters.k8s.example.com/external-lb",
            "{age}",
        ])],
    );
    expect_table(
        &server,
        &get("networkpolicies"),
        &["NAME", "POD-SELECTOR", "AGE"],
        &[row(&["db", "role=db", "{age}"]), row(&["deny-all", "<none>", "{age}"])],
    );

    // rbac: roles keep the default columns, bindings list their subjects when wide.
    expect_table(
        &server,
        &get("roles"),
        &["NAME", "CREATED AT"],
        &[row(&["reader", "{time}"])],
    );
    expect_table(
        &server,
        &get("rolebindings"),
        &["NAME", "ROLE", "AGE"],
        &[row(&["read", "Role/reader", "{age}"])],
    );
    expect_table(
        &server,
        &wide("rolebindings"),
        &["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"],
        &[row(&["read", "Role/reader", "{age}", "alice, bob", "devs", "tbl/ci"])],
    );
    expect_table(
        &server,
        &["get", "clusterrolebinding", "tbl-ops", "-o", "wide"],
        &["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"],
        &[row(&["tbl-ops", "ClusterRole/tbl-ops", "{age}", "", "ops", ""])],
    );

    // storage: the default class is marked after its name.
    expect_table(
        &server,
        &["get", "storageclass", "tbl-fast", "tbl-slow"],
        &[
            "NAME",
            "PROVISIONER",
            "RECLAIMPOLICY",
            "VOLUMEBINDINGMODE",
            "ALLOWVOLUMEEXPANSION",
            "AGE",
        ],
        &[
            row(&[
                "tbl-fast (default)",
                "example.com/fast",
                "Retain",
                "WaitForFirstConsumer",
                "true",
                "{age}",
            ]),
            row(&["tbl-slow", "example.com/slow", "Delete", "Immediate", "false", "{age}"]),
        ],
    );

    // discovery and coordination
    expect_table(
        &server,
        &get("endpointslices"),
        &["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"],
        &[row(&[
            "web-abc",
            "IPv4",
            "80",
            "10.42.0.5,10.42.0.6,10.42.0.7 + 1 more...",
            "{age}",
        ])],
    );
    expect_table(
        &server,
        &get("leases"),
        &["NAME", "HOLDER", "AGE"],
        &[row(&["leader", "node-a", "{age}"])],
    );
}

#[test]
fn table_parsing_keeps_empty_and_spaced_cells() {
    let out = "NAME    STATUS      COMPLETIONS   DURATION   AGE\npi      Complete    2/2           65s        3s\nqueue   Suspended   0/1 of 3                 3s\n";
    let (headers, rows) = parse_table(out);
    assert_eq!(headers, ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]);
    assert_eq!(rows[1], ["queue", "Suspended", "0/1 of 3", "", "3s"]);
    assert!(is_duration("2d5h") && is_duration("0s") && !is_duration("5") && !is_duration("<none>"));
    assert!(is_time("2025-01-02T03:04:05Z") && !is_time("3s"));
}
