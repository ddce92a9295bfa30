//! The official Threema Python SDK, run from the test venv that `scripts/synapse` installs.

use std::{io::Write, process::Command};

use serde_json::Value;

use super::synapse::repo_root;

/// Sends `request` to `tests/python/sdk_interop.py` and returns its answer. Runs on a blocking
/// thread, so servers in the test's runtime (the simulator) keep answering the SDK meanwhile.
pub async fn sdk(request: &Value) -> Value {
    let request = request.clone();
    tokio::task::spawn_blocking(move || run(&request))
        .await
        .unwrap()
}

fn run(request: &Value) -> Value {
    let out = script("sdk_interop.py", request.to_string().as_bytes());
    assert!(
        out.status.success(),
        "Python SDK failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the SDK script answers JSON")
}

/// Runs `tests/python/<name>` in the test venv with `input` on its standard input.
pub fn script(name: &str, input: &[u8]) -> std::process::Output {
    let root = repo_root();
    let mut child = Command::new(root.join("scripts/synapse"))
        .arg("python")
        .arg(root.join("tests/python").join(name))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("scripts/synapse python runs");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}
