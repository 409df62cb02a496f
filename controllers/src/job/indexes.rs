//! Completion indexes of Indexed Jobs: the compressed interval lists of
//! `status.completedIndexes` / `status.failedIndexes` ("0-2,4"), reading a
//! pod's index and per-index failure counts, and choosing the next indexes to
//! start (upstream's indexed_job_utils).

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Pod;

/// The annotation (and label) carrying a pod's completion index.
pub const COMPLETION_INDEX_ANNOTATION: &str = "batch.kubernetes.io/job-completion-index";
/// How many counted failures the index had before this pod (backoffLimitPerIndex).
pub const INDEX_FAILURE_COUNT_ANNOTATION: &str = "batch.kubernetes.io/job-index-failure-count";
/// How many ignored failures the index had before this pod.
pub const INDEX_IGNORED_FAILURE_COUNT_ANNOTATION: &str = "batch.kubernetes.io/job-index-ignored-failure-count";
/// The environment variable through which a container sees its index.
pub const COMPLETION_INDEX_ENV: &str = "JOB_COMPLETION_INDEX";

/// Sorted, disjoint, non-adjacent closed intervals of indexes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Intervals(Vec<(i32, i32)>);

impl Intervals {
    /// Parses "1,3-5" keeping only indexes below `completions` (upstream's parseIndexesFromString:
    /// corrupt pieces are skipped, parsing stops at the first interval starting past the end).
    pub fn parse(text: &str, completions: i32) -> Self {
        let mut result: Vec<(i32, i32)> = Vec::new();
        if text.is_empty() {
            return Self(result);
        }
        for piece in text.split(',') {
            let mut limits = piece.split('-');
            let Some(Ok(first)) = limits.next().map(str::parse::<i32>) else { continue };
            if first >= completions {
                break;
            }
            let last = match limits.next() {
                Some(text) => match text.parse::<i32>() {
                    Ok(last) => last.min(completions - 1),
                    Err(_) => continue,
                },
                None => first,
            };
            match result.last_mut() {
                Some(previous) if previous.1 == first - 1 => previous.1 = last,
                _ => result.push((first, last)),
            }
        }
        Self(result)
    }

    /// These intervals plus `indexes` (given in increasing order).
    pub fn with_indexes(&self, indexes: impl IntoIterator<Item = i32>) -> Self {
        self.merge(&Self(indexes.into_iter().map(|i| (i, i)).collect()))
    }

    /// The union of two interval lists.
    pub fn merge(&self, other: &Self) -> Self {
        let mut all: Vec<(i32, i32)> = self.0.iter().chain(other.0.iter()).copied().collect();
        all.sort_by_key(|iv| iv.0);
        let mut result: Vec<(i32, i32)> = Vec::new();
        for iv in all {
            match result.last_mut() {
                Some(last) if iv.0 <= last.1.saturating_add(1) => last.1 = last.1.max(iv.1),
                _ => result.push(iv),
            }
        }
        Self(result)
    }

    /// How many indexes the intervals hold.
    pub fn total(&self) -> i32 {
        self.0.iter().map(|(first, last)| last - first + 1).sum()
    }

    pub fn has(&self, index: i32) -> bool {
        self.0.iter().any(|(first, last)| (*first..=*last).contains(&index))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn intervals(&self) -> &[(i32, i32)] {
        &self.0
    }
}

impl std::fmt::Display for Intervals {
    /// "0-2,4": runs of three or more with a dash, pairs as "5,6".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (first, last)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{first}")?;
            if last > first {
                write!(f, "{}{last}", if *last == first + 1 { "," } else { "-" })?;
            }
        }
        Ok(())
    }
}

/// The pod's completion index, if it has a valid one.
pub fn completion_index(pod: &Pod) -> Option<i32> {
    let value = pod.metadata.annotations.as_ref()?.get(COMPLETION_INDEX_ANNOTATION)?;
    value.parse::<i32>().ok().filter(|i| *i >= 0)
}

/// The pod's index if it is below `completions`.
pub fn valid_index(pod: &Pod, completions: i32) -> Option<i32> {
    completion_index(pod).filter(|i| *i < completions)
}

fn annotation_count(pod: &Pod, key: &str) -> i32 {
    let value = pod.metadata.annotations.as_ref().and_then(|a| a.get(key));
    value.and_then(|v| v.parse::<i32>().ok()).filter(|v| *v >= 0).unwrap_or(0)
}

/// The counted failures of the pod's index before it (0 when absent or corrupt).
pub fn index_failure_count(pod: &Pod) -> i32 {
    annotation_count(pod, INDEX_FAILURE_COUNT_ANNOTATION)
}

/// Counted and ignored failures of the pod's index before it.
pub fn index_absolute_failure_count(pod: &Pod) -> i32 {
    index_failure_count(pod).saturating_add(annotation_count(pod, INDEX_IGNORED_FAILURE_COUNT_ANNOTATION))
}

/// Up to `count` indexes below `completions` not in `taken`, lowest first (upstream's firstPendingIndexes).
pub fn first_pending(taken: &Intervals, count: usize, completions: i32) -> Vec<i32> {
    let mut result = Vec::with_capacity(count);
    let mut candidate = 0;
    for (first, last) in taken.intervals() {
        while candidate < completions && result.len() < count && candidate < *first {
            result.push(candidate);
            candidate += 1;
        }
        candidate = candidate.max(last + 1);
    }
    while candidate < completions && result.len() < count {
        result.push(candidate);
        candidate += 1;
    }
    result
}

/// The indexes of `pods` (those that have one).
pub fn indexes_of<'a>(pods: impl IntoIterator<Item = &'a Pod>) -> BTreeSet<i32> {
    pods.into_iter().filter_map(completion_index).collect()
}

/// The `generateName` of an indexed pod: `<job>-<index>-`, the job name cut so that it fits
/// the 58 characters a generated name may have before its random suffix.
pub fn generate_name_with_index(job: &str, index: i32) -> String {
    const MAX_GENERATED_NAME_LENGTH: usize = 58;
    let suffix = format!("-{index}-");
    let prefix = format!("{job}{suffix}");
    if prefix.len() <= MAX_GENERATED_NAME_LENGTH {
        return prefix;
    }
    let keep = MAX_GENERATED_NAME_LENGTH.saturating_sub(suffix.len());
    format!("{}{suffix}", &job[..keep.min(job.len())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_print_compressed_ranges() {
        let iv = Intervals::default().with_indexes([0, 1, 2, 4, 6, 7]);
        assert_eq!(iv.to_string(), "0-2,4,6,7");
        assert_eq!(iv.total(), 6);
        assert!(iv.has(4) && !iv.has(5) && iv.has(7));
        assert_eq!(Intervals::default().to_string(), "");
    }

    #[test]
    fn parsing_keeps_indexes_below_completions_and_skips_corrupt_pieces() {
        assert_eq!(Intervals::parse("0-2,4,6,7", 10).to_string(), "0-2,4,6,7");
        assert_eq!(Intervals::parse("1,2,3", 10).to_string(), "1-3");
        assert_eq!(Intervals::parse("0-5,8", 4).to_string(), "0-3");
        assert_eq!(Intervals::parse("x,3,5-y,7", 10).to_string(), "3,7");
        assert_eq!(Intervals::parse("", 3).total(), 0);
    }

    #[test]
    fn merging_joins_adjacent_and_overlapping_intervals() {
        let a = Intervals::parse("0-2,8-9", 20);
        let b = Intervals::parse("3,5-7,9-11", 20);
        assert_eq!(a.merge(&b).to_string(), "0-3,5-11");
        assert_eq!(a.with_indexes([4]).to_string(), "0-2,4,8,9");
    }

    #[test]
    fn pending_indexes_fill_the_gaps_lowest_first() {
        let taken = Intervals::parse("0,2-3,6", 10);
        assert_eq!(first_pending(&taken, 3, 10), [1, 4, 5]);
        assert_eq!(first_pending(&taken, 10, 8), [1, 4, 5, 7]);
        assert_eq!(first_pending(&Intervals::default(), 2, 1), [0]);
        assert!(first_pending(&taken, 0, 10).is_empty());
    }

    #[test]
    fn indexed_generate_names_fit_in_58_characters() {
        assert_eq!(generate_name_with_index("pi", 3), "pi-3-");
        let long = "a".repeat(63);
        let name = generate_name_with_index(&long, 12);
        assert_eq!(name.len(), 58);
        assert!(name.ends_with("a-12-"));
    }
}
