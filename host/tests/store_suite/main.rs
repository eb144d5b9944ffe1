//! The store suite: both backends behave the same. Each case runs on SQLite
//! (a file in a temporary directory) and on PostgreSQL (a fresh database in
//! a private cluster started once per run; `scripts/setup` installs the
//! server). The cases are in this directory's modules, by concern.

#![allow(clippy::unwrap_used)] // test helpers, not only #[test] functions

use std::sync::{Arc, OnceLock};

use common::api::{ApplicationState, NewApplication, SessionState};
use host::control_plane::store::postgres::cluster::PrivateCluster;
use host::control_plane::store::*;

mod audit;
mod fleet;
mod identity;
mod sessions;

/// No per-user cap on pending entitlements (the tests of other limits).
const NO_CAP: u32 = u32::MAX;

/// One database of one backend; `open` connects to it again, as another
/// host (or another process) would.
enum Database {
    Sqlite(tempfile::TempDir),
    Postgres(String),
}

impl Database {
    fn sqlite() -> Self {
        Database::Sqlite(tempfile::tempdir().expect("a temporary directory"))
    }

    fn postgres() -> Self {
        static CLUSTER: OnceLock<PrivateCluster> = OnceLock::new();
        let cluster =
            CLUSTER.get_or_init(|| PrivateCluster::start(&[]).expect("a private cluster"));
        Database::Postgres(cluster.new_database().expect("a database"))
    }

    fn open(&self) -> Arc<dyn Store> {
        match self {
            Database::Sqlite(dir) => Arc::new(SqliteStore::open_in(dir.path()).expect("open")),
            Database::Postgres(url) => Arc::new(
                PostgresStore::connect(
                    url,
                    host::control_plane::store::postgres::DEFAULT_CONNECTIONS,
                )
                .expect("connect"),
            ),
        }
    }
}

/// Each case once per backend: `on_sqlite::case` and `on_postgres::case`.
macro_rules! on_both_backends {
    ($($module:ident::$case:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[test]
            fn $case() {
                super::$module::$case(&super::Database::sqlite());
            })*
        }
        mod on_postgres {
            $(#[test]
            fn $case() {
                super::$module::$case(&super::Database::postgres());
            })*
        }
    };
}

on_both_backends!(
    sessions::entitlement_tokens_are_single_use_and_expire,
    sessions::disabled_applications_refuse_sessions_and_pending_ones_expire,
    sessions::two_hosts_racing_create_session_never_exceed_max_sessions,
    sessions::a_token_redeemed_at_two_hosts_at_once_is_redeemed_once,
    sessions::deleting_an_application_with_live_sessions_is_refused,
    identity::attaching_to_a_missing_principal_says_so,
    identity::refresh_tokens_are_single_use_expire_and_die_with_a_new_password,
    identity::a_reused_refresh_token_revokes_its_whole_chain,
    identity::a_totp_step_is_claimed_once_and_never_an_older_one,
    sessions::a_user_holds_at_most_the_cap_of_pending_entitlements,
    audit::audit_fields_are_bounded_and_retention_prunes,
    identity::a_disabled_principal_keeps_its_data_and_its_sign_ins_stop,
    sessions::applications_round_trip_with_their_errors,
    identity::keys_policies_and_entitlements_round_trip,
    audit::the_audit_search_filters_and_pages,
    identity::a_nonce_is_claimed_once_across_hosts_until_it_ages_out,
    identity::sign_in_failures_are_seen_by_every_host_and_cleared_by_a_success,
    fleet::a_silent_host_is_lost_with_its_sessions_and_comes_back_with_a_beat,
    fleet::placement_fills_the_least_loaded_host_and_says_why_none_has_room,
    fleet::a_placed_session_is_refused_for_the_reasons_of_any_session,
    fleet::hosts_racing_to_place_never_pass_a_hosts_max_sessions,
);

fn app(name: &str, max_sessions: u32) -> NewApplication {
    let mut new: NewApplication = serde_json::from_str(&format!(r#"{{"name":"{name}"}}"#)).unwrap();
    new.max_sessions = max_sessions;
    new
}
