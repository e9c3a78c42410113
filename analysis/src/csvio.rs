//! Reading the CSV files of docs/metrics.md: a header row naming the columns, then one record per
//! line. Columns are found by name (extra columns are ignored, so a newer writer does not break an
//! older reader); a missing column, a short row or a field of the wrong type is an error naming
//! the file, the line and the column. Columns a newer writer added can be declared optional, so an
//! older file still reads (their fields read as empty).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A row type of one CSV file.
pub trait Record: Sized {
    /// File name in a scenario output folder, e.g. `summary.csv`.
    const FILE: &'static str;
    /// The columns this reader needs, in the documented order.
    const COLUMNS: &'static [&'static str];
    /// Columns read when the file has them; when it does not, their fields read as empty.
    const OPTIONAL_COLUMNS: &'static [&'static str] = &[];
    fn from_row(row: &Row<'_>) -> Result<Self>;
}

/// One data row, with its columns resolved against the header.
pub struct Row<'a> {
    file: &'a Path,
    line: u64,
    record: &'a csv::StringRecord,
    /// For each of `Record::COLUMNS`, its position in the file.
    index: &'a [usize],
    columns: &'static [&'static str],
    /// For each of `Record::OPTIONAL_COLUMNS`, its position in the file if present.
    optional_index: &'a [Option<usize>],
    optional_columns: &'static [&'static str],
}

impl Row<'_> {
    fn position(&self, column: &str) -> Option<usize> {
        if let Some(k) = self.columns.iter().position(|c| *c == column) {
            return Some(self.index[k]);
        }
        let k = self
            .optional_columns
            .iter()
            .position(|c| *c == column)
            .unwrap_or_else(|| {
                panic!("column `{column}` is not declared in Record::COLUMNS or OPTIONAL_COLUMNS")
            });
        self.optional_index[k]
    }

    /// The raw field, trimmed of surrounding spaces; empty for an optional column the file lacks.
    pub fn raw(&self, column: &str) -> &str {
        self.position(column)
            .and_then(|i| self.record.get(i))
            .unwrap_or("")
            .trim()
    }

    pub fn error(&self, column: &str, message: impl Into<String>) -> Error {
        Error::Field {
            file: self.file.to_path_buf(),
            line: self.line,
            column: column.to_string(),
            message: message.into(),
        }
    }

    fn required(&self, column: &str, what: &str) -> Result<&str> {
        let v = self.raw(column);
        if v.is_empty() {
            Err(self.error(column, format!("expected {what}, found an empty field")))
        } else {
            Ok(v)
        }
    }

    pub fn string(&self, column: &str) -> Result<String> {
        Ok(self.required(column, "a value")?.to_string())
    }

    pub fn opt_string(&self, column: &str) -> Option<String> {
        let v = self.raw(column);
        (!v.is_empty()).then(|| v.to_string())
    }

    pub fn u64(&self, column: &str) -> Result<u64> {
        let v = self.required(column, "a non-negative integer")?;
        self.parse_u64(column, v)
    }

    pub fn opt_u64(&self, column: &str) -> Result<Option<u64>> {
        match self.raw(column) {
            "" => Ok(None),
            v => self.parse_u64(column, v).map(Some),
        }
    }

    fn parse_u64(&self, column: &str, v: &str) -> Result<u64> {
        v.parse::<u64>().map_err(|_| {
            self.error(
                column,
                format!("expected a non-negative integer, found {v:?}"),
            )
        })
    }

    pub fn f64(&self, column: &str) -> Result<f64> {
        let v = self.required(column, "a number")?;
        self.parse_f64(column, v)
    }

    pub fn opt_f64(&self, column: &str) -> Result<Option<f64>> {
        match self.raw(column) {
            "" => Ok(None),
            v => self.parse_f64(column, v).map(Some),
        }
    }

    fn parse_f64(&self, column: &str, v: &str) -> Result<f64> {
        match v.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(x),
            _ => Err(self.error(column, format!("expected a finite number, found {v:?}"))),
        }
    }

    pub fn opt_bool(&self, column: &str) -> Result<Option<bool>> {
        match self.raw(column) {
            "" => Ok(None),
            _ => self.bool(column).map(Some),
        }
    }

    pub fn bool(&self, column: &str) -> Result<bool> {
        match self.raw(column) {
            "0" => Ok(false),
            "1" => Ok(true),
            v => Err(self.error(column, format!("expected 0 or 1, found {v:?}"))),
        }
    }
}

/// Reads `path` as records of type `R`.
pub fn read_csv<R: Record>(path: &Path) -> Result<Vec<R>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_csv(path, &bytes)
}

/// Parses `bytes` as records of type `R`; `name` is used in error messages only.
pub fn parse_csv<R: Record>(name: &Path, bytes: &[u8]) -> Result<Vec<R>> {
    let file: PathBuf = name.to_path_buf();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes);
    let header = reader.headers().map_err(|e| csv_error(&file, &e))?.clone();
    if header.is_empty() || (header.len() == 1 && header[0].trim().is_empty()) {
        return Err(Error::Malformed {
            file,
            line: 1,
            message: format!(
                "empty file: expected a header row `{}`",
                R::COLUMNS.join(",")
            ),
        });
    }
    let found: Vec<&str> = header
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}'))
        .collect();
    let mut index = Vec::with_capacity(R::COLUMNS.len());
    for column in R::COLUMNS {
        match found.iter().position(|h| h == column) {
            Some(i) => index.push(i),
            None => {
                return Err(Error::MissingColumn {
                    file,
                    column: column.to_string(),
                    found: found.join(","),
                })
            }
        }
    }
    let optional_index: Vec<Option<usize>> = R::OPTIONAL_COLUMNS
        .iter()
        .map(|column| found.iter().position(|h| h == column))
        .collect();
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(csv_error(&file, &e)),
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        // A trailing blank line is not a record.
        if record.len() == 1 && record[0].trim().is_empty() {
            continue;
        }
        if record.len() != header.len() {
            return Err(Error::Malformed {
                file,
                line,
                message: format!(
                    "expected {} fields as in the header, found {}",
                    header.len(),
                    record.len()
                ),
            });
        }
        let row = Row {
            file: &file,
            line,
            record: &record,
            index: &index,
            columns: R::COLUMNS,
            optional_index: &optional_index,
            optional_columns: R::OPTIONAL_COLUMNS,
        };
        rows.push(R::from_row(&row)?);
    }
    Ok(rows)
}

fn csv_error(file: &Path, e: &csv::Error) -> Error {
    let line = e.position().map(|p| p.line()).unwrap_or(0);
    let message = match e.kind() {
        csv::ErrorKind::Utf8 { err, .. } => format!("not valid UTF-8 ({err})"),
        csv::ErrorKind::Io(err) => err.to_string(),
        _ => e.to_string(),
    };
    Error::Malformed {
        file: file.to_path_buf(),
        line,
        message,
    }
}

/// Formats a float with the crate's fixed 3 decimals (docs/metrics.md).
pub fn f3(x: f64) -> String {
    let mut s = String::new();
    push_f3(&mut s, x);
    s
}

/// Appends `x` with 3 decimals to `out`, as [`f3`].
fn push_f3(out: &mut String, x: f64) {
    let start = out.len();
    write!(out, "{x:.3}").ok();
    // -0.000 would differ from 0.000 for the same value
    if &out[start..] == "-0.000" {
        out.remove(start);
    }
}

/// Like [`f3`], empty for an unknown value.
pub fn opt_f3(x: Option<f64>) -> String {
    x.map(f3).unwrap_or_default()
}

/// Writes `rows` (already formatted fields) under `header` to `path`, quoting as CSV needs.
pub fn write_csv(path: &Path, header: &[&str], rows: &[Vec<String>]) -> Result<()> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let werr = |e: csv::Error| Error::Invalid(format!("{}: {e}", path.display()));
    w.write_record(header).map_err(werr)?;
    for r in rows {
        w.write_record(r).map_err(werr)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
}

/// A row type of a CSV file the executors write (docs/metrics.md). The file's columns are the
/// reader's: [`Record::COLUMNS`] then [`Record::OPTIONAL_COLUMNS`], written in that order, so the
/// writer (`sim`) and the reader share one definition of each file.
pub trait WriteRecord: Record {
    /// Writes the row's fields in the order of [`header`].
    fn write_fields(&self, f: &mut Fields<'_>);
}

/// Every column of `R`'s file, in the order written.
pub fn header<R: Record>() -> impl Iterator<Item = &'static str> {
    R::COLUMNS.iter().chain(R::OPTIONAL_COLUMNS).copied()
}

/// The fields of one row being written: each call appends one field, separated by commas.
/// Integers as decimal, floats with 3 decimals ([`f3`]), booleans as `0`/`1`, unknown values as
/// an empty field; text is quoted only if it holds a comma, a quote or a line break.
pub struct Fields<'a> {
    out: &'a mut String,
    first: bool,
}

impl Fields<'_> {
    fn sep(&mut self) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
    }

    pub fn empty(&mut self) {
        self.sep();
    }

    pub fn str(&mut self, v: &str) {
        self.sep();
        if v.contains([',', '"', '\n', '\r']) {
            self.out.push('"');
            self.out.push_str(&v.replace('"', "\"\""));
            self.out.push('"');
        } else {
            self.out.push_str(v);
        }
    }

    pub fn opt_str(&mut self, v: Option<&str>) {
        match v {
            Some(v) => self.str(v),
            None => self.empty(),
        }
    }

    pub fn u64(&mut self, v: u64) {
        self.sep();
        write!(self.out, "{v}").ok();
    }

    pub fn opt_u64(&mut self, v: Option<u64>) {
        match v {
            Some(v) => self.u64(v),
            None => self.empty(),
        }
    }

    /// A float with 3 decimals.
    pub fn f3(&mut self, v: f64) {
        self.sep();
        push_f3(self.out, v);
    }

    pub fn opt_f3(&mut self, v: Option<f64>) {
        match v {
            Some(v) => self.f3(v),
            None => self.empty(),
        }
    }

    /// A float in its shortest exact form: an integral value has no decimals (`1234`).
    pub fn num(&mut self, v: f64) {
        self.sep();
        write!(self.out, "{v}").ok();
    }

    pub fn bool(&mut self, v: bool) {
        self.sep();
        self.out.push(if v { '1' } else { '0' });
    }

    pub fn opt_bool(&mut self, v: Option<bool>) {
        match v {
            Some(v) => self.bool(v),
            None => self.empty(),
        }
    }
}

/// The header line of `R`'s file, without the line break.
pub fn header_line<R: Record>() -> String {
    header::<R>().collect::<Vec<_>>().join(",")
}

/// Appends `row` as one line (with its line break) to `out`.
pub fn push_record<R: WriteRecord>(out: &mut String, row: &R) {
    row.write_fields(&mut Fields { out, first: true });
    out.push('\n');
}

/// Writes `R`'s header, then `rows`, to `w`.
pub fn write_records<R: WriteRecord, W: std::io::Write>(
    mut w: W,
    rows: impl IntoIterator<Item = R>,
) -> std::io::Result<()> {
    let mut line = header_line::<R>();
    line.push('\n');
    w.write_all(line.as_bytes())?;
    for row in rows {
        line.clear();
        push_record(&mut line, &row);
        w.write_all(line.as_bytes())?;
    }
    w.flush()
}
