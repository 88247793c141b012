//! Small printing helpers shared by the commands.

use std::io::Write;

use serde::Serialize;

/// `println!` for commands that record events (`train`, `report`, ...): when stdout's reader has
/// gone (`exp train NAME | head`), the line is dropped instead of panicking, so the command goes
/// on recording; it is not stopped as a read-only command is.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::output::write_out(format_args!($($arg)*), true)
    };
}
pub(crate) use outln;

/// `print!` as [`outln!`] is `println!`.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::write_out(format_args!($($arg)*), false)
    };
}
pub(crate) use out;

/// [`outln!`]'s writer. Any other failure to write stdout is said once on stderr.
pub fn write_out(args: std::fmt::Arguments, newline: bool) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let mut out = std::io::stdout().lock();
    let written = out.write_fmt(args).and_then(|()| {
        if newline {
            out.write_all(b"\n")
        } else {
            Ok(())
        }
    });
    if let Err(err) = written {
        if err.kind() != std::io::ErrorKind::BrokenPipe
            && !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            eprintln!("warning: cannot write to standard output: {err}");
        }
    }
}

/// Prints `value` as pretty JSON. A reader that stops early (`exp events NAME --json | head`)
/// closes the pipe: that ends the output quietly instead of panicking as `println!` would.
pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    match writeln!(std::io::stdout().lock(), "{text}") {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => Err(err.into()),
        _ => Ok(()),
    }
}

/// The widest a table cell is printed, in characters: a longer text (a sentence given to
/// `exp predict`, a payload) is cut and ends with an ellipsis; `--json` prints it whole.
pub const MAX_CELL: usize = 80;

/// `cell`, cut to at most `max` characters, the last of them an ellipsis when it was cut.
/// Control characters (a newline in a sentence) are shown as spaces, so a row stays one line.
pub fn fit_cell(cell: &str, max: usize) -> String {
    let clean = |c: char| if c.is_control() { ' ' } else { c };
    if cell.chars().count() <= max {
        return cell.chars().map(clean).collect();
    }
    let mut cut: String = cell
        .chars()
        .take(max.saturating_sub(1))
        .map(clean)
        .collect();
    cut.push('…');
    cut
}

/// A plain text table: columns padded to their widest cell (at most [`MAX_CELL`] characters),
/// numbers right-aligned.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|c| fit_cell(c, MAX_CELL)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let numeric: Vec<bool> = (0..header.len())
        .map(|i| {
            !rows.is_empty()
                && rows
                    .iter()
                    .all(|r| r[i].parse::<f64>().is_ok() || r[i] == "-")
        })
        .collect();
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = " ".repeat(widths[i].saturating_sub(c.chars().count()));
                if numeric[i] {
                    format!("{pad}{c}")
                } else {
                    format!("{c}{pad}")
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = line(header.to_vec());
    out.push('\n');
    for row in &rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_of_any_length_is_cut_to_the_cap_with_an_ellipsis() {
        // 65,536 characters panicked in the width argument of format! before the cap.
        let long = "x".repeat(70_000);
        let out = table(&["TEXT", "N"], &[vec![long, "1".into()]]);
        let row = out.lines().nth(1).unwrap();
        assert_eq!(row, format!("{}…  1", "x".repeat(MAX_CELL - 1)));
        assert_eq!(fit_cell("short", MAX_CELL), "short");
        assert_eq!(fit_cell("a\nb", MAX_CELL), "a b");
        assert_eq!(fit_cell("äöü€", 3), "äö…");
    }

    #[test]
    fn numbers_are_right_aligned_and_text_left() {
        let out = table(
            &["NAME", "N"],
            &[
                vec!["a".into(), "10".into()],
                vec!["bcd".into(), "2".into()],
            ],
        );
        assert_eq!(out, "NAME   N\na     10\nbcd    2\n");
    }
}
