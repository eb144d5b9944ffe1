//! CreateSession per second through three hosts on one PostgreSQL database
//! (a private cluster at its stock settings, printed beside the figure):
//! signed API calls spread over the hosts, each placed on the fleet's least
//! loaded host. Clients, hosts and the database share this machine's cores.
//! `cargo build --release --bins && cargo run --release -p e2e --bin fleet_bench`

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::api::HostList;
use common::client::Method;
use e2e::throughput::{ROUNDS, header, report, round};
use e2e::{HostProcess, scratch_dir};
use host::control_plane::store::postgres::cluster::PrivateCluster;

const HOSTS: usize = 3;
const CLIENTS: usize = 30;

/// The server settings that decide what a commit costs.
fn settings(url: &str) -> anyhow::Result<String> {
    let mut client = postgres::Client::connect(url, postgres::NoTls)?;
    let mut shown = Vec::new();
    for name in [
        "server_version",
        "fsync",
        "synchronous_commit",
        "wal_sync_method",
        "shared_buffers",
        "max_connections",
    ] {
        let value: String = client.query_one(&format!("SHOW {name}"), &[])?.get(0);
        shown.push(format!("{name}={value}"));
    }
    Ok(shown.join(", "))
}

fn main() -> anyhow::Result<()> {
    let cluster = PrivateCluster::start(&[])?;
    let database = cluster.new_database()?;
    let dir = scratch_dir("fleet-bench");
    let hosts = (0..HOSTS)
        .map(|i| {
            HostProcess::start_with_env(
                &dir.join(format!("host{i}")),
                320,
                180,
                30,
                // Thousands of entitlements a second from one address, a
                // few users: lift the per-user and per-address caps; room
                // for every pending entitlement (they expire after 1 s).
                &[
                    "--max-pending-per-user",
                    "1000000",
                    "--max-connections-per-address",
                    "4096",
                    "--max-sessions",
                    "1000",
                ],
                &[("RUST_LOG", "warn"), ("APPSTREAM_DATABASE", &database)],
            )
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let apis = hosts
        .iter()
        .map(HostProcess::admin_api)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let apis = Arc::new(apis);
    runtime.block_on(async {
        let patch = serde_json::json!({"max_sessions": 10000});
        let _: common::api::Application = apis[0]
            .call(Method::PATCH, "/api/applications/demo", Some(&patch))
            .await?;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let listed: HostList = apis[0].call(Method::GET, "/api/hosts", None::<&()>).await?;
            if listed.hosts.len() == HOSTS {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "the fleet never formed");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        anyhow::Ok(())
    })?;

    println!("PostgreSQL: {}", settings(&database)?);
    println!("{HOSTS} hosts, each CreateSession at the API of host (client mod {HOSTS})");
    header();
    // Each client a player of its own (a café's players), then every client
    // the same user (whose pending entitlements are counted at each call).
    for (flow, one_user) in [
        (
            "CreateSession, placed (3 hosts, PostgreSQL), a user per client",
            false,
        ),
        (
            "CreateSession, placed (3 hosts, PostgreSQL), one user",
            true,
        ),
    ] {
        let create = {
            let apis = apis.clone();
            Arc::new(move |client: usize| {
                let apis = apis.clone();
                let user = if one_user {
                    "bench".to_string()
                } else {
                    format!("player{client}")
                };
                async move {
                    apis[client % HOSTS]
                        .create_session("demo", &user, Some(1))
                        .await?;
                    Ok(())
                }
            })
        };
        let results: Vec<_> = (0..ROUNDS)
            .map(|_| runtime.block_on(round(CLIENTS, create.clone())))
            .collect();
        report(flow, CLIENTS, &results);
    }
    Ok(())
}
