//! The HTML report in a real browser: headless Chromium renders it and takes a screenshot, and
//! the screenshot must show the page's content and its charts in their colours.
//!
//! The browser is the one `TRIBUNE_TEST_CHROMIUM` names (`.ci/run` installs Debian's
//! `chromium` and sets it; `scripts/test` defaults it to `chromium` on the `PATH`). Like the
//! PostgreSQL tests, this fails, never skips, when the variable is unset or the browser does
//! not run.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tribune_report::Format;

use crate::Fixture;

const CHROMIUM_VAR: &str = "TRIBUNE_TEST_CHROMIUM";
const WIDTH: u32 = 1280;
const HEIGHT: u32 = 2400;
/// How long a screenshot may take before the browser is taken to hang (not a timing check:
/// the test fails only when the browser never finishes).
const HANG: Duration = Duration::from_secs(180);

/// The status colours of the charts and badges (`src/svg.rs`).
const MET: [u8; 3] = [0x1a, 0x7f, 0x37];
const GAP: [u8; 3] = [0xcf, 0x22, 0x2e];
const NOT_ASSESSED: [u8; 3] = [0xbf, 0x87, 0x00];

fn chromium() -> PathBuf {
    let path = std::env::var(CHROMIUM_VAR).unwrap_or_else(|_| {
        panic!(
            "set `{CHROMIUM_VAR}` to a Chromium binary (e.g. `/usr/bin/chromium`, Debian's \
             `chromium` package) to run the report screenshot test; it never skips"
        )
    });
    PathBuf::from(path)
}

/// A screenshot of `html` at WIDTH x HEIGHT, as RGB rows.
fn screenshot(html: &str) -> Image {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    std::fs::write(&page, html).unwrap();
    let shot = dir.path().join("shot.png");
    let browser = chromium();
    let mut child = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--force-device-scale-factor=1",
            "--force-color-profile=srgb",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("--window-size={WIDTH},{HEIGHT}"))
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("`{}` does not run: {e}", browser.display()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > HANG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`{}` did not finish the screenshot", browser.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = child.wait_with_output().unwrap();
    assert!(
        status.success() && shot.exists(),
        "`{}` failed ({status}):\n{}{}",
        browser.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Image::decode(&shot)
}

struct Image {
    width: u32,
    height: u32,
    rgb: Vec<[u8; 3]>,
}

impl Image {
    fn decode(path: &Path) -> Image {
        let mut decoder = png::Decoder::new(BufReader::new(std::fs::File::open(path).unwrap()));
        decoder.set_transformations(png::Transformations::normalize_to_color8());
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let channels = match info.color_type {
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            other => panic!("unexpected screenshot colour type {other:?}"),
        };
        let rgb = buf[..info.buffer_size()]
            .chunks_exact(channels)
            .map(|p| [p[0], p[1], p[2]])
            .collect();
        Image {
            width: info.width,
            height: info.height,
            rgb,
        }
    }

    /// Pixels within 8 of `colour` in every channel.
    fn count_near(&self, colour: [u8; 3]) -> usize {
        self.rgb
            .iter()
            .filter(|p| p.iter().zip(colour).all(|(a, b)| a.abs_diff(b) <= 8))
            .count()
    }

    /// The share of pixels that are not (near) white.
    fn inked(&self) -> f64 {
        let ink = self.rgb.iter().filter(|p| p.iter().any(|&c| c < 235)).count();
        ink as f64 / self.rgb.len() as f64
    }

    fn distinct_colours(&self) -> usize {
        let mut seen: Vec<[u8; 3]> = self.rgb.clone();
        seen.sort_unstable();
        seen.dedup();
        seen.len()
    }
}

/// Whether a screenshot shows a rendered report: text and tables (enough ink, anti-aliased
/// glyphs give many colours) and the charts' three status colours over real areas.
fn shows_a_report(img: &Image) -> Result<(), String> {
    let inked = img.inked();
    if inked < 0.04 {
        return Err(format!("only {:.2}% of the page is not white", inked * 100.0));
    }
    let colours = img.distinct_colours();
    if colours < 64 {
        return Err(format!("only {colours} distinct colours"));
    }
    for (name, colour) in [("met", MET), ("gap", GAP), ("not assessed", NOT_ASSESSED)] {
        let n = img.count_near(colour);
        if n < 2_000 {
            return Err(format!("only {n} pixels of the `{name}` colour"));
        }
    }
    Ok(())
}

#[test]
fn report_html_renders_in_headless_chromium() {
    // A report with every status: the HIPAA example with a seven-day PHI rule (a gap), a
    // verified ledger (met) and the activity review nobody records (not assessed).
    let dir = tempfile::tempdir().unwrap();
    crate::edited_copy("examples/clinical-hipaa", dir.path(), |t| {
        t.replacen("keep_days = 2190        # six years", "keep_days = 7", 1)
    });
    let f = Fixture::new(dir.path(), crate::evidence_that_holds());
    let img = screenshot(&f.render(Format::Html));
    assert_eq!((img.width, img.height), (WIDTH, HEIGHT));
    if let Err(why) = shows_a_report(&img) {
        panic!("the screenshot does not show the report: {why}");
    }

    // The same judgement on a page without the report fails: the check above can fail.
    let blank = screenshot("<!DOCTYPE html><html><body></body></html>");
    assert!(shows_a_report(&blank).is_err());
    let text_only = screenshot(
        "<!DOCTYPE html><html><body><h1>Compliance assessment</h1><p>Nothing drawn.</p></body></html>",
    );
    assert!(shows_a_report(&text_only).is_err());
}
