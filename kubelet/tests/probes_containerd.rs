//! Probes and the container-config mappings on a real containerd: a busybox
//! httpd pod configured by the pod mappings (security context with dropped and
//! added capabilities, seccomp RuntimeDefault, resources, DNS, hostname) runs,
//! and every probe kind judges it over its pod IP or CRI exec.

#![cfg(feature = "testing")]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Pod, Probe};
use serde_json::json;
use skiff_kubelet::pod::{dns, resources, security};
use skiff_kubelet::probes::{Outcome, ProbeTarget, Prober};
use skiff_kubelet::runtime::{Runtime, api, labels};
use skiff_kubelet::testing::{BUSYBOX_IMAGE, TestContainerd};

const DEADLINE: Duration = Duration::from_secs(20);

fn pod() -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default", "uid": uuid::Uuid::new_v4().to_string()},
        "spec": {
            "hostname": "web-0", "subdomain": "web",
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}, "supplementalGroups": [1234]},
            "containers": [{
                "name": "httpd", "image": BUSYBOX_IMAGE,
                "command": ["sh", "-c", "mkdir -p /tmp/www && echo ok > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"],
                "resources": {"requests": {"cpu": "100m", "memory": "32Mi"}, "limits": {"cpu": "500m", "memory": "64Mi"}},
                "securityContext": {
                    "allowPrivilegeEscalation": false,
                    "capabilities": {"drop": ["ALL"], "add": ["SETUID", "SETGID", "NET_BIND_SERVICE"]},
                },
            }],
        },
    }))
    .expect("a pod")
}

fn sandbox_config(test: &TestContainerd, pod: &Pod, log_dir: &Path) -> api::PodSandboxConfig {
    let meta = &pod.metadata;
    let (name, uid) = (meta.name.clone().unwrap_or_default(), meta.uid.clone().unwrap_or_default());
    let hostname = dns::pod_hostname(pod, "cluster.local").expect("a hostname");
    let cluster =
        dns::ClusterDns { servers: vec!["10.43.0.10".parse().expect("an IP")], domain: "cluster.local".into() };
    let dns = dns::pod_dns_config(pod, &cluster, "nameserver 192.168.1.1\n");
    let node = resources::NodeResources::detect();
    let (pod_resources, overhead) = resources::sandbox_resources(pod, &node);
    let mut security_context = security::sandbox_security_context(pod);
    security_context.namespace_options = Some(security::namespace_options(pod));
    api::PodSandboxConfig {
        metadata: Some(api::PodSandboxMetadata {
            name: name.clone(),
            uid: uid.clone(),
            namespace: "default".into(),
            attempt: 0,
        }),
        hostname: hostname.kernel_hostname,
        log_directory: log_dir.display().to_string(),
        dns_config: Some(dns.config),
        labels: [
            (labels::POD_NAME.to_owned(), name),
            (labels::POD_NAMESPACE.to_owned(), "default".to_owned()),
            (labels::POD_UID.to_owned(), uid.clone()),
        ]
        .into(),
        linux: Some(api::LinuxPodSandboxConfig {
            cgroup_parent: test.cgroup_parent(&uid),
            security_context: Some(security_context),
            sysctls: security::sysctls(pod),
            resources: Some(pod_resources),
            overhead,
        }),
        ..Default::default()
    }
}

fn container_config(pod: &Pod, image: Option<&api::Image>) -> api::ContainerConfig {
    let container = &pod.spec.as_ref().expect("a spec").containers[0];
    let mut security_context =
        security::container_security_context(pod, container, image, Path::new("/var/lib/skiff/seccomp"))
            .expect("a context");
    security_context.namespace_options = Some(security::namespace_options(pod));
    let node = resources::NodeResources::detect();
    api::ContainerConfig {
        metadata: Some(api::ContainerMetadata { name: container.name.clone(), attempt: 0 }),
        image: Some(api::ImageSpec { image: BUSYBOX_IMAGE.into(), ..Default::default() }),
        command: container.command.clone().unwrap_or_default(),
        log_path: format!("{}/0.log", container.name),
        labels: [(labels::CONTAINER_NAME.to_owned(), container.name.clone())].into(),
        linux: Some(api::LinuxContainerConfig {
            resources: Some(resources::container_resources(pod, container, &node)),
            security_context: Some(security_context),
        }),
        ..Default::default()
    }
}

fn probe(value: serde_json::Value) -> Probe {
    serde_json::from_value(value).expect("a probe")
}

#[tokio::test]
async fn probes_judge_a_busybox_httpd_pod_configured_by_the_mappings() {
    let Some(test) = TestContainerd::start().await else { return };
    let runtime = test.runtime();
    let pod = pod();
    let sandbox = sandbox_config(&test, &pod, &test.dir().join("logs"));
    let sandbox_id = match runtime.run_pod_sandbox(sandbox.clone()).await {
        Ok(id) => id,
        Err(err) => panic!("RunPodSandbox: {err}\ncontainerd log:\n{}", test.log_tail()),
    };
    let image = runtime.image_status(BUSYBOX_IMAGE).await.expect("image status");
    let config = container_config(&pod, image.as_ref());
    let container_id = match runtime.create_container(&sandbox_id, config, &sandbox).await {
        Ok(id) => id,
        Err(err) => panic!("CreateContainer: {err}\ncontainerd log:\n{}", test.log_tail()),
    };
    runtime.start_container(&container_id).await.expect("started");
    let status = runtime.pod_sandbox_status(&sandbox_id).await.expect("status").expect("exists");
    let pod_ip = status.network.expect("a network").ip;

    let prober = Prober::new(runtime.clone() as Arc<dyn Runtime>);
    let target = ProbeTarget {
        container: pod.spec.as_ref().expect("a spec").containers[0].clone(),
        container_id: container_id.clone(),
        pod_ip: pod_ip.clone(),
    };
    let started = Instant::now();
    let readiness = probe(json!({"httpGet": {"path": "/index.html", "port": 8080}}));
    loop {
        match prober.run(&readiness, &target).await {
            Outcome::Success(body) => {
                assert_eq!(body, "ok\n");
                break;
            }
            other => assert!(started.elapsed() < DEADLINE, "httpd never answered: {other:?}\n{}", test.log_tail()),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let cases = [
        (
            json!({"httpGet": {"path": "/missing", "port": 8080}}),
            Outcome::Failure("HTTP probe failed with statuscode: 404".into()),
        ),
        (json!({"tcpSocket": {"port": 8080}}), Outcome::Success(String::new())),
        (
            json!({"tcpSocket": {"port": 8081}}),
            Outcome::Failure(format!("dial tcp {pod_ip}:8081: connect: connection refused")),
        ),
        (json!({"exec": {"command": ["cat", "/tmp/www/index.html"]}}), Outcome::Success("ok\n".into())),
        (json!({"exec": {"command": ["sh", "-c", "echo bad; exit 3"]}}), Outcome::Failure("bad\n".into())),
        (
            json!({"exec": {"command": ["sleep", "5"]}, "timeoutSeconds": 1}),
            Outcome::Failure("command \"sleep 5\" timed out".into()),
        ),
        (json!({"exec": {"command": ["sh", "-c", "hostname; id -G"]}}), Outcome::Success("web-0\n0 1234\n".into())),
    ];
    for (value, want) in cases {
        let took = Instant::now();
        assert_eq!(prober.run(&probe(value.clone()), &target).await, want, "{value}");
        assert!(took.elapsed() < Duration::from_secs(4), "{value} took {:?}", took.elapsed());
    }

    runtime.stop_pod_sandbox(&sandbox_id).await.expect("stopped");
    runtime.remove_pod_sandbox(&sandbox_id).await.expect("removed");
}
