//! Acknowledged conversions on disk, so a check can span several load runs (the reliability script
//! kills and restarts the server between runs, then checks everything once at the end). One line per
//! conversion: `pixel<TAB>event<TAB>event_id`.

use std::fmt::Write as _;
use std::path::Path;

use crate::drive::Acked;

/// Writes `acked` to `path` (replacing it).
pub fn write(path: &Path, acked: &[Acked]) -> anyhow::Result<()> {
    let mut text = String::with_capacity(acked.len() * 64);
    for a in acked {
        let _ = writeln!(text, "{}\t{}\t{}", a.pixel, a.event, a.event_id);
    }
    std::fs::write(path, text).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

/// Reads a file written by [`write`].
pub fn read(path: &Path) -> anyhow::Result<Vec<Acked>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Parses the lines of an acknowledged-conversions file; empty lines are skipped.
pub fn parse(text: &str) -> anyhow::Result<Vec<Acked>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let mut parts = line.split('\t');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(pixel), Some(event), Some(event_id), None)
                if !pixel.is_empty() && !event.is_empty() && !event_id.is_empty() =>
            {
                out.push(Acked {
                    pixel: pixel.to_owned(),
                    event: event.to_owned(),
                    event_id: event_id.to_owned(),
                });
            }
            _ => anyhow::bail!("line {}: expected pixel<TAB>event<TAB>event_id", n + 1),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_names_a_bad_line() {
        let acked = vec![
            Acked {
                pixel: "P1".into(),
                event: "CompleteRegistration".into(),
                event_id: "r-0-1".into(),
            },
            Acked {
                pixel: "P1".into(),
                event: "Purchase".into(),
                event_id: "r-0-1".into(),
            },
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acked.tsv");
        write(&path, &acked).unwrap();
        assert_eq!(read(&path).unwrap(), acked);
        let err = parse("P\tE\tid\nP\tE\n").unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
    }
}
