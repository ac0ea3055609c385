//! Figures, each written as PNG and SVG, with labelled axes, units, legends and the Okabe–Ito
//! colour-blind-safe palette:
//! 1. `completion`: completion curve of one BoT with and without SpeQuloS, tail shaded, the
//!    Cloud deployment marked;
//! 2. `tail_slowdown_cdf`: CDF of the baseline tail slowdown per trace × middleware;
//! 3. `tre_by_strategy`: median TRE with a p10–p90 bar per strategy, over the runs whose
//!    baseline has a tail, one panel per trace × middleware × varied parameter;
//! 4. `credits_vs_completion`: mean credits spent vs mean completion time per strategy (colour
//!    by usage, shape by trigger, fill by sizing), with the cost–makespan Pareto frontier;
//! 5. `oracle`: predicted (leave-one-out, at 50 %) vs actual completion time, coloured by
//!    trace, with the ±20 % band.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use spequlos_core::Strategy;
use spequlos_sim::run::{load_trace, run_one, tasks};

use crate::analysis::{self, KeyJudged};
use crate::report::RunsView;
use crate::spec::{self, RunKind, SweepSpec};

/// Okabe & Ito (2008): distinguishable with every common colour-vision deficiency.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(213, 94, 0),
    RGBColor(86, 180, 233),
    RGBColor(204, 121, 167),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
];

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Why a figure could not be made.
#[derive(Debug, thiserror::Error)]
pub enum FigureError {
    /// Plotters could not draw or write the image (its error type differs per backend).
    #[error("drawing failed: {0}")]
    Draw(String),
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// An input the figure is drawn from is not what it should be.
    #[error("{0}")]
    Input(String),
}

type Res<T> = Result<T, FigureError>;

fn err<E: std::fmt::Debug>(e: E) -> FigureError {
    FigureError::Draw(format!("{e:?}"))
}

fn input(msg: impl Into<String>) -> FigureError {
    FigureError::Input(msg.into())
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A titled chart with labelled axes and a light grid: the frame every figure shares.
fn frame<'a, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    title: &str,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
    x_desc: &str,
    y_desc: &str,
) -> Res<Chart<'a, DB>> {
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(x, y)
        .map_err(err)?;
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(225, 225, 225))
        .x_desc(x_desc)
        .y_desc(y_desc)
        .draw()
        .map_err(err)?;
    Ok(chart)
}

fn legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
    at: SeriesLabelPosition,
) -> Res<()> {
    chart
        .configure_series_labels()
        .position(at)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)
}

/// Draws `draw` into `stem.png` and `stem.svg`.
macro_rules! render {
    ($stem:expr, $size:expr, $draw:ident ( $($arg:expr),* )) => {{
        let stem: &Path = $stem;
        let png = stem.with_extension("png");
        let svg = stem.with_extension("svg");
        {
            let root = BitMapBackend::new(&png, $size).into_drawing_area();
            $draw(&root, $($arg),*)?;
            root.present().map_err(err)?;
        }
        {
            let root = SVGBackend::new(&svg, $size).into_drawing_area();
            $draw(&root, $($arg),*)?;
            root.present().map_err(err)?;
        }
        Ok::<Vec<PathBuf>, FigureError>(vec![png, svg])
    }};
}

/// One BoT's completion curves.
pub struct Curves {
    pub title: String,
    pub total: usize,
    pub baseline: Vec<f64>,
    pub speq: Option<(String, Vec<f64>)>,
    pub t_ideal: f64,
    pub deployed_at: f64,
}

fn draw_completion<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &Curves) -> Res<()> {
    let h = |t: f64| t / 3600.0;
    let end = c
        .baseline
        .iter()
        .chain(c.speq.iter().flat_map(|s| s.1.iter()))
        .copied()
        .filter(|t| t.is_finite())
        .fold(1.0, f64::max);
    let mut chart = frame(
        root,
        &c.title,
        0.0..h(end) * 1.03,
        0.0..1.0,
        "time since submission (h)",
        "tasks completed (fraction)",
    )?;
    let base_done = c.baseline.iter().filter(|t| t.is_finite()).count();
    if c.t_ideal.is_finite() && base_done == c.total {
        let last = c.baseline.iter().copied().fold(0.0, f64::max);
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(h(c.t_ideal), 0.0), (h(last), 1.0)],
                color(3).mix(0.12).filled(),
            )))
            .map_err(err)?
            .label("baseline tail (after t_ideal)")
            .legend(|(x, y)| {
                Rectangle::new([(x, y - 5), (x + 18, y + 5)], color(3).mix(0.3).filled())
            });
    }
    let curve = |times: &[f64]| {
        let mut t: Vec<f64> = times.iter().copied().filter(|t| t.is_finite()).collect();
        t.sort_by(f64::total_cmp);
        let n = c.total as f64;
        let mut pts = vec![(0.0, 0.0)];
        for (i, x) in t.iter().enumerate() {
            pts.push((h(*x), i as f64 / n));
            pts.push((h(*x), (i + 1) as f64 / n));
        }
        pts
    };
    chart
        .draw_series(LineSeries::new(
            curve(&c.baseline),
            color(0).stroke_width(2),
        ))
        .map_err(err)?
        .label("without SpeQuloS")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color(0).stroke_width(2)));
    if let Some((name, times)) = &c.speq {
        chart
            .draw_series(LineSeries::new(curve(times), color(1).stroke_width(2)))
            .map_err(err)?
            .label(format!("with SpeQuloS ({name})"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color(1).stroke_width(2)));
    }
    if c.deployed_at.is_finite() {
        chart
            .draw_series(DashedLineSeries::new(
                vec![(h(c.deployed_at), 0.0), (h(c.deployed_at), 1.0)],
                6,
                4,
                color(2).stroke_width(2),
            ))
            .map_err(err)?
            .label("Cloud workers requested")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color(2).stroke_width(2)));
    }
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    Ok(())
}

pub fn completion_figure(stem: &Path, c: &Curves) -> Res<Vec<PathBuf>> {
    render!(stem, (900, 560), draw_completion(c))
}

/// One CDF per (trace, middleware): colour by trace, solid for the first middleware and
/// dashed for the second.
fn draw_cdf<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    series: &BTreeMap<(String, String), Vec<f64>>,
    pooled: &str,
) -> Res<()> {
    let finite = || series.values().flatten().copied().filter(|x| x.is_finite());
    let xmax = finite().fold(1.0, f64::max);
    // Whole range: a BoT may end before its 90 % pace predicts (tail slowdown below 1).
    let xmin = finite().fold(1.0, f64::min);
    let pad = (xmax - xmin) * 0.03;
    let mut chart = frame(
        root,
        &format!("Tail slowdown of BoT executions without SpeQuloS{pooled}"),
        (xmin - pad).max(0.0)..xmax + pad,
        0.0..1.0,
        "tail slowdown (completion time / t_ideal)",
        "fraction of executions (CDF)",
    )?;
    let mut traces: Vec<&str> = series.keys().map(|k| k.0.as_str()).collect();
    traces.dedup();
    let mut mws: Vec<&str> = series.keys().map(|k| k.1.as_str()).collect();
    mws.sort_unstable();
    mws.dedup();
    for ((trace, mw), xs) in series {
        let i = traces.iter().position(|t| t == trace).unwrap_or(0);
        let dashed = mws.iter().position(|m| m == mw).unwrap_or(0) % 2 == 1;
        let name = format!("{trace} / {mw}");
        let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        let n = v.len() as f64;
        // An empirical CDF is a step function.
        let mut pts = Vec::with_capacity(2 * v.len());
        for (k, x) in v.iter().enumerate() {
            pts.push((*x, k as f64 / n));
            pts.push((*x, (k + 1) as f64 / n));
        }
        let style = color(i).stroke_width(2);
        if dashed {
            chart
                .draw_series(DashedLineSeries::new(pts, 6, 4, style))
                .map_err(err)?
                .label(name)
                .legend(move |(x, y)| {
                    plotters::element::DashedPathElement::new(
                        vec![(x, y), (x + 18, y)],
                        5,
                        3,
                        style,
                    )
                });
        } else {
            chart
                .draw_series(LineSeries::new(pts, style))
                .map_err(err)?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
        }
    }
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    Ok(())
}

/// Mean and 95 % normal-approximation CI half-width.
fn mean_ci(xs: &[f64]) -> (f64, f64) {
    let v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    let n = v.len() as f64;
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let m = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return (m, 0.0);
    }
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, 1.96 * (var / n).sqrt())
}

/// Median, p10 and p90 (linear interpolation, as the report's) of the finite values.
fn median_p10_p90(xs: &[f64]) -> (f64, f64, f64) {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    v.sort_by(f64::total_cmp);
    let q = |p: f64| {
        let h = p * (v.len() - 1) as f64;
        let (i, f) = (h.floor() as usize, h - h.floor());
        v[i] + (v[(i + 1).min(v.len() - 1)] - v[i]) * f
    };
    (q(0.5), q(0.1), q(0.9))
}

type Facets = BTreeMap<String, BTreeMap<String, Vec<f64>>>;

/// A white figure with its title, cut into `count` panels, `cols` to a row.
fn titled_panels<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    size: u32,
    count: usize,
    cols: usize,
) -> Res<Vec<DrawingArea<DB, Shift>>> {
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(title, ("sans-serif", size)).map_err(err)?;
    let cols = cols.min(count).max(1);
    let rows = count.div_ceil(cols).max(1);
    Ok(root.split_evenly((rows, cols)))
}

fn draw_tre<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    facets: &Facets,
    pooled: &str,
) -> Res<()> {
    let panels = titled_panels(
        root,
        &format!(
            "TRE per strategy: median, bar p10–p90, runs whose baseline has a tail{pooled}; blue D, orange R, red F"
        ),
        16,
        facets.len(),
        2,
    )?;
    for ((facet, by_strategy), panel) in facets.iter().zip(panels.iter()) {
        let names: Vec<&String> = by_strategy.keys().collect();
        let n = names.len().max(1);
        // TRE leaves [0, 1] when SpeQuloS beats the ideal time or slows the BoT down.
        let (mut lo, mut hi) = (-0.2f64, 1.05f64);
        for v in by_strategy.values() {
            let (m, p10, p90) = median_p10_p90(v);
            if m.is_finite() {
                lo = lo.min(p10 - 0.05);
                hi = hi.max(p90 + 0.05);
            }
        }
        let (lo, hi) = (lo.max(-3.0), hi.min(3.0));
        // Up to eight labels fit side by side in a panel; more are turned upright.
        let rotate = n > 8;
        let label_font = if rotate {
            ("sans-serif", 11)
                .into_font()
                .transform(FontTransform::Rotate90)
        } else {
            ("sans-serif", 12).into_font()
        };
        let empty = by_strategy
            .values()
            .all(|v| !v.iter().any(|x| x.is_finite()));
        let caption = if empty {
            format!("{facet}: no run whose baseline has a tail")
        } else {
            facet.clone()
        };
        let mut chart = ChartBuilder::on(panel)
            .caption(caption, ("sans-serif", 15))
            .margin(8)
            .x_label_area_size(if rotate { 80 } else { 35 })
            .y_label_area_size(50)
            .build_cartesian_2d(-0.5..(n as f64 - 0.5), lo..hi)
            .map_err(err)?;
        let label = |x: &f64| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < names.len() {
                // Rotated labels start at the tick: pad them clear of the axis.
                let pad = if rotate { "     " } else { "" };
                format!("{pad}{}", names[i as usize])
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(RGBColor(225, 225, 225))
            .x_labels(n)
            .x_label_formatter(&label)
            .x_label_style(label_font)
            .y_desc("TRE")
            .disable_x_mesh()
            .draw()
            .map_err(err)?;
        for (i, name) in names.iter().enumerate() {
            let (m, p10, p90) = median_p10_p90(&by_strategy[*name]);
            if !m.is_finite() {
                continue;
            }
            let c = color(match name.chars().last() {
                Some('D') => 0,
                Some('R') => 1,
                _ => 3,
            });
            let x = i as f64;
            chart
                .draw_series(std::iter::once(ErrorBar::new_vertical(
                    x,
                    p10.max(lo),
                    m,
                    p90.min(hi),
                    c.filled(),
                    8,
                )))
                .map_err(err)?;
            chart
                .draw_series(std::iter::once(Circle::new((x, m), 4, c.filled())))
                .map_err(err)?;
        }
    }
    Ok(())
}

fn pareto(points: &[(String, f64, f64)]) -> Vec<(f64, f64)> {
    let mut p: Vec<(f64, f64)> = points
        .iter()
        .map(|(_, c, t)| (*c, *t))
        .filter(|(c, t)| c.is_finite() && t.is_finite())
        .collect();
    p.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut front = Vec::new();
    let mut best = f64::INFINITY;
    for (c, t) in p {
        if t < best {
            front.push((c, t));
            best = t;
        }
    }
    front
}

/// How a strategy is drawn: colour by usage (blue D, orange R, vermillion F), marker shape by
/// trigger (in the order the triggers appear), filled for the first sizing of a trigger and
/// hollow for the second, so the 18 strategies of the HPDC'12 grid all differ.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Look {
    color: RGBColor,
    shape: usize,
    filled: bool,
}

fn looks(names: &[&str]) -> Vec<Look> {
    let parts = |n: &str| -> (String, String, String) {
        let mut it = n.split('-');
        let t = it.next().unwrap_or("").to_string();
        let z = it.next().unwrap_or("").to_string();
        let u = it.next().unwrap_or("").to_string();
        (t, z, u)
    };
    let mut triggers: Vec<String> = Vec::new();
    let mut sizings: Vec<String> = Vec::new();
    for n in names {
        let (t, z, _) = parts(n);
        if !triggers.contains(&t) {
            triggers.push(t);
        }
        if !sizings.contains(&z) {
            sizings.push(z);
        }
    }
    names
        .iter()
        .map(|n| {
            let (t, z, u) = parts(n);
            Look {
                color: color(match u.as_str() {
                    "D" => 0,
                    "R" => 1,
                    "F" => 3,
                    _ => 7,
                }),
                shape: triggers.iter().position(|x| *x == t).unwrap_or(0) % 4,
                filled: sizings.iter().position(|x| *x == z).unwrap_or(0) % 2 == 0,
            }
        })
        .collect()
}

/// Draws one marker of `look` at `at`, labelled `label` in the legend.
fn marker<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
    at: (f64, f64),
    look: Look,
    label: &str,
) -> Res<()> {
    let style = if look.filled {
        look.color.filled()
    } else {
        look.color.stroke_width(2)
    };
    let r = 6;
    macro_rules! put {
        ($shape:expr) => {{
            chart
                .draw_series(std::iter::once(EmptyElement::at(at) + $shape))
                .map_err(err)?
                .label(label)
                .legend(move |(x, y)| EmptyElement::at((x + 9, y)) + $shape);
        }};
    }
    match look.shape {
        0 => put!(Circle::new((0, 0), r, style)),
        1 => put!(TriangleMarker::new((0, 0), r + 1, style)),
        2 => put!(Rectangle::new([(-r + 1, -r + 1), (r - 1, r - 1)], style)),
        _ => put!(Cross::new((0, 0), r, look.color.stroke_width(2))),
    }
    Ok(())
}

/// Credits against completion time, one panel per trace × middleware (× settings): each
/// strategy's means over the panel's runs, and the Pareto frontier. The legend is drawn once.
fn draw_cost<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    facets: &CostFacets,
    pooled: &str,
) -> Res<()> {
    let panels = titled_panels(
        root,
        &format!("Cost and completion time per strategy (means over runs){pooled}"),
        20,
        facets.len(),
        2,
    )?;
    for (k, ((facet, by), panel)) in facets.iter().zip(panels.iter()).enumerate() {
        let points: Vec<(String, f64, f64)> = by
            .iter()
            .map(|(s, (c, t))| (s.clone(), mean_ci(c).0, mean_ci(t).0))
            .collect();
        draw_cost_panel(panel, facet, &points, k == 0)?;
    }
    Ok(())
}

/// facet → strategy → (credits spent, completion hours) of its runs.
type CostFacets = BTreeMap<String, BTreeMap<String, (Vec<f64>, Vec<f64>)>>;

fn draw_cost_panel<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    points: &[(String, f64, f64)],
    with_legend: bool,
) -> Res<()> {
    let cmax = points
        .iter()
        .map(|p| p.1)
        .filter(|x| x.is_finite())
        .fold(1.0, f64::max);
    let tmax = points
        .iter()
        .map(|p| p.2)
        .filter(|x| x.is_finite())
        .fold(1.0, f64::max);
    let mut chart = frame(
        root,
        title,
        0.0..cmax * if with_legend { 1.6 } else { 1.1 },
        0.0..tmax * 1.1,
        "credits spent (1 credit = one Cloud worker for 4 min)",
        "completion time (h)",
    )?;
    let front = pareto(points);
    chart
        .draw_series(LineSeries::new(front.clone(), color(7).stroke_width(1)))
        .map_err(err)?
        .label("Pareto frontier")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color(7)));
    let names: Vec<&str> = points.iter().map(|p| p.0.as_str()).collect();
    for ((name, c, t), look) in points.iter().zip(looks(&names)) {
        if c.is_finite() && t.is_finite() {
            marker(&mut chart, (*c, *t), look, name)?;
        }
    }
    if with_legend {
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    }
    Ok(())
}

/// Predicted against actual completion times at 50 %, one panel per middleware (their tails
/// differ), one colour per trace; a point's opacity falls with the panel's point count.
fn draw_oracle<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, preds: &OraclePoints) -> Res<()> {
    let middlewares: Vec<&String> = preds
        .keys()
        .map(|(m, _)| m)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    // One colour per trace, the same in every panel.
    let traces: Vec<&String> = preds
        .keys()
        .map(|(_, t)| t)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let panels = titled_panels(
        root,
        "Oracle: predicted vs actual completion at 50 % (leave-one-out, every strategy)",
        20,
        middlewares.len(),
        middlewares.len(),
    )?;
    for (mw, panel) in middlewares.iter().zip(panels.iter()) {
        let here: Vec<(&String, &Vec<(f64, f64)>)> = preds
            .iter()
            .filter(|((m, _), _)| m == *mw)
            .map(|((_, t), p)| (t, p))
            .collect();
        let max = here
            .iter()
            .flat_map(|(_, p)| p.iter())
            .flat_map(|p| [p.0, p.1])
            .filter(|x| x.is_finite())
            .fold(1.0, f64::max)
            * 1.05;
        let mut chart = frame(
            panel,
            mw,
            0.0..max,
            0.0..max,
            "actual completion time (h)",
            "predicted completion time (h)",
        )?;
        chart
            .draw_series(std::iter::once(Polygon::new(
                // The band between 0.8 and 1.2 times the actual time, cut at the chart's top
                // edge here: plotters would move the corner (max, 1.2 max) onto the edge at
                // (max, max), and the band above the diagonal would vanish.
                vec![(0.0, 0.0), (max, max * 0.8), (max, max), (max / 1.2, max)],
                color(4).mix(0.25).filled(),
            )))
            .map_err(err)?
            .label("±20 % of the actual time")
            .legend(|(x, y)| {
                Rectangle::new([(x, y - 5), (x + 18, y + 5)], color(4).mix(0.4).filled())
            });
        chart
            .draw_series(LineSeries::new(vec![(0.0, 0.0), (max, max)], color(7)))
            .map_err(err)?
            .label("perfect prediction")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color(7)));
        let n: usize = here.iter().map(|(_, p)| p.len()).sum();
        // Fewer points, each more opaque; tens of thousands, each faint.
        let alpha = (200.0 / n.max(1) as f64).sqrt().clamp(0.08, 0.7);
        for (trace, pts) in here {
            let i = traces.iter().position(|t| *t == trace).unwrap_or(0);
            // The band's colour (4) is skipped.
            let c = color(if i >= 4 { i + 1 } else { i });
            chart
                .draw_series(
                    pts.iter()
                        .filter(|(a, p)| a.is_finite() && p.is_finite())
                        .map(|(a, p)| Circle::new((*a, *p), 2, c.mix(alpha).filled())),
                )
                .map_err(err)?
                .label(format!("{trace} ({} predictions)", pts.len()))
                .legend(move |(x, y)| Circle::new((x + 9, y), 3, c.filled()));
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    }
    Ok(())
}

/// (middleware, trace) → (actual, predicted) completion times in hours.
type OraclePoints = BTreeMap<(String, String), Vec<(f64, f64)>>;

/// Re-simulates one representative pair of the sweep: of the strategy with the best median
/// TRE, the run with the median TRE in the trace × middleware × workload whose baselines have
/// the longest median tail, so that the figure shows a tail and what became of it.
fn representative(dir: &Path, v: &RunsView) -> Res<Option<Curves>> {
    fn median(mut xs: Vec<f64>) -> f64 {
        xs.sort_by(f64::total_cmp);
        xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
    }
    let mut by: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut tails: BTreeMap<(&str, &str, &str), Vec<f64>> = BTreeMap::new();
    let key = |i: usize| {
        (
            v.trace[i].as_str(),
            v.middleware[i].as_str(),
            v.workload[i].as_str(),
        )
    };
    for i in 0..v.run.len() {
        if v.run[i] == "speq" && v.tre[i].is_finite() {
            by.entry(&v.strategy[i]).or_default().push(i);
        } else if v.run[i] == "baseline" && v.tail_slowdown[i].is_finite() {
            tails.entry(key(i)).or_default().push(v.tail_slowdown[i]);
        }
    }
    let best = by.iter().max_by(|a, b| {
        let m = |ix: &Vec<usize>| median(ix.iter().map(|&i| v.tre[i]).collect());
        m(a.1).total_cmp(&m(b.1))
    });
    let Some((_, idx)) = best else {
        return Ok(None);
    };
    let tail_of = |k: &(&str, &str, &str)| tails.get(k).map_or(f64::NAN, |t| median(t.clone()));
    let longest = idx
        .iter()
        .map(|&i| key(i))
        .max_by(|a, b| tail_of(a).total_cmp(&tail_of(b)));
    let mut idx: Vec<usize> = idx
        .iter()
        .copied()
        .filter(|&i| Some(key(i)) == longest)
        .collect();
    idx.sort_by(|&a, &b| v.tre[a].total_cmp(&v.tre[b]));
    let pick = idx[idx.len() / 2];
    let id = v.run_id[pick] as u32;
    let path = dir.join("sweep.toml");
    let text = std::fs::read_to_string(&path).map_err(|source| FigureError::Read {
        path: path.clone(),
        source,
    })?;
    let spec: SweepSpec =
        toml::from_str(&text).map_err(|e| input(format!("{}: {e}", path.display())))?;
    let plan = spec::expand(&spec).map_err(|e| input(e.to_string()))?;
    let Some(job) = plan.jobs.iter().find(|j| j.runs.iter().any(|r| r.id == id)) else {
        return Ok(None);
    };
    let run = job.runs.iter().find(|r| r.id == id).expect("found");
    let RunKind::Speq { .. } = run.kind else {
        return Ok(None);
    };
    let sc = &run.scenario;
    let trace = load_trace(&plan.traces[run.trace]).map_err(|e| input(e.to_string()))?;
    let oracle = spequlos_core::Oracle::default();
    let (b, s) = if sc.workload.is_stream() {
        // The whole stream's tasks, as its runs.csv row counts them.
        let limits = spequlos_check::Limits::default();
        let (t, bots) =
            spequlos_sim::run::bots_within(sc, &limits).map_err(|e| input(e.to_string()))?;
        let run = |sc: &spequlos_sim::Scenario, strategy: Strategy| {
            let mut x = sc.clone();
            x.strategy = strategy;
            let key = spequlos_sim::run::oracle_key(&x, strategy);
            let out = spequlos_sim::world::simulate_stream(&x, &trace, &t, &bots, &oracle, key);
            let mut r = spequlos_sim::run::stream_as_run(&out, x.ideal_fraction);
            r.tasks = out.tasks;
            r
        };
        (
            run(&job.runs[0].scenario, Strategy::None),
            run(sc, sc.strategy),
        )
    } else {
        let t = tasks(sc).map_err(|e| input(e.to_string()))?;
        (
            run_one(&job.runs[0].scenario, &trace, &t, &oracle, Strategy::None),
            run_one(sc, &trace, &t, &oracle, sc.strategy),
        )
    };
    Ok(Some(Curves {
        title: format!(
            "{} / {} / {}, offset {} h",
            sc.trace.label(),
            sc.middleware.name(),
            sc.workload.label(),
            sc.trace.offset / 3600.0
        ),
        total: b.tasks.len(),
        baseline: b.tasks.iter().map(|x| x.completion).collect(),
        speq: Some((
            sc.strategy.to_string(),
            s.tasks.iter().map(|x| x.completion).collect(),
        )),
        t_ideal: b.metrics.t_ideal,
        deployed_at: s.metrics.deployed_at,
    }))
}

/// The five report figures.
pub fn report_figures(
    dir: &Path,
    out: &Path,
    v: &RunsView,
    loo: &BTreeMap<String, KeyJudged>,
) -> Res<Vec<PathBuf>> {
    let mut files = Vec::new();
    if let Some(c) = representative(dir, v)? {
        files.extend(completion_figure(&out.join("completion"), &c)?);
    }
    let mut cdf: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    let mut facets: Facets = BTreeMap::new();
    let mut cost: CostFacets = BTreeMap::new();
    for i in 0..v.run.len() {
        if v.run[i] == "baseline" {
            cdf.entry((v.trace[i].clone(), v.middleware[i].clone()))
                .or_default()
                .push(v.tail_slowdown[i]);
        } else {
            let facet = if v.settings[i].is_empty() {
                format!("{} / {}", v.trace[i], v.middleware[i])
            } else {
                format!("{} / {} / {}", v.trace[i], v.middleware[i], v.settings[i])
            };
            let e = cost
                .entry(facet.clone())
                .or_default()
                .entry(v.strategy[i].clone())
                .or_default();
            e.0.push(v.credits_spent[i]);
            e.1.push(v.completion[i] / 3600.0);
            facets
                .entry(facet)
                .or_default()
                .entry(v.strategy[i].clone())
                .or_default()
                .push(v.tre[i]);
        }
    }
    let workloads: std::collections::BTreeSet<&str> =
        v.workload.iter().map(String::as_str).collect();
    let pooled = if workloads.len() > 1 {
        let names: Vec<&str> = workloads.into_iter().collect();
        format!(" (workloads pooled: {})", names.join(", "))
    } else {
        String::new()
    };
    files.extend(render!(
        &out.join("tail_slowdown_cdf"),
        (900, 560),
        draw_cdf(&cdf, &pooled)
    )?);
    if !facets.is_empty() {
        let rows = facets.len().div_ceil(2) as u32;
        files.extend(render!(
            &out.join("tre_by_strategy"),
            (1200, 120 + 380 * rows),
            draw_tre(&facets, &pooled)
        )?);
        let rows = cost.len().div_ceil(2) as u32;
        let width = if cost.len() > 1 { 1500 } else { 900 };
        files.extend(render!(
            &out.join("credits_vs_completion"),
            (width, 80 + 520 * rows),
            draw_cost(&cost, &pooled)
        )?);
    }
    let mut preds: OraclePoints = BTreeMap::new();
    for ps in loo.values() {
        // The report's keys are `trace/middleware` grids (a trace may be a path with `/`).
        let grid = ps.key.grid.as_str();
        let (trace, mw) = grid.rsplit_once('/').unwrap_or((grid, ""));
        let (trace, mw) = (trace.to_string(), mw.to_string());
        preds.entry((mw, trace)).or_default().extend(
            ps.pairs(analysis::point_index(50))
                .map(|(actual, predicted)| (actual / 3600.0, predicted / 3600.0)),
        );
    }
    preds.retain(|_, v| !v.is_empty());
    if !preds.is_empty() {
        let panels = preds
            .keys()
            .map(|(m, _)| m)
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        files.extend(render!(
            &out.join("oracle"),
            (60 + 700 * panels.max(1) as u32, 720),
            draw_oracle(&preds)
        )?);
    }
    Ok(files)
}

/// Figure 1 for one `spequlos sim --out` directory, from its tasks.csv and runs.csv.
pub fn timeline_figure(dir: &Path) -> Res<Vec<PathBuf>> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).map_err(|source| FigureError::Read { path, source })
    };
    let tasks = read("tasks.csv")?;
    let runs = read("runs.csv")?;
    let mut lines = tasks.lines();
    let head: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let (ri, ci) = match (
        head.iter().position(|h| *h == "run"),
        head.iter().position(|h| *h == "completion"),
    ) {
        (Some(r), Some(c)) => (r, c),
        _ => {
            return Err(input(format!(
                "{}: not a `spequlos sim --out` tasks.csv",
                dir.join("tasks.csv").display()
            )))
        }
    };
    let mut by: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (n, l) in lines.enumerate() {
        let f: Vec<&str> = l.split(',').collect();
        let t: f64 = f
            .get(ci)
            .and_then(|x| x.parse().ok())
            .ok_or_else(|| input(format!("tasks.csv:{}: completion: not a number", n + 2)))?;
        by.entry(f.get(ri).unwrap_or(&"").to_string())
            .or_default()
            .push(t);
    }
    let mut rl = runs.lines();
    let rh: Vec<&str> = rl.next().unwrap_or("").split(',').collect();
    let col = |row: &str, name: &str| -> f64 {
        rh.iter()
            .position(|h| *h == name)
            .and_then(|i| row.split(',').nth(i))
            .and_then(|x| x.parse().ok())
            .unwrap_or(f64::NAN)
    };
    let rows: Vec<&str> = rl.collect();
    let base_row = rows
        .iter()
        .find(|r| r.starts_with("baseline,"))
        .ok_or_else(|| input("runs.csv has no baseline row"))?;
    let speq_row = rows.iter().find(|r| r.starts_with("speq,"));
    let strategy = speq_row
        .and_then(|r| {
            rh.iter()
                .position(|h| *h == "strategy")
                .and_then(|i| r.split(',').nth(i))
        })
        .unwrap_or("");
    let baseline = by
        .remove("baseline")
        .ok_or_else(|| input("tasks.csv has no baseline run"))?;
    let c = Curves {
        title: "Completion of one BoT".into(),
        total: baseline.len(),
        speq: by.remove("speq").map(|t| (strategy.to_string(), t)),
        baseline,
        t_ideal: col(base_row, "t_ideal"),
        deployed_at: speq_row.map_or(f64::NAN, |r| col(r, "deployed_at")),
    };
    completion_figure(&dir.join("timeline"), &c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pareto_keeps_only_undominated_points() {
        let pts = vec![
            ("a".into(), 10.0, 5.0),
            ("b".into(), 20.0, 3.0),
            ("c".into(), 15.0, 6.0),
            ("d".into(), 0.0, 9.0),
        ];
        assert_eq!(pareto(&pts), vec![(0.0, 9.0), (10.0, 5.0), (20.0, 3.0)]);
    }

    #[test]
    fn mean_and_interval() {
        let (m, ci) = mean_ci(&[1.0, 2.0, 3.0, f64::NAN]);
        assert_eq!(m, 2.0);
        assert!((ci - 1.96 * (1.0f64 / 3.0).sqrt()).abs() < 1e-12);
    }
}

/// One CDF per series of per-user mean speedups (a shared-grid sweep, one figure per share
/// policy).
fn draw_user_cdf<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    series: &BTreeMap<String, Vec<f64>>,
    title: &str,
) -> Res<()> {
    let finite = || series.values().flatten().copied().filter(|x| x.is_finite());
    let xmax = finite().fold(1.0, f64::max);
    let xmin = finite().fold(1.0, f64::min);
    let pad = (xmax - xmin) * 0.03;
    let mut chart = frame(
        root,
        title,
        (xmin - pad).max(0.0)..xmax + pad,
        0.0..1.0,
        "a user's mean speedup over its BoTs (baseline completion / SpeQuloS completion)",
        "fraction of users × offsets (CDF)",
    )?;
    for (i, (name, xs)) in series.iter().enumerate() {
        let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        let n = v.len() as f64;
        let mut pts = Vec::with_capacity(2 * v.len());
        for (k, x) in v.iter().enumerate() {
            pts.push((*x, k as f64 / n));
            pts.push((*x, (k + 1) as f64 / n));
        }
        let style = color(i).stroke_width(2);
        chart
            .draw_series(LineSeries::new(pts, style))
            .map_err(err)?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
    }
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    Ok(())
}

/// `figures/fairness_<policy>.png|svg`: for each share policy, the CDF of per-user mean
/// speedups, one curve per group (`series` maps policy → group → values).
pub fn fairness_figures(
    out: &Path,
    series: &BTreeMap<String, BTreeMap<String, Vec<f64>>>,
) -> Res<Vec<PathBuf>> {
    let mut files = Vec::new();
    for (policy, groups) in series {
        let title = format!("Per-user speedup with a capped Cloud shared {policy}");
        let stem = out.join(format!("fairness_{policy}"));
        files.extend(render!(&stem, (1000, 600), draw_user_cdf(groups, &title))?);
    }
    Ok(files)
}
