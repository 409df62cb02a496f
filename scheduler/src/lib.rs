//! Binds pods to nodes through kube-scheduler-shaped filter and score plugins (affinity, taints, resources, spread). Filled by the scheduler issue.
