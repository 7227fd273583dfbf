//! `sweep data fetch` against a local HTTP server on 127.0.0.1 serving ../shared/data.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;

/// Serve files under `root` over HTTP/1.0 until the listener is dropped (one thread per request).
fn serve(root: PathBuf) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = root.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                reader.read_line(&mut request).unwrap();
                // Drain the headers.
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let path = request
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/")
                    .trim_start_matches('/')
                    .to_string();
                let mut stream = stream;
                match std::fs::read(root.join(&path)) {
                    Ok(body) => {
                        write!(
                            stream,
                            "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n",
                            body.len()
                        )
                        .unwrap();
                        stream.write_all(&body).unwrap();
                    }
                    Err(_) => write!(
                        stream,
                        "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n"
                    )
                    .unwrap(),
                }
            });
        }
    });
    format!("http://{addr}/")
}

#[test]
fn fetch_downloads_verifies_and_is_idempotent() {
    let sb = Sandbox::new();
    let url = serve(data_dir().join("mnist"));
    let dest = sb.path().join("data");
    sb.sweep()
        .args(["data", "fetch", "mnist", "--mirror", &url, "--data-dir"])
        .arg(&dest)
        .assert()
        .success();
    for f in [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ] {
        assert_eq!(
            std::fs::read(dest.join("mnist").join(f)).unwrap(),
            std::fs::read(data_dir().join("mnist").join(f)).unwrap(),
            "{f}"
        );
    }
    // Nothing else left behind (no temporary files).
    assert_eq!(std::fs::read_dir(dest.join("mnist")).unwrap().count(), 4);
    // Second fetch: everything present and verified, nothing downloaded.
    let out = sb
        .sweep()
        .args(["data", "fetch", "mnist", "--mirror", &url, "--data-dir"])
        .arg(&dest)
        .assert()
        .success()
        .get_output()
        .stderr
        .clone();
    assert_eq!(
        String::from_utf8(out)
            .unwrap()
            .matches("present and verified")
            .count(),
        4
    );
    // The fetched copy is usable.
    sb.sweep()
        .args(["data", "path", "mnist", "--data-dir"])
        .arg(&dest)
        .assert()
        .success();
}

#[test]
fn a_mirror_serving_wrong_bytes_is_refused_and_nothing_is_kept() {
    let sb = Sandbox::new();
    // Serve Fashion-MNIST's files under MNIST's names: valid gzip IDX, wrong digests.
    let url = serve(data_dir().join("fashion-mnist"));
    let dest = sb.path().join("data");
    let out = sb
        .sweep()
        .args(["data", "fetch", "mnist", "--mirror", &url, "--data-dir"])
        .arg(&dest)
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(out).unwrap();
    assert!(
        err.contains("SHA-256 mismatch") && err.contains("train-images-idx3-ubyte.gz"),
        "{err}"
    );
    // Nothing kept, not even the directories the fetch made.
    assert!(!dest.exists(), "a bad download left {}", dest.display());
}

#[test]
fn an_unreachable_mirror_is_a_clear_error() {
    let sb = Sandbox::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    let out = sb
        .sweep()
        .args(["data", "fetch", "mnist", "--mirror", &url, "--data-dir"])
        .arg(sb.path().join("d"))
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(out).unwrap();
    assert!(err.contains("download of") && err.contains(&url), "{err}");
    assert!(!sb.path().join("d").exists(), "an empty directory was left");
}

#[test]
fn run_downloads_a_missing_dataset_unless_offline() {
    let sb = Sandbox::new();
    let url = serve(data_dir().join("mnist"));
    let empty = sb.path().join("no-data");
    std::fs::create_dir_all(&empty).unwrap();
    sb.write(
        "m.toml",
        "[sweep]\nname = \"od\"\ndataset = \"mnist\"\ntrain_subset = 300\ntest_subset = 100\n[[runs]]\nmodel = \"simple_nn\"\noptimizer = \"sgd\"\nepochs = 1\n",
    );
    // Offline: exit 2, saying what to do.
    let out = sb
        .sweep()
        .env("SWEEP_DATA_DIR", &empty)
        .env("SWEEP_DATA_MIRROR", &url)
        .args(["run", "m.toml", "--offline"])
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(out).unwrap();
    assert!(
        err.contains("sweep data fetch mnist") && err.contains("--offline"),
        "{err}"
    );
    assert!(!sb.path().join(".cache/sweep/data/mnist").exists());
    // Online: downloaded into the cache from the mirror, verified, and trained.
    let out = sb
        .sweep()
        .env("SWEEP_DATA_DIR", &empty)
        .env("SWEEP_DATA_MIRROR", &url)
        .args(["run", "m.toml"])
        .assert()
        .success()
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(out).unwrap();
    assert!(err.contains("downloading it into"), "{err}");
    assert!(sb.path().join(".cache/sweep/data/mnist").is_dir());
    let runs = std::fs::read_dir(sb.results().join("od/runs"))
        .unwrap()
        .count();
    assert_eq!(runs, 1);
}
