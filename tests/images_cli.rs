//! `skiff images import` and `skiff images ls` against a node's containerd
//! laid out as `skiff server` lays it out (`<data-dir>/agent/containerd/`),
//! without a server around it.

use std::process::Command;

use skiff_kubelet::testing::{BUSYBOX_IMAGE, TestContainerd, busybox_image_tar};

fn skiff(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_skiff")).args(args).env_remove("SKIFF_DATA_DIR").output().expect("skiff runs")
}

#[tokio::test]
async fn images_import_puts_a_gzipped_tarball_into_the_node_and_ls_lists_it() {
    let data = tempfile::tempdir().expect("tempdir");
    let Some(_containerd) = TestContainerd::start_in(data.path().join("agent/containerd")).await else { return };
    let data_dir = data.path().to_str().expect("utf-8 path");

    // A gzipped tarball of a new image, and the plain busybox tarball (already imported by the harness).
    let tar = data.path().join("app.tar");
    skiff_kubelet::images::ImageBuilder::new("localhost/skiff-test/app:2.0")
        .file(skiff_kubelet::testing::BUSYBOX, "bin/busybox")
        .write(&tar)
        .expect("built");
    let gzip = Command::new("gzip").arg(&tar).status().expect("gzip runs");
    assert!(gzip.success());
    let gz = data.path().join("app.tar.gz");
    let busybox = data.path().join("busybox.tar");
    busybox_image_tar(&busybox).expect("built");

    let files = [gz.to_str().expect("utf-8"), busybox.to_str().expect("utf-8")];
    let import = skiff(&["images", "import", "--data-dir", data_dir, files[0], files[1]]);
    assert!(import.status.success(), "{}", String::from_utf8_lossy(&import.stderr));
    assert_eq!(
        String::from_utf8_lossy(&import.stdout),
        format!("imported localhost/skiff-test/app:2.0\nimported {BUSYBOX_IMAGE}\n")
    );

    let ls = skiff(&["images", "ls", "-d", data_dir]);
    assert!(ls.status.success(), "{}", String::from_utf8_lossy(&ls.stderr));
    let table = String::from_utf8_lossy(&ls.stdout);
    let rows: Vec<Vec<&str>> = table.lines().map(|line| line.split_whitespace().collect()).collect();
    assert_eq!(rows[0], ["IMAGE", "TAG", "IMAGE", "ID", "SIZE"], "{table}");
    let (repo, tag) = BUSYBOX_IMAGE.rsplit_once(':').expect("tagged");
    for (repo, tag) in [("localhost/skiff-test/app", "2.0"), (repo, tag), ("localhost/skiff/pause", "catatonit")] {
        let row = rows.iter().find(|row| row[0] == repo).unwrap_or_else(|| panic!("no {repo} in\n{table}"));
        assert_eq!(row[1], tag);
        assert_eq!(row[2].len(), 13, "a short image ID: {row:?}");
    }
}

#[test]
fn images_ls_without_a_running_node_says_so() {
    let data = tempfile::tempdir().expect("tempdir");
    let ls = skiff(&["images", "ls", "--data-dir", data.path().to_str().expect("utf-8")]);
    assert!(!ls.status.success());
    let stderr = String::from_utf8_lossy(&ls.stderr);
    let socket = data.path().join("agent/containerd/containerd.sock");
    assert_eq!(stderr.trim(), format!("skiff: no containerd socket at {}: is skiff server running?", socket.display()));
}
