//! The node agent: registration, leases, pod workers, probes, volumes, logs/exec, over a CRI (containerd) or simulated runtime. Filled by the kubelet issue.
