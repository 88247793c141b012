//! What the benches time: wall time (criterion's default), or with `EXP_BENCH_CLOCK=cpu` the
//! CPU time of this process (every thread, from `/proc/self/task/*/schedstat`, in ns). On a
//! shared machine CPU time moves far less with other people's load than wall time does; for a
//! multi-threaded bench it is the sum over threads, not a latency.

use std::time::{Duration, Instant};

use criterion::measurement::{Measurement, ValueFormatter, WallTime};

pub struct Clock {
    cpu: bool,
    /// Lends its formatter: values are nanoseconds either way.
    wall: WallTime,
    origin: Instant,
}

impl Clock {
    pub fn from_env() -> Clock {
        let cpu = std::env::var("EXP_BENCH_CLOCK").is_ok_and(|v| v == "cpu");
        if cpu {
            eprintln!(
                "EXP_BENCH_CLOCK=cpu: times below are this process's CPU time, not wall time"
            );
        }
        Clock {
            cpu,
            wall: WallTime,
            origin: Instant::now(),
        }
    }

    fn now(&self) -> Duration {
        if self.cpu {
            process_cpu_time()
        } else {
            self.origin.elapsed()
        }
    }
}

/// CPU time of every live thread of this process.
fn process_cpu_time() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let nanos: u64 = tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanos)
}

impl Measurement for Clock {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        self.now()
    }

    fn end(&self, start: Duration) -> Duration {
        self.now().saturating_sub(start)
    }

    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        self.wall.formatter()
    }
}
