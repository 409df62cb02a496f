//! Test support (feature `testing`): a private containerd in a temp dir
//! with skiff's config, and small images built from busybox-static.
