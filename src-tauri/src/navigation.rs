//! Where the window may go: only the app's own pages. The app has no
//! address bar and no back button, so a page that is not Fieldbook's (a
//! link in a text, a URL dropped on the window, a `file:` path) would leave
//! the technician stranded with the app still running behind it. A tap on
//! the customer's phone number (`tel:`) or an e-mail address (`mailto:`)
//! goes to the system's handler (a softphone, the mail app) and the app
//! stays where it is; anything else is refused and logged.
//!
//! Many laptops have no app for `tel:` (and some none for `mailto:`): the
//! system's launcher then says so, and the page hears it
//! ([`NO_HANDLER_EVENT`]) to tell the technician what to do instead of
//! leaving the tap without an answer.

use std::io;
use std::time::Duration;

use tauri::Url;

/// Sent to the page when the system found no app for a `tel:` or `mailto:`
/// link; the payload is the scheme (`"tel"` or `"mailto"`).
pub const NO_HANDLER_EVENT: &str = "navigation://no-handler";

/// How long the system's launcher (xdg-open, …) has to say that no app
/// takes the link. One still running then is taken to have handed it over.
const LAUNCHER_VERDICT_WITHIN: Duration = Duration::from_secs(5);

/// What happens to a navigation the page asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Navigation {
    /// One of the app's own pages (or a hash route on one).
    Allow,
    /// Handed to the system's default handler; the window stays.
    HandToSystem,
    /// Refused; the window stays.
    Refuse,
}

/// Schemes the system handles for us: calling the customer, writing to
/// them. Nothing that loads content into the window.
const SYSTEM_SCHEMES: [&str; 2] = ["tel", "mailto"];

/// Decides navigations of the main window.
#[derive(Debug, Clone)]
pub struct NavigationGuard {
    /// (scheme, host, port) of the app's own pages.
    app_origins: Vec<(String, String, Option<u16>)>,
}

impl NavigationGuard {
    /// The app's pages as Tauri serves them: `tauri://localhost` (Linux,
    /// macOS) or `http(s)://tauri.localhost` (Windows); with
    /// `dev_server`, also the UI's dev server (`tauri dev` only).
    pub fn new(dev_server: Option<&Url>) -> NavigationGuard {
        let mut app_origins = vec![
            ("tauri".to_owned(), "localhost".to_owned(), None),
            ("http".to_owned(), "tauri.localhost".to_owned(), Some(80)),
            ("https".to_owned(), "tauri.localhost".to_owned(), Some(443)),
        ];
        if let Some(origin) = dev_server.and_then(origin_of) {
            app_origins.push(origin);
        }
        NavigationGuard { app_origins }
    }

    pub fn decide(&self, url: &Url) -> Navigation {
        if origin_of(url).is_some_and(|origin| self.app_origins.contains(&origin)) {
            return Navigation::Allow;
        }
        if SYSTEM_SCHEMES.contains(&url.scheme()) {
            return Navigation::HandToSystem;
        }
        Navigation::Refuse
    }

    /// The window's navigation handler: true lets the page go to `url`.
    /// `no_handler` is called (on another thread) with the scheme of a
    /// link the system had no app for.
    pub fn on_navigation(
        &self,
        url: &Url,
        no_handler: impl FnOnce(&'static str) + Send + 'static,
    ) -> bool {
        match self.decide(url) {
            Navigation::Allow => true,
            Navigation::HandToSystem => {
                let scheme = if url.scheme() == "tel" {
                    "tel"
                } else {
                    "mailto"
                };
                let url = url.to_string();
                // The launcher's verdict can take seconds: the UI thread does not wait.
                std::thread::spawn(move || {
                    hand_to_system(&url, scheme, launch_with_system, no_handler)
                });
                false
            }
            Navigation::Refuse => {
                // The scheme and host only: a URL can carry customer data.
                tracing::warn!(
                    scheme = url.scheme(),
                    host = url.host_str().unwrap_or(""),
                    "navigation away from the app refused"
                );
                false
            }
        }
    }
}

/// Hands `url` to `launch`; `no_handler(scheme)` when it found no app.
fn hand_to_system(
    url: &str,
    scheme: &'static str,
    launch: impl FnOnce(&str) -> io::Result<()>,
    no_handler: impl FnOnce(&'static str),
) {
    match launch(url) {
        Ok(()) => tracing::info!(scheme, "handed to the system"),
        Err(e) => {
            // The kind only: the launcher's message quotes the number or address.
            tracing::warn!(scheme, error = ?e.kind(), "no system handler");
            no_handler(scheme);
        }
    }
}

/// The desktop's launchers in turn (xdg-open, then gio, on Linux), each
/// watched for [`LAUNCHER_VERDICT_WITHIN`]: an error when none took it.
fn launch_with_system(url: &str) -> io::Result<()> {
    open::that_detached_with_timeout(url, LAUNCHER_VERDICT_WITHIN)
}

fn origin_of(url: &Url) -> Option<(String, String, Option<u16>)> {
    let host = url.host_str()?;
    Some((
        url.scheme().to_owned(),
        host.to_ascii_lowercase(),
        url.port_or_known_default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each URL's decision by a guard without a dev server.
    fn assert_decides(expected: Navigation, urls: &[&str]) {
        let guard = NavigationGuard::new(None);
        for url in urls {
            let decided = guard.decide(&Url::parse(url).unwrap());
            assert_eq!(decided, expected, "{url}");
        }
    }

    #[test]
    fn the_apps_own_pages_and_routes_are_allowed() {
        assert_decides(
            Navigation::Allow,
            &[
                "tauri://localhost/",
                "tauri://localhost/index.html#/installation/4f1c",
                "http://tauri.localhost/#/schedule",
                "https://tauri.localhost/",
            ],
        );
    }

    #[test]
    fn calling_or_mailing_the_customer_goes_to_the_system() {
        assert_decides(
            Navigation::HandToSystem,
            &["tel:+33612345678", "mailto:ada@example.com"],
        );
    }

    #[test]
    fn every_other_page_is_refused() {
        assert_decides(
            Navigation::Refuse,
            &[
                "https://example.com/",
                "http://localhost:5173/",
                "http://tauri.localhost.example.com/",
                "http://tauri.localhost:8080/",
                "tauri://localhost.evil/",
                "file:///home/alex/.local/share/fieldbook/fieldbook.db",
                "data:text/html,<h1>hi</h1>",
                "javascript:alert(1)",
                "media://localhost/blob/abc",
                "about:blank",
                "sms:+33612345678",
            ],
        );
    }

    #[test]
    fn a_link_no_app_takes_is_reported_with_its_scheme_only() {
        let heard = std::cell::RefCell::new(Vec::new());
        let no_app = |_: &str| Err(io::Error::other("Launcher \"xdg-open\" failed"));
        hand_to_system("tel:+33612345678", "tel", no_app, |s| {
            heard.borrow_mut().push(s)
        });
        hand_to_system("mailto:ada@example.com", "mailto", no_app, |s| {
            heard.borrow_mut().push(s)
        });
        assert_eq!(*heard.borrow(), ["tel", "mailto"]);

        let launched = std::cell::RefCell::new(Vec::new());
        let an_app = |url: &str| {
            launched.borrow_mut().push(url.to_owned());
            Ok(())
        };
        hand_to_system("tel:+33612345678", "tel", an_app, |s| {
            heard.borrow_mut().push(s)
        });
        assert_eq!(*launched.borrow(), ["tel:+33612345678"]);
        assert_eq!(heard.borrow().len(), 2, "an app took it: nothing to report");
    }

    #[test]
    fn the_dev_server_is_allowed_only_when_named() {
        let dev = Url::parse("http://localhost:5173").unwrap();
        let guard = NavigationGuard::new(Some(&dev));
        let decide = |url: &str| guard.decide(&Url::parse(url).unwrap());
        assert_eq!(
            decide("http://localhost:5173/#/schedule"),
            Navigation::Allow
        );
        assert_eq!(decide("http://localhost:5174/"), Navigation::Refuse);
    }
}
