//! The export's one file: a ZIP of the gathered files and `manifest.json`, the SHA-256 of each,
//! so the subject (or a court) can check that nothing was changed after it was written.

use std::{io::Write, path::Path};

use serde::Serialize;
use sha2::{Digest, Sha256};

/// A file of the export, by its path inside the ZIP.
#[derive(Debug, Clone)]
pub struct File {
    pub name: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub format: &'static str,
    /// The subject's IDs.
    pub subject: Vec<String>,
    /// When the request came in, and when the answer is due (one month, Art. 12(3)).
    pub requested_on: String,
    pub due_on: String,
    pub generated_at: String,
    pub colleagues_pseudonymised: bool,
    pub files: Vec<Entry>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

pub const MANIFEST: &str = "manifest.json";

pub fn entry(file: &File) -> Entry {
    Entry {
        name: file.name.clone(),
        bytes: file.bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(&file.bytes)),
    }
}

/// Writes the ZIP next to `path` and moves it into place (a reader never sees half of it),
/// readable by the owner only: it is one person's data.
pub fn write(path: &Path, files: &[File], manifest: &Manifest) -> std::io::Result<u64> {
    let partial = path.with_extension("zip.partial");
    let out = {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(&partial)?
    };
    let mut zip = zip::ZipWriter::new(out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let manifest = serde_json::to_vec_pretty(manifest).expect("JSON to memory");
    let all = std::iter::once((MANIFEST, manifest.as_slice()))
        .chain(files.iter().map(|f| (f.name.as_str(), f.bytes.as_slice())));
    for (name, bytes) in all {
        zip.start_file(name, options)
            .map_err(std::io::Error::other)?;
        zip.write_all(bytes)?;
    }
    let out = zip.finish().map_err(std::io::Error::other)?;
    out.sync_all()?;
    let size = out.metadata()?.len();
    std::fs::rename(&partial, path)?;
    Ok(size)
}
