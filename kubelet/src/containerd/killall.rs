//! Stopping everything a node ran (`skiff killall`, as k3s-killall.sh):
//! every pod sandbox through the CRI (starting the node's containerd again
//! from its recorded config when it is not running), then containerd, its
//! leftover shims, the CNI bridge, the pods' cgroups and what is still
//! mounted under the node's directories.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;

use super::{Containerd, ContainerdConfig, cleanup, cni, supervisor};
use crate::runtime::Runtime;
use crate::runtime::cri::CriRuntime;
use crate::runtime::labels;

/// How many sandboxes are stopped and removed at once.
const PARALLEL: usize = 4;
/// How long listing the sandboxes may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(10);

/// Why killall could not run at all (everything else is best effort and listed in the [`Report`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The async runtime for the CRI calls could not be built.
    #[error("building an async runtime: {0}")]
    BuildRuntime(std::io::Error),
}

/// What to clean up.
#[derive(Debug, Clone)]
pub struct Scope {
    /// containerd's directory (config.toml, the CNI conflist, the socket, the pid file).
    pub containerd_dir: PathBuf,
    /// Cgroups to remove (with everything below them) besides the sandboxes' cgroup parents.
    pub cgroups: Vec<String>,
    /// Directories under which every mount is removed.
    pub unmount_under: Vec<PathBuf>,
    /// Cgroups removed last if they are empty then (the pods' common parent, which other nodes may share).
    pub remove_if_empty: Vec<String>,
}

impl Scope {
    /// A node agent's: containerd in `<data-dir>/agent/containerd`, the cgroup
    /// `<cgroup_root>/pod<uid>` of each pod dir in `<data-dir>/agent/pods`, mounts under `data_dir`.
    pub fn node(data_dir: &Path, cgroup_root: &str) -> Self {
        let agent = data_dir.join("agent");
        let root = cgroup_root.trim_end_matches('/');
        let cgroups = std::fs::read_dir(agent.join("pods"))
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|entry| entry.file_name().to_str().map(|uid| format!("{root}/pod{uid}")))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            containerd_dir: agent.join("containerd"),
            cgroups,
            unmount_under: vec![data_dir.to_path_buf()],
            remove_if_empty: vec![root.to_owned()],
        }
    }
}

/// What killall did.
#[derive(Debug, Default)]
pub struct Report {
    /// containerd was not running and was started (from its recorded config) to stop the pods.
    pub started_containerd: bool,
    /// There was no containerd config: nothing was asked of the CRI.
    pub no_containerd: bool,
    /// Sandboxes stopped and removed.
    pub sandboxes: usize,
    /// Whether containerd was stopped.
    pub stopped_containerd: bool,
    /// Shims that outlived containerd and were ended.
    pub shims: usize,
    /// Processes still in pod cgroups that were killed.
    pub processes: usize,
    /// The CNI bridge deleted.
    pub bridge: Option<String>,
    /// Cgroup directories removed (over all hierarchies).
    pub cgroups: usize,
    /// Mounts removed.
    pub unmounted: usize,
    /// What failed along the way.
    pub problems: Vec<String>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.no_containerd {
            writeln!(f, "no containerd config found: no pods to stop")?;
        } else {
            let started = if self.started_containerd { " (containerd started again for this)" } else { "" };
            writeln!(f, "stopped and removed {} pod sandbox(es){started}", self.sandboxes)?;
            let stopped = if self.stopped_containerd { "stopped containerd" } else { "containerd was not running" };
            writeln!(
                f,
                "{stopped}; ended {} leftover shim(s), killed {} leftover process(es)",
                self.shims, self.processes
            )?;
        }
        match &self.bridge {
            Some(bridge) => writeln!(f, "deleted the CNI bridge {bridge}")?,
            None => writeln!(f, "no CNI bridge to delete")?,
        }
        writeln!(f, "removed {} cgroup dir(s), unmounted {} mount(s)", self.cgroups, self.unmounted)?;
        for problem in &self.problems {
            writeln!(f, "problem: {problem}")?;
        }
        Ok(())
    }
}

/// Stops and removes everything in `scope`. `running` is a containerd this process supervises (it
/// is used, then stopped); else one running on the directory's config is used and stopped, or it is
/// started for the purpose. Blocking: call it from a thread or `spawn_blocking`, not inside an async runtime.
pub fn killall(scope: &Scope, running: Option<Containerd>) -> Result<Report, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(Error::BuildRuntime)?;
    let mut report = Report::default();
    let recorded = recorded_config(&scope.containerd_dir);
    let mut cgroups: BTreeSet<String> = scope.cgroups.iter().cloned().collect();
    match running.map(|containerd| (containerd.config().clone(), Some(containerd))).or(recorded.map(|c| (c, None))) {
        None => report.no_containerd = true,
        Some((config, owned)) => {
            runtime.block_on(async {
                let owned = match owned {
                    Some(owned) => Some(owned),
                    None if running_pid(&config).is_some() => None,
                    None => match Containerd::start(config.clone()).await {
                        Ok(started) => {
                            report.started_containerd = true;
                            Some(started)
                        }
                        Err(err) => {
                            report.problems.push(format!("starting containerd: {err}"));
                            None
                        }
                    },
                };
                let cri = CriRuntime::connect(&config.socket);
                cgroups.extend(remove_sandboxes(&cri, &mut report).await);
                match owned {
                    // Dropping it stops it (blocking, on this thread) and its supervisor.
                    Some(containerd) => {
                        drop(containerd);
                        report.stopped_containerd = true;
                    }
                    None => {
                        if let Some(pid) = running_pid(&config) {
                            supervisor::terminate(pid, supervisor::STOP_GRACE).await;
                            report.stopped_containerd = true;
                        }
                    }
                }
            });
            report.shims = cleanup::kill_shims(&config.socket);
            if cleanup::delete_link(&config.bridge) {
                report.bridge = Some(config.bridge.clone());
            }
        }
    }
    for cgroup in &cgroups {
        report.processes += cleanup::kill_cgroup_processes(cgroup);
        report.cgroups += cleanup::remove_cgroup(cgroup);
    }
    for cgroup in &scope.remove_if_empty {
        report.cgroups += cleanup::remove_empty_cgroup(cgroup);
    }
    for dir in &scope.unmount_under {
        report.unmounted += cleanup::unmount_under(dir);
    }
    Ok(report)
}

/// Stops and removes every sandbox (a few at a time); returns their cgroup parents.
async fn remove_sandboxes(cri: &CriRuntime, report: &mut Report) -> Vec<String> {
    let sandboxes = match tokio::time::timeout(LIST_TIMEOUT, cri.list_pod_sandboxes(None)).await {
        Ok(Ok(sandboxes)) => sandboxes,
        Ok(Err(err)) => {
            report.problems.push(format!("listing the pod sandboxes: {err}"));
            return Vec::new();
        }
        Err(_) => {
            report.problems.push(format!("listing the pod sandboxes took over {LIST_TIMEOUT:?}"));
            return Vec::new();
        }
    };
    let results: Vec<(Option<String>, Result<(), String>)> = futures::stream::iter(sandboxes)
        .map(|sandbox| async move {
            let info = cri.pod_sandbox_info(&sandbox.id).await.ok().flatten();
            let parent = info.as_ref().and_then(cgroup_parent_of);
            let removed = async {
                cri.stop_pod_sandbox(&sandbox.id)
                    .await
                    .map_err(|err| format!("stopping sandbox {}: {err}", sandbox.id))?;
                cri.remove_pod_sandbox(&sandbox.id)
                    .await
                    .map_err(|err| format!("removing sandbox {}: {err}", sandbox.id))
            }
            .await;
            let pod = sandbox.labels.get(labels::POD_UID).cloned().unwrap_or_default();
            tracing::debug!(sandbox = %sandbox.id, %pod, ok = removed.is_ok(), "killall: sandbox");
            (parent, removed)
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    let mut parents = Vec::new();
    for (parent, removed) in results {
        match removed {
            Ok(()) => report.sandboxes += 1,
            Err(problem) => report.problems.push(problem),
        }
        parents.extend(parent);
    }
    parents
}

/// `config.linux.cgroup_parent` from containerd's verbose sandbox info.
fn cgroup_parent_of(info: &std::collections::HashMap<String, String>) -> Option<String> {
    let json: serde_json::Value = serde_json::from_str(info.get("info")?).ok()?;
    let parent = json.pointer("/config/linux/cgroup_parent")?.as_str()?;
    (!parent.is_empty() && parent.starts_with('/')).then(|| parent.to_owned())
}

/// The pid of a containerd running on `config` (from its pid file, checked against its command line).
fn running_pid(config: &ContainerdConfig) -> Option<u32> {
    let pid = std::fs::read_to_string(config.dir.join("containerd.pid")).ok()?.trim().parse::<u32>().ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let ours = String::from_utf8_lossy(&cmdline).contains(&*config.config_file().to_string_lossy());
    (ours && supervisor::alive(pid)).then_some(pid)
}

/// The config a node's containerd ran with, read back from its directory (the CNI conflist
/// gives the network, bridge and pod range); `None` when it never ran there.
pub fn recorded_config(dir: &Path) -> Option<ContainerdConfig> {
    let mut config = ContainerdConfig::new(dir);
    if !config.config_file().is_file() {
        return None;
    }
    let conflists = std::fs::read_dir(config.cni_conf_dir()).ok()?;
    let conflist = conflists
        .flatten()
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|ext| ext == "conflist"));
    if let Some(list) = conflist.and_then(|path| std::fs::read_to_string(path).ok())
        && let Ok(list) = serde_json::from_str::<serde_json::Value>(&list)
    {
        if let Some(name) = list["name"].as_str() {
            config.network_name = name.to_owned();
        }
        let plugins = list["plugins"].as_array().cloned().unwrap_or_default();
        if let Some(bridge) = plugins.iter().find(|plugin| plugin["type"] == "bridge") {
            if let Some(name) = bridge["bridge"].as_str() {
                config.bridge = name.to_owned();
            }
            if let Some(subnet) = bridge.pointer("/ipam/ranges/0/0/subnet").and_then(|s| s.as_str())
                && cni::Ipv4Range::parse(subnet).is_ok()
            {
                config.cluster_cidr = subnet.to_owned();
            }
        }
    }
    Some(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_config_gives_back_the_bridge_range_and_network_a_node_ran_with() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = ContainerdConfig::new(dir.path()).cluster_cidr("10.99.3.0/24").bridge("skt3");
        super::super::prepare(&config).expect("config written");
        let recorded = recorded_config(dir.path()).expect("a recorded config");
        assert_eq!(recorded.bridge, "skt3");
        assert_eq!(recorded.cluster_cidr, "10.99.3.0/24");
        assert_eq!(recorded.network_name, config.network_name);
        assert_eq!(recorded.render(), config.render());
    }

    #[test]
    fn a_directory_where_containerd_never_ran_has_no_recorded_config() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert!(recorded_config(dir.path()).is_none());
    }

    #[test]
    fn a_node_scope_names_the_cgroup_of_every_pod_dir() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("agent/pods/uid-1")).expect("pod dir");
        let scope = Scope::node(dir.path(), "/skiff/");
        assert_eq!(scope.cgroups, vec!["/skiff/poduid-1".to_owned()]);
        assert_eq!(scope.containerd_dir, dir.path().join("agent/containerd"));
        assert_eq!(scope.remove_if_empty, vec!["/skiff".to_owned()]);
    }

    #[test]
    fn the_report_says_what_was_done_in_a_few_lines() {
        let report =
            Report { sandboxes: 2, stopped_containerd: true, bridge: Some("skiff0".into()), ..Report::default() };
        let text = report.to_string();
        assert!(text.contains("stopped and removed 2 pod sandbox(es)"), "{text}");
        assert!(text.contains("deleted the CNI bridge skiff0"), "{text}");
        assert!(text.lines().count() <= 5, "{text}");
    }
}
