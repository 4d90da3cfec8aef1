//! The book's figures, drawn with plotters: line charts (SVG), rows of images (PNG) and a 2-D
//! scatter coloured by class (SVG). Text is laid out with DejaVu Sans compiled into this crate,
//! so no system font is needed. Every file is written atomically.

use std::path::Path;
use std::sync::Once;

use anyhow::anyhow;
use plotters::prelude::*;

use crate::data::IMAGE_SIDE;

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
            .unwrap_or_else(|_| panic!("the embedded DejaVu Sans font is valid"));
    });
}

/// Tableau's ten colours, one per class.
///
/// ```
/// use ae_toolkit::{data::DatasetKind, plot::CLASS_COLOURS};
/// assert_eq!(CLASS_COLOURS.len(), DatasetKind::Mnist.class_names().len());
/// let blue = CLASS_COLOURS[0];
/// assert_eq!((blue.0, blue.1, blue.2), (0x1f, 0x77, 0xb4)); // tab:blue
/// for (i, c) in CLASS_COLOURS.iter().enumerate() {
///     assert!(!CLASS_COLOURS[..i].contains(c), "class {i} shares a colour");
/// }
/// ```
pub const CLASS_COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// A named line of `(x, y)` points.
///
/// ```
/// use ae_toolkit::plot::Series;
/// let test_loss = [543.0, 180.2, 120.7];
/// let s = Series {
///     name: "test".into(),
///     points: test_loss.iter().enumerate().map(|(epoch, &l)| (epoch as f64, l)).collect(),
/// };
/// assert_eq!(s.points[2], (2.0, 120.7));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// The points, in x order.
    pub points: Vec<(f64, f64)>,
}

/// A tick label with at most three decimals and no trailing zeros (`0.6`, not
/// `0.6000000000000001`).
fn tick(x: f64) -> String {
    let s = format!("{x:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}

fn plot_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing failed: {e:?}")
}

/// A line chart of several series, written as SVG.
///
/// ```
/// use ae_toolkit::plot::{line_chart, Series};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("loss.svg");
/// let s = Series { name: "test".into(), points: vec![(0.0, 3.0), (1.0, 2.0), (2.0, 1.5)] };
/// line_chart(&path, "Loss", "epoch", "BCE per image", &[s]).unwrap();
/// assert!(std::fs::read_to_string(&path).unwrap().contains("<svg"));
/// ```
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> anyhow::Result<()> {
    draw_lines(path, title, x_label, y_label, series, true)
}

/// Histograms of several samples over the same `bins` equal bins of `range`, drawn as step
/// outlines so they can overlap (SVG). Values outside `range` go to the first or last bin.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("h.svg");
/// let a = vec![0.05, 0.06, 0.04, 0.5];
/// ae_toolkit::plot::histograms(&path, "Mean activation", "ρ̂", &[("kl".into(), a)], (0.0, 1.0), 20).unwrap();
/// assert!(std::fs::read_to_string(&path).unwrap().contains("<svg"));
/// ```
pub fn histograms(
    path: &Path,
    title: &str,
    x_label: &str,
    samples: &[(String, Vec<f64>)],
    range: (f64, f64),
    bins: usize,
) -> anyhow::Result<()> {
    let width = (range.1 - range.0) / bins as f64;
    let series: Vec<Series> = samples
        .iter()
        .map(|(name, values)| {
            let mut counts = vec![0usize; bins];
            for v in values {
                let b = ((v - range.0) / width)
                    .floor()
                    .clamp(0.0, (bins - 1) as f64);
                counts[b as usize] += 1;
            }
            let mut points = vec![(range.0, 0.0)];
            for (i, &c) in counts.iter().enumerate() {
                let left = range.0 + i as f64 * width;
                points.extend([(left, c as f64), (left + width, c as f64)]);
            }
            points.push((range.1, 0.0));
            Series {
                name: name.clone(),
                points,
            }
        })
        .collect();
    draw_lines(path, title, x_label, "count", &series, false)
}

fn draw_lines(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    markers: bool,
) -> anyhow::Result<()> {
    register_font();
    let all = series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in all {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if x0 > x1 {
        return Err(anyhow!("nothing to plot in {}", path.display()));
    }
    let pad = ((y1 - y0) * 0.05).max(1e-9);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 440)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1.max(x0 + 1e-9), (y0 - pad)..(y1 + pad))
            .map_err(plot_err)?;
        // Epochs and other counts get whole-number ticks, one per step when there are few.
        let whole = series
            .iter()
            .flat_map(|s| &s.points)
            .all(|p| p.0.fract() == 0.0);
        let ticks = if whole {
            ((x1 - x0) as usize + 1).min(11)
        } else {
            10
        };
        let x_format = |x: &f64| if whole { format!("{x:.0}") } else { tick(*x) };
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .x_labels(ticks)
            .x_label_formatter(&x_format)
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(plot_err)?;
        for (i, s) in series.iter().enumerate() {
            let colour = CLASS_COLOURS[i % CLASS_COLOURS.len()];
            chart
                .draw_series(LineSeries::new(
                    s.points.iter().copied(),
                    colour.stroke_width(2),
                ))
                .map_err(plot_err)?
                .label(s.name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2))
                });
            if markers {
                chart
                    .draw_series(s.points.iter().map(|&p| Circle::new(p, 3, colour.filled())))
                    .map_err(plot_err)?;
            }
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    crate::atomic::write(path, svg.as_bytes())
}

/// Rows of 28×28 grey images written as one PNG (e.g. originals above reconstructions).
/// Pixel values are mapped from `range` to black..white and clamped.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("grid.png");
/// let img = vec![0.5f32; 784];
/// ae_toolkit::plot::image_rows(&path, &[vec![&img[..], &img[..]]], (0.0, 1.0)).unwrap();
/// assert!(std::fs::metadata(&path).unwrap().len() > 0);
/// ```
pub fn image_rows(path: &Path, rows: &[Vec<&[f32]>], range: (f32, f32)) -> anyhow::Result<()> {
    const SCALE: usize = 2;
    const GAP: usize = 2;
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    if cols == 0 {
        return Err(anyhow!("no images to draw in {}", path.display()));
    }
    let cell = IMAGE_SIDE * SCALE + GAP;
    let (w, h) = ((cols * cell + GAP) as u32, (rows.len() * cell + GAP) as u32);
    crate::atomic::write_via_path(path, |tmp| {
        let root = BitMapBackend::new(tmp, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        for (r, row) in rows.iter().enumerate() {
            for (c, img) in row.iter().enumerate() {
                if img.len() != IMAGE_SIDE * IMAGE_SIDE {
                    return Err(anyhow!(
                        "image {r},{c} has {} pixels, expected 784",
                        img.len()
                    ));
                }
                for (i, &v) in img.iter().enumerate() {
                    let t = ((v - range.0) / (range.1 - range.0)).clamp(0.0, 1.0);
                    let g = (255.0 * t).round() as u8;
                    let (py, px) = (i / IMAGE_SIDE, i % IMAGE_SIDE);
                    let x = (GAP + c * cell + px * SCALE) as i32;
                    let y = (GAP + r * cell + py * SCALE) as i32;
                    root.draw(&Rectangle::new(
                        [(x, y), (x + SCALE as i32, y + SCALE as i32)],
                        RGBColor(g, g, g).filled(),
                    ))
                    .map_err(plot_err)?;
                }
            }
        }
        root.present().map_err(plot_err)?;
        Ok(())
    })
}

/// A 2-D scatter of points coloured by class, with a legend of class names, written as SVG.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("latent.svg");
/// let names = ae_toolkit::data::DatasetKind::Mnist.class_names();
/// ae_toolkit::plot::scatter_by_class(&path, "Codes", ("z1", "z2"), &[(0.0, 1.0), (1.0, 0.5)], &[3, 7], &names).unwrap();
/// assert!(std::fs::read_to_string(&path).unwrap().contains("<svg"));
/// ```
pub fn scatter_by_class(
    path: &Path,
    title: &str,
    axes: (&str, &str),
    points: &[(f64, f64)],
    labels: &[u8],
    class_names: &[&str],
) -> anyhow::Result<()> {
    register_font();
    if points.len() != labels.len() || points.is_empty() {
        return Err(anyhow!(
            "{} points but {} labels",
            points.len(),
            labels.len()
        ));
    }
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in points {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    let (px, py) = (((x1 - x0) * 0.05).max(1e-6), ((y1 - y0) * 0.05).max(1e-6));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .right_y_label_area_size(0)
            .build_cartesian_2d((x0 - px)..(x1 + px), (y0 - py)..(y1 + py))
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(axes.0)
            .y_desc(axes.1)
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(plot_err)?;
        for (class, name) in class_names.iter().enumerate() {
            let colour = CLASS_COLOURS[class % CLASS_COLOURS.len()];
            let pts = points
                .iter()
                .zip(labels)
                .filter(|(_, &l)| l as usize == class)
                .map(|(&p, _)| Circle::new(p, 2, colour.mix(0.7).filled()));
            chart
                .draw_series(pts)
                .map_err(plot_err)?
                .label(*name)
                .legend(move |(x, y)| Circle::new((x + 6, y), 4, colour.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    crate::atomic::write(path, svg.as_bytes())
}
