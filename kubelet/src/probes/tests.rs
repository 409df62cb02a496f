//! Probe tests: the network probes against local servers on 127.0.0.1, and the
//! workers' delays and thresholds in paused time against a scripted runtime.

mod network;
mod runtime;
mod workers;
