//! A training loop: mini-batches over a shared data set, loss and accuracy per epoch
//! (revealed as aggregates only), a progress bar, and the loss curve as an image.

use std::time::Instant;

use cloak_autograd::{Backend, Var, no_grad};
use indicatif::{ProgressBar, ProgressStyle};

use crate::error::{NnError, Result, invalid};
use crate::module::{Module, ModuleExt};
use crate::optim::Optimizer;

/// A loss function of (prediction, target).
pub type LossFn<B> = fn(&Var<B>, &Var<B>) -> Result<Var<B>>;

/// How [`fit`] runs.
#[derive(Clone, Copy, Debug)]
pub struct TrainConfig {
    /// Passes over the data.
    pub epochs: usize,
    /// Rows per step (the last batch may be smaller).
    pub batch_size: usize,
    /// Show a progress bar (at party 0 only, on a terminal).
    pub progress: bool,
    /// Count the rows whose argmax matches the target, and reveal the count per epoch.
    /// For classification with one-hot targets only: with other targets the count would
    /// reveal a sum of secret targets.
    pub accuracy: bool,
    /// Skip a last batch smaller than `batch_size` (a batch of one row cannot train
    /// BatchNorm).
    pub drop_last: bool,
}

impl TrainConfig {
    /// Classification: `epochs` passes of `batch_size` rows, accuracy counted, the last
    /// partial batch kept, no progress bar.
    #[must_use]
    pub fn new(epochs: usize, batch_size: usize) -> Self {
        Self { epochs, batch_size, progress: false, accuracy: true, drop_last: false }
    }
}

/// One epoch's aggregates: the only values training reveals.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochStats {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean of the batch losses.
    pub loss: f64,
    /// Share of training rows whose argmax matched the one-hot target, during the epoch
    /// (NaN when not counted).
    pub accuracy: f64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// What [`fit`] returns.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// Per epoch.
    pub epochs: Vec<EpochStats>,
}

/// Counts rows whose argmax (first maximum) in `logits` `[n, k]` is where the one-hot
/// `target` has its 1; the count stays a tensor of the backend (shape `[1]`).
///
/// # Errors
/// Shapes that differ; the backend's errors.
pub fn correct_count<B: Backend>(logits: &Var<B>, target: &Var<B>) -> Result<B::Tensor> {
    if logits.shape() != target.shape() || logits.shape().len() != 2 {
        return Err(invalid(
            "accuracy",
            format!("logits {:?}, target {:?}", logits.shape(), target.shape()),
        ));
    }
    let b = logits.backend();
    let hits = b.mul(&b.argmax_onehot(&logits.value(), 1)?, &target.value())?;
    let n = logits.numel();
    Ok(b.sum(&b.reshape(&hits, &[n])?, 0, true)?)
}

fn batches(n: usize, size: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..n.div_ceil(size)).map(move |i| (i * size, ((i + 1) * size).min(n)))
}

fn scalar<B: Backend>(b: &B, t: &B::Tensor) -> Result<f64> {
    Ok(b.reveal(t)?.iter().next().copied().unwrap_or(f64::NAN))
}

/// Trains `model` on rows of `x` with one-hot (or regression) targets `y`: per batch a
/// forward pass, `loss`, backward and an optimizer step. Per epoch, the summed loss and
/// the number of correct rows are revealed (two numbers) and returned.
///
/// # Errors
/// `x` and `y` with different row counts, a zero batch size; the backend's errors.
pub fn fit<B: Backend, M: Module<B> + ?Sized, O: Optimizer>(
    model: &M,
    optimizer: &mut O,
    loss: LossFn<B>,
    x: &Var<B>,
    y: &Var<B>,
    config: &TrainConfig,
) -> Result<History> {
    let n = x.shape().first().copied().unwrap_or(0);
    if y.shape().first() != Some(&n) || n == 0 || config.batch_size == 0 {
        return Err(invalid(
            "fit",
            format!(
                "inputs {:?}, targets {:?}, batch size {}",
                x.shape(),
                y.shape(),
                config.batch_size
            ),
        ));
    }
    let b = x.backend();
    let full = n / config.batch_size;
    let steps = if config.drop_last { full } else { n.div_ceil(config.batch_size) };
    if steps == 0 {
        return Err(invalid("fit", format!("{n} rows make no batch of {}", config.batch_size)));
    }
    let counted_rows = if config.drop_last { full * config.batch_size } else { n };
    let bar = if config.progress && b.rank() == 0 {
        let bar = ProgressBar::new((steps * config.epochs) as u64);
        if let Ok(style) =
            ProgressStyle::with_template("{bar:30} {pos}/{len} steps, {elapsed} {msg}")
        {
            bar.set_style(style);
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut history = History::default();
    model.train();
    for epoch in 1..=config.epochs {
        let start = Instant::now();
        let mut loss_sum: Option<B::Tensor> = None;
        let mut hits: Option<B::Tensor> = None;
        for (lo, hi) in batches(n, config.batch_size).take(steps) {
            let xb = x.slice(0, lo, hi)?.detach();
            let yb = y.slice(0, lo, hi)?.detach();
            let out = model.forward(&xb)?;
            let l = loss(&out, &yb)?;
            optimizer.zero_grad();
            l.backward()?;
            optimizer.step()?;
            let h = if config.accuracy { Some(correct_count(&out, &yb)?) } else { None };
            loss_sum = Some(match loss_sum {
                Some(s) => b.add(&s, &l.value())?,
                None => l.value(),
            });
            if let Some(h) = h {
                hits = Some(match hits {
                    Some(s) => b.add(&s, &h)?,
                    None => h,
                });
            }
            bar.inc(1);
        }
        let mean_loss = match &loss_sum {
            Some(s) => scalar(&b, s)? / steps as f64,
            None => f64::NAN,
        };
        let accuracy = match &hits {
            Some(h) => scalar(&b, h)?.round() / counted_rows as f64,
            None => f64::NAN,
        };
        let stats =
            EpochStats { epoch, loss: mean_loss, accuracy, seconds: start.elapsed().as_secs_f64() };
        bar.set_message(format!(
            "epoch {epoch}: loss {mean_loss:.4}, accuracy {:.1}%",
            100.0 * accuracy
        ));
        if config.progress && b.rank() == 0 {
            bar.println(format!(
                "epoch {epoch:>3}  loss {mean_loss:.4}  train accuracy {:.2}%  ({:.1} s)",
                100.0 * accuracy,
                stats.seconds
            ));
        }
        history.epochs.push(stats);
    }
    bar.finish_and_clear();
    Ok(history)
}

/// Accuracy of `model` (evaluation mode, no graph) on `x` against one-hot `y`, in
/// batches; only the count of correct rows is revealed.
///
/// # Errors
/// Mismatched shapes; the backend's errors.
pub fn evaluate<B: Backend, M: Module<B> + ?Sized>(
    model: &M,
    x: &Var<B>,
    y: &Var<B>,
    batch_size: usize,
) -> Result<f64> {
    let n = x.shape().first().copied().unwrap_or(0);
    if y.shape().first() != Some(&n) || n == 0 || batch_size == 0 {
        return Err(invalid(
            "evaluate",
            format!("inputs {:?}, targets {:?}", x.shape(), y.shape()),
        ));
    }
    model.eval();
    let b = x.backend();
    let total = no_grad(|| -> Result<B::Tensor> {
        let mut total: Option<B::Tensor> = None;
        for (lo, hi) in batches(n, batch_size) {
            let out = model.forward(&x.slice(0, lo, hi)?)?;
            let h = correct_count(&out, &y.slice(0, lo, hi)?)?;
            total = Some(match total {
                Some(t) => b.add(&t, &h)?,
                None => h,
            });
        }
        total.ok_or_else(|| invalid("evaluate", "no batches"))
    })?;
    Ok(scalar(&b, &total)?.round() / n as f64)
}

impl History {
    /// Writes the loss per epoch as an SVG line chart (one series per `(label, history)`;
    /// consecutive pairs, such as a private run and its plain twin, share a colour).
    ///
    /// # Errors
    /// [`NnError::Plot`] if drawing or writing fails.
    pub fn plot_losses(path: &str, series: &[(&str, &History)]) -> Result<()> {
        use plotters::prelude::*;
        let fail = |e: &dyn std::fmt::Display| NnError::Plot {
            path: path.to_string(),
            reason: e.to_string(),
        };
        let epochs = series.iter().map(|(_, h)| h.epochs.len()).max().unwrap_or(0).max(2);
        let top = series
            .iter()
            .flat_map(|(_, h)| h.epochs.iter().map(|e| e.loss))
            .filter(|l| l.is_finite())
            .fold(0.0_f64, f64::max)
            .max(1e-3)
            * 1.05;
        let root = SVGBackend::new(path, (720, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption("training loss", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(52)
            .build_cartesian_2d(1usize..epochs, 0.0..top)
            .map_err(|e| fail(&e))?;
        chart.configure_mesh().x_desc("epoch").y_desc("loss").draw().map_err(|e| fail(&e))?;
        // Series come in pairs (private, plain): a pair shares a colour, the first drawn
        // wide and light, the second thin on top, so that curves that coincide stay visible.
        let colors = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];
        for (i, (label, h)) in series.iter().enumerate() {
            let base = colors[(i / 2) % colors.len()];
            let (color, width) = if i % 2 == 0 { (base.mix(0.35), 6) } else { (base.mix(1.0), 2) };
            chart
                .draw_series(LineSeries::new(
                    h.epochs.iter().map(|e| (e.epoch, e.loss)),
                    color.stroke_width(width),
                ))
                .map_err(|e| fail(&e))?
                .label(*label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(width))
                });
        }
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE)
            .draw()
            .map_err(|e| fail(&e))?;
        root.present().map_err(|e| fail(&e))
    }
}
