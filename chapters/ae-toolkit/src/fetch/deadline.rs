//! Nothing waits for ever: the time limits of downloads and of the external commands a source
//! runs, and running a command under one.

use super::*;

/// How long fetching waits before giving up on a source. Without these, a mirror that accepts
/// the connection and then says nothing would hang `cargo xtask fetch-data` for ever.
///
/// ```
/// use std::time::Duration;
/// use ae_toolkit::fetch::Timeouts;
/// let t = Timeouts::default();
/// assert_eq!((t.connect, t.stall), (Duration::from_secs(30), Duration::from_secs(60)));
/// assert!(t.download >= Duration::from_secs(600) && t.command >= Duration::from_secs(300));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Resolving an HTTP mirror's name and connecting to it.
    pub connect: Duration,
    /// Silence from an HTTP mirror: no byte arriving for this long (a stalled mirror).
    pub stall: Duration,
    /// One whole HTTP download (the largest file is 30 MB compressed).
    pub download: Duration,
    /// One external command: `npm pack`, `apt-get download`, `dpkg-deb -x`; killed after it.
    pub command: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(30),
            stall: Duration::from_secs(60),
            download: Duration::from_secs(15 * 60),
            command: Duration::from_secs(10 * 60),
        }
    }
}

/// A duration as people read it in an error message: "60 s", "250 ms".
pub(super) fn human(d: Duration) -> String {
    if d >= Duration::from_secs(1) && d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else if d >= Duration::from_secs(1) {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// Runs `command` (described as `what` in errors), killing it if it is not done within `limit`.
/// A program that is not installed gets its own message.
pub(super) fn run_with_deadline(
    command: &mut Command,
    what: &str,
    limit: Duration,
) -> anyhow::Result<Output> {
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => anyhow!("{program} is not installed (not on PATH)"),
            _ => anyhow!("cannot run {program}: {e}"),
        })?;
    // The pipes are drained while waiting, so a chatty command cannot block on a full pipe.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            if let Some(mut pipe) = pipe {
                // A read error only loses the command's own messages; the exit status decides.
                let _ = pipe.read_to_end(&mut out);
            }
            out
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let Some(status) = child.wait_timeout(limit)? else {
        // Not joined: a grandchild may still hold the pipes open.
        let _ = child.kill();
        let _ = child.wait();
        bail!(
            "`{what}` did not finish within {} and was killed",
            human(limit)
        );
    };
    let output = Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    if !status.success() {
        bail!(
            "`{what}` failed ({status}): {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output)
}
