//! Durations and dates as people type and read them.

use anyhow::{bail, Context, Result};

/// Parses `90`, `90s`, `15m`, `12h`, `7d` or `1.5d` into whole seconds.
pub fn parse_duration(text: &str) -> Result<i64> {
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, "s"),
    };
    let mult = match unit {
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        "w" => 7.0 * 86400.0,
        other => bail!("unknown unit `{other}` in `{text}` (use s, m, h, d or w)"),
    };
    let v: f64 = num
        .trim()
        .parse()
        .with_context(|| format!("`{text}` is not a duration (examples: 3600, 90m, 12h, 7d)"))?;
    let secs = v * mult;
    if !secs.is_finite() || secs.abs() > 1e15 {
        bail!("duration `{text}` is out of range");
    }
    Ok(secs.round() as i64)
}

/// A window `START:LEN`. START is a duration from the trace origin, or `@EPOCH` for an absolute
/// time in epoch seconds (needs a trace whose origin is known, like FTA's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: WindowStart,
    pub len: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowStart {
    Relative(i64),
    Epoch(i64),
}

impl std::str::FromStr for Window {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        let (a, b) = s.split_once(':').ok_or_else(|| {
            anyhow::anyhow!("`{s}` is not START:LEN (example: 2d:7d or @1104537600:14d)")
        })?;
        let start = match a.strip_prefix('@') {
            Some(e) => WindowStart::Epoch(
                e.trim()
                    .parse()
                    .map_err(|_| anyhow::anyhow!("`{e}` is not epoch seconds"))?,
            ),
            None => WindowStart::Relative(parse_duration(a)?),
        };
        let len = parse_duration(b)?;
        anyhow::ensure!(len > 0, "window length must be > 0 in `{s}`");
        Ok(Window { start, len })
    }
}

/// `2005-01-01 00:00:00 UTC` for epoch seconds (proleptic Gregorian; Hinnant's civil_from_days).
pub fn format_epoch(secs: i64) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), 90);
        assert_eq!(parse_duration("15m").unwrap(), 900);
        assert_eq!(parse_duration("1.5d").unwrap(), 129_600);
        assert_eq!(parse_duration("2w").unwrap(), 1_209_600);
        assert!(parse_duration("3y")
            .unwrap_err()
            .to_string()
            .contains("unknown unit"));
        assert!(parse_duration("x").is_err());
    }

    #[test]
    fn windows() {
        let w: Window = "2d:7d".parse().unwrap();
        assert_eq!(
            w,
            Window {
                start: WindowStart::Relative(172_800),
                len: 604_800
            }
        );
        let w: Window = "@1104537600:14d".parse().unwrap();
        assert_eq!(w.start, WindowStart::Epoch(1_104_537_600));
        assert!("7d".parse::<Window>().is_err());
        assert!("0:0".parse::<Window>().is_err());
    }

    #[test]
    fn epoch_dates() {
        assert_eq!(format_epoch(1_104_537_600), "2005-01-01 00:00:00 UTC");
        assert_eq!(format_epoch(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_epoch(951_782_400 + 3661), "2000-02-29 01:01:01 UTC");
        assert_eq!(format_epoch(-1), "1969-12-31 23:59:59 UTC");
    }
}
