//! A declared dataset's files digest: SHA-256 over its files' content (a folder's files with their
//! paths inside it, so moving an image to another class changes it) and how they are read
//! (format, label column). It names the prepared file the files decode to (a run's identity uses
//! the content digest of that file instead: [`super::prepared::content_digest`]). File hashes are
//! cached by path, size and modification time in `digests.json` beside the prepared files, so a
//! large dataset is not hashed again for every command.

use crate::error::{Error, Result};
use crate::spec::dataset::{Declared, Source};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    size: u64,
    modified_ns: u128,
    sha256: String,
}

type Cache = BTreeMap<PathBuf, Entry>;

fn cache_file() -> PathBuf {
    super::prepared_dir().with_file_name("digests.json")
}

fn load_cache() -> Cache {
    std::fs::read(cache_file())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Best effort: a cache that cannot be written only costs hashing again next time.
fn save_cache(cache: &Cache) {
    let path = cache_file();
    let Some(dir) = path.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    if let Ok(mut tmp) = tempfile::NamedTempFile::new_in(dir) {
        let json = serde_json::to_vec_pretty(cache).expect("serializes");
        if std::io::Write::write_all(&mut tmp, &json).is_ok() {
            let _ = tmp.persist(&path);
        }
    }
}

fn read_error(path: &Path, source: std::io::Error) -> Error {
    Error::Read {
        path: path.to_path_buf(),
        source,
    }
}

/// SHA-256 of one file, from the cache when its size and modification time are unchanged.
fn file_sha(path: &Path, cache: &mut Cache) -> Result<String> {
    let meta = std::fs::metadata(path).map_err(|e| read_error(path, e))?;
    let modified_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if let Some(e) = cache.get(&key)
        && e.size == meta.len()
        && e.modified_ns == modified_ns
    {
        return Ok(e.sha256.clone());
    }
    let mut file = std::fs::File::open(path).map_err(|e| read_error(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| read_error(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let sha256 = hex::encode(hasher.finalize());
    cache.insert(
        key,
        Entry {
            size: meta.len(),
            modified_ns,
            sha256: sha256.clone(),
        },
    );
    Ok(sha256)
}

/// Every file under `dir`, sorted, with its path relative to `dir`.
fn files_under(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(|e| read_error(&d, e))? {
            let path = entry.map_err(|e| read_error(&d, e))?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap_or(&path);
                out.push((rel.to_string_lossy().replace('\\', "/"), path));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Lines `<name> <sha256>` for each file of a source: a file's own name is left out (renaming it
/// changes nothing), a folder's files are named by their path inside it.
fn source_lines(s: &Source, cache: &mut Cache, out: &mut String) -> Result<()> {
    for p in s.paths() {
        if p.is_dir() {
            for (rel, path) in files_under(p)? {
                out.push_str(&format!("{rel} {}\n", file_sha(&path, cache)?));
            }
        } else {
            out.push_str(&format!("- {}\n", file_sha(p, cache)?));
        }
    }
    Ok(())
}

/// The digest of a declared dataset: 16 hex digits.
pub(super) fn of_declared(d: &Declared) -> Result<String> {
    let mut cache = load_cache();
    let before = cache.clone();
    let mut text = format!(
        "sweep dataset 1\nformat {}\nlabel {}\n",
        d.format.map_or("detected", |f| f.name()),
        d.label.as_deref().unwrap_or("-")
    );
    text.push_str("train\n");
    source_lines(&d.train, &mut cache, &mut text)?;
    text.push_str("test\n");
    source_lines(&d.test, &mut cache, &mut text)?;
    if cache != before {
        save_cache(&cache);
    }
    Ok(hex::encode(Sha256::digest(text.as_bytes()))[..16].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_hashed_again_only_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.csv");
        std::fs::write(&f, "x,y\n1,0\n").unwrap();
        let mut cache = Cache::new();
        let first = file_sha(&f, &mut cache).unwrap();
        assert_eq!(cache.len(), 1);
        // A stale entry with the same size and time is trusted (that is the cache's point)...
        let key = std::fs::canonicalize(&f).unwrap();
        cache.get_mut(&key).unwrap().sha256 = "cached".into();
        assert_eq!(file_sha(&f, &mut cache).unwrap(), "cached");
        // ...and a changed size is not.
        std::fs::write(&f, "x,y\n1,0\n2,1\n").unwrap();
        let second = file_sha(&f, &mut cache).unwrap();
        assert_ne!(second, first);
        assert_ne!(second, "cached");
    }
}
