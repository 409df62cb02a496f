//! Images without a registry: OCI image layouts built from local files
//! (the pause image from catatonit), and tarballs imported into the
//! runtime from the images directory and `skiff images import`.

/// The sandbox image skiff builds from Debian's catatonit.
pub const PAUSE_IMAGE: &str = "localhost/skiff/pause:catatonit";
