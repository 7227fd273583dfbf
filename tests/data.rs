//! Your own data, end to end with the real binary: the same images given in every format train
//! to byte-identical epochs, 3-channel data on every kernel path, and bad data refused with
//! exit 2, the file named, and nothing written.

mod common;

use common::{Sandbox, data_dir};
use flate2::read::GzDecoder;
use npyz::WriterBuilder;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Images (`n * 784` bytes) and labels of the first `n` examples of an MNIST split, ordered by
/// class (stably), as an image folder lists them: every format then holds the same sequence.
fn mnist(split: &str, n: usize) -> (Vec<u8>, Vec<u8>) {
    let read = |name: &str| {
        let dir = data_dir().join("mnist");
        let gz = dir.join(format!("{name}.gz"));
        let mut out = Vec::new();
        if gz.is_file() {
            GzDecoder::new(std::fs::File::open(gz).unwrap())
                .read_to_end(&mut out)
                .unwrap();
        } else {
            out = std::fs::read(dir.join(name)).unwrap();
        }
        out
    };
    let x = read(&format!("{split}-images-idx3-ubyte"));
    let y = read(&format!("{split}-labels-idx1-ubyte"));
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| y[8 + i]);
    let images = order
        .iter()
        .flat_map(|&i| x[16 + i * 784..16 + (i + 1) * 784].to_vec())
        .collect();
    let labels = order.iter().map(|&i| y[8 + i]).collect();
    (images, labels)
}

fn write_idx(path: &Path, dims: &[u32], data: &[u8]) {
    let mut b = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        b.extend(d.to_be_bytes());
    }
    b.extend_from_slice(data);
    std::fs::write(path, b).unwrap();
}

fn write_npy(path: &Path, shape: &[u64], data: &[u8]) {
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut w = npyz::WriteOptions::<u8>::new()
        .default_dtype()
        .shape(shape)
        .writer(file)
        .begin_nd()
        .unwrap();
    w.extend(data.iter().copied()).unwrap();
    w.finish().unwrap();
}

fn write_npz(path: &Path, arrays: &[(&str, Vec<u64>, &[u8])]) {
    let mut npz = npyz::npz::NpzWriter::create(path).unwrap();
    for (name, shape, data) in arrays {
        let mut w = npz
            .array::<u8>(name, npyz::zip::write::FileOptions::default())
            .unwrap()
            .default_dtype()
            .shape(shape)
            .begin_nd()
            .unwrap();
        w.extend(data.iter().copied()).unwrap();
        w.finish().unwrap();
    }
    npz.zip_writer().finish().unwrap().flush().unwrap();
}

/// One PNG per image under `dir/<label>/<index>.png`; `c` is 1 (grey) or 3 (RGB, channels last).
fn write_pngs(dir: &Path, images: &[u8], labels: &[u8], c: usize) {
    let per = 28 * 28 * c;
    for (i, l) in labels.iter().enumerate() {
        let class = dir.join(l.to_string());
        std::fs::create_dir_all(&class).unwrap();
        let px = images[i * per..(i + 1) * per].to_vec();
        let path = class.join(format!("{i:05}.png"));
        if c == 1 {
            image::GrayImage::from_raw(28, 28, px)
                .unwrap()
                .save(path)
                .unwrap();
        } else {
            image::RgbImage::from_raw(28, 28, px)
                .unwrap()
                .save(path)
                .unwrap();
        }
    }
}

/// A manifest training `model_layers` for 1 epoch on the declared dataset `train`/`test`.
fn manifest(train: &str, test: &str, layers: &str) -> String {
    format!(
        r#"[sweep]
name = "formats"
dataset = "d"
batch_size = 32
epochs = 1
seeds = [1]

[datasets.d]
train = {train}
test = {test}

[models.m]
layers = [{layers}]

[[runs]]
model = "m"
optimizer = "adam"
"#
    )
}

const CNN: &str = r#"{ type = "conv2d", filters = 4, kernel = 3, padding = "valid", activation = "relu" },
  { type = "max_pool", size = 2 }, { type = "flatten" },
  { type = "dense", units = 10, activation = "softmax" }"#;

/// The one run's epochs.csv without its timing columns.
fn epochs_without_timing(sb: &Sandbox) -> String {
    let runs = sb.results().join("formats/runs");
    let run = std::fs::read_dir(&runs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(run.join("epochs.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let keep: Vec<usize> = (0..header.len())
        .filter(|&i| !header[i].contains("seconds") && !header[i].contains("per_sec"))
        .collect();
    let pick = |l: &str| {
        let f: Vec<&str> = l.split(',').collect();
        keep.iter().map(|&i| f[i]).collect::<Vec<_>>().join(",")
    };
    std::iter::once(pick(&header.join(",")))
        .chain(lines.map(pick))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Train the manifest in a fresh sandbox holding the files `setup` writes; its epochs.
fn train(setup: &dyn Fn(&Path) -> (String, String), layers: &str, isa: Option<&str>) -> String {
    let sb = Sandbox::new();
    let (train, test) = setup(sb.path());
    sb.write("m.toml", &manifest(&train, &test, layers));
    let mut cmd = sb.sweep();
    if let Some(isa) = isa {
        cmd.env("SWEEP_ISA", isa);
    }
    cmd.args(["run", "m.toml", "--quiet", "--jobs", "1"])
        .assert()
        .success();
    epochs_without_timing(&sb)
}

/// Every way to give the same images: (name, files written, train, test).
type Setup = Box<dyn Fn(&Path) -> (String, String)>;

fn setups(
    train: (Vec<u8>, Vec<u8>),
    test: (Vec<u8>, Vec<u8>),
    c: usize,
) -> Vec<(&'static str, Setup)> {
    let (tr, te) = (std::sync::Arc::new(train), std::sync::Arc::new(test));
    let shape = move |n: usize| -> Vec<u64> {
        if c == 1 {
            vec![n as u64, 28, 28]
        } else {
            vec![n as u64, 28, 28, c as u64]
        }
    };
    let mut out: Vec<(&'static str, Setup)> = Vec::new();
    if c == 1 {
        let (a, b) = (tr.clone(), te.clone());
        out.push((
            "idx",
            Box::new(move |d: &Path| {
                write_idx(&d.join("tx"), &[a.1.len() as u32, 28, 28], &a.0);
                write_idx(&d.join("ty"), &[a.1.len() as u32], &a.1);
                write_idx(&d.join("vx"), &[b.1.len() as u32, 28, 28], &b.0);
                write_idx(&d.join("vy"), &[b.1.len() as u32], &b.1);
                (r#"["tx", "ty"]"#.into(), r#"["vx", "vy"]"#.into())
            }),
        ));
    }
    let (a, b, s) = (tr.clone(), te.clone(), shape);
    out.push((
        "npz",
        Box::new(move |d: &Path| {
            write_npz(
                &d.join("keras.npz"),
                &[
                    ("x_train", s(a.1.len()), &a.0),
                    ("y_train", vec![a.1.len() as u64], &a.1),
                    ("x_test", s(b.1.len()), &b.0),
                    ("y_test", vec![b.1.len() as u64], &b.1),
                ],
            );
            (r#""keras.npz""#.into(), r#""keras.npz""#.into())
        }),
    ));
    let (a, b) = (tr.clone(), te.clone());
    out.push((
        "npy",
        Box::new(move |d: &Path| {
            write_npy(&d.join("tx.npy"), &s(a.1.len()), &a.0);
            write_npy(&d.join("ty.npy"), &[a.1.len() as u64], &a.1);
            write_npy(&d.join("vx.npy"), &s(b.1.len()), &b.0);
            write_npy(&d.join("vy.npy"), &[b.1.len() as u64], &b.1);
            (
                r#"["tx.npy", "ty.npy"]"#.into(),
                r#"["vx.npy", "vy.npy"]"#.into(),
            )
        }),
    ));
    let (a, b) = (tr, te);
    out.push((
        "png",
        Box::new(move |d: &Path| {
            write_pngs(&d.join("train"), &a.0, &a.1, c);
            write_pngs(&d.join("test"), &b.0, &b.1, c);
            (r#""train""#.into(), r#""test""#.into())
        }),
    ));
    out
}

#[test]
fn the_same_mnist_subset_as_idx_npz_npy_and_png_trains_to_identical_epochs() {
    let all = setups(mnist("train", 600), mnist("t10k", 200), 1);
    let mut seen: Vec<(&str, String)> = Vec::new();
    for (name, setup) in &all {
        seen.push((name, train(setup.as_ref(), CNN, None)));
    }
    for (name, epochs) in &seen[1..] {
        assert_eq!(epochs, &seen[0].1, "{name} differs from {}", seen[0].0);
    }
    assert!(seen[0].1.lines().count() == 2, "{}", seen[0].1);
}

/// MNIST digits tinted into RGB: each class its own colour mix, so channels differ.
fn tinted(split: &str, n: usize) -> (Vec<u8>, Vec<u8>) {
    let (x, y) = mnist(split, n);
    let mut rgb = Vec::with_capacity(x.len() * 3);
    for (i, l) in y.iter().enumerate() {
        let tint = [255u16, 40 + 20 * u16::from(*l), 255 - 20 * u16::from(*l)];
        for p in &x[i * 784..(i + 1) * 784] {
            for t in tint {
                rgb.push((u16::from(*p) * t / 255) as u8);
            }
        }
    }
    (rgb, y)
}

#[test]
fn rgb_images_as_npz_npy_and_png_train_identically_on_every_kernel_path() {
    let paths = Sandbox::new().stderr_of(&["bench", "isa"], 0);
    let isas: Vec<String> = {
        let out = Sandbox::new()
            .sweep()
            .args(["bench", "isa"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    };
    assert!(!isas.is_empty(), "{paths}");
    let all = setups(tinted("train", 300), tinted("t10k", 100), 3);
    let mut per_path: Vec<String> = Vec::new();
    for isa in &isas {
        let mut seen: Vec<(&str, String)> = Vec::new();
        for (name, setup) in &all {
            seen.push((name, train(setup.as_ref(), CNN, Some(isa))));
        }
        for (name, epochs) in &seen[1..] {
            assert_eq!(
                epochs, &seen[0].1,
                "{isa}: {name} differs from {}",
                seen[0].0
            );
        }
        per_path.push(seen.swap_remove(0).1);
    }
    // And the kernel paths agree with each other, bit for bit.
    for (isa, epochs) in isas.iter().zip(&per_path) {
        assert_eq!(epochs, &per_path[0], "{isa} differs from {}", isas[0]);
    }
}

/// Run `sweep run` on a manifest over files `setup` writes; assert exit 2, `file` named in the
/// message along with `words`, and nothing written: no results, no prepared data.
fn refused(setup: &dyn Fn(&Path) -> (String, String), file: &str, words: &[&str]) {
    let sb = Sandbox::new();
    let (train, test) = setup(sb.path());
    sb.write("m.toml", &manifest(&train, &test, CNN));
    let err = sb.stderr_of(&["run", "m.toml", "--quiet"], 2);
    assert!(err.contains(file), "{file} not named: {err}");
    for w in words {
        assert!(err.contains(w), "`{w}` not said: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert!(!sb.results().exists(), "results written: {err}");
    let prepared = sb.path().join(".cache/sweep/prepared");
    let left: Vec<PathBuf> = std::fs::read_dir(&prepared)
        .map(|d| {
            d.map(|e| e.unwrap().path())
                .filter(|p| !p.ends_with("digests.json"))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Tiny valid npy images (n x 28 x 28) and labels 0..n.
fn npy_pair(d: &Path, stem: &str, n: usize, labels: &[u8]) -> String {
    write_npy(
        &d.join(format!("{stem}x.npy")),
        &[n as u64, 28, 28],
        &vec![7u8; n * 784],
    );
    write_npy(
        &d.join(format!("{stem}y.npy")),
        &[labels.len() as u64],
        labels,
    );
    format!(r#"["{stem}x.npy", "{stem}y.npy"]"#)
}

#[test]
fn bad_data_is_refused_with_exit_2_naming_the_file_and_nothing_written() {
    // Images and labels of different lengths.
    refused(
        &|d: &Path| {
            (
                npy_pair(d, "t", 4, &[0, 1, 2]),
                npy_pair(d, "v", 2, &[0, 1]),
            )
        },
        "ty.npy",
        &["4", "3"],
    );
    // A test label outside the training labels' classes.
    refused(
        &|d: &Path| {
            (
                npy_pair(d, "t", 3, &[0, 1, 2]),
                npy_pair(d, "v", 2, &[0, 9]),
            )
        },
        "vy.npy",
        &["outside"],
    );
    // Labels that are not integers.
    refused(
        &|d: &Path| {
            let train = npy_pair(d, "t", 2, &[0, 1]);
            let file = std::io::BufWriter::new(std::fs::File::create(d.join("vy.npy")).unwrap());
            let mut w = npyz::WriteOptions::<f32>::new()
                .default_dtype()
                .shape(&[2])
                .writer(file)
                .begin_nd()
                .unwrap();
            w.extend([0.5f32, 1.0]).unwrap();
            w.finish().unwrap();
            write_npy(&d.join("vx.npy"), &[2, 28, 28], &[0u8; 2 * 784]);
            (train, r#"["vx.npy", "vy.npy"]"#.into())
        },
        "vy.npy",
        &["integer"],
    );
    // NaN and infinite features; an empty split (CSV).
    let csv = |test: &'static str| {
        move |d: &Path| {
            std::fs::write(d.join("train.csv"), "a,b,class\n1,2,x\n3,4,y\n").unwrap();
            std::fs::write(d.join("test.csv"), test).unwrap();
            (r#""train.csv""#.to_string(), r#""test.csv""#.to_string())
        }
    };
    let mlp = r#"{ type = "dense", units = 2, activation = "softmax" }"#;
    for (test, words) in [
        ("a,b,class\n1,nan,x\n", &["NaN"][..]),
        ("a,b,class\n1,inf,x\n", &["infinite"][..]),
        ("a,b,class\n", &["no examples"][..]),
    ] {
        let sb = Sandbox::new();
        let (tr, te) = csv(test)(sb.path());
        sb.write("m.toml", &manifest(&tr, &te, mlp));
        let err = sb.stderr_of(&["run", "m.toml", "--quiet"], 2);
        assert!(err.contains("test.csv"), "{err}");
        for w in words {
            assert!(err.contains(w), "{w}: {err}");
        }
        assert!(!sb.results().exists());
    }
    // Images of different sizes in a folder; an unreadable image.
    let folder = |odd: &'static str| {
        move |d: &Path| {
            for (split, n) in [("train", 2), ("test", 1)] {
                for c in ["a", "b"] {
                    std::fs::create_dir_all(d.join(split).join(c)).unwrap();
                    for i in 0..n {
                        image::GrayImage::new(28, 28)
                            .save(d.join(split).join(c).join(format!("{i}.png")))
                            .unwrap();
                    }
                }
            }
            let p = d.join("train/b/odd.png");
            match odd {
                "size" => image::GrayImage::new(20, 28).save(&p).unwrap(),
                _ => std::fs::write(&p, b"\x89PNG not really").unwrap(),
            }
            (r#""train""#.to_string(), r#""test""#.to_string())
        }
    };
    let two = r#"{ type = "flatten" }, { type = "dense", units = 2, activation = "softmax" }"#;
    for (odd, words) in [("size", &["20"][..]), ("garbage", &[][..])] {
        let sb = Sandbox::new();
        let (tr, te) = folder(odd)(sb.path());
        sb.write("m.toml", &manifest(&tr, &te, two));
        let err = sb.stderr_of(&["run", "m.toml", "--quiet"], 2);
        assert!(err.contains("odd.png"), "{err}");
        for w in words {
            assert!(err.contains(w), "{w}: {err}");
        }
        assert!(!sb.results().exists());
    }
    // Wrong IDX magic; wrong IDX dimensions; a truncated IDX file; a truncated npy file.
    let idx = |damage: &'static str| {
        move |d: &Path| {
            write_idx(&d.join("tx"), &[2, 28, 28], &[0u8; 2 * 784]);
            write_idx(&d.join("ty"), &[2], &[0, 1]);
            write_idx(&d.join("vx"), &[1, 28, 28], &[0u8; 784]);
            write_idx(&d.join("vy"), &[1], &[1]);
            let p = d.join("vx");
            let mut b = std::fs::read(&p).unwrap();
            match damage {
                "magic" => b[0] = 0x42,
                "dims" => write_idx(&d.join("vy"), &[1, 1, 1], &[1]),
                _ => b.truncate(b.len() - 10),
            }
            if damage != "dims" {
                std::fs::write(&p, b).unwrap();
            }
            (r#"["tx", "ty"]"#.to_string(), r#"["vx", "vy"]"#.to_string())
        }
    };
    refused(&idx("magic"), "vx", &[]);
    refused(&idx("dims"), "vy", &["dimension"]);
    refused(&idx("cut"), "vx", &["truncated"]);
    refused(
        &|d: &Path| {
            let train = npy_pair(d, "t", 2, &[0, 1]);
            let test = npy_pair(d, "v", 2, &[0, 1]);
            let p = d.join("vx.npy");
            let b = std::fs::read(&p).unwrap();
            std::fs::write(&p, &b[..b.len() - 100]).unwrap();
            (train, test)
        },
        "vx.npy",
        &[],
    );
    // A test set whose shape differs from the training set's.
    refused(
        &|d: &Path| {
            let train = npy_pair(d, "t", 2, &[0, 1]);
            write_npy(&d.join("vx.npy"), &[1, 14, 14], &[0u8; 196]);
            write_npy(&d.join("vy.npy"), &[1], &[1]);
            (train, r#"["vx.npy", "vy.npy"]"#.into())
        },
        "vx.npy",
        &["shape"],
    );
}

#[test]
fn changing_a_data_file_gives_new_run_ids_and_inspect_describes_the_data() {
    let sb = Sandbox::new();
    std::fs::write(
        sb.path().join("train.csv"),
        "a,b,class\n1,2,x\n3,4,y\n5,6,x\n",
    )
    .unwrap();
    std::fs::write(sb.path().join("test.csv"), "a,b,class\n1,2,y\n").unwrap();
    let mlp = r#"{ type = "dense", units = 2, activation = "softmax" }"#;
    sb.write("m.toml", &manifest(r#""train.csv""#, r#""test.csv""#, mlp));
    let ids = || {
        let out = sb
            .sweep()
            .args(["plan", "m.toml", "--format", "json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v.to_string()
    };
    let before = ids();
    let text = sb
        .sweep()
        .args(["data", "inspect", "m.toml"])
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("(None, 2)") && text.contains("float32"),
        "{text}"
    );
    assert!(
        text.contains('x') && text.contains('y') && text.contains("total: 3 train, 1 test"),
        "{text}"
    );
    std::fs::write(
        sb.path().join("train.csv"),
        "a,b,class\n1,2,x\n3,4,y\n5,7,x\n",
    )
    .unwrap();
    assert_ne!(ids(), before, "a changed data file must give new runs");
}

#[test]
fn models_are_checked_against_the_datas_shape_and_classes_at_their_line() {
    let sb = Sandbox::new();
    std::fs::write(
        sb.path().join("train.csv"),
        "a,b,class\n1,2,x\n3,4,y\n5,6,z\n",
    )
    .unwrap();
    std::fs::write(sb.path().join("test.csv"), "a,b,class\n1,2,y\n").unwrap();
    let conv = r#"{ type = "conv2d", filters = 2, kernel = 1, activation = "relu" },
  { type = "flatten" }, { type = "dense", units = 3, activation = "softmax" }"#;
    sb.write("m.toml", &manifest(r#""train.csv""#, r#""test.csv""#, conv));
    let err = sb.stderr_of(&["plan", "m.toml"], 2);
    assert!(
        err.contains("m.toml:13:") && err.contains("layer 1"),
        "{err}"
    );
    let two = r#"{ type = "dense", units = 2, activation = "softmax" }"#;
    sb.write("m.toml", &manifest(r#""train.csv""#, r#""test.csv""#, two));
    let err = sb.stderr_of(&["plan", "m.toml"], 2);
    assert!(
        err.contains("3 units"),
        "an output layer of 2 units for 3 classes: {err}"
    );
    // `sweep models` shows the shapes on this data, and no built-in model (none fits it).
    let three = r#"{ type = "dense", units = 3, activation = "softmax" }"#;
    sb.write(
        "m.toml",
        &manifest(r#""train.csv""#, r#""test.csv""#, three),
    );
    let out = sb.sweep().args(["models", "m.toml"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("input (None, 2), 3 classes"), "{text}");
    assert!(
        !text.contains("simple_nn") && text.contains("(None, 3)"),
        "{text}"
    );
}

#[test]
fn inspect_draws_the_first_images_of_each_class() {
    let sb = Sandbox::new();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = sb
        .sweep()
        .args(["data", "inspect"])
        .arg(repo.join("experiments/digits.toml"))
        .args(["--picture", "digits.png"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("(None, 8, 8, 1)") && text.contains("total: 1,352 train, 445 test"),
        "{text}"
    );
    let png = image::open(sb.path().join("digits.png")).unwrap();
    // 10 classes of 10 images, each 8x8 scaled 8 times with a 1-pixel border.
    assert_eq!((png.width(), png.height()), (660, 660));
}

#[test]
fn a_missing_path_is_located_in_the_manifest_and_mixed_csv_labels_are_names() {
    let sb = Sandbox::new();
    std::fs::write(sb.path().join("test.csv"), "a,class\n1,1\n").unwrap();
    let mlp = r#"{ type = "dense", units = 3, activation = "softmax" }"#;
    sb.write("m.toml", &manifest(r#""trian.csv""#, r#""test.csv""#, mlp));
    let err = sb.stderr_of(&["plan", "m.toml"], 2);
    assert!(
        err.contains("m.toml:9:") && err.contains("no such file or folder"),
        "{err}"
    );
    assert!(err.contains("trian.csv"), "{err}");
    // Training labels x, y and 1 are names; the test file's only label, 1, is one of them.
    std::fs::write(sb.path().join("train.csv"), "a,class\n1,x\n2,y\n3,1\n").unwrap();
    sb.write("m.toml", &manifest(r#""train.csv""#, r#""test.csv""#, mlp));
    let out = sb
        .sweep()
        .args(["data", "inspect", "m.toml"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("classes 3"), "{text}");
}

#[test]
fn a_sweeps_results_report_and_status_without_its_data_files() {
    let sb = Sandbox::new();
    std::fs::write(sb.path().join("train.csv"), "a,class\n1,x\n2,y\n3,x\n4,y\n").unwrap();
    std::fs::write(sb.path().join("test.csv"), "a,class\n1,x\n2,y\n").unwrap();
    let mlp = r#"{ type = "dense", units = 2, activation = "softmax" }"#;
    let m = manifest(r#""train.csv""#, r#""test.csv""#, mlp)
        + "\n[[report.compare]]\ntitle = \"The one run\"\nruns = [\"m adam\"]\ncolumns = [\"val_accuracy\"]\n";
    sb.write("m.toml", &m);
    sb.sweep()
        .args(["run", "m.toml", "--quiet"])
        .assert()
        .success();
    std::fs::remove_file(sb.path().join("train.csv")).unwrap();
    std::fs::remove_file(sb.path().join("test.csv")).unwrap();
    let out = sb
        .sweep()
        .args(["report", "results/formats", "--format", "markdown"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success() && text.contains("The one run"),
        "{text}"
    );
    let out = sb
        .sweep()
        .args(["status", "results/formats"])
        .output()
        .unwrap();
    let err =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && err.contains("1 done"), "{err}");
    // The manifest itself names the missing file at its line.
    let err = sb.stderr_of(&["plan", "m.toml"], 2);
    assert!(
        err.contains("m.toml:9:") && err.contains("train.csv"),
        "{err}"
    );
}
