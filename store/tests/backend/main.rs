//! The one backend test suite, run against every backend: SQLite (with a
//! tiny watch cache, so replays come from disk), memory, and a real etcd
//! process started per test (skipped only when etcd is missing and `CI` is
//! unset).

mod fixture;
mod suite;

macro_rules! for_every_backend {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $test() {
                let fixture = crate::fixture::Fixture::sqlite();
                crate::suite::$test(fixture.backend()).await;
            })*
        }
        mod memory {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $test() {
                let fixture = crate::fixture::Fixture::memory();
                crate::suite::$test(fixture.backend()).await;
            })*
        }
        mod etcd {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $test() {
                let Some(fixture) = crate::fixture::Fixture::etcd().await else { return };
                crate::suite::$test(fixture.backend()).await;
            })*
        }
    };
}

for_every_backend!(
    revisions_strictly_increase_with_no_gap,
    compare_and_swap_conflicts_carry_the_current_value,
    get_at_a_past_revision_returns_the_version_of_then,
    range_pages_report_more_and_count,
    paging_at_a_fixed_revision_is_consistent_while_writes_continue,
    watch_from_an_old_revision_replays_then_continues_live,
    watch_only_reports_keys_under_its_prefix,
    watch_from_a_compacted_revision_fails_with_the_compacted_revision,
    compaction_keeps_the_latest_version_of_every_key,
    deletes_carry_the_previous_value,
    concurrent_writers_lose_no_update,
    lease_expiry_deletes_its_keys_and_emits_delete_events,
    revoking_a_lease_deletes_its_keys,
    writes_with_an_unknown_lease_are_refused,
    a_range_larger_than_4_mib_is_returned_whole,
    reads_at_past_revisions_after_compaction_see_the_versions_of_then,
);
