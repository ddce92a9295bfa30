//! The `threema-gateway-sim` binary: flags, demo users, admin API, graceful SIGTERM.

use std::{process::Stdio, time::Duration};

use serde_json::Value;
use threema_gateway_sim::crypto;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::Command,
};

#[tokio::test]
async fn binary_serves_demo_users_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_threema-gateway-sim"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--gateway-id",
            "*DEMO123",
            "--secret",
            "s3cret",
        ])
        .args([
            "--gateway-private-key",
            &format!("private:{}", hex::encode([0x11u8; 32])),
        ])
        .args([
            "--user",
            "DRIVER01:Driver Dan",
            "--user",
            "DRIVER02",
            "--time-scale",
            "0.01",
        ])
        .env("RUST_LOG", "info")
        .env_remove("SIM_LISTEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        // A failing assertion must not leave the process behind.
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();

    // The last startup line is "ready base_url=…"; keep draining the log afterwards.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let find_ready = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains(" ready ")
                && let Some(rest) = line.split("base_url=").nth(1)
            {
                return rest.split_whitespace().next().unwrap().to_owned();
            }
        }
        panic!("the binary exited before it was ready");
    };
    let base = tokio::time::timeout(Duration::from_secs(20), find_ready)
        .await
        .expect("ready line");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let get = |path: &str| {
        let request = http.get(format!("{base}{path}"));
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let users: Value = serde_json::from_str(&get("/_sim/users").await).unwrap();
    assert_eq!(users[0]["id"], "DRIVER01");
    assert_eq!(users[0]["nickname"], "Driver Dan");
    assert_eq!(users[1]["id"], "DRIVER02");
    assert_eq!(users[1]["nickname"], Value::Null);
    let config: Value = serde_json::from_str(&get("/_sim/config").await).unwrap();
    assert_eq!(
        config["gateway_public_key"],
        hex::encode(crypto::public_key(&[0x11; 32]))
    );
    assert_eq!(config["time_scale"], 0.01);
    assert_eq!(get("/credits?from=*DEMO123&secret=s3cret").await, "1000");

    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits within 10 s of SIGTERM")
        .unwrap();
    assert!(exit.success(), "{exit:?}");
}
