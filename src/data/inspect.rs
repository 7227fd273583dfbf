//! `sweep data inspect`: what a prepared dataset holds, as text (examples per class, shape,
//! value type and range, digest; each feature's range for tabular data) and, for images, a
//! picture of the first examples of each class (one row per class, like the paper's Figure 1).

use super::prepared::{Prepared, Scale};
use crate::error::{Error, Result};
use crate::spec::arch::Shape;
use crate::spec::dataset::{Dtype, Part};
use std::path::Path;

/// Examples per class in the picture.
const PER_CLASS: usize = 10;

/// The text `sweep data inspect` prints.
pub(crate) fn summary(name: &str, p: &Prepared) -> String {
    let info = p.info();
    let mut out = format!(
        "dataset {name}\n  digest  {}\n  file    {}\n  shape   {} ({})\n  values  {}, {}\n  classes {}\n",
        info.digest,
        p.path().display(),
        info.shape,
        match info.shape {
            Shape::Image { c, h, w } => format!(
                "{h}x{w} images, {c} channel{}",
                if c == 1 { "" } else { "s" }
            ),
            Shape::Flat(f) => format!("{f} features"),
        },
        info.dtype.name(),
        range_text(p),
        info.classes,
    );
    let rows: Vec<Vec<String>> = counts(p)
        .into_iter()
        .enumerate()
        .map(|(c, (train, test))| {
            vec![
                c.to_string(),
                info.class_names.get(c).cloned().unwrap_or_default(),
                crate::fmt::thousands(train as u64),
                crate::fmt::thousands(test as u64),
            ]
        })
        .collect();
    out.push_str(&crate::fmt::terminal_table(
        &["label", "class", "train", "test"],
        &rows,
        Some(2),
    ));
    out.push_str(&format!(
        "  total: {} train, {} test\n",
        crate::fmt::thousands(info.train as u64),
        crate::fmt::thousands(info.test as u64)
    ));
    if let Shape::Flat(f) = info.shape {
        out.push_str(&features_table(p, f));
    }
    out
}

/// Examples of each class in the training and test splits.
fn counts(p: &Prepared) -> Vec<(usize, usize)> {
    let mut c = vec![(0, 0); p.info().classes];
    for i in 0..p.len(Part::Train) {
        c[p.label(Part::Train, i) as usize].0 += 1;
    }
    for i in 0..p.len(Part::Test) {
        c[p.label(Part::Test, i) as usize].1 += 1;
    }
    c
}

/// The smallest and largest value stored (training split).
fn range_text(p: &Prepared) -> String {
    let (lo, hi) = min_max(p, |_| 0, 1);
    format!("from {} to {} (as stored)", lo[0], hi[0])
}

/// Per-group minimum and maximum of the stored training values; `group(k)` maps a value's
/// index within an example to its group.
fn min_max(p: &Prepared, group: impl Fn(usize) -> usize, groups: usize) -> (Vec<f32>, Vec<f32>) {
    let mut lo = vec![f32::INFINITY; groups];
    let mut hi = vec![f32::NEG_INFINITY; groups];
    let mut row = Vec::new();
    for i in 0..p.len(Part::Train) {
        row.clear();
        p.push_example(Part::Train, i, Scale::Keep, &mut row);
        for (k, v) in row.iter().enumerate() {
            let g = group(k);
            lo[g] = lo[g].min(*v);
            hi[g] = hi[g].max(*v);
        }
    }
    (lo, hi)
}

/// Tabular data: each feature's name and range.
fn features_table(p: &Prepared, f: usize) -> String {
    let (lo, hi) = min_max(p, |k| k, f);
    let names = &p.info().features;
    let rows: Vec<Vec<String>> = (0..f)
        .map(|k| {
            vec![
                names
                    .get(k)
                    .cloned()
                    .unwrap_or_else(|| format!("feature {k}")),
                format!("{}", lo[k]),
                format!("{}", hi[k]),
            ]
        })
        .collect();
    format!(
        "\n{}",
        crate::fmt::terminal_table(&["feature", "min", "max"], &rows, Some(1))
    )
}

/// Write a PNG of the first [`PER_CLASS`] training images of each class, one row per class,
/// scaled up so small images stay visible. Tabular data has no picture.
pub(crate) fn picture(p: &Prepared, out: &Path) -> Result<()> {
    let info = p.info();
    let Shape::Image { c, h, w } = info.shape else {
        return Err(Error::Usage(format!(
            "dataset has {} features, not images: there is no picture to draw (the text lists each feature's range)",
            info.shape.numel()
        )));
    };
    let zoom = (64 / h.max(w)).max(1);
    let (cell_w, cell_h) = (w * zoom + 2, h * zoom + 2);
    let (width, height) = (cell_w * PER_CLASS, cell_h * info.classes);
    let mut img =
        image::RgbImage::from_pixel(width as u32, height as u32, image::Rgb([255, 255, 255]));
    let mut shown = vec![0usize; info.classes];
    let mut row = Vec::new();
    let (lo, hi) = min_max(p, |_| 0, 1);
    let span = (hi[0] - lo[0]).max(f32::MIN_POSITIVE);
    for i in 0..p.len(Part::Train) {
        let class = p.label(Part::Train, i) as usize;
        if shown[class] == PER_CLASS {
            continue;
        }
        row.clear();
        p.push_example(Part::Train, i, Scale::Keep, &mut row);
        let (x0, y0) = (shown[class] * cell_w + 1, class * cell_h + 1);
        for y in 0..h * zoom {
            for x in 0..w * zoom {
                let at = |ch: usize| {
                    let v = row[ch * h * w + (y / zoom) * w + x / zoom];
                    let v = if info.dtype == Dtype::U8 {
                        v
                    } else {
                        (v - lo[0]) / span * 255.0
                    };
                    v.clamp(0.0, 255.0) as u8
                };
                let px = if c >= 3 {
                    [at(0), at(1), at(2)]
                } else {
                    [at(0); 3]
                };
                img.put_pixel((x0 + x) as u32, (y0 + y) as u32, image::Rgb(px));
            }
        }
        shown[class] += 1;
    }
    img.save(out).map_err(|e| Error::Write {
        path: out.to_path_buf(),
        source: std::io::Error::other(e),
    })
}
