//! CRI container log files (`<RFC3339Nano> <stream> <P|F> <line>`): reading
//! them as `kubectl logs` asks (tail, since, timestamps, follow).
