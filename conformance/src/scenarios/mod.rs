//! The scenarios: what a user types, and what upstream prints for it.
//! Each runs in its own namespace and returns the first difference found.

mod jobs;
mod more;
mod rollouts;

use crate::kubectl::{Kubectl, Run};

/// One scenario's context: a kubectl version and a namespace of its own.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub kubectl: &'a Kubectl,
    pub ns: String,
}

/// A scenario's verdict: `Err` describes the first difference from upstream.
pub type Outcome = Result<(), String>;

/// A named scenario.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub name: &'static str,
    pub run: fn(&Ctx<'_>) -> Outcome,
}

/// Every scenario, in the order the table prints them.
pub const ALL: &[Scenario] = &[
    Scenario { name: "version", run: version },
    Scenario { name: "api-versions", run: api_versions },
    Scenario { name: "api-resources", run: api_resources },
    Scenario { name: "namespaces", run: namespaces },
    Scenario { name: "configmaps", run: configmaps },
    Scenario { name: "secrets", run: secrets },
    Scenario { name: "pods from YAML", run: pods_from_yaml },
    Scenario { name: "label and annotate", run: label_and_annotate },
    Scenario { name: "patch (3 types)", run: patch },
    Scenario { name: "replace", run: replace },
    Scenario { name: "apply", run: apply },
    Scenario { name: "delete", run: delete },
    Scenario { name: "get flags", run: get_flags },
    Scenario { name: "get -w", run: get_watch },
    Scenario { name: "secrets from files", run: more::secrets_from_files },
    Scenario { name: "services", run: more::services },
    Scenario { name: "deployments", run: more::deployments },
    Scenario { name: "pods: expose, delete --wait", run: more::pods_expose_and_delete },
    Scenario { name: "auth can-i, whoami", run: more::auth },
    Scenario { name: "scheduling (simulated nodes)", run: more::scheduling },
    Scenario { name: "rollouts", run: rollouts::rollouts },
    Scenario { name: "statefulsets and daemonsets", run: rollouts::sets },
    Scenario { name: "jobs and cron jobs", run: jobs::jobs },
    Scenario { name: "cascading deletes", run: jobs::cascades },
];

/// Collapses runs of spaces, as column alignment differs with content.
fn squeeze(text: &str) -> String {
    text.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect::<Vec<_>>().join("\n")
}

impl Ctx<'_> {
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<Run, String> {
        self.kubectl.run(args, stdin).map_err(|e| format!("kubectl {}: {e:#}", args.join(" ")))
    }

    /// Runs kubectl in the scenario's namespace and requires success; returns stdout.
    fn ok(&self, args: &[&str]) -> Result<String, String> {
        self.ok_with(args, None)
    }

    /// Like `ok`, with stdin; anything on stderr (a warning upstream would not give) is a difference.
    fn ok_with(&self, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
        let (stdout, stderr) = self.ok_both(args, stdin)?;
        if stderr.trim().is_empty() {
            Ok(stdout)
        } else {
            Err(format!("`kubectl {}` printed {:?}; upstream prints nothing on stderr", args.join(" "), stderr.trim()))
        }
    }

    /// Runs kubectl in the scenario's namespace and requires success; returns stdout and stderr.
    fn ok_both(&self, args: &[&str], stdin: Option<&str>) -> Result<(String, String), String> {
        let mut full = vec!["-n", self.ns.as_str()];
        full.extend_from_slice(args);
        let run = self.run(&full, stdin)?;
        if run.success {
            Ok((run.stdout, run.stderr))
        } else {
            Err(format!("`kubectl {}` failed: {}", args.join(" "), run.stderr.trim()))
        }
    }

    /// Requires failure; returns stderr.
    fn fails(&self, args: &[&str]) -> Result<String, String> {
        let mut full = vec!["-n", self.ns.as_str()];
        full.extend_from_slice(args);
        let run = self.run(&full, None)?;
        if run.success {
            Err(format!("`kubectl {}` succeeded but upstream fails", args.join(" ")))
        } else {
            Ok(run.stderr)
        }
    }
}

fn same(what: &str, got: &str, want: &str) -> Outcome {
    if got.trim_end() == want.trim_end() {
        Ok(())
    } else {
        Err(format!("{what}: got {:?}, upstream prints {:?}", got.trim_end(), want.trim_end()))
    }
}

fn has(what: &str, got: &str, want: &str) -> Outcome {
    if got.contains(want) { Ok(()) } else { Err(format!("{what}: {:?} does not contain {:?}", got.trim_end(), want)) }
}

fn version(c: &Ctx<'_>) -> Outcome {
    // kubectl's own warnings (a deprecated output format, the version skew) go to stderr, as against upstream.
    let (out, _) = c.ok_both(&["version"], None)?;
    // kubectl before 1.28 prints the server's version.Info struct.
    if out.contains("Server Version: v1.33.") || out.contains("GitVersion:\"v1.33.") {
        Ok(())
    } else {
        Err(format!("kubectl version does not report a v1.33 server: {out:?}"))
    }
}

fn api_versions(c: &Ctx<'_>) -> Outcome {
    let out = c.ok(&["api-versions"])?;
    for gv in ["apps/v1", "batch/v1", "rbac.authorization.k8s.io/v1", "networking.k8s.io/v1", "v1"] {
        if !out.lines().any(|l| l == gv) {
            return Err(format!("api-versions lacks {gv}"));
        }
    }
    Ok(())
}

fn api_resources(c: &Ctx<'_>) -> Outcome {
    let out = squeeze(&c.ok(&["api-resources"])?);
    has("header", &out, "NAME SHORTNAMES APIVERSION NAMESPACED KIND")?;
    for row in [
        "pods po v1 true Pod",
        "namespaces ns v1 false Namespace",
        "deployments deploy apps/v1 true Deployment",
        "cronjobs cj batch/v1 true CronJob",
        "clusterroles rbac.authorization.k8s.io/v1 false ClusterRole",
        "horizontalpodautoscalers hpa autoscaling/v2 true HorizontalPodAutoscaler",
    ] {
        has("api-resources", &out, row)?;
    }
    Ok(())
}

fn namespaces(c: &Ctx<'_>) -> Outcome {
    let name = format!("{}-extra", c.ns);
    same("create", &c.ok(&["create", "namespace", &name])?, &format!("namespace/{name} created"))?;
    let table = squeeze(&c.ok(&["get", "namespace", &name])?);
    has("get", &table, "NAME STATUS AGE")?;
    has("get", &table, &format!("{name} Active"))?;
    same("phase", &c.ok(&["get", "namespace", &name, "-o", "jsonpath={.status.phase}"])?, "Active")?;
    let again = c.fails(&["create", "namespace", &name])?;
    has("duplicate", &again, &format!("Error from server (AlreadyExists): namespaces \"{name}\" already exists"))
}

fn configmaps(c: &Ctx<'_>) -> Outcome {
    same(
        "create",
        &c.ok(&["create", "configmap", "cm1", "--from-literal=a=1", "--from-literal=b=two"])?,
        "configmap/cm1 created",
    )?;
    let file = std::env::temp_dir().join(format!("skiff-conformance-{}.properties", c.ns));
    std::fs::write(&file, "x=1\ny=2\n").map_err(|e| e.to_string())?;
    let from_file = format!("--from-file={}", file.display());
    same("create from file", &c.ok(&["create", "configmap", "cm2", &from_file])?, "configmap/cm2 created")?;
    let _ = std::fs::remove_file(&file);
    same("jsonpath", &c.ok(&["get", "configmap", "cm1", "-o", "jsonpath={.data.a}"])?, "1")?;
    let yaml = c.ok(&["get", "configmap", "cm1", "-o", "yaml"])?;
    has("yaml", &yaml, "data:\n  a: \"1\"\n  b: two\n")?;
    has("yaml", &yaml, "kind: ConfigMap")?;
    let json = c.ok(&["get", "configmap", "cm2", "-o", "json"])?;
    has("json", &json, "\"x=1\\ny=2\\n\"")?;
    let columns = squeeze(&c.ok(&["get", "configmap", "cm1", "-o", "custom-columns=NAME:.metadata.name,A:.data.a"])?);
    same("custom-columns", &columns, "NAME A\ncm1 1")?;
    let table = squeeze(&c.ok(&["get", "configmaps"])?);
    has("table", &table, "NAME DATA AGE")?;
    has("table", &table, "cm1 2 ")?;
    same("delete", &c.ok(&["delete", "configmap", "cm1"])?, "configmap \"cm1\" deleted")?;
    has(
        "get deleted",
        &c.fails(&["get", "configmap", "cm1"])?,
        "Error from server (NotFound): configmaps \"cm1\" not found",
    )
}

fn secrets(c: &Ctx<'_>) -> Outcome {
    same(
        "create",
        &c.ok(&["create", "secret", "generic", "s1", "--from-literal=password=hunter2"])?,
        "secret/s1 created",
    )?;
    same("data", &c.ok(&["get", "secret", "s1", "-o", "jsonpath={.data.password}"])?, "aHVudGVyMg==")?;
    let table = squeeze(&c.ok(&["get", "secret", "s1"])?);
    has("table", &table, "NAME TYPE DATA AGE")?;
    has("table", &table, "s1 Opaque 1 ")
}

/// A pod no node takes (the cluster's simulated nodes lack the label), so it stays Pending.
const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p1\n  labels:\n    app: demo\nspec:\n  nodeSelector:\n    skiff.dev/nowhere: \"true\"\n  containers:\n  - name: app\n    image: busybox:1.36\n    command: [\"sleep\", \"3600\"]\n";

fn pods_from_yaml(c: &Ctx<'_>) -> Outcome {
    same("create", &c.ok_with(&["create", "-f", "-"], Some(POD))?, "pod/p1 created")?;
    let table = squeeze(&c.ok(&["get", "pods"])?);
    has("table", &table, "NAME READY STATUS RESTARTS AGE")?;
    has("table", &table, "p1 0/1 Pending 0 ")?;
    let wide = squeeze(&c.ok(&["get", "pods", "-o", "wide"])?);
    has("wide", &wide, "NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES")?;
    has("wide", &wide, "<none> <none> <none> <none>")?;
    same(
        "defaults",
        &c.ok(&[
            "get",
            "pod",
            "p1",
            "-o",
            "jsonpath={.spec.restartPolicy} {.spec.containers[0].imagePullPolicy} {.spec.schedulerName}",
        ])?,
        "Always IfNotPresent default-scheduler",
    )
}

fn label_and_annotate(c: &Ctx<'_>) -> Outcome {
    c.ok(&["create", "configmap", "la", "--from-literal=k=v"])?;
    same("label", &c.ok(&["label", "configmap", "la", "env=prod"])?, "configmap/la labeled")?;
    has(
        "relabel",
        &c.fails(&["label", "configmap", "la", "env=dev"])?,
        "error: 'env' already has a value (prod), and --overwrite is false",
    )?;
    same("overwrite", &c.ok(&["label", "configmap", "la", "env=dev", "--overwrite"])?, "configmap/la labeled")?;
    same("value", &c.ok(&["get", "configmap", "la", "-o", "jsonpath={.metadata.labels.env}"])?, "dev")?;
    same("remove", &c.ok(&["label", "configmap", "la", "env-"])?, "configmap/la unlabeled")?;
    // kubectl 1.27 prints "annotate", later versions "annotated".
    has("annotate", &c.ok(&["annotate", "configmap", "la", "note=hello"])?, "configmap/la annotate")?;
    same("annotation", &c.ok(&["get", "configmap", "la", "-o", "jsonpath={.metadata.annotations.note}"])?, "hello")?;
    has("remove annotation", &c.ok(&["annotate", "configmap", "la", "note-"])?, "configmap/la annotate")?;
    same("annotation gone", &c.ok(&["get", "configmap", "la", "-o", "jsonpath={.metadata.annotations}"])?, "")
}

fn patch(c: &Ctx<'_>) -> Outcome {
    c.ok(&["create", "configmap", "pt", "--from-literal=a=1"])?;
    same(
        "merge",
        &c.ok(&["patch", "configmap", "pt", "--type", "merge", "-p", r#"{"data":{"b":"2"}}"#])?,
        "configmap/pt patched",
    )?;
    same(
        "json",
        &c.ok(&["patch", "configmap", "pt", "--type", "json", "-p", r#"[{"op":"remove","path":"/data/a"}]"#])?,
        "configmap/pt patched",
    )?;
    same("strategic", &c.ok(&["patch", "configmap", "pt", "-p", r#"{"data":{"c":"3"}}"#])?, "configmap/pt patched")?;
    same(
        "no change",
        &c.ok(&["patch", "configmap", "pt", "-p", r#"{"data":{"c":"3"}}"#])?,
        "configmap/pt patched (no change)",
    )?;
    same("result", &c.ok(&["get", "configmap", "pt", "-o", "jsonpath={.data}"])?, r#"{"b":"2","c":"3"}"#)
}

fn replace(c: &Ctx<'_>) -> Outcome {
    c.ok(&["create", "configmap", "rp", "--from-literal=a=1"])?;
    let json = c.ok(&["get", "configmap", "rp", "-o", "json"])?;
    let changed = json.replace("\"a\": \"1\"", "\"a\": \"changed\"");
    same("replace", &c.ok_with(&["replace", "-f", "-"], Some(&changed))?, "configmap/rp replaced")?;
    same("value", &c.ok(&["get", "configmap", "rp", "-o", "jsonpath={.data.a}"])?, "changed")?;
    has(
        "stale",
        &c.fails_with_stdin(&["replace", "-f", "-"], &changed)?,
        "the object has been modified; please apply your changes to the latest version and try again",
    )
}

impl Ctx<'_> {
    fn fails_with_stdin(&self, args: &[&str], stdin: &str) -> Result<String, String> {
        let mut full = vec!["-n", self.ns.as_str()];
        full.extend_from_slice(args);
        let run = self.run(&full, Some(stdin))?;
        if run.success {
            Err(format!("`kubectl {}` succeeded but upstream fails", args.join(" ")))
        } else {
            Ok(run.stderr)
        }
    }
}

fn apply(c: &Ctx<'_>) -> Outcome {
    let v1 = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ap\ndata:\n  a: \"1\"\n  b: \"2\"\n";
    let v2 = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ap\ndata:\n  a: \"10\"\n  b: \"2\"\n";
    let v3 = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ap\ndata:\n  a: \"10\"\n";
    same("create", &c.ok_with(&["apply", "-f", "-"], Some(v1))?, "configmap/ap created")?;
    same("unchanged", &c.ok_with(&["apply", "-f", "-"], Some(v1))?, "configmap/ap unchanged")?;
    same("change", &c.ok_with(&["apply", "-f", "-"], Some(v2))?, "configmap/ap configured")?;
    same("remove a field", &c.ok_with(&["apply", "-f", "-"], Some(v3))?, "configmap/ap configured")?;
    same("result", &c.ok(&["get", "configmap", "ap", "-o", "jsonpath={.data}"])?, r#"{"a":"10"}"#)
}

fn delete(c: &Ctx<'_>) -> Outcome {
    for (name, tier) in [("d1", "a"), ("d2", "a"), ("d3", "b")] {
        c.ok(&["create", "configmap", name, "--from-literal=k=v"])?;
        c.ok(&["label", "configmap", name, &format!("tier={tier}")])?;
    }
    let by_label = c.ok(&["delete", "configmap", "-l", "tier=a"])?;
    same("by label", &by_label, "configmap \"d1\" deleted\nconfigmap \"d2\" deleted")?;
    same("wait", &c.ok(&["delete", "configmap", "d3", "--wait"])?, "configmap \"d3\" deleted")?;
    c.ok(&["create", "configmap", "d4", "--from-literal=k=v"])?;
    has("all", &c.ok(&["delete", "configmap", "--all"])?, "configmap \"d4\" deleted")?;
    has(
        "none left",
        &c.ok_stderr(&["get", "configmaps", "-l", "tier"])?,
        &format!("No resources found in {} namespace.", c.ns),
    )
}

impl Ctx<'_> {
    /// Requires success and returns stderr (where kubectl prints "No resources found").
    fn ok_stderr(&self, args: &[&str]) -> Result<String, String> {
        self.ok_both(args, None).map(|(_, stderr)| stderr)
    }
}

fn get_flags(c: &Ctx<'_>) -> Outcome {
    for (name, env) in [("g-b", "prod"), ("g-a", "dev"), ("g-c", "prod")] {
        c.ok(&["create", "configmap", name, "--from-literal=k=v"])?;
        c.ok(&["label", "configmap", name, &format!("env={env}")])?;
    }
    let names = |args: &[&str]| -> Result<String, String> {
        let mut full = args.to_vec();
        full.extend_from_slice(&["-o", "custom-columns=NAME:.metadata.name", "--no-headers"]);
        Ok(c.ok(&full)?.lines().map(str::trim).collect::<Vec<_>>().join(","))
    };
    same("-l", &names(&["get", "configmaps", "-l", "env=prod"])?, "g-b,g-c")?;
    same("--field-selector", &names(&["get", "configmaps", "--field-selector", "metadata.name=g-a"])?, "g-a")?;
    same("--sort-by", &names(&["get", "configmaps", "-l", "env", "--sort-by=.metadata.name"])?, "g-a,g-b,g-c")?;
    same("--chunk-size", &names(&["get", "configmaps", "-l", "env", "--chunk-size=1"])?, "g-a,g-b,g-c")?;
    let labels = squeeze(&c.ok(&["get", "configmap", "g-a", "--show-labels"])?);
    has("--show-labels", &labels, "NAME DATA AGE LABELS")?;
    has("--show-labels", &labels, "env=dev")?;
    let column = squeeze(&c.ok(&["get", "configmap", "g-b", "-L", "env"])?);
    has("-L", &column, "NAME DATA AGE ENV")?;
    has("-L", &column, " prod")?;
    let all = squeeze(&c.run(&["get", "configmaps", "-A", "-l", "env=dev"], None)?.stdout);
    has("-A", &all, "NAMESPACE NAME DATA AGE")?;
    has("-A", &all, &format!("{} g-a 1 ", c.ns))
}

fn get_watch(c: &Ctx<'_>) -> Outcome {
    use std::io::Read;
    let mut watcher = c
        .kubectl
        .spawn(&["-n", &c.ns, "get", "configmaps", "-w"])
        .map_err(|e| format!("starting kubectl get -w: {e:#}"))?;
    let mut stdout = watcher.stdout.take().ok_or("no stdout")?;
    let (lines, seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        let mut text = String::new();
        while let Ok(n) = stdout.read(&mut buffer) {
            if n == 0 {
                break;
            }
            text.push_str(&String::from_utf8_lossy(&buffer[..n]));
            let _ = lines.send(text.clone());
        }
    });
    // The watch is open once kubectl has listed (it prints nothing for an empty list);
    // the changes below are made until they show up, within a deadline.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut output = String::new();
    let mut step = 0;
    while std::time::Instant::now() < deadline && squeeze(&output).matches("watched 1 ").count() < 3 {
        match step {
            0 => c.ok(&["create", "configmap", "watched", "--from-literal=k=v"]).map(drop)?,
            1 => c.ok(&["label", "configmap", "watched", "seen=yes"]).map(drop)?,
            2 => c.ok(&["delete", "configmap", "watched"]).map(drop)?,
            _ => {}
        }
        step += 1;
        if let Ok(text) = seen.recv_timeout(std::time::Duration::from_millis(500)) {
            output = text;
        }
    }
    let _ = watcher.kill();
    let _ = watcher.wait();
    let output = squeeze(&output);
    has("get -w header", &output, "NAME DATA AGE")?;
    if output.matches("watched 1 ").count() < 3 {
        return Err(format!("get -w printed {output:?}; upstream prints a row for the add, the change and the delete"));
    }
    Ok(())
}
