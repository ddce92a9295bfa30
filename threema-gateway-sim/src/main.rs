//! `threema-gateway-sim`: the simulator as a process, for the local demo and manual testing.

use std::{net::SocketAddr, process::ExitCode, time::Duration};

use clap::Parser;
use threema_gateway_sim::{Behaviour, SimConfig, Simulator, UserSpec, crypto, parse_key};
use tracing::{error, info, warn};
use tracing_subscriber::EnvFilter;

/// Local simulator of the Threema Gateway API (E2E mode) and of Threema phones.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// Address to listen on; the Gateway API is served at its root, the admin API under /_sim/.
    #[arg(long, env = "SIM_LISTEN", default_value = "127.0.0.1:29320")]
    listen: SocketAddr,
    /// The Gateway ID (8 characters, usually starting with `*`).
    #[arg(long, env = "SIM_GATEWAY_ID", default_value = "*DISPTCH")]
    gateway_id: String,
    /// The API secret the client uses (also the callback MAC key).
    #[arg(long, env = "SIM_SECRET", default_value = "simsecret")]
    secret: String,
    /// The Gateway ID's public key (64 hex).
    #[arg(
        long,
        env = "SIM_GATEWAY_PUBLIC_KEY",
        conflicts_with = "gateway_private_key"
    )]
    gateway_public_key: Option<String>,
    /// The Gateway ID's private key (64 hex, `private:` prefix allowed); the public key is
    /// derived. Without either key a key pair is generated and the private key is logged.
    #[arg(long, env = "SIM_GATEWAY_PRIVATE_KEY")]
    gateway_private_key: Option<String>,
    /// Where incoming messages are POSTed (can be changed via PUT /_sim/config).
    #[arg(long, env = "SIM_CALLBACK_URL")]
    callback_url: Option<String>,
    /// Starting credit balance.
    #[arg(long, env = "SIM_CREDITS", default_value_t = 1000)]
    credits: i64,
    /// Deterministic mode: seed for IDs, keys, nonces and padding.
    #[arg(long, env = "SIM_SEED")]
    seed: Option<u64>,
    /// Multiplies simulated delays (callback retry interval, receipt delays).
    #[arg(long, env = "SIM_TIME_SCALE", default_value_t = 1.0)]
    time_scale: f64,
    /// A demo driver phone `ID[:Nickname]` that sends delivery receipts; repeatable.
    #[arg(long = "user", value_name = "ID[:NICKNAME]")]
    users: Vec<String>,
    /// Demo phones also mark messages read (after 2 s) and echo every text (after 1 s).
    #[arg(long)]
    echo: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        // Plain text when piped, so scripts can read `base_url=…` from the log.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            error!("{message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let public_key = match (&cli.gateway_public_key, &cli.gateway_private_key) {
        (Some(public), _) => parse_key(public).map_err(|e| format!("--gateway-public-key: {e}"))?,
        (None, Some(private)) => crypto::public_key(
            &parse_key(private).map_err(|e| format!("--gateway-private-key: {e}"))?,
        ),
        (None, None) => {
            let private: [u8; 32] = rand_key();
            warn!(
                private_key = %hex::encode(private),
                "no Gateway key given: generated one; configure the client with this private key"
            );
            crypto::public_key(&private)
        }
    };
    let mut config = SimConfig::new(&cli.gateway_id, &cli.secret, public_key);
    config.callback_url = cli.callback_url.clone();
    config.credits = cli.credits;
    config.seed = cli.seed;
    config.time_scale = cli.time_scale;

    let listener = tokio::net::TcpListener::bind(cli.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cli.listen))?;
    let sim = Simulator::start(config, listener)
        .await
        .map_err(|e| format!("cannot start: {e}"))?;

    for user in &cli.users {
        let (id, nickname) = match user.split_once(':') {
            Some((id, nickname)) => (id, Some(nickname)),
            None => (user.as_str(), None),
        };
        let mut spec = UserSpec::new(id);
        spec.nickname = nickname.map(str::to_owned);
        if cli.echo {
            spec.behaviour = Behaviour {
                read_after: Some(Duration::from_secs(2)),
                echo: true,
                ..Behaviour::default()
            };
        }
        let info = sim
            .try_add_user(spec)
            .map_err(|e| format!("--user {user}: {e}"))?;
        info!(id = %info.id, public_key = %hex::encode(info.public_key), "demo phone");
    }

    let base = sim.base_url();
    info!(
        "Gateway API: {base} (use it as the SDK's custom endpoint); gateway ID {} with secret {:?}",
        cli.gateway_id, cli.secret
    );
    info!("admin API, e.g.: curl {base}/_sim/users");
    info!(
        "  a phone sends:  curl -X POST {base}/_sim/users/ID/send -H 'content-type: application/json' -d '{{\"type\":\"text\",\"text\":\"hi\"}}'"
    );
    info!("  its inbox:      curl {base}/_sim/users/ID/inbox");
    info!(
        "  callback URL:   curl -X PUT {base}/_sim/config -H 'content-type: application/json' -d '{{\"callback_url\":\"http://127.0.0.1:PORT/path\"}}'"
    );
    info!("  more: callbacks, metrics, credits, faults, reset — see threema-gateway-sim/README.md");
    // Last, after the demo users exist: scripts wait for this line.
    info!(base_url = %base, "ready");

    shutdown_signal().await;
    info!("shutting down");
    sim.shutdown().await;
    Ok(())
}

fn rand_key() -> [u8; 32] {
    use rand::RngCore;
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    key
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
