//! Node and pod resource usage: the kubelet's /stats/summary and
//! /metrics/resource, from the runtime's container stats and the host.
