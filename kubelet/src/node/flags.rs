//! The `--node-label key=value` and `--node-taint key=value:Effect` flags
//! (k3s passes them on as kubelet's `--node-labels` and
//! `--register-with-taints`), parsed with the kubelet's error texts.

use k8s_openapi::api::core::v1::Taint;

use super::status::EvictionThresholds;
use skiff_apiserver::validation::{label_value, qualified_name};

/// Why a flag value was refused; the texts are the kubelet's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagError {
    #[error("{0}")]
    Taint(String),
    #[error("{0}")]
    Label(String),
    #[error("{0}")]
    Eviction(String),
}

/// The effects a taint may have.
const EFFECTS: &[&str] = &["NoSchedule", "PreferNoSchedule", "NoExecute"];

/// Parses one `key[=value]:Effect` taint.
pub fn parse_taint(spec: &str) -> Result<Taint, FlagError> {
    let invalid = |detail: Option<Vec<String>>| match detail {
        Some(errs) => FlagError::Taint(format!("invalid taint spec: {spec}, {}", errs.join("; "))),
        None => FlagError::Taint(format!("invalid taint spec: {spec}")),
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let (key_value, effect) = match parts.as_slice() {
        [key_value, effect] => (*key_value, *effect),
        [_] => {
            // The kubelet accepts no effect here, then fails to register; say so at once.
            return Err(FlagError::Taint("invalid taint effect: , unsupported taint effect".into()));
        }
        _ => return Err(invalid(None)),
    };
    if !EFFECTS.contains(&effect) {
        return Err(FlagError::Taint(format!("invalid taint effect: {effect}, unsupported taint effect")));
    }
    let pieces: Vec<&str> = key_value.split('=').collect();
    let (key, value) = match pieces.as_slice() {
        [key] => (*key, None),
        [key, value] => (*key, Some(*value)),
        _ => return Err(invalid(None)),
    };
    if let Some(value) = value {
        let errs = label_value(value);
        if !errs.is_empty() {
            return Err(invalid(Some(errs)));
        }
    }
    let errs = qualified_name(key);
    if !errs.is_empty() {
        return Err(invalid(Some(errs)));
    }
    Ok(Taint { key: key.to_owned(), value: value.map(str::to_owned), effect: effect.to_owned(), time_added: None })
}

/// Parses one `key=value` node label.
pub fn parse_label(spec: &str) -> Result<(String, String), FlagError> {
    let Some((key, value)) = spec.split_once('=') else {
        return Err(FlagError::Label(format!("invalid node labels: malformed pair, expect string=string: {spec:?}")));
    };
    let mut errs = qualified_name(key);
    errs.extend(label_value(value));
    if !errs.is_empty() {
        return Err(FlagError::Label(format!("invalid node labels: {spec:?}: {}", errs.join("; "))));
    }
    Ok((key.to_owned(), value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taints_parse_as_the_kubelet_parses_them() {
        let taint = |key: &str, value: Option<&str>, effect: &str| Taint {
            key: key.into(),
            value: value.map(Into::into),
            effect: effect.into(),
            time_added: None,
        };
        let cases: &[(&str, Result<Taint, &str>)] = &[
            ("dedicated=gpu:NoSchedule", Ok(taint("dedicated", Some("gpu"), "NoSchedule"))),
            ("example.com/special:NoExecute", Ok(taint("example.com/special", None, "NoExecute"))),
            ("k=:PreferNoSchedule", Ok(taint("k", Some(""), "PreferNoSchedule"))),
            ("k=v:Sometimes", Err("invalid taint effect: Sometimes, unsupported taint effect")),
            ("k=v", Err("invalid taint effect: , unsupported taint effect")),
            ("a:b:NoSchedule", Err("invalid taint spec: a:b:NoSchedule")),
            ("a=b=c:NoSchedule", Err("invalid taint spec: a=b=c:NoSchedule")),
        ];
        for (spec, want) in cases {
            let got = parse_taint(spec).map_err(|e| e.to_string());
            assert_eq!(got, want.clone().map_err(str::to_owned), "{spec}");
        }
        let bad_key = parse_taint("bad key=v:NoSchedule").expect_err("bad key").to_string();
        assert!(
            bad_key.starts_with("invalid taint spec: bad key=v:NoSchedule, name part must consist of"),
            "{bad_key}"
        );
    }

    #[test]
    fn labels_need_a_valid_key_and_value() {
        assert_eq!(parse_label("tier=edge"), Ok(("tier".into(), "edge".into())));
        assert_eq!(parse_label("example.com/role="), Ok(("example.com/role".into(), String::new())));
        let malformed = parse_label("tier").expect_err("no value").to_string();
        assert_eq!(malformed, "invalid node labels: malformed pair, expect string=string: \"tier\"");
        assert!(parse_label("tier=a b").is_err());
    }
}

/// Parses `--eviction-hard` (`memory.available<100Mi,nodefs.available<10%,...`) over upstream's
/// defaults: the signals named replace theirs, as the kubelet merges them.
pub fn parse_eviction_hard(spec: &str) -> Result<EvictionThresholds, FlagError> {
    let mut thresholds = EvictionThresholds::default();
    for item in spec.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let invalid = || {
            FlagError::Eviction(format!("invalid eviction threshold syntax {item}, expected <signal><operator><value>"))
        };
        let (signal, value) = item.split_once('<').ok_or_else(invalid)?;
        let fraction = |value: &str| -> Result<f64, FlagError> {
            let percent: f64 = value.strip_suffix('%').ok_or_else(invalid)?.parse().map_err(|_| invalid())?;
            if !(0.0..=100.0).contains(&percent) {
                return Err(FlagError::Eviction(format!(
                    "eviction percentage threshold {signal} must be >= 0% and <= 100%: {value}"
                )));
            }
            Ok(percent / 100.0)
        };
        match signal.trim() {
            "memory.available" => {
                let milli = crate::pod::resources::parse_milli(value).filter(|m| *m >= 0).ok_or_else(invalid)?;
                thresholds.memory_available =
                    u64::try_from(crate::pod::resources::ceil_div(milli, 1000)).map_err(|_| invalid())?;
            }
            "nodefs.available" => thresholds.nodefs_available = fraction(value)?,
            "nodefs.inodesFree" => thresholds.nodefs_inodes_free = fraction(value)?,
            "imagefs.available" => thresholds.imagefs_available = fraction(value)?,
            "pid.available" => thresholds.pid_available = Some(fraction(value)?),
            other => return Err(FlagError::Eviction(format!("unsupported eviction signal {other}"))),
        }
    }
    Ok(thresholds)
}

#[cfg(test)]
mod eviction_tests {
    use super::parse_eviction_hard;

    #[test]
    fn eviction_hard_replaces_the_signals_it_names_and_refuses_bad_ones() {
        let thresholds = parse_eviction_hard("memory.available<200Mi, nodefs.available<1%").expect("valid");
        assert_eq!(thresholds.memory_available, 200 * 1024 * 1024);
        assert!((thresholds.nodefs_available - 0.01).abs() < 1e-9);
        assert!((thresholds.imagefs_available - 0.15).abs() < 1e-9, "the defaults stay for the others");
        for bad in ["memory.available>1Gi", "nodefs.available<150%", "cpu.available<1", "nodefs.available<ten%"] {
            assert!(parse_eviction_hard(bad).is_err(), "{bad}");
        }
    }
}
