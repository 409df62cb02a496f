//! The image pull policy kube-apiserver picks for a container image when none is given.
//!
//! Upstream parses the reference with the Docker reference grammar: no tag and no digest means
//! tag `latest` (pull `Always`); any other tag, a bare digest, or an unparsable reference means
//! `IfNotPresent`.

/// `Always` when the image's effective tag is `latest`, else `IfNotPresent`.
pub(crate) fn default_pull_policy(image: &str) -> &'static str {
    if effective_tag(image).as_deref() == Some("latest") { "Always" } else { "IfNotPresent" }
}

/// The tag kubelet would pull: the explicit tag, `latest` when neither tag nor digest is given,
/// `""` for a digest-only reference; `None` when the reference does not parse.
fn effective_tag(image: &str) -> Option<String> {
    if image.len() == 64 && image.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let (name_and_tag, digest) = match image.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (image, None),
    };
    if let Some(digest) = digest
        && !valid_digest(digest)
    {
        return None;
    }
    let (name, tag) = match name_and_tag.rfind(':') {
        Some(i) if !name_and_tag[i..].contains('/') => (&name_and_tag[..i], Some(&name_and_tag[i + 1..])),
        _ => (name_and_tag, None),
    };
    if !valid_name(name) || !tag.is_none_or(valid_tag) {
        return None;
    }
    Some(match (tag, digest) {
        (Some(tag), _) => tag.to_owned(),
        (None, None) => "latest".to_owned(),
        (None, Some(_)) => String::new(),
    })
}

/// A repository name, optionally with a registry host; at most 255 characters once normalized.
fn valid_name(name: &str) -> bool {
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':']) || first == "localhost" || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    };
    let normalized_len = match domain {
        Some(domain) => domain.len() + 1 + path.len(),
        None if path.contains('/') => "docker.io/".len() + path.len(),
        None => "docker.io/library/".len() + path.len(),
    };
    normalized_len <= 255 && domain.is_none_or(valid_domain) && path.split('/').all(valid_path_component)
}

/// `host[:port]` where host is dot-separated DNS-like labels or a bracketed IPv6 address.
fn valid_domain(domain: &str) -> bool {
    let (host, port) = if let Some(rest) = domain.strip_prefix('[') {
        match rest.split_once(']') {
            Some((ip, after)) if !ip.is_empty() && ip.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') => {
                match after.strip_prefix(':') {
                    Some(port) => (None, Some(port)),
                    None if after.is_empty() => (None, None),
                    None => return false,
                }
            }
            _ => return false,
        }
    } else {
        match domain.split_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(domain), None),
        }
    };
    let host_ok = host.is_none_or(|h| h.split('.').all(valid_domain_component));
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    host_ok && port_ok
}

fn valid_domain_component(c: &str) -> bool {
    let bytes = c.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        }
        _ => false,
    }
}

/// Lowercase alphanumeric runs joined by `.`, `_`, `__` or any number of `-`.
fn valid_path_component(c: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = c.as_bytes();
    if !bytes.first().is_some_and(|b| alnum(*b)) || !bytes.last().is_some_and(|b| alnum(*b)) {
        return false;
    }
    let mut separator = String::new();
    for &b in bytes {
        if alnum(b) {
            let ok = separator.is_empty()
                || separator == "."
                || separator == "_"
                || separator == "__"
                || separator.bytes().all(|s| s == b'-');
            if !ok {
                return false;
            }
            separator.clear();
        } else if matches!(b, b'.' | b'_' | b'-') {
            separator.push(char::from(b));
        } else {
            return false;
        }
    }
    true
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn valid_tag(tag: &str) -> bool {
    let word = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    let bytes = tag.as_bytes();
    bytes.first().is_some_and(word) && bytes.len() <= 128 && bytes.iter().all(|b| word(b) || *b == b'.' || *b == b'-')
}

/// `algorithm:hex` for an algorithm kubelet knows, with the right hex length.
fn valid_digest(digest: &str) -> bool {
    let Some((algorithm, hex)) = digest.split_once(':') else { return false };
    let expected = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return false,
    };
    hex.len() == expected && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
