//! Calibrating the cost model against the deployment it is compared with. ffmpeg's CPU per
//! job depends on the host and on the CPU limit it runs under (throttled, it costs more than on
//! an idle machine), so before `sim validate` predicts a compose run it measures: the clips are
//! probed and transcoded in containers of the nodes' image and CPU limits, one per node and all
//! at once (as in a run), and the CPU each container used, read from its own cgroup counter,
//! scales the scenario's ffmpeg curve and sets its probe cost.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::process::Command;
use vidmesh_node::catalog::Clip;

use vidmesh_sim::scenario::CostModel;

/// What the containers used, per clip, next to what the scenario's curve charges.
#[derive(Clone, Debug, PartialEq)]
pub struct Calibration {
    pub containers: usize,
    pub clips: usize,
    /// Mean CPU-s of one ffprobe run as the node runs it.
    pub probe_cpu_s: f64,
    /// Mean CPU-s of one transcode with the node's ffmpeg arguments.
    pub ffmpeg_cpu_s: f64,
    /// Mean CPU-s the scenario's curve charges for the same clips (no noise).
    pub model_cpu_s: f64,
}

const CSV_HEADER: &str = "containers,clips,probe_cpu_s,ffmpeg_cpu_s,model_cpu_s,factor";

impl Calibration {
    /// How much more (or less) ffmpeg costs here than the scenario's curve says.
    pub fn factor(&self) -> f64 {
        self.ffmpeg_cpu_s / self.model_cpu_s
    }

    /// The curve scaled by the measured factor, and the measured probe cost (the live node
    /// probes every uncached client upload).
    pub fn apply(&self, cost: &mut CostModel) {
        let f = self.factor();
        cost.base_s *= f;
        cost.per_mpf_s *= f;
        cost.per_frame_s *= f;
        cost.per_out_mpf_s *= f;
        cost.probe_s = self.probe_cpu_s;
    }

    pub fn to_csv(&self) -> String {
        format!(
            "{CSV_HEADER}\n{},{},{:.4},{:.4},{:.4},{:.4}\n",
            self.containers,
            self.clips,
            self.probe_cpu_s,
            self.ffmpeg_cpu_s,
            self.model_cpu_s,
            self.factor()
        )
    }

    pub fn read(path: &Path) -> Result<Calibration> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut lines = text.lines();
        if lines.next().map(str::trim) != Some(CSV_HEADER) {
            bail!("{}: the first line must be `{CSV_HEADER}`", path.display());
        }
        let row = lines
            .next()
            .with_context(|| format!("{}: no row after the header", path.display()))?;
        let f: Vec<&str> = row.split(',').map(str::trim).collect();
        if f.len() != 6 {
            bail!(
                "{} line 2: expected 6 fields, found {}",
                path.display(),
                f.len()
            );
        }
        let num = |i: usize, what: &str| -> Result<f64> {
            f[i].parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .with_context(|| {
                    format!(
                        "{} line 2: {what} `{}` is not a number ≥ 0",
                        path.display(),
                        f[i]
                    )
                })
        };
        let c = Calibration {
            containers: num(0, "containers")? as usize,
            clips: num(1, "clips")? as usize,
            probe_cpu_s: num(2, "probe_cpu_s")?,
            ffmpeg_cpu_s: num(3, "ffmpeg_cpu_s")?,
            model_cpu_s: num(4, "model_cpu_s")?,
        };
        if c.model_cpu_s <= 0.0 || c.ffmpeg_cpu_s <= 0.0 {
            bail!("{} line 2: CPU times must be > 0", path.display());
        }
        Ok(c)
    }
}

/// Mean CPU-s the curve of `cost` charges for one of `clips` (no noise).
pub fn model_cpu_s(cost: &CostModel, clips: &[Clip]) -> f64 {
    clips
        .iter()
        .map(|c| cost.cpu_s(c.width, c.height, c.frames))
        .sum::<f64>()
        / clips.len().max(1) as f64
}

/// Quotes one word for `sh`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The script one container runs: the container's CPU counter (cgroup v2 or v1), every clip
/// probed one after another, the counter, every clip transcoded `lanes` at a time, the counter.
fn script(names: &[String], ffmpeg_args: &str, lanes: usize) -> String {
    let mut s = String::from(
        "set -u\n\
         cpu() { if [ -r /sys/fs/cgroup/cpu.stat ]; then \
         while read k v; do if [ \"$k\" = usage_usec ]; then echo $((v * 1000)); fi; done < /sys/fs/cgroup/cpu.stat; \
         elif [ -r /sys/fs/cgroup/cpuacct/cpuacct.usage ]; then cat /sys/fs/cgroup/cpuacct/cpuacct.usage; \
         elif [ -r /sys/fs/cgroup/cpu,cpuacct/cpuacct.usage ]; then cat /sys/fs/cgroup/cpu,cpuacct/cpuacct.usage; \
         else echo none; fi; }\n\
         echo \"start $(cpu)\"\n",
    );
    let probe: Vec<String> = vidmesh_node::probe::PROBE_ARGS
        .iter()
        .map(|a| sh_quote(a))
        .collect();
    for n in names {
        s.push_str(&format!(
            "ffprobe {} {} > /dev/null || exit 3\n",
            probe.join(" "),
            sh_quote(&format!("/clips/{n}"))
        ));
    }
    s.push_str("echo \"probed $(cpu)\"\n");
    let lanes = lanes.clamp(1, names.len().max(1));
    for lane in 0..lanes {
        s.push_str("( ");
        for (i, n) in names.iter().enumerate().skip(lane).step_by(lanes) {
            let words: Vec<String> = ffmpeg_args
                .split_whitespace()
                .map(|w| match w {
                    "{in}" => sh_quote(&format!("/clips/{n}")),
                    "{out}" => sh_quote(&format!("/tmp/out{i}.mp4")),
                    w => sh_quote(w),
                })
                .collect();
            s.push_str(&format!("ffmpeg {} || exit 4; ", words.join(" ")));
        }
        s.push_str(&format!(") &\np{lane}=$!\n"));
    }
    // Any lane failing fails the script.
    s.push_str("ok=0\n");
    for lane in 0..lanes {
        s.push_str(&format!("wait $p{lane} || ok=1\n"));
    }
    s.push_str("[ $ok -eq 0 ] || exit 4\necho \"transcoded $(cpu)\"\n");
    s
}

/// Reads `start`, `probed` and `transcoded` counters (ns) from a container's output.
fn parse_counters(out: &str) -> Result<(u64, u64, u64)> {
    let get = |key: &str| -> Result<u64> {
        let v = out
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
            .with_context(|| format!("no `{key}` line in the calibration output"))?;
        if v.trim() == "none" {
            bail!(
                "the container cannot read its CPU counter (no cgroup cpu.stat or cpuacct.usage)"
            );
        }
        v.trim()
            .parse()
            .with_context(|| format!("`{key} {v}` is not a CPU counter"))
    };
    Ok((get("start")?, get("probed")?, get("transcoded")?))
}

/// Runs one container per entry of `cores` (its CPU limit), all at once, each probing and
/// transcoding every clip of `clips_dir`.
pub fn measure(
    image: &str,
    project: &str,
    clips_dir: &Path,
    clips: &[Clip],
    cores: &[f64],
    lanes: usize,
    cost: &CostModel,
) -> Result<Calibration> {
    if clips.is_empty() || cores.is_empty() {
        bail!("calibration needs at least one clip and one node");
    }
    let names: Vec<String> = clips
        .iter()
        .map(|c| {
            c.path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .with_context(|| format!("clip {} has no file name", c.path.display()))
        })
        .collect::<Result<_>>()?;
    let dir = std::fs::canonicalize(clips_dir)
        .with_context(|| format!("clips directory {}", clips_dir.display()))?;
    let body = script(&names, vidmesh_node::ffmpeg::DEFAULT_ARGS, lanes);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let counters = rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for (i, &c) in cores.iter().enumerate() {
            let name = format!("{project}-calibrate-{}", i + 1);
            let mut cmd = Command::new("docker");
            cmd.args(["run", "--rm", "--network", "none", "--name", &name])
                .arg(format!("--cpus={c}"))
                .arg("-v")
                .arg(format!("{}:/clips:ro", dir.display()))
                .args(["--entrypoint", "sh", image, "-c", &body])
                .stdin(Stdio::null())
                .kill_on_drop(true);
            set.spawn(async move {
                let run = tokio::time::timeout(Duration::from_secs(600), cmd.output()).await;
                let res = match run {
                    Err(_) => Err(anyhow::anyhow!("{name}: calibration took over 10 minutes")),
                    Ok(Err(e)) => Err(anyhow::anyhow!("{name}: running docker: {e}")),
                    Ok(Ok(o)) if !o.status.success() => Err(anyhow::anyhow!(
                        "{name}: calibration container failed ({}): {}",
                        o.status,
                        String::from_utf8_lossy(&o.stderr).trim()
                    )),
                    Ok(Ok(o)) => parse_counters(&String::from_utf8_lossy(&o.stdout))
                        .with_context(|| name.clone()),
                };
                if res.is_err() {
                    let _ = Command::new("docker")
                        .args(["rm", "-f", &name])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                        .await;
                }
                res
            });
        }
        let mut all = Vec::new();
        while let Some(r) = set.join_next().await {
            all.push(r.context("calibration task")??);
        }
        Ok::<_, anyhow::Error>(all)
    })?;
    // Mean CPU-s per clip of one phase, over the containers.
    let per_clip = |phase: fn(&(u64, u64, u64)) -> u64| {
        counters.iter().map(|c| phase(c) as f64 / 1e9).sum::<f64>()
            / counters.len() as f64
            / clips.len() as f64
    };
    let probe = per_clip(|&(start, probed, _)| probed.saturating_sub(start));
    let ffmpeg = per_clip(|&(_, probed, done)| done.saturating_sub(probed));
    let model = model_cpu_s(cost, clips);
    if ffmpeg <= 0.0 || model <= 0.0 {
        bail!("calibration measured no ffmpeg CPU ({ffmpeg} CPU-s per clip; model {model})");
    }
    Ok(Calibration {
        containers: counters.len(),
        clips: clips.len(),
        probe_cpu_s: probe,
        ffmpeg_cpu_s: ffmpeg,
        model_cpu_s: model,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost() -> CostModel {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docker/validation.toml");
        vidmesh_sim::Scenario::load(Path::new(path)).unwrap().cost
    }

    #[test]
    fn apply_scales_the_curve_and_sets_the_probe_cost() {
        let mut c = cost();
        let before = c.cpu_s(1920, 1080, 120);
        let cal = Calibration {
            containers: 5,
            clips: 12,
            probe_cpu_s: 0.09,
            ffmpeg_cpu_s: 0.62,
            model_cpu_s: 0.44,
        };
        cal.apply(&mut c);
        let after = c.cpu_s(1920, 1080, 120);
        assert!(
            (after / before - 0.62 / 0.44).abs() < 1e-9,
            "{before} → {after}"
        );
        assert_eq!(c.probe_s, 0.09);
        let path = std::env::temp_dir().join(format!("vidmesh-cal-{}.csv", std::process::id()));
        std::fs::write(&path, cal.to_csv()).unwrap();
        let back = Calibration::read(&path).unwrap();
        assert!((back.factor() - cal.factor()).abs() < 1e-3);
        std::fs::write(&path, "containers,clips\n1,2\n").unwrap();
        let e = Calibration::read(&path).unwrap_err().to_string();
        assert!(e.contains("first line must be"), "{e}");
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn the_script_probes_then_transcodes_every_clip_once() {
        let names: Vec<String> = (1..=5).map(|i| format!("c{i}.mp4")).collect();
        let s = script(&names, "-i {in} -c:v libx264 {out}", 2);
        assert_eq!(s.matches("ffprobe ").count(), 5);
        assert_eq!(s.matches("ffmpeg '-i'").count(), 5);
        for n in &names {
            assert!(s.contains(&format!("'/clips/{n}'")), "{n}: {s}");
        }
        assert!(s.find("probed").unwrap() < s.find("ffmpeg '-i'").unwrap());
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(
            parse_counters("start 10\nprobed 1000000010\ntranscoded 3000000010\n").unwrap(),
            (10, 1_000_000_010, 3_000_000_010)
        );
        let e = parse_counters("start none\n").unwrap_err().to_string();
        assert!(e.contains("cannot read its CPU counter"), "{e}");
    }
}
