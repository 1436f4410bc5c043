//! An SMTP server for tests: aiosmtpd, keeping what it receives.

use std::time::{Duration, Instant};

use super::free_port;

/// An SMTP server (aiosmtpd, run by the Python in [`SMTPD_ENV`]) on a free
/// port of 127.0.0.1, keeping each message it receives in a maildir;
/// stopped when dropped.
pub struct Smtpd {
    child: std::process::Child,
    /// The port it listens on.
    pub port: u16,
    maildir: std::path::PathBuf,
}

impl Smtpd {
    /// Starts it with `python`, keeping messages under `dir`; waits until
    /// it listens.
    pub fn start(python: &str, dir: &std::path::Path) -> Smtpd {
        let port = free_port();
        let maildir = dir.join("maildir");
        let child = std::process::Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .spawn()
            .expect("aiosmtpd starts");
        let mut smtpd = Smtpd {
            child,
            port,
            maildir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline || smtpd.child.try_wait().ok().flatten().is_some() {
                panic!("aiosmtpd did not listen on 127.0.0.1:{port} within 20 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        smtpd
    }

    /// Every message received so far, oldest first, as read: header lines
    /// unfolded, a quoted-printable body decoded, `\n` line ends.
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<_> = std::fs::read_dir(self.maildir.join("new"))
            .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect())
            .unwrap_or_default();
        files.sort_by_key(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok());
        files
            .iter()
            .map(|f| readable(&std::fs::read_to_string(f).expect("a message is text")))
            .collect()
    }
}

/// A message as a person reads it.
fn readable(raw: &str) -> String {
    let raw = raw.replace("\r\n", "\n");
    let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
    let head = head.replace("\n ", " ").replace("\n\t", " ");
    let body = if head
        .to_ascii_lowercase()
        .contains("content-transfer-encoding: quoted-printable")
    {
        quoted_printable(body)
    } else {
        body.to_string()
    };
    format!("{head}\n\n{body}")
}

/// Decodes quoted-printable text (RFC 2045): `=` at a line end joins the
/// lines, `=XX` is the byte XX.
fn quoted_printable(text: &str) -> String {
    let joined = text.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
