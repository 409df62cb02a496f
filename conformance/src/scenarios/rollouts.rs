//! Deployments rolled out by the controllers: `kubectl rollout status`,
//! `history`, `undo` (also `--to-revision`), `restart`, `pause`/`resume`,
//! and the ReplicaSets and events behind them.

use super::{Ctx, Outcome, has, same, squeeze};

fn rolled_out(c: &Ctx<'_>, name: &str) -> Outcome {
    let status = c.ok(&["rollout", "status", &format!("deployment/{name}"), "--timeout=60s"])?;
    has("rollout status", &status, &format!("deployment \"{name}\" successfully rolled out"))
}

fn image(c: &Ctx<'_>, name: &str) -> Result<String, String> {
    c.ok(&["get", "deployment", name, "-o", "jsonpath={.spec.template.spec.containers[0].image}"])
}

pub fn rollouts(c: &Ctx<'_>) -> Outcome {
    same(
        "create",
        &c.ok(&["create", "deployment", "roll", "--image=busybox:1.36", "--replicas=3"])?,
        "deployment.apps/roll created",
    )?;
    rolled_out(c, "roll")?;
    let sets = squeeze(&c.ok(&["get", "replicasets", "-l", "app=roll"])?);
    has("replica sets", &sets, "NAME DESIRED CURRENT READY AGE")?;
    has("replica sets", &sets, " 3 3 3 ")?;
    same(
        "set image",
        &c.ok(&["set", "image", "deployment/roll", "busybox=busybox:1.37"])?,
        "deployment.apps/roll image updated",
    )?;
    rolled_out(c, "roll")?;
    let history = squeeze(&c.ok(&["rollout", "history", "deployment/roll"])?);
    has("history", &history, "REVISION CHANGE-CAUSE\n1 <none>\n2 <none>")?;
    same("undo", &c.ok(&["rollout", "undo", "deployment/roll"])?, "deployment.apps/roll rolled back")?;
    rolled_out(c, "roll")?;
    same("undone", &image(c, "roll")?, "busybox:1.36")?;
    let history = squeeze(&c.ok(&["rollout", "history", "deployment/roll"])?);
    has("history after undo", &history, "REVISION CHANGE-CAUSE\n2 <none>\n3 <none>")?;
    let undo = c.ok(&["rollout", "undo", "deployment/roll", "--to-revision=2"])?;
    same("undo --to-revision", &undo, "deployment.apps/roll rolled back")?;
    rolled_out(c, "roll")?;
    same("revision 2's image", &image(c, "roll")?, "busybox:1.37")?;
    same("restart", &c.ok(&["rollout", "restart", "deployment/roll"])?, "deployment.apps/roll restarted")?;
    rolled_out(c, "roll")?;
    same("pause", &c.ok(&["rollout", "pause", "deployment/roll"])?, "deployment.apps/roll paused")?;
    same("resume", &c.ok(&["rollout", "resume", "deployment/roll"])?, "deployment.apps/roll resumed")?;
    same("scale", &c.ok(&["scale", "deployment", "roll", "--replicas=1"])?, "deployment.apps/roll scaled")?;
    rolled_out(c, "roll")?;
    has("table", &squeeze(&c.ok(&["get", "deployment", "roll"])?), "roll 1/1 1 1 ")?;
    let described = squeeze(&c.ok(&["describe", "deployment", "roll"])?);
    has("describe", &described, "Progressing True NewReplicaSetAvailable")?;
    has("describe", &described, "Available True MinimumReplicasAvailable")?;
    has("describe", &described, "Normal ScalingReplicaSet")?;
    has("describe", &described, "deployment-controller Scaled down replica set roll-")
}

const STATEFUL_SET: &str = r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  replicas: 2
  selector:
    matchLabels:
      app: db
  template:
    metadata:
      labels:
        app: db
    spec:
      containers:
      - name: db
        image: busybox:1.36
"#;

const DAEMON_SET: &str = r#"apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels:
      app: agent
  template:
    metadata:
      labels:
        app: agent
    spec:
      containers:
      - name: agent
        image: busybox:1.36
"#;

/// StatefulSets and DaemonSets: `kubectl rollout status`, `history` and `undo` on both.
pub fn sets(c: &Ctx<'_>) -> Outcome {
    same("statefulset", &c.ok_with(&["apply", "-f", "-"], Some(STATEFUL_SET))?, "statefulset.apps/db created")?;
    let status = c.ok(&["rollout", "status", "statefulset/db", "--timeout=60s"])?;
    has("sts rollout status", &status, "partitioned roll out complete: 2 new pods have been updated...")?;
    let pods = squeeze(&c.ok(&["get", "pods", "-l", "app=db"])?);
    has("ordinal names", &pods, "db-0 1/1 Running 0 ")?;
    has("ordinal names", &pods, "db-1 1/1 Running 0 ")?;
    let image = r#"{"spec":{"template":{"spec":{"containers":[{"name":"db","image":"busybox:1.37"}]}}}}"#;
    c.ok(&["patch", "statefulset", "db", "-p", image])?;
    let status = c.ok(&["rollout", "status", "statefulset/db", "--timeout=60s"])?;
    has("sts rollout status after update", &status, "partitioned roll out complete: 2 new pods have been updated...")?;
    let history = squeeze(&c.ok(&["rollout", "history", "statefulset/db"])?);
    has("sts history", &history, "REVISION CHANGE-CAUSE\n1 <none>\n2 <none>")?;
    same("sts undo", &c.ok(&["rollout", "undo", "statefulset/db"])?, "statefulset.apps/db rolled back")?;

    same("daemonset", &c.ok_with(&["apply", "-f", "-"], Some(DAEMON_SET))?, "daemonset.apps/agent created")?;
    let status = c.ok(&["rollout", "status", "daemonset/agent", "--timeout=60s"])?;
    has("ds rollout status", &status, "daemon set \"agent\" successfully rolled out")?;
    let table = squeeze(&c.ok(&["get", "daemonset", "agent"])?);
    has("ds table", &table, "NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE")?;
    has("ds table", &table, "agent 2 2 2 2 2 <none> ")
}
