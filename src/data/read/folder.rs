//! Image folders: one subfolder per class, named for it, holding PNG, JPEG or BMP images, all
//! of one size and all grey or all colour. Classes and images are taken in name order; other
//! files, and hidden files and folders (`.ipynb_checkpoints`), are ignored.

use super::{Labels, Raw, Values, error, hwc_to_chw, list_dir, no_examples, read_error};
use crate::error::Result;
use crate::spec::arch::Shape;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// The image extensions read, lower-case.
const EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "bmp"];

/// One decoded image, channels first.
struct Picture {
    c: usize,
    h: usize,
    w: usize,
    pixels: Vec<u8>,
}

/// Read the image folder `dir`: every image, labelled with its class folder's name.
pub(super) fn read(dir: &Path) -> Result<Raw> {
    let mut files = Vec::new();
    for class in classes(dir)? {
        let name = file_name(&class);
        files.extend(images_in(&class)?.into_iter().map(|p| (name.clone(), p)));
    }
    // Decoded in parallel, checked in order: the error reported is the first file's.
    let pictures: Vec<Result<Picture>> = files.par_iter().map(|(_, p)| decode(p)).collect();
    let mut first: Option<(PathBuf, (usize, usize, usize))> = None;
    let mut values = Vec::new();
    let mut labels = Vec::with_capacity(files.len());
    for ((class, path), picture) in files.into_iter().zip(pictures) {
        let picture = picture?;
        let dims = (picture.c, picture.h, picture.w);
        let (first_path, first_dims) = first.get_or_insert_with(|| (path.clone(), dims));
        same_kind(&path, first_path.as_path(), *first_dims, &picture)?;
        values.extend(picture.pixels);
        labels.push(class);
    }
    let Some((_, (c, h, w))) = first else {
        return Err(no_examples(dir));
    };
    Ok(Raw {
        shape: Shape::Image { c, h, w },
        values: Values::U8(values),
        labels: Labels::Names(labels),
        features: Vec::new(),
    })
}

/// The class folders of `dir`, in name order.
fn classes(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut classes: Vec<PathBuf> = list_dir(dir)?
        .into_iter()
        .filter(|p| p.is_dir() && !hidden(p))
        .collect();
    classes.sort();
    if classes.is_empty() {
        return Err(error(
            dir,
            "no class folders: an image folder holds one subfolder of images per class",
            "arrange the images as <folder>/<class>/<image>.png, e.g. digits/3/0001.png",
        ));
    }
    Ok(classes)
}

/// The image files of class folder `class`, in name order.
fn images_in(class: &Path) -> Result<Vec<PathBuf>> {
    let mut images: Vec<PathBuf> = list_dir(class)?
        .into_iter()
        .filter(|p| p.is_file() && !hidden(p) && is_image_name(p))
        .collect();
    images.sort();
    if images.is_empty() {
        return Err(error(
            class,
            format!("class folder `{}` holds no images", file_name(class)),
            "put its images in it (.png, .jpg, .jpeg or .bmp files), or remove the folder",
        ));
    }
    Ok(images)
}

/// Whether `path` has one of the image [`EXTENSIONS`], in any case.
fn is_image_name(path: &Path) -> bool {
    let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase());
    ext.is_some_and(|e| EXTENSIONS.contains(&e.as_str()))
}

/// Whether the file or folder at `path` is hidden (its name starts with a dot).
fn hidden(path: &Path) -> bool {
    file_name(path).starts_with('.')
}

/// The last component of `path`, as text.
fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Decode the image at `path`: grey (alpha dropped) to one channel, colour to RGB, 16-bit to
/// 8-bit.
fn decode(path: &Path) -> Result<Picture> {
    let reader = image::ImageReader::open(path).map_err(|e| read_error(path, e))?;
    let reader = reader
        .with_guessed_format()
        .map_err(|e| read_error(path, e))?;
    let image = reader.decode().map_err(|e| {
        error(
            path,
            format!("cannot decode the image: {e}"),
            "the file is damaged or not a PNG, JPEG or BMP image: replace it or remove it",
        )
    })?;
    let (c, (w, h), pixels) = if image.color().has_color() {
        let rgb = image.into_rgb8();
        (3, rgb.dimensions(), rgb.into_raw())
    } else {
        let grey = image.into_luma8();
        (1, grey.dimensions(), grey.into_raw())
    };
    if pixels.is_empty() {
        return Err(error(
            path,
            "the image has no pixels",
            "replace it or remove it",
        ));
    }
    Ok(Picture {
        c,
        h: h as usize,
        w: w as usize,
        pixels: hwc_to_chw(&pixels, pixels.len(), c),
    })
}

/// Check that `picture` (from `path`) has the channels and size of the first image,
/// `first` with `dims` (channels, height, width).
fn same_kind(
    path: &Path,
    first: &Path,
    (c, h, w): (usize, usize, usize),
    picture: &Picture,
) -> Result<()> {
    let kind = |c: usize| if c == 1 { "grey" } else { "colour" };
    if picture.c != c {
        return Err(error(
            path,
            format!(
                "the image is {} but {} is {}: the folder mixes grey and colour images",
                kind(picture.c),
                first.display(),
                kind(c)
            ),
            "make them all grey or all colour (e.g. convert the grey ones to RGB)",
        ));
    }
    if (picture.h, picture.w) != (h, w) {
        return Err(error(
            path,
            format!(
                "the image is {}x{} (width x height) but {} is {w}x{h}",
                picture.w,
                picture.h,
                first.display()
            ),
            "all images of a dataset must have the same size: resize them",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{Labels, Values, detect, read};
    use crate::spec::arch::Shape;
    use crate::spec::dataset::{Format, Part, Source};
    use std::path::Path;

    /// Save a grey PNG of `w` x `h` at `dir/rel`.
    fn grey(dir: &Path, rel: &str, w: u32, h: u32, fill: u8) {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let pixels = vec![fill; (w * h) as usize];
        image::GrayImage::from_raw(w, h, pixels)
            .unwrap()
            .save(path)
            .unwrap();
    }

    fn read_dir(dir: &Path) -> crate::error::Result<super::super::Raw> {
        read(&Source::One(dir.to_path_buf()), None, None, Part::Train)
    }

    #[test]
    fn classes_and_images_in_name_order_other_files_ignored() {
        let dir = tempfile::tempdir().unwrap();
        grey(dir.path(), "dog/a.png", 3, 2, 9);
        grey(dir.path(), "cat/b.PNG", 3, 2, 2);
        grey(dir.path(), "cat/a.png", 3, 2, 1);
        std::fs::write(dir.path().join("cat/notes.txt"), "not an image").unwrap();
        std::fs::write(dir.path().join("README.md"), "hello").unwrap();
        std::fs::create_dir(dir.path().join(".ipynb_checkpoints")).unwrap();
        assert_eq!(
            detect(&Source::One(dir.path().to_path_buf())).unwrap(),
            Format::Folder
        );
        let raw = read_dir(dir.path()).unwrap();
        assert_eq!(raw.shape, Shape::Image { c: 1, h: 2, w: 3 });
        let names = ["cat", "cat", "dog"].map(String::from).to_vec();
        assert_eq!(raw.labels, Labels::Names(names));
        let Values::U8(v) = &raw.values else {
            panic!("{:?}", raw.values)
        };
        assert_eq!(v.len(), 18);
        assert_eq!((v[0], v[6], v[12]), (1, 2, 9));
    }

    #[test]
    fn rgb_images_are_stored_channels_first() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        let pixels: Vec<u8> = (0..12).collect();
        let rgb = image::RgbImage::from_raw(2, 2, pixels).unwrap();
        rgb.save(dir.path().join("a/x.png")).unwrap();
        let raw = read_dir(dir.path()).unwrap();
        assert_eq!(raw.shape, Shape::Image { c: 3, h: 2, w: 2 });
        // Row 1, column 0, blue: HWC index (1*2 + 0)*3 + 2 = 8, CHW index 2*4 + 1*2 + 0 = 10.
        let Values::U8(v) = &raw.values else {
            panic!("{:?}", raw.values)
        };
        assert_eq!(v[10], 8);
        assert_eq!(&v[..4], &[0, 3, 6, 9]);
    }

    #[test]
    fn sixteen_bit_grey_becomes_eight_bit() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        let deep = image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::from_raw(1, 1, vec![65535]);
        deep.unwrap().save(dir.path().join("a/x.png")).unwrap();
        let raw = read_dir(dir.path()).unwrap();
        assert_eq!(raw.values, Values::U8(vec![255]));
    }

    #[test]
    fn an_image_of_another_size_is_named_with_both_sizes() {
        let dir = tempfile::tempdir().unwrap();
        grey(dir.path(), "a/1.png", 2, 2, 0);
        grey(dir.path(), "b/odd.png", 3, 2, 0);
        let err = read_dir(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("odd.png") && err.contains("3x2") && err.contains("2x2"),
            "{err}"
        );
    }

    #[test]
    fn mixed_grey_and_colour_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        grey(dir.path(), "a/1.png", 2, 2, 0);
        let rgb = image::RgbImage::from_raw(2, 2, vec![0; 12]).unwrap();
        rgb.save(dir.path().join("a/2.png")).unwrap();
        let err = read_dir(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("2.png") && err.contains("grey") && err.contains("colour"),
            "{err}"
        );
    }

    #[test]
    fn an_undecodable_image_is_named() {
        let dir = tempfile::tempdir().unwrap();
        grey(dir.path(), "a/1.png", 2, 2, 0);
        std::fs::write(dir.path().join("a/bad.png"), b"this is not a png").unwrap();
        let err = read_dir(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("bad.png") && err.contains("cannot decode"),
            "{err}"
        );
    }

    #[test]
    fn empty_class_folders_and_flat_folders_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        grey(dir.path(), "a/1.png", 2, 2, 0);
        std::fs::create_dir(dir.path().join("empty")).unwrap();
        let err = read_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("empty") && err.contains("no images"), "{err}");
        let flat = tempfile::tempdir().unwrap();
        grey(flat.path(), "1.png", 2, 2, 0);
        let err = read(
            &Source::One(flat.path().to_path_buf()),
            Some(Format::Folder),
            None,
            Part::Test,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("no class folders"), "{err}");
    }
}
