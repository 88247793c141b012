//! The pipeline's progress as people and scripts want it: bars with ETA and running loss and
//! lines on a terminal, plain lines when stderr is a file or a pipe, JSON lines with `--json`
//! (one object per report, on stderr, so that stdout keeps the command's result), nothing with
//! `--quiet`.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use exp::pipeline::progress::{Progress, Update};

enum Mode {
    Terminal,
    Plain,
    Json,
    Quiet,
}

pub struct CliProgress {
    mode: Mode,
    bar: Option<(String, indicatif::ProgressBar)>,
    /// When the current task's first step was reported (for the JSON lines' ETA).
    task_started: Option<(String, Instant)>,
}

impl CliProgress {
    /// The sink for a command run with `--quiet` and `--json` as given.
    pub fn new(quiet: bool, json: bool) -> CliProgress {
        let mode = if json {
            Mode::Json
        } else if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Terminal
        } else {
            Mode::Plain
        };
        CliProgress {
            mode,
            bar: None,
            task_started: None,
        }
    }

    fn finish_bar(&mut self) {
        if let Some((_, bar)) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    fn bar_for(&mut self, task: &str, steps: usize) -> &indicatif::ProgressBar {
        if self.bar.as_ref().is_none_or(|(t, _)| t != task) {
            self.finish_bar();
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(steps as u64),
                indicatif::ProgressDrawTarget::stderr(),
            );
            let style = indicatif::ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} steps, {elapsed} elapsed, ETA {eta} ({msg})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(task.to_string());
            self.bar = Some((task.to_string(), bar));
        }
        &self.bar.as_ref().expect("set above").1
    }

    /// Seconds left in the current task at the rate of its steps so far.
    fn eta_s(&mut self, task: &str, step: usize, steps: usize) -> Option<f64> {
        if self.task_started.as_ref().is_none_or(|(t, _)| t != task) {
            self.task_started = Some((task.to_string(), Instant::now()));
            return None;
        }
        let (_, started) = self.task_started.as_ref()?;
        let per_step = started.elapsed().as_secs_f64() / step.saturating_sub(1).max(1) as f64;
        Some(per_step * steps.saturating_sub(step) as f64)
    }
}

impl Progress for CliProgress {
    fn update(&mut self, update: Update<'_>) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Json => {
                let mut line = serde_json::to_value(&update).unwrap_or_default();
                if let Update::Step {
                    task, step, steps, ..
                } = update
                {
                    line["eta_s"] = self.eta_s(task, step, steps).into();
                }
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "{line}");
            }
            Mode::Terminal | Mode::Plain => match update {
                Update::Step {
                    task,
                    step,
                    steps,
                    running_loss,
                } => {
                    // Plain logs get the epoch's line at its end, not one per step.
                    if matches!(self.mode, Mode::Terminal) {
                        let bar = self.bar_for(task, steps);
                        bar.set_position(step as u64);
                        bar.set_message(format!("loss {running_loss:.4}"));
                    }
                }
                Update::TaskFinished { .. } => self.finish_bar(),
                Update::Message { text } => {
                    match &self.bar {
                        Some((_, bar)) => bar.suspend(|| eprintln!("{text}")),
                        None => eprintln!("{text}"),
                    };
                }
                // Stage boundaries show in the messages around them; only scripts get them.
                Update::StageStarted { .. } | Update::StageFinished { .. } => {}
            },
        }
    }
}

impl Drop for CliProgress {
    fn drop(&mut self) {
        self.finish_bar();
    }
}

/// Opens experiment `name` for `command`, its progress going to stderr as `quiet`/`json` ask and
/// its dataset read from `data` when it moved.
pub fn open_writing(
    db: &std::path::Path,
    name: &str,
    command: &str,
    data: &super::DataArg,
    quiet: bool,
    json: bool,
) -> anyhow::Result<exp::pipeline::Writing> {
    Ok(exp::pipeline::Writing::open(
        db,
        name,
        command,
        data.data.as_deref(),
        Box::new(CliProgress::new(quiet, json)),
    )?)
}
