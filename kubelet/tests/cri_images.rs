//! Image tarballs on a real containerd: ones dropped into an images
//! directory (plain, gzip, zstd; OCI layout and `docker save` format)
//! become visible to the CRI, and a changed tarball is imported again.

#![cfg(feature = "testing")]

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use skiff_kubelet::images::{ImageBuilder, ImagesDir};
use skiff_kubelet::runtime::Runtime;
use skiff_kubelet::testing::{BUSYBOX, TestContainerd};

const DEADLINE: Duration = Duration::from_secs(20);

async fn wait_for<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(started.elapsed() < DEADLINE, "never {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn small_image(reference: &str) -> ImageBuilder {
    ImageBuilder::new(reference).file(BUSYBOX, "bin/busybox").symlink("bin/sh", "busybox").dir("tmp").cmd(["sh"])
}

/// Writes `data` to `dir/name` through a hidden temp file, as a careful copy would.
fn drop_file(dir: &Path, name: &str, data: &[u8]) {
    let hidden = dir.join(format!(".{name}.partial"));
    std::fs::write(&hidden, data).expect("written");
    std::fs::rename(&hidden, dir.join(name)).expect("renamed");
}

/// Rewrites an OCI layout tarball (one manifest) in `docker save`'s format.
fn docker_save_format(oci: &[u8], repo_tag: &str) -> Vec<u8> {
    let mut files = std::collections::HashMap::new();
    let mut archive = tar::Archive::new(oci);
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let name = entry.path().expect("path").display().to_string();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).expect("read");
        files.insert(name, data);
    }
    let blob = |digest: &serde_json::Value| {
        let hex = digest.as_str().expect("digest").trim_start_matches("sha256:").to_owned();
        (hex.clone(), files[&format!("blobs/sha256/{hex}")].clone())
    };
    let index: serde_json::Value = serde_json::from_slice(&files["index.json"]).expect("index");
    let (_, manifest) = blob(&index["manifests"][0]["digest"]);
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).expect("manifest");
    let (config_hex, config) = blob(&manifest["config"]["digest"]);
    let (layer_hex, layer) = blob(&manifest["layers"][0]["digest"]);
    let mut plain_layer = Vec::new();
    flate2::read::GzDecoder::new(layer.as_slice()).read_to_end(&mut plain_layer).expect("gunzip");
    let docker_manifest = serde_json::json!([{
        "Config": format!("{config_hex}.json"),
        "RepoTags": [repo_tag],
        "Layers": [format!("{layer_hex}/layer.tar")],
    }]);
    let mut out = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("manifest.json".to_owned(), docker_manifest.to_string().into_bytes()),
        (format!("{config_hex}.json"), config),
        (format!("{layer_hex}/layer.tar"), plain_layer),
    ] {
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        out.append_data(&mut header, name, data.as_slice()).expect("appended");
    }
    out.into_inner().expect("tar")
}

#[tokio::test]
async fn tarballs_dropped_into_the_images_dir_become_visible_to_the_cri() {
    let Some(test) = TestContainerd::start().await else { return };
    let runtime = test.runtime();
    let images = test.dir().join("images");
    std::fs::create_dir_all(&images).expect("images dir");
    let watcher = ImagesDir::new(&images, test.socket()).interval(Duration::from_millis(100)).spawn();

    let build = |reference: &str| {
        let path = test.dir().join("build.tar");
        small_image(reference).write(&path).expect("built");
        std::fs::read(&path).expect("read")
    };
    let plain = build("localhost/skiff-test/plain:1");
    let mut gzipped = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gzipped, &build("localhost/skiff-test/gzipped:1")).expect("gzip");
    let zstd = ruzstd::encoding::compress_to_vec(
        build("localhost/skiff-test/zstd:1").as_slice(),
        ruzstd::encoding::CompressionLevel::Fastest,
    );
    let docker = docker_save_format(&build("localhost/skiff-test/unused:1"), "localhost/skiff-test/docker:1");

    let dropped = Instant::now();
    drop_file(&images, "plain.tar", &plain);
    drop_file(&images, "gzipped.tar.gz", &gzipped.finish().expect("gzip"));
    drop_file(&images, "zstd.tar.zst", &zstd);
    drop_file(&images, "docker.tar", &docker);
    drop_file(&images, "notes.txt", b"not an image");
    for name in ["plain", "gzipped", "zstd", "docker"] {
        let reference = format!("localhost/skiff-test/{name}:1");
        let image = wait_for(&format!("{reference} imported"), async || {
            runtime.image_status(&reference).await.expect("image status")
        })
        .await;
        assert!(image.repo_tags.contains(&reference), "{:?}", image.repo_tags);
    }
    eprintln!("four tarballs dropped → all visible in {} ms", dropped.elapsed().as_millis());
    watcher.abort();
}

#[tokio::test]
async fn a_changed_tarball_is_imported_again_and_an_unchanged_one_is_not() {
    let Some(test) = TestContainerd::start().await else { return };
    let runtime = test.runtime();
    let images = test.dir().join("images");
    std::fs::create_dir_all(&images).expect("images dir");
    let path = images.join("app.tar");
    small_image("localhost/skiff-test/app:1").write(&path).expect("built");
    let old = std::time::SystemTime::now() - Duration::from_secs(10);
    std::fs::File::options().write(true).open(&path).expect("open").set_modified(old).expect("mtime");

    let mut dir = ImagesDir::new(&images, test.socket());
    let first = dir.scan().await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].result.as_ref().expect("imported"), &["localhost/skiff-test/app:1"]);
    assert!(dir.scan().await.is_empty(), "an unchanged tarball is not imported again");

    // Same size (the names are as long), so the newer mtime is what tells the change.
    small_image("localhost/skiff-test/app:2").write(&path).expect("rebuilt");
    let newer = old + Duration::from_secs(1);
    std::fs::File::options().write(true).open(&path).expect("open").set_modified(newer).expect("mtime");
    let again = dir.scan().await;
    assert_eq!(again.len(), 1, "the changed tarball is imported");
    assert!(runtime.image_status("localhost/skiff-test/app:2").await.expect("status").is_some());

    std::fs::write(&path, b"garbage that is no tar").expect("broken");
    std::fs::File::options().write(true).open(&path).expect("open").set_modified(old).expect("mtime");
    let broken = dir.scan().await;
    assert!(broken[0].result.is_err(), "a broken tarball fails: {:?}", broken[0].result);
    assert!(dir.scan().await.is_empty(), "and is not retried until it changes");
}
