//! What the game draws: a checkered floor, the player's sprite, a cursor
//! mark, and the latency barcode (the frame's draw time) across the top.

/// The player's square, in window pixels.
#[derive(Debug, Clone, Copy)]
pub struct Scene {
    pub sprite_x: f32,
    pub sprite_y: f32,
    pub cursor: Option<(f32, f32)>,
    /// Flashes for a few frames after a click or a key press.
    pub flash_frames: u32,
}

pub const SPRITE_PX: u32 = 48;

impl Scene {
    pub fn new(width: u32, height: u32) -> Scene {
        Scene {
            sprite_x: (width / 2) as f32,
            sprite_y: (height / 2) as f32,
            cursor: None,
            flash_frames: 0,
        }
    }

    /// Moves the sprite, keeping it inside the window.
    pub fn move_by(&mut self, dx: f32, dy: f32, width: u32, height: u32) {
        let half = (SPRITE_PX / 2) as f32;
        self.sprite_x = (self.sprite_x + dx).clamp(half, width as f32 - half);
        self.sprite_y = (self.sprite_y + dy).clamp(half, height as f32 - half);
    }

    /// Paints an RGBA frame of `width × height`; `drawn_us` goes into the barcode.
    pub fn draw(&mut self, rgba: &mut [u8], width: u32, height: u32, drawn_us: u64) {
        let tile = 40;
        for (i, pixel) in rgba.chunks_exact_mut(4).enumerate() {
            let (x, y) = (i as u32 % width, i as u32 / width);
            let dark = ((x / tile) + (y / tile)) % 2 == 0;
            let shade = if dark { 0x20 } else { 0x30 };
            pixel.copy_from_slice(&[shade, shade, shade + 0x18, 0xff]);
        }
        let colour = if self.flash_frames > 0 {
            self.flash_frames -= 1;
            [0xff, 0xe0, 0x40, 0xff]
        } else {
            [0x40, 0xc0, 0xff, 0xff]
        };
        let half = SPRITE_PX as f32 / 2.0;
        fill(
            rgba,
            width,
            height,
            (self.sprite_x - half) as i64,
            (self.sprite_y - half) as i64,
            SPRITE_PX,
            SPRITE_PX,
            colour,
        );
        if let Some((x, y)) = self.cursor {
            fill(
                rgba,
                width,
                height,
                x as i64 - 3,
                y as i64 - 3,
                7,
                7,
                [0xff; 4],
            );
        }
        for cell in common::barcode::cells(drawn_us, width, height) {
            let level = if cell.white { 0xff } else { 0x00 };
            fill(
                rgba,
                width,
                height,
                i64::from(cell.x),
                i64::from(cell.y),
                cell.width,
                cell.height,
                [level, level, level, 0xff],
            );
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn fill(rgba: &mut [u8], width: u32, height: u32, x: i64, y: i64, w: u32, h: u32, colour: [u8; 4]) {
    let (x0, y0) = (x.max(0) as u32, y.max(0) as u32);
    let x1 = (x + i64::from(w)).clamp(0, i64::from(width)) as u32;
    let y1 = (y + i64::from(h)).clamp(0, i64::from(height)) as u32;
    for row in y0..y1 {
        for column in x0..x1 {
            let at = ((row * width + column) * 4) as usize;
            rgba[at..at + 4].copy_from_slice(&colour);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_barcode_reads_back_from_a_drawn_frame() {
        let (width, height) = (320, 180);
        let mut rgba = vec![0u8; (width * height * 4) as usize];
        let mut scene = Scene::new(width, height);
        scene.draw(&mut rgba, width, height, 987_654_321);
        let luma = |x: u32, y: u32| rgba[((y * width + x) * 4) as usize];
        assert_eq!(
            common::barcode::read(width, height, luma),
            Some(987_654_321)
        );
    }
}
