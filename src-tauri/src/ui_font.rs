//! The desktop's UI font for the page, before its first paint.
//!
//! The UI's stylesheet asks for `system-ui, sans-serif` (`ui/src/app.css`,
//! `--font`). WebKitGTK resolves `system-ui` to GTK's font setting, but at
//! about twice the fontconfig work of a plain family at cold start
//! (README, "Cold start"). On Linux the app therefore reads GTK's setting
//! once and hands the page that family by name, followed by the generic, so
//! the page gets the same font without the detour. Elsewhere WebView2 and
//! WKWebView map `system-ui` cheaply and the stylesheet's value stays.

/// The script that sets the page's `--font` before its first paint, if the
/// desktop names a UI font. Tauri runs it at document start, before the
/// page's own scripts and stylesheets are applied.
pub fn init_script() -> Option<String> {
    let value = css_font_family(&desktop_font_family()?)?;
    // JSON is a valid JavaScript string literal for any family name.
    let literal = serde_json::to_string(&value).ok()?;
    Some(format!(
        "document.documentElement.style.setProperty(\"--font\", {literal});"
    ))
}

/// GTK's UI font family (`gtk-font-name`, e.g. "Cantarell 11" on GNOME,
/// "Sans 10" without a settings daemon). Must run on the GTK main thread,
/// as Tauri's setup does.
#[cfg(target_os = "linux")]
fn desktop_font_family() -> Option<String> {
    use gtk::prelude::GtkSettingsExt;
    let name = gtk::Settings::default()?.gtk_font_name()?;
    family_of_font_name(&name)
}

#[cfg(not(target_os = "linux"))]
fn desktop_font_family() -> Option<String> {
    None
}

/// The family list of a Pango font description ("Ubuntu Bold 11" → "Ubuntu").
#[cfg(target_os = "linux")]
fn family_of_font_name(name: &str) -> Option<String> {
    let family = gtk::pango::FontDescription::from_string(name).family()?;
    Some(family.to_string())
}

/// A CSS `font-family` value for a (comma-separated) family list: each
/// family quoted, then `sans-serif` for what the families lack. `None`
/// when no family is named.
pub fn css_font_family(families: &str) -> Option<String> {
    let mut quoted: Vec<String> = families
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(|f| {
            let escaped: String = f
                .chars()
                .filter(|c| !c.is_control())
                .flat_map(|c| match c {
                    '"' | '\\' => vec!['\\', c],
                    _ => vec![c],
                })
                .collect();
            format!("\"{escaped}\"")
        })
        .collect();
    if quoted.is_empty() {
        return None;
    }
    quoted.push("sans-serif".to_owned());
    Some(quoted.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_each_family_then_the_generic() {
        assert_eq!(
            css_font_family("Cantarell").as_deref(),
            Some("\"Cantarell\", sans-serif")
        );
        assert_eq!(
            css_font_family("Noto Sans, DejaVu Sans").as_deref(),
            Some("\"Noto Sans\", \"DejaVu Sans\", sans-serif")
        );
    }

    #[test]
    fn a_family_cannot_break_out_of_its_string() {
        assert_eq!(
            css_font_family("Odd \"Font\\\n").as_deref(),
            Some("\"Odd \\\"Font\\\\\", sans-serif")
        );
    }

    #[test]
    fn no_family_keeps_the_stylesheets_value() {
        assert_eq!(css_font_family(""), None);
        assert_eq!(css_font_family(" , "), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_the_family_out_of_gtks_font_name() {
        assert_eq!(
            family_of_font_name("Cantarell 11").as_deref(),
            Some("Cantarell")
        );
        assert_eq!(
            family_of_font_name("Ubuntu Bold 11").as_deref(),
            Some("Ubuntu")
        );
        assert_eq!(family_of_font_name("Sans 10").as_deref(), Some("Sans"));
        assert_eq!(
            family_of_font_name("Noto Sans,DejaVu Sans 10").as_deref(),
            Some("Noto Sans,DejaVu Sans")
        );
    }
}
