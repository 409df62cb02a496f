//! Reconcilers for the everyday workload kinds (ReplicaSet, Deployment, Job, CronJob, garbage collection, namespaces, ...). Filled by the controllers issue.
