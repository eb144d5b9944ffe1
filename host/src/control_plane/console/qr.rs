//! A TOTP key as a QR code an authenticator app scans: an `<svg>` element
//! to put in the page (inline SVG is markup, not script or style, so the
//! CSP allows it), for enrolment and the Users page's authenticator setup.

use crate::control_plane::passwords;

/// The `otpauth://` URL of `user`'s key `secret_base32` as an `<svg>`
/// element; empty if it cannot be drawn.
pub fn totp_svg(user: &str, secret_base32: &str) -> String {
    let url = passwords::totp_url(user, secret_base32);
    let svg = qrcode::QrCode::new(url.as_bytes())
        .map(|code| {
            code.render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(192, 192)
                .build()
        })
        .unwrap_or_default();
    // The prologue is for files; inside HTML the <svg> element is enough.
    svg.find("<svg")
        .map_or(String::new(), |at| svg[at..].to_string())
}
