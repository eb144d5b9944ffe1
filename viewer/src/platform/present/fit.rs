//! Where the picture goes in the window: as large as fits, aspect kept,
//! centred (black bars on the rest).

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PictureRect {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

impl PictureRect {
    pub fn fit(window: (u32, u32), picture: (u32, u32)) -> PictureRect {
        let (ww, wh) = (f64::from(window.0.max(1)), f64::from(window.1.max(1)));
        let (pw, ph) = (f64::from(picture.0.max(1)), f64::from(picture.1.max(1)));
        let scale = (ww / pw).min(wh / ph);
        let (width, height) = (pw * scale, ph * scale);
        PictureRect {
            x: (ww - width) / 2.0,
            y: (wh - height) / 2.0,
            width,
            height,
        }
    }

    /// A window position as a fraction of the picture; `None` on the bars.
    pub fn to_picture(self, x: f64, y: f64) -> Option<(f32, f32)> {
        let fx = (x - self.x) / self.width;
        let fy = (y - self.y) / self.height;
        ((0.0..1.0).contains(&fx) && (0.0..1.0).contains(&fy)).then_some((fx as f32, fy as f32))
    }

    /// Whole pixels: (x, y, width, height), never empty.
    pub fn pixels(self) -> (u32, u32, u32, u32) {
        (
            self.x.round() as u32,
            self.y.round() as u32,
            (self.width.round() as u32).max(1),
            (self.height.round() as u32).max(1),
        )
    }
}
