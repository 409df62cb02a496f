//! Pod volumes on the node: emptyDir, hostPath, configMap, secret,
//! downwardAPI, projected (with service account tokens) and
//! persistentVolumeClaims bound to local/hostPath volumes; and the CRI
//! mounts of each container.
