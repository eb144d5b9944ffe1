//! Control plane throughput with 32 concurrent clients on loopback:
//! CreateSession per second (signed API calls), and the whole flow a viewer
//! goes through (sign-in → entitlement URL → redeem at the host) per second,
//! with p50/p99 latency. Client and host share this machine's cores.
//! `cargo build --release --bins && cargo run --release -p e2e --bin control_plane_bench`

use std::sync::Arc;
use std::time::Duration;

use common::client::Method;
use common::stream_url::StreamUrl;
use e2e::throughput::{ROUNDS, header, report, round};
use e2e::{HostProcess, scratch_dir};

const CLIENTS: usize = 32;

fn main() -> anyhow::Result<()> {
    let dir = scratch_dir("control-plane-bench");
    // Warnings only: the per-session info lines would otherwise be copied
    // through this process's stderr and measured as the host's cost.
    let host = HostProcess::start_with_env(
        &dir.join("host"),
        320,
        180,
        30,
        // Every client entitles the same user, and every client (and the
        // embedded entitlement service) connects from 127.0.0.1: lift the
        // per-user and per-address caps.
        &[
            "--max-pending-per-user",
            "1000000",
            "--max-connections-per-address",
            "4096",
        ],
        &[("RUST_LOG", "warn")],
    )?;
    let runtime = tokio::runtime::Runtime::new()?;
    let api = Arc::new(host.admin_api()?);
    runtime.block_on(async {
        let patch = serde_json::json!({"max_sessions": 10000});
        let _: common::api::Application = api
            .call(Method::PATCH, "/api/applications/demo", Some(&patch))
            .await?;
        anyhow::Ok(())
    })?;

    header();
    let create = {
        let api = api.clone();
        Arc::new(move |_| {
            let api = api.clone();
            async move {
                api.create_session("demo", "bench", Some(1)).await?;
                Ok(())
            }
        })
    };
    let results: Vec<_> = (0..ROUNDS)
        .map(|_| runtime.block_on(round(CLIENTS, create.clone())))
        .collect();
    report("CreateSession (signed API call)", CLIENTS, &results);

    let password = host.demo_password()?;
    let https = common::client::HttpsClient::new(&host.base_url, host.fingerprint)?;
    let flow = Arc::new(move |_| {
        let (https, password) = (https.clone(), password.clone());
        async move {
            let mut client = common::client::EntitlementClient::new(https);
            // 32 clients at once from one address: the host checks a few
            // passwords at a time and says `busy` to the rest, which retry.
            loop {
                match client.sign_in("demo", &password, None).await {
                    Err(common::client::ClientError::Api { status: 429, .. }) => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    other => {
                        other?;
                        break;
                    }
                }
            }
            let entitlement = client.entitle("demo").await?;
            let url = StreamUrl::parse(&entitlement.url)?;
            // Redeem: TLS WebSocket, hello with the token, welcome back.
            let (ws, _welcome) = viewer::stream::connect::connect(&url, None).await?;
            drop(ws);
            Ok(())
        }
    });
    let results: Vec<_> = (0..ROUNDS)
        .map(|_| runtime.block_on(round(CLIENTS, flow.clone())))
        .collect();
    report("sign-in → entitlement URL → redeem", CLIENTS, &results);
    Ok(())
}
