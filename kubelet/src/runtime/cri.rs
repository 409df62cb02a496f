//! The CRI runtime: RuntimeService and ImageService over gRPC on a unix
//! socket (containerd's), reconnecting when the runtime restarts.
