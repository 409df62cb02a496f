//! Jobs, CronJobs and cascading deletes run by the controllers: `kubectl
//! wait --for=condition=complete`, `kubectl create job --from=cronjob/x`,
//! `kubectl delete --cascade=orphan|foreground|background`.

use super::{Ctx, Outcome, has, same, squeeze};

/// A Job whose pods (on simulated nodes) exit with 0 after a moment.
const JOB: &str = r#"apiVersion: batch/v1
kind: Job
metadata:
  name: once
spec:
  completions: 2
  parallelism: 2
  template:
    metadata:
      annotations:
        simulation.skiff.dev/exit-code: "0"
        simulation.skiff.dev/run-seconds: "0.2"
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: busybox:1.36
"#;

const CRON_JOB: &str = r#"apiVersion: batch/v1
kind: CronJob
metadata:
  name: tick
spec:
  schedule: "0 0 1 1 *"
  jobTemplate:
    spec:
      template:
        metadata:
          annotations:
            simulation.skiff.dev/exit-code: "0"
        spec:
          restartPolicy: OnFailure
          containers:
          - name: main
            image: busybox:1.36
"#;

pub fn jobs(c: &Ctx<'_>) -> Outcome {
    same("create", &c.ok_with(&["apply", "-f", "-"], Some(JOB))?, "job.batch/once created")?;
    let waited = c.ok(&["wait", "--for=condition=complete", "job/once", "--timeout=60s"])?;
    same("wait", &waited, "job.batch/once condition met")?;
    let table = squeeze(&c.ok(&["get", "job", "once"])?);
    has("table", &table, "once Complete 2/2 ")?;
    let pods = squeeze(&c.ok(&["get", "pods", "-l", "job-name=once"])?);
    has("pods", &pods, " 0/1 Completed 0 ")?;
    let described = squeeze(&c.ok(&["describe", "job", "once"])?);
    has("describe", &described, "Pods Statuses: 0 Active (0 Ready) / 2 Succeeded / 0 Failed")?;
    has("describe", &described, "job-controller Job completed")?;

    same("cron job", &c.ok_with(&["apply", "-f", "-"], Some(CRON_JOB))?, "cronjob.batch/tick created")?;
    let cron = squeeze(&c.ok(&["get", "cronjob", "tick"])?);
    has("cron table", &cron, "tick 0 0 1 1 * ")?;
    let manual = c.ok(&["create", "job", "manual", "--from=cronjob/tick"])?;
    same("from cronjob", &manual, "job.batch/manual created")?;
    let waited = c.ok(&["wait", "--for=condition=complete", "job/manual", "--timeout=60s"])?;
    same("wait manual", &waited, "job.batch/manual condition met")?;
    let annotation = "jsonpath={.metadata.annotations.cronjob\\.kubernetes\\.io/instantiate}";
    same("instantiated", &c.ok(&["get", "job", "manual", "-o", annotation])?, "manual")
}

fn replica_sets(c: &Ctx<'_>, app: &str) -> Result<String, String> {
    c.ok(&[
        "get",
        "replicasets",
        "-l",
        &format!("app={app}"),
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.metadata.ownerReferences[0].kind}{\"\\n\"}{end}",
    ])
}

pub fn cascades(c: &Ctx<'_>) -> Outcome {
    for app in ["orphaned", "foreground", "background"] {
        c.ok(&["create", "deployment", app, "--image=busybox:1.36", "--replicas=1"])?;
        let status = c.ok(&["rollout", "status", &format!("deployment/{app}"), "--timeout=60s"])?;
        has("rolled out", &status, "successfully rolled out")?;
    }
    let orphan = c.ok(&["delete", "deployment", "orphaned", "--cascade=orphan", "--wait", "--timeout=60s"])?;
    same("orphan", &orphan, "deployment.apps \"orphaned\" deleted")?;
    let left = replica_sets(c, "orphaned")?;
    if left.trim().is_empty() || left.contains("Deployment") {
        return Err(format!("--cascade=orphan: the replica set should stay without its owner, got {left:?}"));
    }
    for app in ["foreground", "background"] {
        let deleted = c.ok(&["delete", "deployment", app, &format!("--cascade={app}"), "--wait", "--timeout=60s"])?;
        same(app, &deleted, &format!("deployment.apps \"{app}\" deleted"))?;
        // The garbage collector deletes the replica sets (before the Deployment goes, in the foreground).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let left = replica_sets(c, app)?;
            if left.trim().is_empty() {
                break;
            }
            if app == "foreground" || std::time::Instant::now() > deadline {
                return Err(format!("--cascade={app}: the replica sets should be gone, got {left:?}"));
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    Ok(())
}
