//! Opening a URL in the user's browser for `--sign-in browser`: `$BROWSER` when set (a
//! `:`-separated list of commands; `%s` stands for the URL, else it is appended), else the
//! desktop's opener (`xdg-open` with a display on Linux and the BSDs, `open` on macOS, `start` on
//! Windows). Without any, nothing is opened and the caller prints the URL only.

use std::path::Path;
use std::process::{Command, Stdio};

use url::Url;

/// Opens `url`; the command that was started, or `None` when no browser is available here.
pub fn open(url: &Url) -> Option<String> {
    let candidates = match std::env::var("BROWSER") {
        Ok(list) if !list.trim().is_empty() => list
            .split(':')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => desktop_opener().into_iter().collect::<Vec<String>>(),
    };
    candidates.iter().find_map(|c| spawn(c, url.as_str()))
}

fn desktop_opener() -> Option<String> {
    if cfg!(target_os = "macos") {
        return Some("open".into());
    }
    if cfg!(windows) {
        return Some("cmd /c start \"\"".into());
    }
    let display = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
    (display && on_path("xdg-open")).then(|| "xdg-open".into())
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| Path::new(&dir).join(program).is_file())
    })
}

/// Starts `command` (words split on whitespace; `%s` replaced by the URL, else appended) without
/// waiting for it.
fn spawn(command: &str, url: &str) -> Option<String> {
    let mut words: Vec<String> = command.split_whitespace().map(str::to_owned).collect();
    if words.iter().any(|w| w.contains("%s")) {
        for w in &mut words {
            *w = w.replace("%s", url);
        }
    } else {
        words.push(url.to_owned());
    }
    let (program, args) = words.split_first()?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    // Reap it when it ends; the sign-in does not wait for the browser.
    std::thread::spawn(move || drop(child.wait()));
    Some(program.clone())
}
