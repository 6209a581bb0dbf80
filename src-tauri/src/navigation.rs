//! Where the window may go: only the app's own pages. The app has no
//! address bar and no back button, so a page that is not Fieldbook's (a
//! link in a text, a URL dropped on the window, a `file:` path) would leave
//! the technician stranded with the app still running behind it. A tap on
//! the customer's phone number (`tel:`) or an e-mail address (`mailto:`)
//! goes to the system's handler (a softphone, the mail app) and the app
//! stays where it is; anything else is refused and logged.

use tauri::Url;

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
    pub fn on_navigation(&self, url: &Url) -> bool {
        match self.decide(url) {
            Navigation::Allow => true,
            Navigation::HandToSystem => {
                // Started detached (xdg-open, …): the UI thread does not wait.
                match tauri_plugin_opener::open_url(url.as_str(), None::<&str>) {
                    Ok(()) => tracing::info!(scheme = url.scheme(), "handed to the system"),
                    Err(e) => {
                        tracing::warn!(scheme = url.scheme(), error = %e, "no system handler")
                    }
                }
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
