//! The GPU presenter's overlay: egui state, its wgpu renderer, and one
//! render pass after the picture's.

use egui::{ClippedPrimitive, Context, TexturesDelta, ViewportId};
use egui_wgpu::{Renderer, RendererOptions, ScreenDescriptor};
use pixels::{Pixels, PixelsContext, wgpu};
use winit::event::WindowEvent;
use winit::window::Window;

/// The stats overlay's lines in a small fixed window, below the latency
/// barcode band so the picture's timestamp stays readable.
pub fn stats_window(ui: &mut egui::Ui, text: &super::OverlayText) {
    egui::Window::new("Stream")
        .fixed_pos([8.0, 32.0])
        .resizable(false)
        .collapsible(false)
        .show(ui.ctx(), |ui| {
            for line in &text.lines {
                ui.label(line);
            }
        });
}

pub struct Overlay {
    ctx: Context,
    state: egui_winit::State,
    screen: ScreenDescriptor,
    renderer: Renderer,
    paint_jobs: Vec<ClippedPrimitive>,
    textures: TexturesDelta,
}

impl Overlay {
    pub fn new(window: &Window, pixels: &Pixels<'_>) -> Self {
        let size = window.inner_size();
        let scale_factor = window.scale_factor() as f32;
        let ctx = Context::default();
        let max_texture_side = pixels.device().limits().max_texture_dimension_2d as usize;
        let state = egui_winit::State::new(
            ctx.clone(),
            ViewportId::ROOT,
            window,
            Some(scale_factor),
            None,
            Some(max_texture_side),
        );
        let renderer = Renderer::new(
            pixels.device(),
            pixels.render_texture_format(),
            RendererOptions::default(),
        );
        Overlay {
            ctx,
            state,
            screen: ScreenDescriptor {
                size_in_pixels: [size.width, size.height],
                pixels_per_point: scale_factor,
            },
            renderer,
            paint_jobs: Vec::new(),
            textures: TexturesDelta::default(),
        }
    }

    /// Feeds a window event to egui; true when egui consumed it.
    pub fn handle_event(&mut self, window: &Window, event: &WindowEvent) -> bool {
        self.state.on_window_event(window, event).consumed
    }

    pub fn resize(&mut self, width: u32, height: u32) {
        if width > 0 && height > 0 {
            self.screen.size_in_pixels = [width, height];
        }
    }

    pub fn set_scale_factor(&mut self, scale_factor: f64) {
        self.screen.pixels_per_point = scale_factor as f32;
    }

    /// Runs the UI closure and tessellates its output for `render`.
    pub fn prepare(&mut self, window: &Window, ui: impl FnMut(&mut egui::Ui)) {
        let input = self.state.take_egui_input(window);
        let output = self.ctx.run_ui(input, ui);
        self.textures.append(output.textures_delta);
        self.state
            .handle_platform_output(window, output.platform_output);
        self.paint_jobs = self
            .ctx
            .tessellate(output.shapes, self.screen.pixels_per_point);
    }

    /// Draws the prepared overlay onto `target` (pixels' `render_with`).
    pub fn render(
        &mut self,
        encoder: &mut wgpu::CommandEncoder,
        target: &wgpu::TextureView,
        context: &PixelsContext,
    ) {
        for (id, delta) in &self.textures.set {
            self.renderer
                .update_texture(&context.device, &context.queue, *id, delta);
        }
        self.renderer.update_buffers(
            &context.device,
            &context.queue,
            encoder,
            &self.paint_jobs,
            &self.screen,
        );
        {
            let pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("egui overlay"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: target,
                    resolve_target: None,
                    depth_slice: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Load,
                        store: wgpu::StoreOp::Store,
                    },
                })],
                ..Default::default()
            });
            self.renderer
                .render(&mut pass.forget_lifetime(), &self.paint_jobs, &self.screen);
        }
        let textures = std::mem::take(&mut self.textures);
        for id in &textures.free {
            self.renderer.free_texture(id);
        }
    }
}
