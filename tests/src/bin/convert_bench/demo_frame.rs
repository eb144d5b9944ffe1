//! `--save-demo-frame`: how the host's converter test got its demo game
//! frame.

use std::time::Duration;

/// The demo game's window on a private Xvfb, grabbed as the host's capture
/// reads it (BGRA, GetImage), saved as an RGBA PNG.
pub fn save_demo_frame(path: &std::path::Path) -> anyhow::Result<()> {
    use x11rb::connection::Connection;
    use x11rb::protocol::xproto::{ConnectionExt, ImageFormat};
    let (width, height) = (1280u16, 720u16);
    let dir = std::env::temp_dir().join(format!("demo-frame-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let xvfb = e2e::Xvfb::start(u32::from(width), u32::from(height))?;
    let mut game = std::process::Command::new(e2e::binary("demo-game"))
        .args(["--width", "1280", "--height", "720"])
        .env("DISPLAY", &xvfb.display)
        .env("XDG_RUNTIME_DIR", e2e::runtime_dir(&dir))
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let window = e2e::wait_for_window(&xvfb.display, "demo game", Duration::from_secs(20))?;
    std::thread::sleep(Duration::from_secs(2));
    let (conn, _) = x11rb::connect(Some(&xvfb.display))?;
    let image = conn
        .get_image(
            ImageFormat::Z_PIXMAP,
            window.parse()?,
            0,
            0,
            width,
            height,
            !0,
        )?
        .reply()?;
    conn.flush()?;
    let _ = game.kill();
    let _ = game.wait();
    let mut rgba = image.data;
    for pixel in rgba.chunks_exact_mut(4) {
        pixel.swap(0, 2);
        pixel[3] = 255;
    }
    let png = image::RgbaImage::from_raw(u32::from(width), u32::from(height), rgba)
        .ok_or_else(|| anyhow::anyhow!("the X server sent a short image"))?;
    png.save(path)?;
    println!(
        "saved a {width}x{height} demo game frame to {}",
        path.display()
    );
    Ok(())
}
