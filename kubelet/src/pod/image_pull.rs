//! Making a container's image present as upstream's image manager does:
//! the pull policy (default Always for `:latest` or untagged images,
//! IfNotPresent otherwise), ImageStatus first, then a pull with back-off,
//! and upstream's events and waiting reasons.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, ObjectReference};

use super::backoff::Backoff;
use super::events::{Recorder, reason};
use crate::runtime::{Runtime, RuntimeError, api};

/// Waiting reasons of a container whose image is not there.
pub const ERR_IMAGE_PULL: &str = "ErrImagePull";
pub const IMAGE_PULL_BACK_OFF: &str = "ImagePullBackOff";
pub const ERR_IMAGE_NEVER_PULL: &str = "ErrImageNeverPull";
pub const ERR_IMAGE_INSPECT: &str = "ImageInspectError";
pub const INVALID_IMAGE_NAME: &str = "InvalidImageName";

/// Why a container's image is not present: its waiting reason and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct ImageError {
    pub reason: &'static str,
    pub message: String,
}

/// Whether an image reference names a tag or digest other than `latest`.
fn has_explicit_tag(image: &str) -> bool {
    if image.contains('@') {
        return true;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    last.rsplit_once(':').is_some_and(|(_, tag)| tag != "latest")
}

/// The effective pull policy: the container's, or upstream's default.
pub fn pull_policy(container: &Container) -> &str {
    match container.image_pull_policy.as_deref() {
        Some(policy @ ("Always" | "IfNotPresent" | "Never")) => policy,
        _ if has_explicit_tag(container.image.as_deref().unwrap_or_default()) => "IfNotPresent",
        _ => "Always",
    }
}

/// `image` with `:latest` when it has neither tag nor digest (as applyDefaultImageTag).
fn with_default_tag(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') || last.contains(':') { image.to_owned() } else { format!("{image}:latest") }
}

/// The message the runtime's error carries, as the kubelet shows a gRPC error.
pub fn runtime_message(error: &RuntimeError) -> String {
    match error {
        RuntimeError::Failed { message, .. } if message.starts_with("rpc error:") => message.clone(),
        RuntimeError::Failed { message, .. } => format!("rpc error: code = Unknown desc = {message}"),
        other => other.to_string(),
    }
}

/// Makes `container`'s image present; returns the image reference to create the container with.
pub async fn ensure_image(
    runtime: &dyn Runtime,
    events: &Recorder,
    regarding: &ObjectReference,
    backoff: &mut Backoff,
    (pod_uid, container): (&str, &Container),
    sandbox: &api::PodSandboxConfig,
) -> Result<String, ImageError> {
    let spec_image = container.image.clone().unwrap_or_default();
    if spec_image.trim().is_empty() {
        let message = format!(
            "Failed to apply default image tag {spec_image:?}: couldn't parse image name {spec_image:?}: invalid reference format"
        );
        events.warning(regarding, "InspectFailed", message.clone()).await;
        return Err(ImageError { reason: INVALID_IMAGE_NAME, message });
    }
    let image = with_default_tag(&spec_image);
    let present = match runtime.image_status(&image).await {
        Ok(present) => present,
        Err(error) => {
            let message = format!("Failed to inspect image {spec_image:?}: {}", runtime_message(&error));
            events.warning(regarding, "InspectFailed", message.clone()).await;
            return Err(ImageError { reason: ERR_IMAGE_INSPECT, message });
        }
    };
    let policy = pull_policy(container);
    if policy == "Never" || (policy == "IfNotPresent" && present.is_some()) {
        return match present {
            Some(found) => {
                let message = format!("Container image {spec_image:?} already present on machine");
                events.normal(regarding, reason::PULLED, message).await;
                Ok(if found.id.is_empty() { image } else { found.id })
            }
            None => {
                let message = format!("Container image {spec_image:?} is not present with pull policy of Never");
                events.warning(regarding, reason::ERR_IMAGE_NEVER_PULL, message.clone()).await;
                Err(ImageError { reason: ERR_IMAGE_NEVER_PULL, message })
            }
        };
    }
    let key = format!("{pod_uid}_{spec_image}");
    let now = Timestamp::now();
    if backoff.in_backoff(&key, now).is_some() {
        let mut message = format!("Back-off pulling image {spec_image:?}");
        events.normal(regarding, reason::BACK_OFF, message.clone()).await;
        if let Some(previous) = backoff.note(&key) {
            message = format!("{message}: {previous}");
        }
        return Err(ImageError { reason: IMAGE_PULL_BACK_OFF, message });
    }
    events.normal(regarding, reason::PULLING, format!("Pulling image {spec_image:?}")).await;
    let started = std::time::Instant::now();
    match runtime.pull_image(&image, sandbox).await {
        Ok(image_ref) => {
            let took = started.elapsed();
            let size = runtime.image_status(&image_ref).await.ok().flatten().map(|i| i.size).unwrap_or(0);
            let took = super::backoff::go_duration(took);
            let message = format!(
                "Successfully pulled image {spec_image:?} in {took} ({took} including waiting). Image size: {size} bytes."
            );
            events.normal(regarding, reason::PULLED, message).await;
            backoff.reset(&key);
            Ok(image_ref)
        }
        Err(error) => {
            let message = runtime_message(&error);
            events.warning(regarding, reason::FAILED, format!("Failed to pull image {spec_image:?}: {message}")).await;
            backoff.next(&key, Timestamp::now());
            backoff.set_note(&key, format!("{ERR_IMAGE_PULL}: {message}"));
            Err(ImageError { reason: ERR_IMAGE_PULL, message })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(image: &str, policy: Option<&str>) -> Container {
        Container {
            name: "c".into(),
            image: Some(image.into()),
            image_pull_policy: policy.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn pull_policy_defaults_to_always_for_latest_or_untagged_images() {
        for (image, policy, want) in [
            ("busybox", None, "Always"),
            ("busybox:latest", None, "Always"),
            ("localhost:5000/busybox", None, "Always"),
            ("busybox:1.36", None, "IfNotPresent"),
            ("localhost:5000/busybox:1", None, "IfNotPresent"),
            ("busybox@sha256:abc", None, "IfNotPresent"),
            ("busybox", Some("Never"), "Never"),
            ("busybox:1", Some("Always"), "Always"),
        ] {
            assert_eq!(pull_policy(&container(image, policy)), want, "{image} {policy:?}");
        }
    }
}
