//! Scenarios for secrets from files, services, deployments and pods.

use super::{Ctx, Outcome, POD, has, same, squeeze};

/// A file in the temp dir for one scenario, removed when dropped.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(c: &Ctx<'_>, name: &str, contents: &str) -> Result<Self, String> {
        let path = std::env::temp_dir().join(format!("skiff-conformance-{}-{name}", c.ns));
        std::fs::write(&path, contents).map_err(|e| format!("writing {}: {e}", path.display()))?;
        Ok(Self(path))
    }

    fn path(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub fn secrets_from_files(c: &Ctx<'_>) -> Outcome {
    let key = TempFile::new(c, "key.txt", "s3cr3t")?;
    let from_file = format!("--from-file=key.txt={}", key.path());
    same("from file", &c.ok(&["create", "secret", "generic", "s2", &from_file])?, "secret/s2 created")?;
    same("file data", &c.ok(&["get", "secret", "s2", "-o", "jsonpath={.data.key\\.txt}"])?, "czNjcjN0")?;
    let env = TempFile::new(c, "env", "A=1\n# a comment\nB=two\n")?;
    let from_env = format!("--from-env-file={}", env.path());
    same("from env file", &c.ok(&["create", "secret", "generic", "s3", &from_env])?, "secret/s3 created")?;
    same("env data", &c.ok(&["get", "secret", "s3", "-o", "jsonpath={.data.A} {.data.B}"])?, "MQ== dHdv")?;
    let registry = ["--docker-server=registry.invalid", "--docker-username=u", "--docker-password=p"];
    let mut args = vec!["create", "secret", "docker-registry", "reg"];
    args.extend_from_slice(&registry);
    same("docker-registry", &c.ok(&args)?, "secret/reg created")?;
    has("docker-registry table", &squeeze(&c.ok(&["get", "secret", "reg"])?), "reg kubernetes.io/dockerconfigjson 1 ")
}

pub fn services(c: &Ctx<'_>) -> Outcome {
    same("create", &c.ok(&["create", "service", "clusterip", "web", "--tcp=80:8080"])?, "service/web created")?;
    let table = squeeze(&c.ok(&["get", "service", "web"])?);
    has("table", &table, "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE")?;
    has("table", &table, "web ClusterIP 10.43.")?;
    has("table", &table, " <none> 80/TCP ")?;
    same("nodeport", &c.ok(&["create", "service", "nodeport", "np", "--tcp=80:8080"])?, "service/np created")?;
    let port = c.ok(&["get", "service", "np", "-o", "jsonpath={.spec.ports[0].nodePort}"])?;
    if !port.trim().parse::<u16>().is_ok_and(|p| (30000..=32767).contains(&p)) {
        return Err(format!("node port {port:?} is not in 30000-32767"));
    }
    has("nodeport table", &squeeze(&c.ok(&["get", "service", "np"])?), &format!("80:{}/TCP", port.trim()))?;
    let kubernetes = squeeze(&c.ok(&["-n", "default", "get", "service", "kubernetes"])?);
    has("kubernetes service", &kubernetes, "kubernetes ClusterIP 10.43.0.1 <none> 443/TCP ")?;
    let (endpoints, warning) = c.ok_both(&["-n", "default", "get", "endpoints", "kubernetes"], None)?;
    has("endpoints", &squeeze(&endpoints), "kubernetes 127.0.0.1:")?;
    has(
        "endpoints warning",
        &warning,
        "Warning: v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice",
    )?;
    let slices = squeeze(&c.ok(&["-n", "default", "get", "endpointslices", "kubernetes"])?);
    has("endpointslice", &slices, "NAME ADDRESSTYPE PORTS ENDPOINTS AGE")?;
    has("endpointslice", &slices, "kubernetes IPv4 ")?;
    let taken = c.fails(&["create", "service", "clusterip", "dup", "--tcp=80", "--clusterip=10.43.0.1"])?;
    has(
        "taken IP",
        &taken,
        "Service \"dup\" is invalid: spec.clusterIPs: Invalid value: []string{\"10.43.0.1\"}: failed to allocate IP 10.43.0.1: provided IP is already allocated",
    )
}

const DEPLOYMENT_V1: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ap\nspec:\n  selector:\n    matchLabels:\n      app: ap\n  template:\n    metadata:\n      labels:\n        app: ap\n    spec:\n      containers:\n      - name: app\n        image: busybox:1.36\n        env:\n        - name: A\n          value: \"1\"\n        - name: B\n          value: \"2\"\n";
const DEPLOYMENT_V2: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ap\nspec:\n  selector:\n    matchLabels:\n      app: ap\n  template:\n    metadata:\n      labels:\n        app: ap\n    spec:\n      containers:\n      - name: app\n        image: busybox:1.37\n        env:\n        - name: A\n          value: \"1\"\n";

pub fn deployments(c: &Ctx<'_>) -> Outcome {
    let created = c.ok(&["create", "deployment", "web", "--image=busybox:1.36", "--replicas=2"])?;
    same("create", &created, "deployment.apps/web created")?;
    let status = c.ok(&["rollout", "status", "deployment/web", "--timeout=60s"])?;
    has("rollout status", &status, "deployment \"web\" successfully rolled out")?;
    let table = squeeze(&c.ok(&["get", "deployment", "web"])?);
    has("table", &table, "NAME READY UP-TO-DATE AVAILABLE AGE")?;
    has("table", &table, "web 2/2 2 2 ")?;
    let wide = squeeze(&c.ok(&["get", "deployment", "web", "-o", "wide"])?);
    has("wide", &wide, "NAME READY UP-TO-DATE AVAILABLE AGE CONTAINERS IMAGES SELECTOR")?;
    has("wide", &wide, "busybox busybox:1.36 app=web")?;
    let container = r#"{"spec":{"template":{"spec":{"containers":[{"name":"busybox","image":"busybox:1.37"}]}}}}"#;
    same("strategic", &c.ok(&["patch", "deployment", "web", "-p", container])?, "deployment.apps/web patched")?;
    let images = "jsonpath={.spec.template.spec.containers[*].image}";
    same("merged by name", &c.ok(&["get", "deployment", "web", "-o", images])?, "busybox:1.37")?;
    let set = c.ok(&["set", "image", "deployment/web", "busybox=busybox:1.38"])?;
    same("set image", &set, "deployment.apps/web image updated")?;
    same("scale", &c.ok(&["scale", "deployment", "web", "--replicas=3"])?, "deployment.apps/web scaled")?;
    let replicas = r#"[{"op":"replace","path":"/spec/replicas","value":4}]"#;
    same(
        "json",
        &c.ok(&["patch", "deployment", "web", "--type", "json", "-p", replicas])?,
        "deployment.apps/web patched",
    )?;
    let label = r#"{"spec":{"template":{"metadata":{"labels":{"tier":"web"}}}}}"#;
    same(
        "merge",
        &c.ok(&["patch", "deployment", "web", "--type", "merge", "-p", label])?,
        "deployment.apps/web patched",
    )?;
    let state = "jsonpath={.metadata.generation} {.spec.replicas} {.spec.template.spec.containers[0].image}";
    same("result", &c.ok(&["get", "deployment", "web", "-o", state])?, "6 4 busybox:1.38")?;
    // Client-side apply: a removed list entry (env B) goes, merged by name.
    same("apply", &c.ok_with(&["apply", "-f", "-"], Some(DEPLOYMENT_V1))?, "deployment.apps/ap created")?;
    same("re-apply", &c.ok_with(&["apply", "-f", "-"], Some(DEPLOYMENT_V2))?, "deployment.apps/ap configured")?;
    let env = "jsonpath={.spec.template.spec.containers[0].env[*].name} {.spec.template.spec.containers[0].image}";
    same("applied", &c.ok(&["get", "deployment", "ap", "-o", env])?, "A busybox:1.37")?;
    let defaults =
        "jsonpath={.spec.strategy.rollingUpdate.maxSurge} {.spec.revisionHistoryLimit} {.spec.progressDeadlineSeconds}";
    same("defaults", &c.ok(&["get", "deployment", "ap", "-o", defaults])?, "25% 10 600")
}

pub fn pods_expose_and_delete(c: &Ctx<'_>) -> Outcome {
    c.ok_with(&["create", "-f", "-"], Some(POD))?;
    let exposed = c.ok(&["expose", "pod", "p1", "--port=80", "--target-port=8080", "--name=p1-svc"])?;
    same("expose", &exposed, "service/p1-svc exposed")?;
    let selector = "jsonpath={.spec.selector.app} {.spec.ports[0].targetPort}";
    same("selector", &c.ok(&["get", "service", "p1-svc", "-o", selector])?, "demo 8080")?;
    same("delete --wait", &c.ok(&["delete", "pod", "p1", "--wait", "--timeout=30s"])?, "pod \"p1\" deleted")?;
    has("gone", &c.fails(&["get", "pod", "p1"])?, "Error from server (NotFound): pods \"p1\" not found")?;
    let manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: byfile\ndata:\n  k: v\n";
    c.ok_with(&["apply", "-f", "-"], Some(manifest))?;
    same("delete -f", &c.ok_with(&["delete", "-f", "-"], Some(manifest))?, "configmap \"byfile\" deleted")
}

pub fn auth(c: &Ctx<'_>) -> Outcome {
    same("can-i", &c.ok(&["auth", "can-i", "create", "pods"])?, "yes")?;
    same("can-i everything", &c.ok(&["auth", "can-i", "*", "*"])?, "yes")?;
    let list = squeeze(&c.ok(&["auth", "can-i", "--list"])?);
    has("can-i --list", &list, "Resources Non-Resource URLs Resource Names Verbs")?;
    has("can-i --list", &list, "*.* [] [] [*]")?;
    // kubectl 1.27 asks for authentication.k8s.io/v1beta1, which a v1.33 server no longer serves.
    if c.kubectl.version != "1.27" {
        let whoami = squeeze(&c.ok(&["auth", "whoami"])?);
        has("whoami", &whoami, "ATTRIBUTE VALUE\nUsername system:admin\nGroups [system:masters system:authenticated]")?;
    }
    Ok(())
}

pub fn scheduling(c: &Ctx<'_>) -> Outcome {
    let nodes = squeeze(&c.ok(&["get", "nodes"])?);
    has("nodes", &nodes, "NAME STATUS ROLES AGE VERSION")?;
    has("nodes", &nodes, "skiff-sim-0 Ready <none> ")?;
    has("nodes", &nodes, " v1.33.0+skiff")?;
    let run = c.ok(&["run", "sched", "--image=busybox:1.36", "--restart=Never", "--", "sleep", "3600"])?;
    same("run", &run, "pod/sched created")?;
    let ready = c.ok(&["wait", "--for=condition=Ready", "pod/sched", "--timeout=30s"])?;
    same("wait", &ready, "pod/sched condition met")?;
    let wide = squeeze(&c.ok(&["get", "pod", "sched", "-o", "wide"])?);
    has("wide", &wide, "sched 1/1 Running 0 ")?;
    has("wide", &wide, " skiff-sim-")?;
    let described = squeeze(&c.ok(&["describe", "pod", "sched"])?);
    has("describe", &described, "Normal Scheduled")?;
    has("describe", &described, &format!("default-scheduler Successfully assigned {}/sched to skiff-sim-", c.ns))?;
    let stuck = r#"{"spec":{"nodeSelector":{"gpu":"none"}}}"#;
    c.ok(&["run", "stuck", "--image=busybox:1.36", "--restart=Never", &format!("--overrides={stuck}")])?;
    let waited = c.ok(&["wait", "--for=condition=PodScheduled=False", "pod/stuck", "--timeout=30s"])?;
    same("wait unschedulable", &waited, "pod/stuck condition met")?;
    let described = squeeze(&c.ok(&["describe", "pod", "stuck"])?);
    has("FailedScheduling", &described, "Warning FailedScheduling")?;
    has(
        "FailedScheduling message",
        &described,
        "default-scheduler 0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling..",
    )?;
    same("delete --wait", &c.ok(&["delete", "pod", "sched", "--wait", "--timeout=30s"])?, "pod \"sched\" deleted")
}
