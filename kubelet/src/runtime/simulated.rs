//! A runtime without processes: sandboxes get made-up IPs, containers run
//! until stopped (or exit as their pod's simulation annotations say).
