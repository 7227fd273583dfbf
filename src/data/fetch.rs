//! `sweep data fetch`: download a dataset from its public mirrors, verify every file's SHA-256,
//! and move it into place atomically (nothing half-downloaded is ever left under its real name).

use crate::data::{self, FILES};
use crate::error::{Error, Result};
use crate::spec::manifest::Dataset;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::{Digest, Sha256};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Public mirrors serving `<file>.gz`, tried in order.
pub(crate) fn mirrors(dataset: &Dataset) -> Vec<String> {
    match dataset {
        Dataset::Mnist => vec![
            "https://ossci-datasets.s3.amazonaws.com/mnist/".into(),
            "https://storage.googleapis.com/cvdf-datasets/mnist/".into(),
        ],
        Dataset::FashionMnist => {
            vec!["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/".into()]
        }
        Dataset::Declared(_) => Vec::new(),
    }
}

/// Download `dataset` into `<dir>/<dataset>/`. Files already present and verified are kept.
/// `mirror` replaces the built-in mirror list (e.g. an internal server).
pub(crate) fn fetch(
    dataset: &Dataset,
    dir: &Path,
    mirror: Option<&str>,
    quiet: bool,
) -> Result<PathBuf> {
    let target = dir.join(dataset.name());
    // The directories this call makes: a failed download leaves none of them behind empty.
    let made: Vec<PathBuf> = target
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
        .map(Path::to_path_buf)
        .collect();
    std::fs::create_dir_all(&target).map_err(|source| Error::Write {
        path: target.clone(),
        source,
    })?;
    let fetched = fetch_into(dataset, dir, &target, mirror, quiet);
    if fetched.is_err() {
        // Innermost first; a directory holding a verified file stays (and stops the walk).
        for d in &made {
            if std::fs::remove_dir(d).is_err() {
                break;
            }
        }
    }
    fetched
}

/// [`fetch`]'s downloads into `target` (`<dir>/<dataset>`), made already.
fn fetch_into(
    dataset: &Dataset,
    dir: &Path,
    target: &Path,
    mirror: Option<&str>,
    quiet: bool,
) -> Result<PathBuf> {
    let mirrors = match mirror {
        Some(m) => vec![if m.ends_with('/') {
            m.to_string()
        } else {
            format!("{m}/")
        }],
        None => mirrors(dataset),
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(20)))
        .timeout_global(Some(Duration::from_secs(600)))
        .build()
        .into();
    for (i, file) in FILES.iter().enumerate() {
        let Some(digests) = dataset.file_digests() else {
            return Err(Error::Usage(format!(
                "`{}` is your own dataset: there is nothing to download",
                dataset.name()
            )));
        };
        let want = digests[i];
        if let Some(existing) = data::file_in(dir, dataset, file)
            && data::read_maybe_gz(&existing).is_ok_and(|b| hex::encode(Sha256::digest(&b)) == want)
        {
            if !quiet {
                eprintln!("{}: present and verified", existing.display());
            }
            continue;
        }
        let dest = target.join(format!("{file}.gz"));
        let mut last_err = None;
        for (k, m) in mirrors.iter().enumerate() {
            let url = format!("{m}{file}.gz");
            match download(&agent, &url, &dest, want, quiet) {
                Ok(()) => {
                    last_err = None;
                    break;
                }
                Err(e) => {
                    // The last mirror's failure is the error itself: say it once.
                    if !quiet && k + 1 < mirrors.len() {
                        eprintln!("warning: {e} (trying the next mirror)");
                    }
                    last_err = Some(e);
                }
            }
        }
        if let Some(e) = last_err {
            return Err(e);
        }
    }
    Ok(target.to_path_buf())
}

fn download(agent: &ureq::Agent, url: &str, dest: &Path, want: &str, quiet: bool) -> Result<()> {
    let fail = |message: String| Error::Download {
        url: url.to_string(),
        message,
    };
    let mut resp = agent.get(url).call().map_err(|e| fail(e.to_string()))?;
    let len = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse::<u64>().ok());
    let bar = ProgressBar::with_draw_target(
        len,
        if quiet || !std::io::stderr().is_terminal() {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        },
    );
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(
        dest.file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    let dir = dest.parent().expect("dest has a parent");
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|source| Error::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut reader = resp.body_mut().as_reader();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| fail(format!("reading the body: {e}")))?;
        if n == 0 {
            break;
        }
        tmp.write_all(&buf[..n]).map_err(|source| Error::Write {
            path: tmp.path().to_path_buf(),
            source,
        })?;
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    tmp.as_file().sync_all().map_err(|source| Error::Write {
        path: tmp.path().to_path_buf(),
        source,
    })?;
    let bytes = data::read_maybe_gz(tmp.path())
        .map_err(|e| fail(format!("downloaded file is unreadable: {e}")))?;
    let got = hex::encode(Sha256::digest(&bytes));
    if got != want {
        return Err(fail(format!(
            "SHA-256 mismatch: expected {want}, got {got}; the file was not kept"
        )));
    }
    tmp.persist(dest).map_err(|e| Error::Write {
        path: dest.to_path_buf(),
        source: e.error,
    })?;
    if !quiet {
        eprintln!("{}: downloaded and verified", dest.display());
    }
    Ok(())
}
