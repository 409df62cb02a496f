//! The Node: registration with the host's capacity, addresses, node info
//! and images, status conditions kept current, and the Lease renewed in
//! kube-node-lease every 10 s.
