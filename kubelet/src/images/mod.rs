//! Images without a registry: OCI image layouts built from local files
//! (the pause image from catatonit), and tarballs imported into the
//! runtime from the images directory and `skiff images import`.

pub mod import;
pub mod node;
pub mod oci;
pub mod watch;

use std::path::Path;

pub use import::import;
pub use oci::ImageBuilder;
pub use watch::ImagesDir;

/// The sandbox image skiff builds from Debian's catatonit.
pub const PAUSE_IMAGE: &str = "localhost/skiff/pause:catatonit";

/// Where Debian's catatonit (a static binary) is installed.
pub const CATATONIT: &str = "/usr/bin/catatonit";

/// The pause image named `reference` ([`PAUSE_IMAGE`]): catatonit in pause
/// mode (`-P`: no child, exits on SIGTERM/SIGINT).
pub fn pause_image(reference: &str, catatonit: &Path) -> ImageBuilder {
    ImageBuilder::new(reference)
        .file(catatonit, "catatonit")
        .dir("dev")
        .dir("proc")
        .dir("sys")
        .dir("etc")
        .entrypoint(["/catatonit", "-P"])
}
