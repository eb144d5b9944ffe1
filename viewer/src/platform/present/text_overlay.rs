//! The stats overlay without a GPU: the overlay's lines rasterized with
//! ab_glyph (egui's own monospace font) into a small panel image, remade
//! only when the text changes (once a second), and blended over each frame.

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};

use super::OverlayText;

const FONT_PX: f32 = 14.0;
const LINE_PX: f32 = 17.0;
const PADDING_PX: u32 = 8;
/// Where the panel sits: below the latency barcode band, as on the GPU.
const ORIGIN: (u32, u32) = (8, 32);
/// How much of the picture shows through the panel's background (of 255).
const SHOW_THROUGH: f32 = 90.0;

/// A premultiplied grey panel: per pixel, the colour to add and how much of
/// the picture below is kept (of 255).
struct Panel {
    width: u32,
    height: u32,
    add: Vec<u8>,
    keep: Vec<u8>,
}

pub struct TextOverlay {
    font: FontRef<'static>,
    cached: Option<(OverlayText, Panel)>,
}

impl TextOverlay {
    pub fn new() -> anyhow::Result<Self> {
        let font = FontRef::try_from_slice(epaint_default_fonts::HACK_REGULAR)?;
        Ok(TextOverlay { font, cached: None })
    }

    /// Blends the overlay (if any) into a BGRA window buffer of `size`.
    pub fn draw(&mut self, text: Option<&OverlayText>, window: &mut [u8], size: (u32, u32)) {
        let Some(text) = text else {
            return;
        };
        if self
            .cached
            .as_ref()
            .is_none_or(|(cached, _)| cached != text)
        {
            self.cached = Some((text.clone(), self.rasterize(text)));
        }
        let Some((_, panel)) = &self.cached else {
            return;
        };
        let stride = size.0 as usize * 4;
        let columns = panel.width.min(size.0.saturating_sub(ORIGIN.0)) as usize;
        let rows = panel.height.min(size.1.saturating_sub(ORIGIN.1)) as usize;
        for row in 0..rows {
            let start = (ORIGIN.1 as usize + row) * stride + ORIGIN.0 as usize * 4;
            let line = &mut window[start..start + columns * 4];
            let panel_row = row * panel.width as usize;
            for (column, pixel) in line.chunks_exact_mut(4).enumerate() {
                let (add, keep) = (
                    panel.add[panel_row + column],
                    panel.keep[panel_row + column],
                );
                for channel in &mut pixel[..3] {
                    *channel =
                        add.saturating_add(((u16::from(*channel) * u16::from(keep)) / 255) as u8);
                }
            }
        }
    }

    fn rasterize(&self, text: &OverlayText) -> Panel {
        let scaled = self.font.as_scaled(PxScale::from(FONT_PX));
        let advance = |line: &str| {
            line.chars()
                .map(|c| scaled.h_advance(scaled.glyph_id(c)))
                .sum::<f32>()
        };
        let widest = text.lines.iter().map(|l| advance(l)).fold(0.0, f32::max);
        let width = widest.ceil() as u32 + 2 * PADDING_PX;
        let height = (text.lines.len() as f32 * LINE_PX).ceil() as u32 + 2 * PADDING_PX;
        let mut coverage = vec![0f32; (width * height) as usize];
        for (index, line) in text.lines.iter().enumerate() {
            let baseline = PADDING_PX as f32 + index as f32 * LINE_PX + scaled.ascent();
            let mut caret = PADDING_PX as f32;
            for c in line.chars() {
                let id = scaled.glyph_id(c);
                let glyph = id.with_scale_and_position(FONT_PX, point(caret, baseline));
                caret += scaled.h_advance(id);
                let Some(outlined) = self.font.outline_glyph(glyph) else {
                    continue;
                };
                let bounds = outlined.px_bounds();
                outlined.draw(|x, y, c| {
                    let (px, py) = (
                        bounds.min.x as i64 + i64::from(x),
                        bounds.min.y as i64 + i64::from(y),
                    );
                    if (0..i64::from(width)).contains(&px) && (0..i64::from(height)).contains(&py) {
                        let cell = &mut coverage[(py as u32 * width + px as u32) as usize];
                        *cell = cell.max(c);
                    }
                });
            }
        }
        // White text over a dark translucent panel, premultiplied.
        let add = coverage.iter().map(|c| (c * 255.0) as u8).collect();
        let keep = coverage
            .iter()
            .map(|c| (SHOW_THROUGH * (1.0 - c)) as u8)
            .collect();
        Panel {
            width,
            height,
            add,
            keep,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lines_darken_a_panel_and_leave_the_rest_alone() {
        let size = (400, 200);
        let mut window = vec![200u8; 400 * 200 * 4];
        let text = OverlayText {
            lines: vec!["60 fps   10.0 Mbit/s".into(), "renderer software".into()],
        };
        let mut overlay = TextOverlay::new().unwrap();
        overlay.draw(Some(&text), &mut window, size);
        let pixel = |x: usize, y: usize| window[(y * 400 + x) * 4];
        // Outside the panel: untouched; its background: darkened; text: bright.
        assert_eq!(pixel(2, 2), 200);
        assert_eq!(pixel(399, 199), 200);
        let panel: Vec<u8> = (ORIGIN.1 as usize + 2..ORIGIN.1 as usize + 40)
            .flat_map(|y| (ORIGIN.0 as usize + 2..ORIGIN.0 as usize + 150).map(move |x| (x, y)))
            .map(|(x, y)| pixel(x, y))
            .collect();
        assert!(panel.iter().any(|&p| p < 100), "no dark background");
        assert!(panel.iter().any(|&p| p > 220), "no bright text");
    }
}
