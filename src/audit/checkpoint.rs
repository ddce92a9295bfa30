//! Signed checkpoints: the chain's head at a sequence number, signed with the bridge's Ed25519
//! key and written as a file outside the database (and posted to the admins' room). A database
//! rewritten or restored from an older backup no longer matches the newest checkpoint.

use std::path::{Path, PathBuf};

use ed25519_dalek::{Signer, Verifier};
use serde::{Deserialize, Serialize};

use super::Hash;

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot read the signing key {path}")]
    ReadKey {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} does not hold a signing key (64 hex characters); make one with `audit keygen`")]
    BadKey { path: PathBuf },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the checkpoint folder {path}")]
    ReadDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a checkpoint")]
    Unreadable { path: PathBuf },
    #[error("{path} is signed by another key ({key}) than the configured one")]
    OtherKey { path: PathBuf, key: String },
    #[error("{path} has a bad signature")]
    BadSignature { path: PathBuf },
}

/// The bridge's checkpoint signing key (`audit.signing_key_file`: the 32-byte seed in hex).
pub struct SigningKey(ed25519_dalek::SigningKey);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey(public {})", self.public_hex())
    }
}

impl SigningKey {
    pub fn generate() -> Self {
        SigningKey(ed25519_dalek::SigningKey::from_bytes(&rand::random()))
    }

    pub fn read(path: &Path) -> Result<Self, CheckpointError> {
        let text = std::fs::read_to_string(path).map_err(|source| CheckpointError::ReadKey {
            path: path.to_owned(),
            source,
        })?;
        let mut seed = [0; 32];
        hex::decode_to_slice(text.trim(), &mut seed).map_err(|_| CheckpointError::BadKey {
            path: path.to_owned(),
        })?;
        Ok(SigningKey(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    /// Writes a new key readable by its owner only; an existing file is never overwritten.
    pub fn write_new(&self, path: &Path) -> Result<(), CheckpointError> {
        use std::io::Write;
        let error = |source| CheckpointError::Write {
            path: path.to_owned(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(error)?;
        writeln!(file, "{}", hex::encode(self.0.to_bytes())).map_err(error)?;
        file.sync_all().map_err(error)
    }

    pub fn public_hex(&self) -> String {
        hex::encode(self.0.verifying_key().as_bytes())
    }
}

/// The chain's head after entry `seq`, at `at` (ms), signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: i64,
    pub head: String,
    pub at: i64,
    /// The signer's public key, hex.
    pub key: String,
    /// Ed25519 over `signed_text`, hex.
    pub signature: String,
}

impl Checkpoint {
    fn signed_text(seq: i64, head: &str, at: i64) -> String {
        format!("threema-bridge audit checkpoint v1\nseq {seq}\nhead {head}\nat {at}\n")
    }

    pub fn sign(key: &SigningKey, seq: i64, head: Hash, at: i64) -> Self {
        let head = head.hex();
        let signature = key.0.sign(Self::signed_text(seq, &head, at).as_bytes());
        Checkpoint {
            seq,
            head,
            at,
            key: key.public_hex(),
            signature: hex::encode(signature.to_bytes()),
        }
    }

    /// Checks the signature with `key`'s public half; `path` names the file in errors.
    pub fn verify(&self, key: &SigningKey, path: &Path) -> Result<(), CheckpointError> {
        if self.key != key.public_hex() {
            return Err(CheckpointError::OtherKey {
                path: path.to_owned(),
                key: self.key.clone(),
            });
        }
        let bad = || CheckpointError::BadSignature {
            path: path.to_owned(),
        };
        let mut signature = [0; 64];
        hex::decode_to_slice(&self.signature, &mut signature).map_err(|_| bad())?;
        key.0
            .verifying_key()
            .verify(
                Self::signed_text(self.seq, &self.head, self.at).as_bytes(),
                &ed25519_dalek::Signature::from_bytes(&signature),
            )
            .map_err(|_| bad())
    }

    /// The text posted to the admins' room and written to the file.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a checkpoint serialises")
    }

    /// Writes `checkpoint-<seq>-<at>.json` into `dir` (made if missing), whole or not at all,
    /// synced to disk. An existing file is never replaced: it may be the evidence against
    /// the database.
    pub fn write_into(&self, dir: &Path) -> Result<PathBuf, CheckpointError> {
        use std::io::Write;
        let path = dir.join(format!("checkpoint-{:012}-{}.json", self.seq, self.at));
        let error = |source| CheckpointError::Write {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(error)?;
        let temporary = dir.join(format!(".checkpoint-{}.tmp", self.seq));
        let mut file = std::fs::File::create(&temporary).map_err(error)?;
        file.write_all(self.to_json().as_bytes()).map_err(error)?;
        file.sync_all().map_err(error)?;
        // A link fails where a rename would replace.
        let linked = std::fs::hard_link(&temporary, &path);
        let _ = std::fs::remove_file(&temporary);
        linked.map_err(error)?;
        if let Ok(folder) = std::fs::File::open(dir) {
            let _ = folder.sync_all();
        }
        Ok(path)
    }

    /// Every `checkpoint-*.json` in `dir` (none when it does not exist yet), by sequence number.
    pub fn read_dir(dir: &Path) -> Result<Vec<(PathBuf, Checkpoint)>, CheckpointError> {
        let entries = match std::fs::read_dir(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            other => other.map_err(|source| CheckpointError::ReadDir {
                path: dir.to_owned(),
                source,
            })?,
        };
        let mut found = Vec::new();
        for entry in entries {
            let path = entry
                .map_err(|source| CheckpointError::ReadDir {
                    path: dir.to_owned(),
                    source,
                })?
                .path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if !(name.starts_with("checkpoint-") && name.ends_with(".json")) {
                continue;
            }
            let checkpoint = std::fs::read_to_string(&path)
                .ok()
                .and_then(|text| serde_json::from_str::<Checkpoint>(&text).ok())
                .ok_or_else(|| CheckpointError::Unreadable { path: path.clone() })?;
            found.push((path, checkpoint));
        }
        found.sort_by_key(|(_, c)| (c.seq, c.at));
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_verifies_with_its_key_only_and_not_once_changed() {
        let key = SigningKey::generate();
        let path = Path::new("checkpoint-000000000007.json");
        let checkpoint = Checkpoint::sign(&key, 7, Hash([3; 32]), 1_700_000_000_000);
        checkpoint.verify(&key, path).unwrap();
        assert!(matches!(
            checkpoint.verify(&SigningKey::generate(), path),
            Err(CheckpointError::OtherKey { .. })
        ));
        let mut moved = checkpoint.clone();
        moved.seq = 6;
        assert!(matches!(
            moved.verify(&key, path),
            Err(CheckpointError::BadSignature { .. })
        ));
        // A forger who also puts their own public key in the file is still caught.
        let forger = SigningKey::generate();
        let forged = Checkpoint::sign(&forger, 9, Hash([4; 32]), 1);
        assert!(matches!(
            forged.verify(&key, path),
            Err(CheckpointError::OtherKey { .. })
        ));
    }

    #[test]
    fn checkpoints_round_trip_through_their_folder_and_keys_through_their_file() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate();
        let file = dir.path().join("audit.key");
        key.write_new(&file).unwrap();
        assert!(key.write_new(&file).is_err(), "never overwrites a key");
        let read = SigningKey::read(&file).unwrap();
        assert_eq!(read.public_hex(), key.public_hex());
        assert!(!format!("{read:?}").contains(&hex::encode(key.0.to_bytes())));

        let folder = dir.path().join("checkpoints");
        assert!(Checkpoint::read_dir(&folder).unwrap().is_empty());
        for seq in [12, 3] {
            Checkpoint::sign(&key, seq, Hash([1; 32]), seq)
                .write_into(&folder)
                .unwrap();
        }
        let read = Checkpoint::read_dir(&folder).unwrap();
        assert_eq!(read.iter().map(|(_, c)| c.seq).collect::<Vec<_>>(), [3, 12]);
        for (path, checkpoint) in &read {
            checkpoint.verify(&key, path).unwrap();
        }
    }
}
