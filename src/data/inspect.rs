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

/// Classes drawn at most (rows), and the largest side an image is drawn at.
const MAX_ROWS: usize = 50;
const MAX_SIDE: usize = 256;

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

/// Write a PNG of the first [`PER_CLASS`] training images of each class (of the first
/// [`MAX_ROWS`]), one row per class, small images scaled up so they stay visible, large ones
/// sampled down. Tabular data has no picture. Written atomically.
pub(crate) fn picture(p: &Prepared, out: &Path) -> Result<()> {
    let info = p.info();
    let Shape::Image { c, h, w } = info.shape else {
        return Err(Error::Usage(format!(
            "dataset has {} features, not images: there is no picture to draw (the text lists each feature's range)",
            info.shape.numel()
        )));
    };
    // Drawn at `zoom / shrink` times their size: at least 64 pixels a side, at most MAX_SIDE.
    let zoom = (64 / h.max(w)).max(1);
    let shrink = h.max(w).div_ceil(MAX_SIDE).max(1);
    let (dh, dw) = ((h * zoom).div_ceil(shrink), (w * zoom).div_ceil(shrink));
    let (cell_w, cell_h) = (dw + 2, dh + 2);
    let rows = info.classes.min(MAX_ROWS);
    let (width, height) = ((cell_w * PER_CLASS) as u32, (cell_h * rows) as u32);
    let mut img = image::RgbImage::from_pixel(width, height, image::Rgb([255, 255, 255]));
    let mut shown = vec![0usize; rows];
    let mut row = Vec::new();
    let (lo, hi) = min_max(p, |_| 0, 1);
    let span = (hi[0] - lo[0]).max(f32::MIN_POSITIVE);
    let grey = |v: f32| {
        let v = match info.dtype {
            Dtype::U8 => v,
            Dtype::F32 => (v - lo[0]) / span * 255.0,
        };
        v.clamp(0.0, 255.0) as u8
    };
    for i in 0..p.len(Part::Train) {
        if shown.iter().all(|&s| s == PER_CLASS) {
            break;
        }
        let class = p.label(Part::Train, i) as usize;
        if class >= rows || shown[class] == PER_CLASS {
            continue;
        }
        row.clear();
        p.push_example(Part::Train, i, Scale::Keep, &mut row);
        let (x0, y0) = (shown[class] * cell_w + 1, class * cell_h + 1);
        for y in 0..dh {
            for x in 0..dw {
                let (sy, sx) = (
                    (y * shrink / zoom).min(h - 1),
                    (x * shrink / zoom).min(w - 1),
                );
                let at = |ch: usize| grey(row[ch * h * w + sy * w + sx]);
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
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png)
        .map_err(|e| Error::Write {
            path: out.to_path_buf(),
            source: std::io::Error::other(e),
        })?;
    crate::results::store::write_atomic(out, png.get_ref())
}
