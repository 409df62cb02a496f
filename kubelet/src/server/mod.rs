//! The kubelet's HTTPS server: container logs, exec, attach, port-forward,
//! stats, for the API server (authenticated by its client certificate).
