//! containerd from the system package, started and supervised by skiff:
//! its config (CRI plugin, own socket/state/root, overlayfs, cgroupfs, the
//! local pause image, restrict_oom_score_adj), the CNI bridge network, a
//! log file in the data dir, and restarts when it dies.
