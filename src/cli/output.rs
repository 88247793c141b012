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

/// A plain text table: columns padded to their widest cell, numbers right-aligned.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
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
                if numeric[i] {
                    format!("{c:>w$}", w = widths[i])
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = line(header.to_vec());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}
