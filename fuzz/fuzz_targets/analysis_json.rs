//! The analysis JSON reader (schema walk, conversion, consistency checks) on arbitrary text.
//! Any input must give an analysis or an error naming the JSON path, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Ok(analysis) = exp::analysis::parse_analysis(text) {
        let _ = analysis.labels();
        let _ = analysis.render_summary();
    }
});
