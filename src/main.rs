use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = threema_bridge::cli::Cli::parse();
    match threema_bridge::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the whole cause chain on one line.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
