//! Pod volumes against the API server in process: each volume type laid out
//! as upstream's kubelet lays it out, updates in place, the errors users see,
//! and the CRI mounts of containers.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{
    ConfigMap, Container, PersistentVolume, PersistentVolumeClaim, Pod, Secret, ServiceAccount,
};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use skiff_apiserver::ApiServer;
use skiff_kubelet::volumes::{DATA_DIR_NAME, HostVolume, PodVolumes, VolumeManager, container_mounts};
use skiff_store::MemoryBackend;

struct Fixture {
    api: ApiServer,
    client: kube::Client,
    dir: tempfile::TempDir,
    volumes: VolumeManager,
}

async fn fixture() -> Fixture {
    let api = ApiServer::start(Arc::new(MemoryBackend::new())).await.expect("start the API server");
    let client = api.client();
    let dir = tempfile::tempdir().expect("temp dir");
    let volumes = VolumeManager::new(client.clone(), dir.path().join("pods"));
    Fixture { api, client, dir, volumes }
}

impl Fixture {
    async fn create<K>(&self, object: Value) -> K
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), "default");
        let object: K = serde_json::from_value(object).expect("object");
        api.create(&PostParams::default(), &object).await.expect("create")
    }

    fn volume_dir(&self, uid: &str, plugin: &str, name: &str) -> PathBuf {
        self.dir.path().join("pods").join(uid).join("volumes").join(format!("kubernetes.io~{plugin}")).join(name)
    }
}

impl Drop for Fixture {
    /// Unmounts the tmpfs volumes a test left (one that failed, or never tore its pod down).
    fn drop(&mut self) {
        let pods = self.dir.path().join("pods");
        for pod in std::fs::read_dir(&pods).into_iter().flatten().flatten() {
            for plugin in std::fs::read_dir(pod.path().join("volumes")).into_iter().flatten().flatten() {
                for volume in std::fs::read_dir(plugin.path()).into_iter().flatten().flatten() {
                    if is_tmpfs(&volume.path()) {
                        let _ = rustix::mount::unmount(volume.path(), rustix::mount::UnmountFlags::DETACH);
                    }
                }
            }
        }
    }
}

/// A pod that is not stored (volumes need only its spec and uid), with `volumes`.
fn pod(uid: &str, volumes: Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": { "name": "web", "namespace": "default", "uid": uid,
                      "labels": { "app": "web", "tier": "front" }, "annotations": { "note": "say \"hi\"" } },
        "spec": { "containers": [{ "name": "c", "image": "busybox",
                                   "resources": { "limits": { "memory": "64Mi" } } }],
                  "volumes": volumes }
    }))
    .expect("pod")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o7777
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// Tests that need root (mounts) skip only outside CI.
fn require_root() -> bool {
    if is_root() {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "mount tests need root in CI");
    eprintln!("skipping: not root");
    false
}

fn is_tmpfs(path: &Path) -> bool {
    // TMPFS_MAGIC (f_type's integer type differs between architectures).
    rustix::fs::statfs(path).is_ok_and(|s| s.f_type == 0x0102_1994)
}

#[tokio::test]
async fn a_config_map_volume_has_the_atomic_writer_layout() {
    let f = fixture().await;
    let _: ConfigMap = f
        .create(json!({ "metadata": { "name": "cfg" }, "data": { "a.txt": "alpha", "b.txt": "beta" },
                        "binaryData": { "bin": "AAEC" } }))
        .await;
    let spec = json!([
        { "name": "all", "configMap": { "name": "cfg" } },
        { "name": "some", "configMap": { "name": "cfg", "defaultMode": 0o600,
            "items": [{ "key": "a.txt", "path": "deep/dir/a" }, { "key": "b.txt", "path": "b", "mode": 0o640 }] } }
    ]);
    let volumes = f.volumes.setup(&pod("u1", spec)).await.expect("setup");
    let all = f.volume_dir("u1", "configmap", "all");
    assert_eq!(volumes.volumes["all"], HostVolume { path: all.clone(), read_only: true });

    let data = std::fs::read_link(all.join(DATA_DIR_NAME)).expect("..data is a symlink");
    let data = data.to_string_lossy().into_owned();
    assert!(data.starts_with("..20") && data.len() > "..2026_12_03_16_45_00.".len(), "{data}");
    assert_eq!(mode(&all.join(&data)), 0o755);
    for (key, value) in [("a.txt", "alpha"), ("b.txt", "beta")] {
        assert_eq!(std::fs::read_link(all.join(key)).expect("key symlink"), Path::new("..data").join(key));
        assert_eq!(read(&all.join(key)), value);
        assert_eq!(mode(&all.join(key)), 0o644, "defaultMode 0644");
    }
    assert_eq!(std::fs::read(all.join("bin")).expect("binary"), vec![0, 1, 2]);

    let some = f.volume_dir("u1", "configmap", "some");
    assert_eq!(read(&some.join("deep/dir/a")), "alpha");
    assert_eq!(mode(&some.join("deep/dir/a")), 0o600, "the volume's defaultMode");
    assert_eq!(mode(&some.join("b")), 0o640, "the item's mode");
    assert_eq!(std::fs::read_link(some.join("deep")).expect("top-level link"), Path::new("..data/deep"));
    assert!(std::fs::symlink_metadata(some.join("a.txt")).is_err(), "only the items are projected");

    f.volumes.teardown("u1").await.expect("teardown");
    assert!(!f.dir.path().join("pods/u1/volumes").exists());
}

#[tokio::test]
async fn a_secret_volume_updates_in_place_after_the_secret_changes() {
    let f = fixture().await;
    let _: Secret =
        f.create(json!({ "metadata": { "name": "creds" }, "data": { "user": "YWRtaW4=", "old": "eA==" } })).await;
    let spec = pod("u2", json!([{ "name": "creds", "secret": { "secretName": "creds" } }]));
    f.volumes.setup(&spec).await.expect("setup");
    let dir = f.volume_dir("u2", "secret", "creds");
    assert_eq!(read(&dir.join("user")), "admin");
    let first = std::fs::read_link(dir.join(DATA_DIR_NAME)).expect("..data");
    if is_root() {
        assert!(is_tmpfs(&dir), "secrets live on a tmpfs");
    }

    f.volumes.setup(&spec).await.expect("setup again");
    assert_eq!(std::fs::read_link(dir.join(DATA_DIR_NAME)).expect("..data"), first, "nothing changed, nothing written");

    let secrets: Api<Secret> = Api::namespaced(f.client.clone(), "default");
    let patch = json!({ "data": { "user": "cm9vdA==", "old": null, "new": "bmV3" } });
    secrets.patch("creds", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("update the secret");
    f.volumes.setup(&spec).await.expect("setup after the change");
    assert_eq!(read(&dir.join("user")), "root");
    assert_eq!(read(&dir.join("new")), "new");
    assert!(std::fs::symlink_metadata(dir.join("old")).is_err(), "a removed key's link is gone");
    let second = std::fs::read_link(dir.join(DATA_DIR_NAME)).expect("..data");
    assert_ne!(second, first);
    assert!(!dir.join(&first).exists(), "the old data dir is removed");

    f.volumes.teardown("u2").await.expect("teardown");
    assert!(!dir.exists());
}

#[tokio::test]
async fn missing_config_maps_and_secrets_fail_with_upstream_messages_unless_optional() {
    let f = fixture().await;
    let error = f
        .volumes
        .setup(&pod("u3", json!([{ "name": "cfg", "configMap": { "name": "missing" } }])))
        .await
        .expect_err("missing configmap");
    assert_eq!(error.to_string(), "MountVolume.SetUp failed for volume \"cfg\" : configmap \"missing\" not found");
    let error = f
        .volumes
        .setup(&pod("u3", json!([{ "name": "s", "secret": { "secretName": "nope" } }])))
        .await
        .expect_err("missing secret");
    assert_eq!(error.to_string(), "MountVolume.SetUp failed for volume \"s\" : secret \"nope\" not found");
    let _: ConfigMap = f.create(json!({ "metadata": { "name": "cfg" }, "data": { "a": "1" } })).await;
    let error = f
        .volumes
        .setup(&pod(
            "u3",
            json!([{ "name": "cfg", "configMap": { "name": "cfg", "items": [{ "key": "zz", "path": "z" }] } }]),
        ))
        .await
        .expect_err("missing key");
    assert!(error.to_string().ends_with("configmap references non-existent config key: zz"), "{error}");

    let optional = json!([{ "name": "cfg", "configMap": { "name": "missing", "optional": true } }]);
    f.volumes.setup(&pod("u3", optional)).await.expect("optional");
    let dir = f.volume_dir("u3", "configmap", "cfg");
    assert!(std::fs::read_link(dir.join(DATA_DIR_NAME)).is_ok(), "an empty volume");
}

#[tokio::test]
async fn a_downward_api_volume_holds_the_pod_fields_and_container_resources() {
    let f = fixture().await;
    let spec = json!([{ "name": "info", "downwardAPI": { "items": [
        { "path": "labels", "fieldRef": { "fieldPath": "metadata.labels" } },
        { "path": "annotations", "fieldRef": { "fieldPath": "metadata.annotations" } },
        { "path": "name", "fieldRef": { "fieldPath": "metadata.name" } },
        { "path": "app", "fieldRef": { "fieldPath": "metadata.labels['app']" } },
        { "path": "mem", "resourceFieldRef": { "containerName": "c", "resource": "limits.memory", "divisor": "1Mi" } },
        { "path": "cpu", "resourceFieldRef": { "containerName": "c", "resource": "requests.cpu" } }
    ] } }]);
    f.volumes.setup(&pod("u4", spec)).await.expect("setup");
    let dir = f.volume_dir("u4", "downward-api", "info");
    assert_eq!(read(&dir.join("labels")), "app=\"web\"\ntier=\"front\"");
    assert_eq!(read(&dir.join("annotations")), "note=\"say \\\"hi\\\"\"");
    assert_eq!(read(&dir.join("name")), "web");
    assert_eq!(read(&dir.join("app")), "web");
    assert_eq!(read(&dir.join("mem")), "64");
    assert_eq!(read(&dir.join("cpu")), "0");
}

#[tokio::test]
async fn host_path_types_are_checked_with_upstream_messages() {
    let f = fixture().await;
    let base = f.dir.path().join("host");
    std::fs::create_dir_all(&base).expect("mkdir");
    let file = base.join("file");
    std::fs::write(&file, "x").expect("file");
    let path = |p: &Path| p.display().to_string();
    let setup = |name: &str, path: String, kind: &str| {
        let volumes = json!([{ "name": name, "hostPath": { "path": path, "type": kind } }]);
        let pod = pod("u5", volumes);
        let manager = f.volumes.clone();
        async move { manager.setup(&pod).await.map_err(|e| e.to_string()) }
    };
    let made = base.join("made/deeper");
    let volumes = setup("d", path(&made), "DirectoryOrCreate").await.expect("DirectoryOrCreate");
    assert!(made.is_dir());
    assert_eq!(volumes.volumes["d"], HostVolume { path: made.clone(), read_only: false });
    assert_eq!(mode(&made), 0o755);
    setup("d", path(&made), "Directory").await.expect("Directory");
    setup("f", path(&base.join("new-file")), "FileOrCreate").await.expect("FileOrCreate");
    assert!(base.join("new-file").is_file());
    setup("f", path(&file), "File").await.expect("File");
    setup("c", "/dev/null".into(), "CharDevice").await.expect("CharDevice");
    setup("any", path(&base.join("whatever")), "").await.expect("no type: no check");

    let failures = [
        (path(&base.join("absent")), "Directory", format!("{} is not a directory", path(&base.join("absent")))),
        (path(&file), "Directory", format!("{} is not a directory", path(&file))),
        (path(&file), "DirectoryOrCreate", format!("{} is not a directory", path(&file))),
        (path(&made), "File", format!("{} is not a file", path(&made))),
        (path(&file), "Socket", format!("{} is not a socket file", path(&file))),
        (path(&file), "CharDevice", format!("{} is not a character device", path(&file))),
        ("/dev/null".to_owned(), "BlockDevice", "/dev/null is not a block device".to_owned()),
    ];
    for (target, kind, message) in failures {
        let error = setup("v", target, kind).await.expect_err(kind);
        assert_eq!(error, format!("MountVolume.SetUp failed for volume \"v\" : hostPath type check failed: {message}"));
    }
}

#[tokio::test]
async fn a_memory_empty_dir_is_a_tmpfs_mounted_on_setup_and_unmounted_on_teardown() {
    if !require_root() {
        return;
    }
    let f = fixture().await;
    let spec = json!([{ "name": "scratch", "emptyDir": { "medium": "Memory", "sizeLimit": "8Mi" } },
                      { "name": "disk", "emptyDir": {} }]);
    f.volumes.setup(&pod("u6", spec)).await.expect("setup");
    let scratch = f.volume_dir("u6", "empty-dir", "scratch");
    assert!(is_tmpfs(&scratch));
    let stats = rustix::fs::statvfs(&scratch).expect("statvfs");
    assert_eq!(stats.f_blocks * stats.f_frsize, 8 * 1024 * 1024, "sized by sizeLimit");
    let disk = f.volume_dir("u6", "empty-dir", "disk");
    assert!(disk.is_dir() && !is_tmpfs(&disk));
    assert_eq!(mode(&disk), 0o777);
    std::fs::write(scratch.join("data"), "kept").expect("write");
    f.volumes
        .setup(&pod("u6", json!([{ "name": "scratch", "emptyDir": { "medium": "Memory" } }])))
        .await
        .expect("again");
    assert_eq!(read(&scratch.join("data")), "kept", "a second setup keeps the contents");

    f.volumes.teardown("u6").await.expect("teardown");
    assert!(!scratch.exists());
    let mounts = read(Path::new("/proc/self/mountinfo"));
    assert!(!mounts.contains(&scratch.display().to_string()), "unmounted");
}

#[tokio::test]
async fn fs_group_owns_empty_dirs_and_secret_files() {
    if !require_root() {
        return;
    }
    let f = fixture().await;
    let _: Secret = f.create(json!({ "metadata": { "name": "s" }, "data": { "k": "dg==" } })).await;
    let mut spec =
        pod("u7", json!([{ "name": "e", "emptyDir": {} }, { "name": "s", "secret": { "secretName": "s" } }]));
    spec.spec.as_mut().expect("spec").security_context =
        Some(serde_json::from_value(json!({ "fsGroup": 2345 })).expect("security context"));
    f.volumes.setup(&spec).await.expect("setup");
    let empty = f.volume_dir("u7", "empty-dir", "e");
    let meta = std::fs::metadata(&empty).expect("emptyDir");
    assert_eq!((meta.gid(), meta.permissions().mode() & 0o7777), (2345, 0o2777));
    let file = f.volume_dir("u7", "secret", "s").join("k");
    let meta = std::fs::metadata(&file).expect("secret file");
    assert_eq!((meta.gid(), meta.permissions().mode() & 0o777), (2345, 0o644));
    f.volumes.teardown("u7").await.expect("teardown");
}

#[tokio::test]
async fn a_projected_volume_holds_a_token_that_authenticates_as_the_pods_service_account() {
    let f = fixture().await;
    let _: ServiceAccount = f.create(json!({ "metadata": { "name": "default" } })).await;
    let _: ConfigMap = f
        .create(
            json!({ "metadata": { "name": "kube-root-ca.crt" }, "data": { "ca.crt": "-----BEGIN CERTIFICATE-----" } }),
        )
        .await;
    // Created through the API: the ServiceAccount admission adds the kube-api-access volume.
    let stored: Pod = f
        .create(json!({ "metadata": { "name": "web" },
                        "spec": { "containers": [{ "name": "c", "image": "busybox" }] } }))
        .await;
    let spec = stored.spec.as_ref().expect("spec");
    let volume = spec.volumes.iter().flatten().find(|v| v.name.starts_with("kube-api-access-")).expect("token volume");
    let uid = stored.metadata.uid.clone().expect("uid");
    let volumes = f.volumes.setup(&stored).await.expect("setup");
    let dir = f.volume_dir(&uid, "projected", &volume.name);
    assert_eq!(volumes.volumes[&volume.name], HostVolume { path: dir.clone(), read_only: true });
    assert_eq!(read(&dir.join("namespace")), "default");
    assert_eq!(read(&dir.join("ca.crt")), "-----BEGIN CERTIFICATE-----");
    let token = read(&dir.join("token"));
    assert_eq!(mode(&dir.join("token")), 0o644);
    let user = f.api.service_account_authenticator().authenticate(&token).await.expect("the token authenticates");
    assert_eq!(user.name, "system:serviceaccount:default:default");

    f.volumes.setup(&stored).await.expect("setup again");
    assert_eq!(read(&dir.join("token")), token, "the cached token is kept until it needs refreshing");

    let mounts = container_mounts(&spec.containers[0], &volumes, &BTreeMap::new()).expect("mounts");
    assert_eq!(mounts.len(), 1);
    assert_eq!(mounts[0].container_path, "/var/run/secrets/kubernetes.io/serviceaccount");
    assert!(mounts[0].readonly);
}

#[tokio::test]
async fn a_claim_bound_to_a_host_path_volume_mounts_the_volumes_path() {
    let f = fixture().await;
    let claim: PersistentVolumeClaim = f
        .create(json!({ "metadata": { "name": "data" },
                        "spec": { "accessModes": ["ReadWriteOnce"], "resources": { "requests": { "storage": "1Gi" } } } }))
        .await;
    let spec =
        pod("u8", json!([{ "name": "data", "persistentVolumeClaim": { "claimName": "data", "readOnly": true } }]));
    let error = f.volumes.setup(&spec).await.expect_err("unbound");
    assert!(
        error
            .to_string()
            .ends_with("PVC default/data has non-bound phase (\"Pending\") or empty pvc.Spec.VolumeName (\"\")"),
        "{error}"
    );

    let host = f.dir.path().join("pv-data");
    let volumes: Api<PersistentVolume> = Api::all(f.client.clone());
    let volume = serde_json::from_value(json!({ "metadata": { "name": "pv1" }, "spec": {
        "capacity": { "storage": "1Gi" }, "accessModes": ["ReadWriteOnce"],
        "hostPath": { "path": host.display().to_string(), "type": "DirectoryOrCreate" },
        "claimRef": { "namespace": "default", "name": "data", "uid": claim.metadata.uid } } }))
    .expect("pv");
    volumes.create(&PostParams::default(), &volume).await.expect("create the PV");
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(f.client.clone(), "default");
    claims
        .patch("data", &PatchParams::default(), &Patch::Merge(&json!({ "spec": { "volumeName": "pv1" } })))
        .await
        .expect("bind");
    claims
        .patch_status("data", &PatchParams::default(), &Patch::Merge(&json!({ "status": { "phase": "Bound" } })))
        .await
        .expect("bound");
    let mounted = f.volumes.setup(&spec).await.expect("setup");
    assert_eq!(mounted.volumes["data"], HostVolume { path: host.clone(), read_only: true });
    assert!(host.is_dir(), "the hostPath PV's type is applied");
}

fn container(mounts: Value) -> Container {
    serde_json::from_value(json!({ "name": "c", "image": "busybox", "volumeMounts": mounts })).expect("container")
}

#[test]
fn container_mounts_resolve_sub_paths_inside_the_volume_and_refuse_escapes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let volume = dir.path().join("vol");
    std::fs::create_dir_all(&volume).expect("mkdir");
    std::os::unix::fs::symlink("/etc", volume.join("escape")).expect("symlink");
    let volumes = PodVolumes {
        volumes: BTreeMap::from([
            ("v".to_owned(), HostVolume { path: volume.clone(), read_only: false }),
            ("ro".to_owned(), HostVolume { path: volume.clone(), read_only: true }),
        ]),
    };
    let env = BTreeMap::from([("POD_NAME".to_owned(), "web-0".to_owned())]);
    let mounts = container_mounts(
        &container(json!([
            { "name": "v", "mountPath": "/data", "subPath": "sub/dir" },
            { "name": "v", "mountPath": "/logs", "subPathExpr": "logs/$(POD_NAME)", "readOnly": true },
            { "name": "ro", "mountPath": "/ro", "mountPropagation": "HostToContainer" }
        ])),
        &volumes,
        &env,
    )
    .expect("mounts");
    assert_eq!(mounts[0].host_path, volume.join("sub/dir").display().to_string());
    assert!(volume.join("sub/dir").is_dir(), "a missing subPath is created");
    assert!(!mounts[0].readonly);
    assert_eq!(mounts[1].host_path, volume.join("logs/web-0").display().to_string());
    assert!(mounts[1].readonly);
    assert!(mounts[2].readonly, "the volume is read-only");
    assert_eq!(mounts[2].propagation, skiff_kubelet::runtime::api::MountPropagation::PropagationHostToContainer as i32);

    let refused =
        |mount: Value| container_mounts(&container(json!([mount])), &volumes, &env).expect_err("refused").to_string();
    assert_eq!(
        refused(json!({ "name": "v", "mountPath": "/x", "subPath": "../../etc" })),
        "unable to provision SubPath `../../etc`: must not contain '..'"
    );
    assert_eq!(
        refused(json!({ "name": "v", "mountPath": "/x", "subPath": "/etc" })),
        "error SubPath `/etc` must not be an absolute path"
    );
    assert!(
        refused(json!({ "name": "v", "mountPath": "/x", "subPath": "escape" }))
            .starts_with("subpath \"/etc\" not within volume path")
    );
    assert_eq!(refused(json!({ "name": "v", "mountPath": "/x", "subPathExpr": "$(NOPE)" })), "missing value for NOPE");
    assert_eq!(
        refused(json!({ "name": "nope", "mountPath": "/x" })),
        "cannot find volume \"nope\" to mount into container \"c\""
    );
    assert_eq!(
        refused(json!({ "name": "v", "mountPath": "/x", "mountPropagation": "Bidirectional" })),
        "Bidirectional mount propagation is available only to privileged containers"
    );
}
