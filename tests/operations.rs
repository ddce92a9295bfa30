//! What IT installs beside the binary: the systemd unit verifies as written.

use std::{path::Path, process::Command};

#[test]
fn the_systemd_unit_verifies() {
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/systemd/threema-bridge.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    // The unit names where the binary is installed; here it is the one just built.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("threema-bridge.service");
    let built = env!("CARGO_BIN_EXE_threema-bridge");
    std::fs::write(&copy, text.replace("/usr/local/bin/threema-bridge", built)).unwrap();
    let verified = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .expect("systemd-analyze runs (Debian's systemd package; .ci/run installs it)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
    // Other units of the machine may draw remarks; ours may not.
    assert!(
        verified.status.success() && !said.contains("threema-bridge.service"),
        "{said}"
    );
    for hardening in [
        "User=threema-bridge",
        "ProtectSystem=strict",
        "NoNewPrivileges=true",
        "PrivateTmp=true",
        "Restart=on-failure",
    ] {
        assert!(text.lines().any(|l| l == hardening), "{hardening}");
    }
}
