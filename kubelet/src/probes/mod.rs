//! Startup, liveness and readiness probes (exec, httpGet, tcpSocket, grpc)
//! with upstream's periods, thresholds and timeouts.
