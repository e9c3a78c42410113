//! A reader for the Prometheus text format, as much of it as the load client writes: one sample
//! per line, `name{label="value",…} number`, comments ignored.

use std::collections::BTreeMap;

use crate::error::{LineFault, PromError};

#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses every sample line of `text`; a line that is not a sample is an error naming it.
pub fn parse(text: &str) -> Result<Vec<Sample>, PromError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(parse_line(line).map_err(|fault| PromError {
            line: i + 1,
            fault,
            text: line.to_string(),
        })?);
    }
    Ok(out)
}

fn parse_line(line: &str) -> Result<Sample, LineFault> {
    let (head, value) = match line.find('}') {
        Some(close) => (&line[..=close], line[close + 1..].trim()),
        None => line
            .split_once(char::is_whitespace)
            .map(|(h, v)| (h, v.trim()))
            .ok_or(LineFault::NoValue)?,
    };
    // A timestamp may follow the value.
    let value = value.split_whitespace().next().ok_or(LineFault::NoValue)?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v
            .parse::<f64>()
            .map_err(|_| LineFault::NotANumber(v.to_string()))?,
    };
    let (name, labels) = match head.split_once('{') {
        None => (head.to_string(), BTreeMap::new()),
        Some((name, rest)) => {
            let body = rest.strip_suffix('}').ok_or(LineFault::UnclosedLabels)?;
            (name.to_string(), parse_labels(body)?)
        }
    };
    if name.is_empty() {
        return Err(LineFault::NoName);
    }
    Ok(Sample {
        name,
        labels,
        value,
    })
}

fn parse_labels(body: &str) -> Result<BTreeMap<String, String>, LineFault> {
    let mut labels = BTreeMap::new();
    let mut rest = body.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=').ok_or(LineFault::LabelWithoutEquals)?;
        let after = after
            .trim_start()
            .strip_prefix('"')
            .ok_or(LineFault::UnquotedValue)?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        value.push(if n == 'n' { '\n' } else { n });
                    }
                }
                '"' => {
                    end = Some(i);
                    break;
                }
                c => value.push(c),
            }
        }
        let end = end.ok_or(LineFault::UnterminatedValue)?;
        labels.insert(key.trim().to_string(), value);
        rest = after[end + 1..]
            .trim_start()
            .trim_start_matches(',')
            .trim_start();
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_plain_labelled_and_infinite_samples() {
        let text = "# HELP x y\n# TYPE x counter\nx_total 3\nlat_bucket{le=\"+Inf\"} 7\nreq{outcome=\"ok\",z=\"a\\\"b\"} 2.5 1700000000\n";
        let s = parse(text).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].name, "x_total");
        assert_eq!(s[0].value, 3.0);
        assert_eq!(s[1].labels["le"], "+Inf");
        assert_eq!(s[2].labels["outcome"], "ok");
        assert_eq!(s[2].labels["z"], "a\"b");
        assert_eq!(s[2].value, 2.5);
    }

    #[test]
    fn says_which_line_is_bad() {
        let e = parse("ok 1\nbroken{le=\"1\" 2\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().starts_with("line 2: "), "{e}");
        let e = parse("x notanumber\n").unwrap_err();
        assert_eq!(e.fault, LineFault::NotANumber("notanumber".into()));
        assert!(e.to_string().contains("not a number"), "{e}");
    }
}
