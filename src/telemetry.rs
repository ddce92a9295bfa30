//! Logging. `RUST_LOG` overrides `logging.filter`.

use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, fmt};

pub fn init(filter: &str, json: bool) {
    // matrix-sdk-crypto logs user and room IDs at info (a ghost's ID holds the driver's Threema
    // ID): warnings only, unless the filter names it.
    let filter = match filter.contains("matrix_sdk_crypto") {
        true => filter.to_owned(),
        false => format!("{filter},matrix_sdk_crypto=warn"),
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(filter));
    // Colours only for a person at a terminal, never into files or journald.
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    // A second init (tests) keeps the first subscriber.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
