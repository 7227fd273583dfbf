//! Benchmarks that ship in the binary (`sweep bench report`), so they run from the release
//! build without compiling the dev-dependencies. Figures go to CSV files, never to assertions.

use crate::error::{Error, Result};
use crate::results::report::{self, Metric};
use std::path::Path;
use std::time::Instant;

/// Write `configs x seeds` synthetic runs of `epochs` epochs to a temporary results directory,
/// then time load + aggregate + rank + markdown rendering, and the plots (`--plots`: a learning-
/// curve SVG per configuration and the ranking strip), `repeats` times. Writes the rows to `csv`.
pub fn report(
    configs: usize,
    seeds: usize,
    epochs: usize,
    repeats: usize,
    csv: &Path,
) -> Result<()> {
    let dir = tempfile::tempdir().map_err(|source| Error::Write {
        path: std::env::temp_dir(),
        source,
    })?;
    let t = Instant::now();
    let runs = report::fixture::synthetic(configs, seeds, epochs);
    report::fixture::write(dir.path(), &runs)?;
    eprintln!(
        "wrote {} runs x {epochs} epochs in {:.1}s",
        runs.len(),
        t.elapsed().as_secs_f64()
    );
    let mut text = String::from(
        "repeat,runs,epochs,load_seconds,aggregate_seconds,render_seconds,total_seconds,plots_seconds,cpu_model\n",
    );
    for repeat in 1..=repeats {
        let t = Instant::now();
        let loaded = report::load_sweep(&dir.path().join("synthetic"))?;
        let t_load = t.elapsed().as_secs_f64();
        let mut r = report::build(
            "synthetic",
            &loaded,
            &Default::default(),
            Metric::ValAccuracy,
        )?;
        let t_build = t.elapsed().as_secs_f64() - t_load;
        let md = report::markdown::render(&r);
        let total = t.elapsed().as_secs_f64();
        let t_render = total - t_load - t_build;
        let t = Instant::now();
        let plots = dir.path().join("plots");
        report::write_plots(&mut r, &loaded, &plots, dir.path())?;
        let t_plots = t.elapsed().as_secs_f64();
        eprintln!(
            "repeat {repeat}: {} runs, load {t_load:.3}s, aggregate+rank {t_build:.3}s, render {t_render:.3}s ({} KiB), total {total:.3}s; plots {t_plots:.3}s",
            loaded.len(),
            md.len() / 1024
        );
        text.push_str(&format!(
            "{repeat},{},{epochs},{t_load:.4},{t_build:.4},{t_render:.4},{total:.4},{t_plots:.4},{}\n",
            loaded.len(),
            crate::train::conv::isa::cpu_model().replace(',', " ")
        ));
    }
    crate::results::store::write_atomic(csv, text.as_bytes())?;
    eprintln!("figures written to {}", csv.display());
    Ok(())
}

/// Forward and backward time of every convolution layer of the built-in models at `batch`,
/// our kernels ([`crate::train::conv`]) against burn's flex `conv2d` and its two backward ops, median
/// of `repeats`, once per thread count in `threads`. Writes one CSV row per layer, thread count,
/// implementation and pass.
pub fn conv(batch: usize, repeats: usize, threads: &[usize], csv: &Path) -> Result<()> {
    let mut text = String::from(
        "model,layer,input,filters,kernel,threads,implementation,pass,ms,gflops,isa,cpu\n",
    );
    eprintln!(
        "CPU: {}; our kernels on the {} path",
        crate::train::conv::isa::cpu_model(),
        crate::train::conv::isa::current()
    );
    for &t in threads {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(t.max(1))
            .build()
            .map_err(|e| Error::Usage(format!("cannot start {t} threads: {e}")))?;
        text.push_str(&pool.install(|| conv_rows(batch, repeats)));
    }
    crate::results::store::write_atomic(csv, text.as_bytes())?;
    eprintln!("figures written to {}", csv.display());
    Ok(())
}

fn conv_rows(batch: usize, repeats: usize) -> String {
    use crate::spec::arch::{Layer, Padding, Shape};
    use crate::train::conv::kernel::{self, Geometry};
    use burn::tensor::module::{conv_transpose2d, conv2d, conv2d_weight_backward};
    use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
    use burn::tensor::{Device, Tensor, TensorData};

    let device = Device::flex();
    let median = |f: &mut dyn FnMut()| {
        f(); // warm-up
        let mut t: Vec<f64> = (0..repeats.max(1))
            .map(|_| {
                let s = Instant::now();
                f();
                s.elapsed().as_secs_f64()
            })
            .collect();
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    };
    let threads = rayon::current_num_threads();
    let active = crate::train::conv::isa::current();
    let cpu = crate::train::conv::isa::cpu_model().replace('"', "'");
    let mut text = String::new();
    for model in crate::spec::manifest::builtin_models() {
        for (i, (layer, info)) in model.layers.iter().zip(&model.infos).enumerate() {
            let (
                Layer::Conv2d {
                    filters,
                    kernel: k,
                    stride,
                    padding,
                    ..
                },
                Shape::Image { c, h, w },
            ) = (layer, info.input)
            else {
                continue;
            };
            let pads = match padding {
                Padding::Valid => [0; 4],
                Padding::Same => {
                    let (_, t, b) = crate::spec::arch::conv_out(h, *k, *stride, Padding::Same);
                    let (_, l, r) = crate::spec::arch::conv_out(w, *k, *stride, Padding::Same);
                    [t, l, b, r]
                }
            };
            let g = Geometry::new([batch, c, h, w], *filters, *k, *stride, pads);
            let fill = |n: usize| -> Vec<f32> {
                (0..n)
                    .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
                    .collect()
            };
            let x = fill(batch * c * h * w);
            let wt = fill(filters * c * k * k);
            let b = fill(*filters);
            let y = kernel::forward(&g, &x, &wt, &b, true);
            let dy = fill(y.len());
            // Training never needs the input gradient of a model's first layer, so neither
            // implementation computes it there.
            let want_dx = i > 0;
            // Forward: 2·N·O·OH·OW·C·K·K FLOPs; each backward pass the same again.
            let flops = 2.0 * (batch * filters * g.oh * g.ow * c * k * k) as f64;
            let backward_flops = if want_dx { 2.0 * flops } else { flops };
            let mut rows: Vec<(&str, &str, f64)> = Vec::new();
            // Each of our methods that applies to the layer (training uses `Method::best` forward
            // and `Method::best_backward` backward).
            let best = kernel::Method::best(&g);
            for (name, method) in [
                ("winograd", kernel::Method::Winograd),
                ("implicit", kernel::Method::Implicit),
                ("im2col", kernel::Method::Im2col),
            ] {
                let applies = match method {
                    kernel::Method::Winograd => best == kernel::Method::Winograd,
                    kernel::Method::Implicit => best != kernel::Method::Im2col,
                    kernel::Method::Im2col => true,
                };
                if !applies {
                    continue;
                }
                rows.push((
                    name,
                    "forward",
                    median(&mut || {
                        std::hint::black_box(kernel::forward_with(method, &g, &x, &wt, &b, true));
                    }),
                ));
                rows.push((
                    name,
                    "backward",
                    median(&mut || {
                        std::hint::black_box(kernel::backward_with(
                            method, &g, &x, &wt, &y, &dy, true, want_dx,
                        ));
                    }),
                ));
            }
            let xt = Tensor::<4>::from_data(TensorData::new(x.clone(), [batch, c, h, w]), &device);
            let wtt =
                Tensor::<4>::from_data(TensorData::new(wt.clone(), [*filters, c, *k, *k]), &device);
            let bt = Tensor::<1>::from_data(TensorData::new(b.clone(), [*filters]), &device);
            let dyt = Tensor::<4>::from_data(
                TensorData::new(dy.clone(), [batch, *filters, g.oh, g.ow]),
                &device,
            );
            let [t, l, bo, r] = pads;
            let xp = xt.clone().pad([(0, 0), (0, 0), (t, bo), (l, r)], 0.0);
            let opts = ConvOptions::new([*stride, *stride], [0, 0], [1, 1], 1);
            let topts = ConvTransposeOptions::new([*stride, *stride], [0, 0], [0, 0], [1, 1], 1);
            rows.push((
                "burn flex",
                "forward",
                median(&mut || {
                    let y = conv2d(xp.clone(), wtt.clone(), Some(bt.clone()), opts.clone());
                    std::hint::black_box(burn::tensor::activation::relu(y).into_data());
                }),
            ));
            rows.push((
                "burn flex",
                "backward",
                median(&mut || {
                    // burn's default input gradient: a transposed convolution of the output gradient.
                    let dx = want_dx.then(|| {
                        conv_transpose2d(dyt.clone(), wtt.clone(), None, topts.clone()).into_data()
                    });
                    let dw =
                        conv2d_weight_backward(xp.clone(), wtt.clone(), dyt.clone(), opts.clone());
                    let db = dyt.clone().sum_dim(0).sum_dim(2).sum_dim(3);
                    std::hint::black_box((dx, dw.into_data(), db.into_data()));
                }),
            ));
            let input = format!("{c}x{h}x{w}");
            for (imp, pass, secs) in rows {
                let gf = if pass == "forward" {
                    flops
                } else {
                    backward_flops
                } / secs
                    / 1e9;
                eprintln!(
                    "{} layer {i} ({input} -> {filters} filters, {k}x{k}) {threads} thr {imp:9} {pass:8} {:8.2} ms {gf:6.1} GFLOP/s (direct-convolution FLOPs)",
                    model.name,
                    secs * 1e3
                );
                // Our kernels run on the active path; burn picks its own (im2col uses the gemm crate).
                let isa = if imp == "burn flex" {
                    ""
                } else {
                    active.name()
                };
                text.push_str(&format!(
                    "{},{i},{input},{filters},{k},{threads},{imp},{pass},{:.3},{gf:.2},{isa},\"{cpu}\"\n",
                    model.name,
                    secs * 1e3
                ));
            }
        }
    }
    text
}
