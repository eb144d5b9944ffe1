//! The GPU presenter: wgpu through pixels (its device, queue and surface;
//! its own pixel buffer stays a 16×9 placeholder), the YUV pass, then the
//! egui overlay in the same frame.
//!
//! Present mode: with v-sync, mailbox where the surface offers it (a newer
//! frame replaces a queued one instead of waiting a vblank behind it;
//! pixels falls back to FIFO elsewhere); without, whatever does not wait.

use std::sync::Arc;

use pixels::{Pixels, PixelsBuilder, SurfaceTexture, wgpu};
use winit::event::WindowEvent;
use winit::window::Window;

use super::egui_overlay::Overlay;
use super::yuv_pass::YuvPass;
use super::{OverlayText, PictureRect};
use crate::platform::video::YuvPicture;

pub struct GpuPresenter {
    window: Arc<Window>,
    pixels: Pixels<'static>,
    yuv: YuvPass,
    overlay: Overlay,
    surface_size: (u32, u32),
}

impl GpuPresenter {
    pub fn new(window: Arc<Window>, vsync: bool) -> anyhow::Result<Self> {
        let size = window.inner_size();
        let surface = SurfaceTexture::new(size.width, size.height, window.clone());
        let present_mode = if vsync {
            wgpu::PresentMode::Mailbox
        } else {
            wgpu::PresentMode::AutoNoVsync
        };
        let pixels = PixelsBuilder::new(16, 9, surface)
            .clear_color(wgpu::Color::BLACK)
            .present_mode(present_mode)
            .build()?;
        tracing::info!(
            adapter = %pixels.adapter().get_info().name,
            present_mode = ?pixels.present_mode(),
            "GPU presenter"
        );
        let yuv = YuvPass::new(pixels.device(), pixels.render_texture_format());
        let overlay = Overlay::new(&window, &pixels);
        Ok(GpuPresenter {
            window,
            pixels,
            yuv,
            overlay,
            surface_size: (size.width, size.height),
        })
    }

    /// lavapipe, llvmpipe, SwiftShader: wgpu rasterizing on the CPU.
    pub fn adapter_is_cpu(&self) -> bool {
        self.pixels.adapter().get_info().device_type == wgpu::DeviceType::Cpu
    }

    pub fn adapter_name(&self) -> String {
        self.pixels.adapter().get_info().name
    }

    pub fn handle_event(&mut self, window: &Window, event: &WindowEvent) {
        let _ = self.overlay.handle_event(window, event);
    }

    pub fn set_scale_factor(&mut self, scale_factor: f64) {
        self.overlay.set_scale_factor(scale_factor);
    }

    pub fn picture_rect(&self) -> PictureRect {
        PictureRect::fit(
            self.surface_size,
            self.yuv.picture_size().unwrap_or(self.surface_size),
        )
    }

    /// Matches the surface to the window's real size. A surface of another
    /// size makes Vulkan report it outdated on every frame, and pixels would
    /// reconfigure it forever without returning to the event loop.
    fn fit_surface(&mut self) {
        let size = self.window.inner_size();
        let size = (size.width.max(1), size.height.max(1));
        if size == self.surface_size {
            return;
        }
        match self.pixels.resize_surface(size.0, size.1) {
            Ok(()) => {
                self.surface_size = size;
                self.overlay.resize(size.0, size.1);
            }
            Err(e) => tracing::error!(error = %e, "cannot resize the surface"),
        }
    }

    /// Uploads `picture` if there is a new one and draws the frame.
    pub fn present(
        &mut self,
        picture: Option<&YuvPicture>,
        overlay: Option<&OverlayText>,
    ) -> anyhow::Result<()> {
        self.fit_surface();
        if let Some(picture) = picture {
            self.yuv
                .upload(self.pixels.device(), self.pixels.queue(), picture);
        }
        self.overlay.prepare(&self.window, |ui| {
            if let Some(text) = overlay {
                super::egui_overlay::stats_window(ui, text);
            }
        });
        let rect = self.picture_rect();
        let (yuv, overlay) = (&self.yuv, &mut self.overlay);
        self.pixels.render_with(|encoder, target, context| {
            yuv.render(encoder, target, rect);
            overlay.render(encoder, target, context);
            Ok(())
        })?;
        Ok(())
    }
}
