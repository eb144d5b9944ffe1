//! Presenting decoded pictures in the stream window: on the GPU (the planes
//! uploaded as textures and converted in a shader, `gpu`) or, where wgpu's
//! adapter is a CPU rasterizer (lavapipe, llvmpipe, SwiftShader) or when
//! asked, through `softbuffer` with SIMD YUV→BGRA (`software`). Both
//! letterbox the picture and draw the stats overlay's lines.

mod egui_overlay;
mod fit;
mod gpu;
mod software;
mod text_overlay;
mod yuv_pass;

use std::sync::Arc;

use winit::event::WindowEvent;
use winit::window::Window;

pub use fit::PictureRect;
pub use software::Letterbox;

use crate::platform::video::YuvPicture;

/// What the user asked for (`--renderer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RendererChoice {
    /// The GPU, unless wgpu's only adapter is a CPU rasterizer.
    #[default]
    Auto,
    Gpu,
    Software,
}

/// The renderer in use (shown in the overlay and the summary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RendererKind {
    Gpu,
    Software,
}

impl RendererKind {
    pub fn describe(self) -> &'static str {
        match self {
            RendererKind::Gpu => "gpu (wgpu, YUV shader)",
            RendererKind::Software => "software (softbuffer, SIMD YUV)",
        }
    }
}

/// The stats overlay's content: lines of text.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OverlayText {
    pub lines: Vec<String>,
}

pub enum Presenter {
    Gpu(Box<gpu::GpuPresenter>),
    Software(Box<software::SoftwarePresenter>),
}

impl Presenter {
    pub fn new(window: Arc<Window>, choice: RendererChoice, vsync: bool) -> anyhow::Result<Self> {
        if choice != RendererChoice::Software {
            let presenter = gpu::GpuPresenter::new(window.clone(), vsync)?;
            let on_cpu = presenter.adapter_is_cpu();
            if choice == RendererChoice::Gpu || !on_cpu {
                return Ok(Presenter::Gpu(Box::new(presenter)));
            }
            tracing::info!(
                adapter = presenter.adapter_name(),
                "wgpu's adapter rasterizes on the CPU: presenting in software"
            );
        }
        Ok(Presenter::Software(Box::new(
            software::SoftwarePresenter::new(window)?,
        )))
    }

    pub fn kind(&self) -> RendererKind {
        match self {
            Presenter::Gpu(_) => RendererKind::Gpu,
            Presenter::Software(_) => RendererKind::Software,
        }
    }

    /// Feeds a window event to the overlay's UI state (GPU only).
    pub fn handle_event(&mut self, window: &Window, event: &WindowEvent) {
        if let Presenter::Gpu(gpu) = self {
            gpu.handle_event(window, event);
        }
    }

    pub fn set_scale_factor(&mut self, scale_factor: f64) {
        if let Presenter::Gpu(gpu) = self {
            gpu.set_scale_factor(scale_factor);
        }
    }

    /// Draws `picture` letterboxed in the window, with `overlay` on top,
    /// and presents it. `fresh`: the picture was not presented before (a
    /// redraw for the overlay or a resize passes the same one again).
    pub fn present(
        &mut self,
        picture: Option<&YuvPicture>,
        fresh: bool,
        overlay: Option<&OverlayText>,
    ) -> anyhow::Result<()> {
        match self {
            Presenter::Gpu(gpu) => gpu.present(picture.filter(|_| fresh), overlay),
            Presenter::Software(software) => software.present(picture, overlay),
        }
    }

    /// The window's size and the picture's, for mapping the pointer.
    pub fn picture_rect(&self) -> PictureRect {
        match self {
            Presenter::Gpu(gpu) => gpu.picture_rect(),
            Presenter::Software(software) => software.picture_rect(),
        }
    }
}
