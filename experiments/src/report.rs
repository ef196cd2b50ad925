//! `usam report`: one self-contained HTML page, and a Markdown twin, for a
//! run or a sweep.
//!
//! The page holds the table as the paper lays it out (method x dataset x
//! regime, mean ± std over seeds, with `||H||_F`, training seconds and
//! diverged runs), learning curves and Hessian curves per dataset and
//! regime as inline SVG (each method's mean over its seeds), every
//! method's configuration, and the commit and machine the runs recorded.
//! The Markdown twin links the same curves, written beside it as SVG files.
//! Everything comes from the run directories' `summary.json`,
//! `failed.json`, `epochs.jsonl` and `config.toml`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::prelude::{IntoDrawingArea, SVGBackend};

use crate::output::write_atomic;
use crate::plot::{Dot, Panel, Series, dot, draw};
use crate::provenance::Provenance;
use crate::records::EpochRecord;
use crate::sweep::{self, FoundRun};

/// File name of the HTML page inside the reported directory.
pub const HTML: &str = "report.html";
/// File name of the Markdown twin.
pub const MARKDOWN: &str = "report.md";

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The directory holds no run.
    #[error("no run under {0} (no summary.json or failed.json)")]
    NoRuns(PathBuf),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A run's `epochs.jsonl` has a line that is not an epoch record.
    #[error("{path}, line {line}: not an epoch record: {message}")]
    BadHistory {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The parser's message.
        message: String,
    },
    /// The report could not be written.
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
    /// A curve could not be drawn.
    #[error("cannot draw {what}: {message}")]
    Plot {
        /// Which figure.
        what: String,
        /// The error.
        message: String,
    },
}

/// Where a report was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The HTML page.
    pub html: PathBuf,
    /// The Markdown twin.
    pub markdown: PathBuf,
    /// The SVG files the Markdown twin links.
    pub figures: Vec<PathBuf>,
}

/// One run with its history and configuration.
struct Run {
    found: FoundRun,
    history: Vec<EpochRecord>,
    config: Option<String>,
}

/// The runs of one (dataset, regime) column.
struct Group<'a> {
    dataset: &'a str,
    regime: &'a str,
    runs: Vec<&'a Run>,
}

/// One figure: a name (for its file and anchor), a title and its SVG.
struct Figure {
    name: String,
    title: String,
    svg: String,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads `epochs.jsonl` (absent: no epochs yet).
fn read_history(dir: &Path) -> Result<Vec<EpochRecord>, ReportError> {
    let path = dir.join("epochs.jsonl");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(&path)(e)),
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| ReportError::BadHistory {
                path: path.clone(),
                line: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
}

fn read_runs(dir: &Path) -> Result<Vec<Run>, ReportError> {
    let found = sweep::find_runs(dir).map_err(io(dir))?;
    if found.is_empty() {
        return Err(ReportError::NoRuns(dir.to_path_buf()));
    }
    found
        .into_iter()
        .map(|found| {
            Ok(Run {
                history: read_history(&found.dir)?,
                config: std::fs::read_to_string(found.dir.join("config.toml")).ok(),
                found,
            })
        })
        .collect()
}

/// Groups by (dataset, regime), in table order.
fn groups(runs: &[Run]) -> Vec<Group<'_>> {
    let mut map: BTreeMap<(&str, &str), Vec<&Run>> = BTreeMap::new();
    for r in runs {
        map.entry((r.found.dataset.as_str(), r.found.regime.as_str()))
            .or_default()
            .push(r);
    }
    map.into_iter()
        .map(|((dataset, regime), runs)| Group {
            dataset,
            regime,
            runs,
        })
        .collect()
}

/// Each label's mean over its seeds of `value(epoch)`, per epoch (runs
/// that stopped early count where they have the epoch).
fn mean_curves(
    runs: &[&Run],
    value: impl Fn(&EpochRecord) -> Option<f64>,
    suffix: &str,
) -> Vec<Series> {
    let mut by_label: BTreeMap<&str, BTreeMap<usize, Vec<f64>>> = BTreeMap::new();
    for r in runs {
        let curve = by_label.entry(r.found.label.as_str()).or_default();
        for e in &r.history {
            if let Some(v) = value(e).filter(|v| v.is_finite()) {
                curve.entry(e.epoch).or_default().push(v);
            }
        }
    }
    by_label
        .into_iter()
        .filter(|(_, c)| !c.is_empty())
        .map(|(label, curve)| Series {
            label: format!("{label}{suffix}"),
            points: curve
                .into_iter()
                .map(|(epoch, v)| (epoch as f64, v.iter().sum::<f64>() / v.len() as f64))
                .collect(),
        })
        .collect()
}

/// Each label's mean and spread over its seeds of `value` at its run's
/// last measured epoch: the figure of a quantity measured once, at the end.
fn final_dots(runs: &[&Run], value: impl Fn(&EpochRecord) -> Option<f64>) -> Vec<Dot> {
    let mut by_label: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for r in runs {
        let last = r.history.iter().rev().find_map(&value);
        let values = by_label.entry(r.found.label.as_str()).or_default();
        values.extend(last.filter(|v| v.is_finite()));
    }
    by_label
        .into_iter()
        .filter_map(|(label, values)| dot(label, &values))
        .collect()
}

/// Curves of `value` when some label has it at several epochs, else one
/// dot per label.
fn curves_or_dots(
    runs: &[&Run],
    title: &str,
    y_label: &str,
    value: impl Fn(&EpochRecord) -> Option<f64> + Copy,
) -> Panel {
    let curves = mean_curves(runs, value, "");
    if curves.iter().any(|s| s.points.len() > 1) {
        Panel::curves(title, y_label, curves)
    } else {
        Panel::dots(title, y_label, final_dots(runs, value))
    }
}

fn svg(what: &str, panels: &[Panel]) -> Result<String, ReportError> {
    let mut text = String::new();
    {
        let width = 520 * panels.len() as u32;
        let area = SVGBackend::with_string(&mut text, (width, 420)).into_drawing_area();
        draw(area, panels).map_err(|e| ReportError::Plot {
            what: what.to_string(),
            message: e.to_string(),
        })?;
    }
    Ok(text)
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// The learning and Hessian curves of one group.
fn figures(group: &Group<'_>) -> Result<Vec<Figure>, ReportError> {
    let name = slug(&format!("{} {}", group.dataset, group.regime));
    let column = format!("{} ({})", group.dataset, group.regime);
    let mut out = Vec::new();
    let learning = [
        Panel::curves(
            "test accuracy",
            "accuracy (%)",
            mean_curves(&group.runs, |e| Some(100.0 * e.test.accuracy), ""),
        ),
        Panel::curves(
            "training loss",
            "cross-entropy (nats)",
            mean_curves(&group.runs, |e| Some(e.train_loss), ""),
        ),
    ];
    if learning.iter().any(|p| !p.content.is_empty()) {
        out.push(Figure {
            name: format!("{name}-learning"),
            title: format!("Learning curves, {column} (mean over seeds)"),
            svg: svg("learning curves", &learning)?,
        });
    }
    let hessian = [
        curves_or_dots(
            &group.runs,
            "Hessian Frobenius norm",
            "‖H‖F (nats)",
            |e| e.hessian.map(|h| h.frobenius.value),
        ),
        curves_or_dots(&group.runs, "Hessian trace", "trace of H (nats)", |e| {
            e.hessian.map(|h| h.trace.value)
        }),
    ];
    if hessian.iter().any(|p| !p.content.is_empty()) {
        let measured_once = hessian
            .iter()
            .all(|p| matches!(p.content, crate::plot::Content::Dots(_)));
        out.push(Figure {
            name: format!("{name}-hessian"),
            title: if measured_once {
                format!("Hessian at the end of training (mean ± std over seeds), {column}")
            } else {
                format!("Hessian curves, {column} (mean over seeds)")
            },
            svg: svg("Hessian curves", &hessian)?,
        });
    }
    Ok(out)
}

/// Each label's configuration: the `config.toml` of its first run.
fn configurations(runs: &[Run]) -> BTreeMap<&str, &str> {
    let mut out = BTreeMap::new();
    for r in runs {
        if let Some(c) = &r.config {
            out.entry(r.found.label.as_str()).or_insert(c.as_str());
        }
    }
    out
}

/// The distinct commits and machines the finished runs recorded, each with
/// how many runs; and how many runs recorded none.
struct Sources {
    commits: Vec<(String, usize)>,
    machines: Vec<(String, usize)>,
    unrecorded: usize,
}

impl Sources {
    /// One line per commit and machine, with their run counts.
    fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .commits
            .iter()
            .map(|(c, n)| format!("commit {c} ({n} run(s))"))
            .collect();
        out.extend(
            self.machines
                .iter()
                .map(|(m, n)| format!("{m} ({n} run(s))")),
        );
        if self.unrecorded > 0 {
            out.push(format!(
                "{} run(s) from before provenance was recorded",
                self.unrecorded
            ));
        }
        out
    }
}

fn provenance(runs: &[Run]) -> Sources {
    let mut commits: BTreeMap<String, usize> = BTreeMap::new();
    let mut machines: BTreeMap<String, usize> = BTreeMap::new();
    let mut unrecorded = 0;
    for s in runs.iter().filter_map(|r| r.found.summary.as_ref()) {
        match &s.provenance {
            Some(Provenance {
                commit,
                version,
                machine,
                ..
            }) => {
                *commits.entry(format!("{commit} (v{version})")).or_default() += 1;
                *machines
                    .entry(format!("{machine}, backend {}", s.backend))
                    .or_default() += 1;
            }
            None => unrecorded += 1,
        }
    }
    Sources {
        commits: commits.into_iter().collect(),
        machines: machines.into_iter().collect(),
        unrecorded,
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em auto;max-width:1100px;color:#222}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:4px 8px;text-align:left}\
th{background:#eee}pre{background:#f6f6f6;padding:8px;overflow-x:auto}figure{margin:1em 0}\
figure svg{max-width:100%;height:auto}.note{color:#555}";

/// What a report says, before it is written as HTML or Markdown.
struct Contents<'a> {
    title: String,
    counts: String,
    cells: Vec<sweep::Cell>,
    figures: Vec<Figure>,
    configs: BTreeMap<&'a str, &'a str>,
    sources: Sources,
}

const LEGEND: &str = "Cells: final test accuracy in %, mean ± standard deviation over \
                      seeds (n seeds); ‖H‖F: the final model's Hessian Frobenius norm; \
                      train: seconds of training steps, mean over seeds.";

/// The report of the runs under `dir`, as (HTML, Markdown, figures).
fn render(dir: &Path, runs: &[Run]) -> Result<(String, String, Vec<Figure>), ReportError> {
    let mut figures_all = Vec::new();
    for g in groups(runs) {
        figures_all.extend(figures(&g)?);
    }
    let finished = runs.iter().filter(|r| r.found.summary.is_some()).count();
    let failed = runs.len() - finished;
    let partial = crate::sweep::root::Marker::read(dir)
        .map(|m| m.progress(dir))
        .filter(|(done, total)| done < total)
        .map_or_else(String::new, |(done, total)| {
            format!(" Partial: {done} of the sweep's {total} runs are finished so far.")
        });
    let contents = Contents {
        title: format!("usam report: {}", dir.display()),
        counts: format!(
            "{} run(s): {finished} finished, {failed} failed (diverged).{partial}",
            runs.len()
        ),
        cells: sweep::cells(&runs.iter().map(|r| r.found.clone()).collect::<Vec<_>>()),
        figures: figures_all,
        configs: configurations(runs),
        sources: provenance(runs),
    };
    let (html, markdown) = (html(&contents), markdown(&contents));
    Ok((html, markdown, contents.figures))
}

/// The report as one self-contained HTML page.
fn html(c: &Contents<'_>) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n<p>{}</p>\n<h2 id=\"table\">Results</h2>\n<p class=\"note\">{}</p>\n<table>\n<tr>",
        escape(&c.title),
        escape(&c.title),
        escape(&c.counts),
        escape(LEGEND)
    );
    let (header, rows) = sweep::table_rows(&c.cells);
    for cell in &header {
        let _ = write!(h, "<th>{}</th>", escape(cell));
    }
    h.push_str("</tr>\n");
    for row in &rows {
        h.push_str("<tr>");
        for cell in row {
            let _ = write!(h, "<td>{}</td>", escape(cell));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n<h2 id=\"curves\">Curves</h2>\n");
    if c.figures.is_empty() {
        h.push_str("<p>No epoch was recorded.</p>\n");
    }
    for f in &c.figures {
        let _ = write!(
            h,
            "<figure id=\"{}\">\n{}\n<figcaption>{}</figcaption>\n</figure>\n",
            f.name,
            f.svg
                .trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
            escape(&f.title)
        );
    }
    h.push_str("<h2 id=\"configuration\">Configuration</h2>\n");
    for (label, text) in &c.configs {
        let _ = writeln!(
            h,
            "<details><summary>{}</summary><pre>{}</pre></details>",
            escape(label),
            escape(text)
        );
    }
    h.push_str("<h2 id=\"provenance\">Machine and commit</h2>\n<ul>\n");
    for line in c.sources.lines() {
        let _ = writeln!(h, "<li>{}</li>", escape(&line));
    }
    let _ = write!(
        h,
        "<li>report written by usam {} on {}</li>\n</ul>\n</body>\n</html>\n",
        escape(env!("USAM_GIT_COMMIT")),
        escape(&crate::provenance::Machine::current().to_string())
    );
    h
}

/// The report's Markdown twin (its figures are separate SVG files).
fn markdown(c: &Contents<'_>) -> String {
    let mut m = format!(
        "# {}\n\n{}\n\n## Results\n\n{LEGEND}\n\n",
        c.title, c.counts
    );
    m.push_str(&sweep::markdown(&c.cells));
    m.push_str("\n## Curves\n\n");
    for f in &c.figures {
        let _ = writeln!(m, "![{}](report-{}.svg)\n", f.title, f.name);
    }
    m.push_str("## Configuration\n\n");
    for (label, text) in &c.configs {
        let _ = writeln!(m, "### {label}\n\n```toml\n{}\n```\n", text.trim_end());
    }
    m.push_str("## Machine and commit\n\n");
    for line in c.sources.lines() {
        let _ = writeln!(m, "- {line}");
    }
    m
}

/// Whether `path` is a report usam wrote (it names itself in its title).
fn written_by_usam(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|bytes| {
        let head = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).into_owned();
        head.contains("<title>usam report: ") || head.starts_with("# usam report: ")
    })
}

/// Writes `report.html`, `report.md` and the Markdown's SVG figures into
/// `dir`, replacing earlier reports (they are derived files).
///
/// The directory is locked while the report is written. A `report.html`
/// or `report.md` that usam did not write (a user's own notes under that
/// name) is refused unless `force`.
pub fn write(dir: &Path, force: bool) -> Result<Written, ReportError> {
    let _lock =
        crate::lock::RunLock::acquire(dir, "report").map_err(crate::output::OutputError::from)?;
    write_locked(dir, force)
}

/// The report of a sweep's root at the end of a worker: as [`write`], but
/// waiting (up to two minutes) while another worker writes it.
pub fn write_for_sweep(dir: &Path) -> Result<Written, ReportError> {
    let wait = std::time::Duration::from_secs(120);
    let _lock = crate::lock::RunLock::acquire_waiting(dir, "report", wait)
        .map_err(crate::output::OutputError::from)?;
    write_locked(dir, false)
}

/// [`write`], the lock held.
fn write_locked(dir: &Path, force: bool) -> Result<Written, ReportError> {
    let runs = read_runs(dir)?;
    for name in [HTML, MARKDOWN] {
        let path = dir.join(name);
        if !force && path.exists() && !written_by_usam(&path) {
            return Err(crate::output::OutputError::FileExists(path).into());
        }
    }
    let (html, markdown, figures) = render(dir, &runs)?;
    let mut written = Written {
        html: dir.join(HTML),
        markdown: dir.join(MARKDOWN),
        figures: Vec::new(),
    };
    for f in &figures {
        let path = dir.join(format!("report-{}.svg", f.name));
        write_atomic(&path, f.svg.as_bytes())?;
        written.figures.push(path);
    }
    for (path, text) in [(&written.html, &html), (&written.markdown, &markdown)] {
        write_atomic(path, text.as_bytes())?;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_slugs() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(slug("mnist-10k noise 20%"), "mnist-10k-noise-20");
        assert_eq!(slug("cifar10 (full)"), "cifar10-full");
    }

    #[test]
    fn an_empty_directory_is_a_clear_error() {
        let tmp = std::env::temp_dir().join(format!("usam-report-empty-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        let err = write(&tmp, false).unwrap_err();
        std::fs::remove_dir_all(&tmp).unwrap();
        assert!(matches!(err, ReportError::NoRuns(_)), "{err}");
        assert!(err.to_string().contains("no run under"));
    }
}
