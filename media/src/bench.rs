//! The thumbnail benchmark: Folio against `vipsthumbnail` (libvips) and Pillow over a
//! corpus of JPEG/PNG files (Debian's `plasma-workspace-wallpapers`, files ≤ 5 MiB).
//!
//! CPU time is user + system seconds from `getrusage`:
//! * Folio in a child process ([`FolioMode::Child`], the normal way: the child runs
//!   [`thumbnail_corpus_child`]): that child's own rusage from `wait4`, which also gives its
//!   peak RSS (`ru_maxrss`). In-process ([`FolioMode::InProcess`]): `RUSAGE_SELF` deltas
//!   around a single-threaded loop; peak RSS is then the whole process's high-water mark.
//! * `vipsthumbnail -s 300x300 -o …[Q=85]` once per image, and Pillow
//!   (`Image.thumbnail((300, 300))` + `save(quality=85)`) in one `python3` process for the
//!   whole corpus: each child's rusage from `wait4` (the same figures `RUSAGE_CHILDREN`
//!   deltas give, per child). Every tool reads the files and writes its thumbnails.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::{ImageKind, ThumbnailSpec, jpeg_backend, make_thumbnail, sniff_image};

/// Files larger than this are left out of the corpus.
pub const MAX_FILE_BYTES: u64 = 5 * 1024 * 1024;
pub const DEFAULT_CORPUS: &str = "/usr/share/wallpapers";

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("corpus {path} not found or empty: install it with `apt-get install plasma-workspace-wallpapers`")]
    MissingCorpus { path: PathBuf },
    #[error("vipsthumbnail not found: install it with `apt-get install libvips-tools`")]
    MissingVips,
    #[error("Pillow not found for python3: install it with `pip install pillow`")]
    MissingPillow,
    #[error("{tool} failed ({status}): {stderr}")]
    ToolFailed {
        tool: String,
        status: String,
        stderr: String,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BenchError {
    let context = context.into();
    move |source| BenchError::Io { context, source }
}

/// CPU and memory figures of one tool over the whole corpus.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolRun {
    /// User + system CPU seconds.
    pub cpu_seconds: f64,
    pub wall_seconds: f64,
    /// Peak resident set size in KiB (the largest of the tool's processes).
    pub peak_rss_kib: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorpusReport {
    pub images: usize,
    pub jpegs: usize,
    pub pngs: usize,
    pub input_bytes: u64,
    pub folio: ToolRun,
    /// How Folio was measured: `child` or `in-process`.
    pub folio_mode: String,
    /// The JPEG backend Folio ran with ([`crate::jpeg_backend`] in the measured process):
    /// `libjpeg-turbo (scaled decode)` or `image/zune-jpeg`.
    pub backend: String,
    /// Files Folio could not thumbnail (path and reason); expected empty.
    pub folio_failures: Vec<String>,
    /// `vipsthumbnail` run once per image.
    pub vips: ToolRun,
    /// `vipsthumbnail` run once over all images (no per-process start-up cost).
    pub vips_batch: ToolRun,
    pub pillow: ToolRun,
}

impl CorpusReport {
    /// Folio CPU / vipsthumbnail CPU (goal ≤ 0.8).
    pub fn ratio_vips(&self) -> f64 {
        self.folio.cpu_seconds / self.vips.cpu_seconds
    }
    /// Folio CPU / Pillow CPU (goal ≤ 0.5).
    pub fn ratio_pillow(&self) -> f64 {
        self.folio.cpu_seconds / self.pillow.cpu_seconds
    }
    pub fn ratio_vips_batch(&self) -> f64 {
        self.folio.cpu_seconds / self.vips_batch.cpu_seconds
    }
}

/// How to measure Folio.
#[derive(Debug)]
pub enum FolioMode {
    /// Run in this process (single thread) with `RUSAGE_SELF` deltas.
    InProcess,
    /// Run this command, which must end up calling [`thumbnail_corpus_child`] with the
    /// corpus dir and output dir appended as the last two arguments (e.g.
    /// `folio bench thumbnails --child`).
    Child(Command),
}

/// Every JPEG/PNG (by content) of at most [`MAX_FILE_BYTES`] under `corpus`, sorted.
pub fn find_corpus(corpus: &Path) -> Result<Vec<(PathBuf, ImageKind, u64)>, BenchError> {
    if !corpus.is_dir() {
        return Err(BenchError::MissingCorpus {
            path: corpus.to_path_buf(),
        });
    }
    let mut found = Vec::new();
    let mut stack = vec![corpus.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(io(format!("reading {}", dir.display())))?;
        for entry in entries {
            let entry = entry.map_err(io(format!("reading {}", dir.display())))?;
            let path = entry.path();
            // Follow symlinks (the wallpaper package links some files).
            let meta = match std::fs::metadata(&path) {
                Ok(m) => m,
                Err(_) => continue,
            };
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() && meta.len() > 0 && meta.len() <= MAX_FILE_BYTES {
                let mut head = [0u8; 16];
                let n = std::fs::File::open(&path)
                    .and_then(|mut f| f.read(&mut head))
                    .map_err(io(format!("reading {}", path.display())))?;
                if let Some(kind @ (ImageKind::Jpeg | ImageKind::Png)) = sniff_image(&head[..n]) {
                    found.push((path, kind, meta.len()))
                }
            }
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found.dedup_by(|a, b| a.0 == b.0);
    if found.is_empty() {
        return Err(BenchError::MissingCorpus {
            path: corpus.to_path_buf(),
        });
    }
    Ok(found)
}

/// Fails with the package to install when `vipsthumbnail` or Pillow is missing.
pub fn check_reference_tools() -> Result<(), BenchError> {
    let vips = Command::new("vipsthumbnail")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !matches!(vips, Ok(s) if s.success()) {
        return Err(BenchError::MissingVips);
    }
    let pillow = Command::new("python3")
        .args(["-c", "import PIL.Image"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !matches!(pillow, Ok(s) if s.success()) {
        return Err(BenchError::MissingPillow);
    }
    Ok(())
}

fn rusage(who: libc::c_int) -> libc::rusage {
    // SAFETY: getrusage only writes into the zeroed struct we own.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut ru);
        ru
    }
}

fn cpu_of(ru: &libc::rusage) -> f64 {
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Runs one measured tool process: its CPU, wall time and peak RSS, and its stdout.
fn run_tool(cmd: Command, tool: &str) -> Result<(ToolRun, String), BenchError> {
    let started = Instant::now();
    let (ru, stdout) = run_measured(cmd, tool)?;
    let run = ToolRun {
        cpu_seconds: cpu_of(&ru),
        wall_seconds: started.elapsed().as_secs_f64(),
        peak_rss_kib: ru.ru_maxrss as u64,
    };
    Ok((run, stdout))
}

/// Runs a command to its end and returns its own rusage (via `wait4`) and stdout.
fn run_measured(mut cmd: Command, tool: &str) -> Result<(libc::rusage, String), BenchError> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io(format!("starting {tool}")))?;
    let mut stdout = String::new();
    let mut stderr = String::new();
    // Outputs are small; read stderr on a thread so neither pipe can fill up and block.
    let err_pipe = child.stderr.take();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut e) = err_pipe {
            let _ = e.read_to_string(&mut s);
        }
        s
    });
    if let Some(mut out) = child.stdout.take() {
        out.read_to_string(&mut stdout)
            .map_err(io(format!("reading {tool} output")))?;
    }
    if let Ok(s) = err_reader.join() {
        stderr = s;
    }
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: we reap our own child exactly once (std's Child is never waited on).
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        let r = libc::wait4(pid, &mut status, 0, &mut ru);
        if r != pid {
            return Err(BenchError::Io {
                context: format!("waiting for {tool}"),
                source: std::io::Error::last_os_error(),
            });
        }
        ru
    };
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    if !ok {
        return Err(BenchError::ToolFailed {
            tool: tool.to_owned(),
            status: format!("wait status {status}"),
            stderr: stderr.chars().take(2000).collect(),
        });
    }
    Ok((ru, stdout))
}

/// Summary a Folio child prints as the last line of its stdout.
#[derive(Debug, Serialize, Deserialize)]
pub struct ChildSummary {
    pub images: usize,
    pub failures: Vec<String>,
    /// The child's [`crate::jpeg_backend`] (absent from children built before it existed).
    #[serde(default)]
    pub backend: Option<String>,
}

/// The spec a node thumbnails with by default (the system's libjpeg-turbo allowed).
fn node_spec() -> ThumbnailSpec {
    ThumbnailSpec {
        system_libjpeg_turbo: true,
        ..ThumbnailSpec::default()
    }
}

/// Thumbnails every file single-threaded, writing `<out>/<index>_thumb.jpg`. Returns the
/// failures (path: reason).
pub fn thumbnail_files(files: &[PathBuf], out: &Path) -> Result<Vec<String>, BenchError> {
    std::fs::create_dir_all(out).map_err(io(format!("creating {}", out.display())))?;
    let spec = node_spec();
    let mut failures = Vec::new();
    for (i, path) in files.iter().enumerate() {
        let bytes = std::fs::read(path).map_err(io(format!("reading {}", path.display())))?;
        match make_thumbnail(&bytes, &spec) {
            Ok(t) => std::fs::write(out.join(format!("{i}_thumb.jpg")), &t.jpeg).map_err(io("writing thumbnail"))?,
            Err(e) => failures.push(format!("{}: {e}", path.display())),
        }
    }
    Ok(failures)
}

/// The child side of [`FolioMode::Child`]: thumbnails the corpus and prints a
/// [`ChildSummary`] as one JSON line on stdout.
pub fn thumbnail_corpus_child(corpus: &Path, out: &Path) -> Result<ChildSummary, BenchError> {
    let files: Vec<PathBuf> = find_corpus(corpus)?.into_iter().map(|f| f.0).collect();
    let failures = thumbnail_files(&files, out)?;
    let summary = ChildSummary {
        images: files.len(),
        failures,
        backend: Some(jpeg_backend(&node_spec()).to_owned()),
    };
    println!(
        "{}",
        serde_json::to_string(&summary).unwrap_or_else(|_| "{}".to_owned())
    );
    Ok(summary)
}

const PILLOW_SCRIPT: &str = r#"
import os, sys
from PIL import Image
out = sys.argv[1]
for i, path in enumerate(sys.argv[2:]):
    with Image.open(path) as im:
        im.thumbnail((300, 300))
        if im.mode != "RGB":
            im = im.convert("RGB")
        im.save(os.path.join(out, "%d_thumb.jpg" % i), quality=85)
"#;

/// `vipsthumbnail` making Folio's rendition set (every longest edge of
/// [`crate::RENDITION_EDGES`], in WebP at [`crate::WEBP_QUALITY`] and JPEG at `quality`)
/// for all `files`: one process per size and format, one worker thread each (as the
/// batch run above). Returns the CPU per format: (WebP, JPEG).
pub fn run_vips_renditions(files: &[PathBuf], out: &Path, quality: u8) -> Result<(ToolRun, ToolRun), BenchError> {
    let mut webp = ToolRun::default();
    let mut jpeg = ToolRun::default();
    for edge in crate::RENDITION_EDGES {
        for (format, run) in [("webp", &mut webp), ("jpg", &mut jpeg)] {
            let q = if format == "webp" {
                crate::WEBP_QUALITY as u8
            } else {
                quality
            };
            eprintln!("[bench] vipsthumbnail -s {edge} → {format} …");
            let mut cmd = Command::new("vipsthumbnail");
            cmd.args(["-s", &edge.to_string(), "-o"])
                .arg(format!("{}/%s_{edge}.{format}[Q={q},strip]", out.display()))
                .args(files)
                .env("VIPS_CONCURRENCY", "1");
            let (done, _) = run_tool(cmd, "vipsthumbnail (renditions)")?;
            run.cpu_seconds += done.cpu_seconds;
            run.wall_seconds += done.wall_seconds;
            run.peak_rss_kib = run.peak_rss_kib.max(done.peak_rss_kib);
        }
    }
    Ok((webp, jpeg))
}

/// Folio's rendition set over `files` in this process, one image at a time: the CPU
/// spent decoding and resizing, encoding WebP and encoding JPEG.
pub fn folio_renditions(files: &[PathBuf], spec: &crate::ThumbnailSpec) -> Result<crate::RenditionTimings, BenchError> {
    let mut total = crate::RenditionTimings::default();
    for file in files {
        let bytes = std::fs::read(file).map_err(io(format!("reading {}", file.display())))?;
        // A file Folio refuses (as vips may too) is left out of both sides' work alike.
        if let Ok((_, timings)) = crate::make_renditions_timed(&bytes, spec) {
            total.decode_and_resize += timings.decode_and_resize;
            total.webp += timings.webp;
            total.jpeg += timings.jpeg;
        }
    }
    Ok(total)
}

/// `vipsthumbnail` over `files`: once per image (into `per_image_out`), then one process
/// for all of them with one worker thread (into `batch_out`).
pub fn run_vips(files: &[PathBuf], per_image_out: &Path, batch_out: &Path) -> Result<(ToolRun, ToolRun), BenchError> {
    // vipsthumbnail, one process per image.
    eprintln!("[bench] vipsthumbnail per image …");
    let mut vips = ToolRun::default();
    let t = Instant::now();
    for (i, f) in files.iter().enumerate() {
        let mut cmd = Command::new("vipsthumbnail");
        cmd.args(["-s", "300x300", "-o"])
            .arg(format!("{}/{i}_%s_thumb.jpg[Q=85]", per_image_out.display()))
            .arg(f);
        let (ru, _) = run_measured(cmd, "vipsthumbnail")?;
        vips.cpu_seconds += cpu_of(&ru);
        vips.peak_rss_kib = vips.peak_rss_kib.max(ru.ru_maxrss as u64);
    }
    vips.wall_seconds = t.elapsed().as_secs_f64();
    eprintln!("[bench] vipsthumbnail: {:.3} s CPU", vips.cpu_seconds);

    // vipsthumbnail, one process for everything.
    eprintln!("[bench] vipsthumbnail batch …");
    let mut cmd = Command::new("vipsthumbnail");
    cmd.args(["-s", "300x300", "-o"])
        .arg(format!("{}/%s_thumb.jpg[Q=85]", batch_out.display()))
        .args(files)
        // one worker thread, like Folio's single-threaded run
        .env("VIPS_CONCURRENCY", "1");
    let (vips_batch, _) = run_tool(cmd, "vipsthumbnail (batch)")?;
    eprintln!("[bench] vipsthumbnail batch: {:.3} s CPU", vips_batch.cpu_seconds);

    Ok((vips, vips_batch))
}

/// Runs the whole benchmark. `out` receives one folder per tool with its thumbnails.
pub fn run_corpus(corpus: &Path, out: &Path, folio: FolioMode) -> Result<CorpusReport, BenchError> {
    check_reference_tools()?;
    let found = find_corpus(corpus)?;
    let files: Vec<PathBuf> = found.iter().map(|f| f.0.clone()).collect();
    let jpegs = found.iter().filter(|f| f.1 == ImageKind::Jpeg).count();
    let input_bytes = found.iter().map(|f| f.2).sum();
    eprintln!(
        "[bench] {} images ({} JPEG, {} PNG, {:.1} MiB) under {}",
        files.len(),
        jpegs,
        files.len() - jpegs,
        input_bytes as f64 / 1048576.0,
        corpus.display()
    );
    let dirs = ["folio", "vips", "vips-batch", "pillow"].map(|d| out.join(d));
    for d in &dirs {
        std::fs::create_dir_all(d).map_err(io(format!("creating {}", d.display())))?;
    }

    // Folio
    eprintln!("[bench] folio …");
    let (folio_run, folio_failures, folio_mode, backend) = match folio {
        FolioMode::InProcess => {
            let before = rusage(libc::RUSAGE_SELF);
            let t = Instant::now();
            let failures = thumbnail_files(&files, &dirs[0])?;
            let wall = t.elapsed().as_secs_f64();
            let after = rusage(libc::RUSAGE_SELF);
            let run = ToolRun {
                cpu_seconds: cpu_of(&after) - cpu_of(&before),
                wall_seconds: wall,
                peak_rss_kib: after.ru_maxrss as u64,
            };
            (run, failures, "in-process", jpeg_backend(&node_spec()).to_owned())
        }
        FolioMode::Child(mut cmd) => {
            cmd.arg(corpus).arg(&dirs[0]);
            let (run, stdout) = run_tool(cmd, "folio child")?;
            let summary: ChildSummary = stdout
                .lines()
                .rev()
                .find_map(|l| serde_json::from_str(l).ok())
                .ok_or_else(|| BenchError::ToolFailed {
                    tool: "folio child".into(),
                    status: "no summary line".into(),
                    stderr: stdout.chars().take(2000).collect(),
                })?;
            if summary.images != files.len() {
                return Err(BenchError::ToolFailed {
                    tool: "folio child".into(),
                    status: format!("saw {} images, expected {}", summary.images, files.len()),
                    stderr: String::new(),
                });
            }
            let backend = summary.backend.unwrap_or_else(|| "unknown".to_owned());
            (run, summary.failures, "child", backend)
        }
    };
    eprintln!("[bench] folio ({backend}): {:.3} s CPU", folio_run.cpu_seconds);

    let (vips, vips_batch) = run_vips(&files, &dirs[1], &dirs[2])?;

    // Pillow, one process for everything.
    eprintln!("[bench] pillow …");
    let mut cmd = Command::new("python3");
    cmd.args(["-c", PILLOW_SCRIPT]).arg(&dirs[3]).args(&files);
    let (pillow, _) = run_tool(cmd, "pillow")?;
    eprintln!("[bench] pillow: {:.3} s CPU", pillow.cpu_seconds);

    Ok(CorpusReport {
        images: files.len(),
        jpegs,
        pngs: files.len() - jpegs,
        input_bytes,
        folio: folio_run,
        folio_mode: folio_mode.to_owned(),
        backend,
        folio_failures,
        vips,
        vips_batch,
        pillow,
    })
}
