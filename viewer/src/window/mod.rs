//! `viewer stream URL` with a window: winit event loop, the picture drawn
//! with pixels (aspect-correct, letterboxed), an egui stats overlay, and
//! the stream running on its own threads behind a frame slot.
//!
//! Shortcuts (Moonlight's): Ctrl+Alt+Shift+Q quit, +S toggle the overlay,
//! +X toggle fullscreen; F11 toggles fullscreen too.

mod overlay;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::stream_url::StreamUrl;
use pixels::{Pixels, PixelsBuilder, ScalingMode, SurfaceTexture};
use winit::application::ApplicationHandler;
use winit::dpi::PhysicalSize;
use winit::event::{ElementState, WindowEvent};
use winit::event_loop::{ActiveEventLoop, ControlFlow, EventLoop};
use winit::keyboard::{KeyCode, ModifiersState, PhysicalKey};
use winit::window::{Fullscreen, Window, WindowId};

use crate::net::StreamEnd;
use crate::stats::{Rates, Snapshot, StreamStats};
use crate::stream::{RunningStream, StreamOptions};
use crate::video::FrameSlot;
use overlay::Overlay;

#[derive(Debug, Clone, Copy)]
enum UserEvent {
    FrameReady,
}

/// What the overlay shows, refreshed once a second.
#[derive(Debug, Default)]
struct OverlayStats {
    at: Option<Instant>,
    last: Snapshot,
    rates: Rates,
}

struct Graphics {
    window: Arc<Window>,
    pixels: Pixels<'static>,
    overlay: Overlay,
    buffer_size: (u32, u32),
    surface_size: (u32, u32),
}

impl Graphics {
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
}

struct StreamWindow {
    stream: Option<RunningStream>,
    slot: Arc<FrameSlot>,
    stats: Arc<StreamStats>,
    graphics: Option<Graphics>,
    overlay_stats: OverlayStats,
    show_overlay: bool,
    modifiers: ModifiersState,
    sized_to_stream: bool,
    started: Instant,
    duration: Option<Duration>,
    quit_sent: bool,
    end: Option<Result<StreamEnd, crate::connect::ConnectError>>,
}

/// Runs the window until the stream ends; returns the process exit code.
pub fn run(
    url: StreamUrl,
    media_via: Option<std::net::SocketAddr>,
    request: Option<common::control::DisplayRequest>,
    duration: Option<Duration>,
    play_audio: bool,
) -> i32 {
    let event_loop = match EventLoop::<UserEvent>::with_user_event().build() {
        Ok(event_loop) => event_loop,
        Err(e) => {
            eprintln!("viewer: cannot open a window ({e}); try --headless");
            return 2;
        }
    };
    let proxy = event_loop.create_proxy();
    let slot = Arc::new(FrameSlot::default());
    let wake = Box::new(move || {
        let _ = proxy.send_event(UserEvent::FrameReady);
    });
    let stream = match RunningStream::start(StreamOptions {
        url,
        media_via,
        synthetic: Default::default(),
        request,
        play_audio,
        display: Some((slot.clone(), wake)),
    }) {
        Ok(stream) => stream,
        Err(e) => {
            eprintln!("viewer: {e:#}");
            return 2;
        }
    };
    let mut app = StreamWindow {
        stats: stream.stats.clone(),
        stream: Some(stream),
        slot,
        graphics: None,
        overlay_stats: OverlayStats::default(),
        show_overlay: true,
        modifiers: ModifiersState::empty(),
        sized_to_stream: false,
        started: Instant::now(),
        duration,
        quit_sent: false,
        end: None,
    };
    if let Err(e) = event_loop.run_app(&mut app) {
        eprintln!("viewer: event loop failed: {e}");
    }
    if let Some(stream) = app.stream.take() {
        stream.quit();
        app.end = Some(stream.join());
    }
    let snapshot = app.stats.snapshot();
    eprintln!(
        "viewer: frames decoded {} presented {} lost {}; latency p50 {:.1} ms",
        snapshot.frames_decoded,
        snapshot.frames_presented,
        snapshot.frames_lost,
        snapshot.latency_ms.map_or(f64::NAN, |p| p.p50)
    );
    match app.end {
        Some(Ok(StreamEnd::Ended(reason))) => {
            eprintln!("viewer: session ended ({reason:?})");
            0
        }
        Some(Ok(StreamEnd::ConnectionLost(why))) => {
            eprintln!("viewer: connection lost: {why}");
            1
        }
        Some(Err(e)) => {
            eprintln!("viewer: {e}");
            2
        }
        None => 0,
    }
}

impl StreamWindow {
    fn create_graphics(&mut self, event_loop: &ActiveEventLoop) -> anyhow::Result<()> {
        let attributes = Window::default_attributes()
            .with_title("appstream viewer")
            .with_inner_size(PhysicalSize::new(1280, 720))
            .with_min_inner_size(PhysicalSize::new(160, 90));
        let window = Arc::new(event_loop.create_window(attributes)?);
        let size = window.inner_size();
        let surface = SurfaceTexture::new(size.width, size.height, window.clone());
        let mut pixels = PixelsBuilder::new(16, 9, surface)
            .clear_color(pixels::wgpu::Color::BLACK)
            .build()?;
        pixels.set_scaling_mode(ScalingMode::Fill);
        let overlay = Overlay::new(&window, &pixels);
        self.graphics = Some(Graphics {
            window,
            pixels,
            overlay,
            buffer_size: (16, 9),
            surface_size: (size.width, size.height),
        });
        Ok(())
    }

    fn redraw(&mut self) {
        self.refresh_overlay_stats();
        let Some(graphics) = self.graphics.as_mut() else {
            return;
        };
        if let Some(frame) = self.slot.take() {
            if graphics.buffer_size != (frame.width, frame.height) {
                if let Err(e) = graphics.pixels.resize_buffer(frame.width, frame.height) {
                    tracing::error!(error = %e, "cannot resize the frame buffer");
                    return;
                }
                graphics.buffer_size = (frame.width, frame.height);
                if !self.sized_to_stream {
                    // Start at the stream's size (1:1 pixels) until the user resizes.
                    let _ = graphics
                        .window
                        .request_inner_size(PhysicalSize::new(frame.width, frame.height));
                    self.sized_to_stream = true;
                }
            }
            graphics.pixels.frame_mut().copy_from_slice(&frame.data);
            StreamStats::add(&self.stats.frames_presented, 1);
        }
        graphics.fit_surface();
        let (show, stats) = (self.show_overlay, &self.overlay_stats);
        graphics.overlay.prepare(&graphics.window, |ui| {
            if show {
                stats_ui(ui, stats);
            }
        });
        let Graphics {
            pixels, overlay, ..
        } = graphics;
        let result = pixels.render_with(|encoder, target, context| {
            context.scaling_renderer.render(encoder, target);
            overlay.render(encoder, target, context);
            Ok(())
        });
        if let Err(e) = result {
            tracing::error!(error = %e, "render failed");
        }
    }

    fn refresh_overlay_stats(&mut self) {
        let now = Instant::now();
        let due = self
            .overlay_stats
            .at
            .is_none_or(|at| now - at >= Duration::from_secs(1));
        if due {
            let snapshot = self.stats.snapshot();
            if let Some(at) = self.overlay_stats.at {
                self.overlay_stats.rates = Rates::between(
                    &self.overlay_stats.last,
                    &snapshot,
                    (now - at).as_secs_f64(),
                );
            }
            self.overlay_stats.last = snapshot;
            self.overlay_stats.at = Some(now);
        }
    }

    fn quit(&mut self) {
        if let Some(stream) = &self.stream
            && !self.quit_sent
        {
            stream.quit();
            self.quit_sent = true;
        }
    }

    fn toggle_fullscreen(&self) {
        if let Some(graphics) = &self.graphics {
            let next = match graphics.window.fullscreen() {
                Some(_) => None,
                None => Some(Fullscreen::Borderless(None)),
            };
            graphics.window.set_fullscreen(next);
        }
    }

    fn handle_shortcut(&mut self, code: KeyCode) -> bool {
        let chord =
            self.modifiers.control_key() && self.modifiers.alt_key() && self.modifiers.shift_key();
        match (chord, code) {
            (true, KeyCode::KeyQ) => self.quit(),
            (true, KeyCode::KeyS) => self.show_overlay = !self.show_overlay,
            (true, KeyCode::KeyX) | (_, KeyCode::F11) => self.toggle_fullscreen(),
            _ => return false,
        }
        true
    }
}

fn stats_ui(ui: &mut egui::Ui, stats: &OverlayStats) {
    // Below the latency barcode band, so the picture's timestamp stays readable.
    egui::Window::new("Stream")
        .fixed_pos([8.0, 32.0])
        .resizable(false)
        .collapsible(false)
        .show(ui.ctx(), |ui| {
            let s = &stats.last;
            ui.label(format!(
                "{:.0} fps   {:.1} Mbit/s",
                stats.rates.fps,
                stats.rates.bitrate_kbps / 1000.0
            ));
            ui.label(format!(
                "loss {:.2} %   lost frames {}",
                stats.rates.loss_pct, s.frames_lost
            ));
            ui.label(format!(
                "round trip {:.1} ms   transport {}",
                s.rtt_ms, s.transport
            ));
            if let Some(latency) = s.latency_ms {
                ui.label(format!(
                    "latency p50 {:.1} ms   p99 {:.1} ms",
                    latency.p50, latency.p99
                ));
            }
            ui.label(format!(
                "decoded {}   decode errors {}",
                s.frames_decoded, s.decode_errors
            ));
            ui.small("Ctrl+Alt+Shift+S overlay · +X fullscreen · +Q quit");
        });
}

impl ApplicationHandler<UserEvent> for StreamWindow {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if self.graphics.is_none()
            && let Err(e) = self.create_graphics(event_loop)
        {
            eprintln!("viewer: cannot set up the window: {e:#}");
            self.quit();
            event_loop.exit();
        }
    }

    fn user_event(&mut self, _event_loop: &ActiveEventLoop, event: UserEvent) {
        match event {
            UserEvent::FrameReady => {
                if let Some(graphics) = &self.graphics {
                    graphics.window.request_redraw();
                }
            }
        }
    }

    fn window_event(&mut self, _event_loop: &ActiveEventLoop, _id: WindowId, event: WindowEvent) {
        if let Some(graphics) = self.graphics.as_mut() {
            let _ = graphics.overlay.handle_event(&graphics.window, &event);
        }
        match event {
            WindowEvent::CloseRequested => self.quit(),
            WindowEvent::Resized(_) => {
                if let Some(graphics) = self.graphics.as_mut() {
                    graphics.fit_surface();
                    graphics.window.request_redraw();
                }
            }
            WindowEvent::ScaleFactorChanged { scale_factor, .. } => {
                if let Some(graphics) = self.graphics.as_mut() {
                    graphics.overlay.set_scale_factor(scale_factor);
                }
            }
            WindowEvent::ModifiersChanged(modifiers) => self.modifiers = modifiers.state(),
            WindowEvent::KeyboardInput { event, .. } => {
                if event.state == ElementState::Pressed
                    && let PhysicalKey::Code(code) = event.physical_key
                {
                    self.handle_shortcut(code);
                }
            }
            WindowEvent::RedrawRequested => self.redraw(),
            _ => {}
        }
    }

    fn about_to_wait(&mut self, event_loop: &ActiveEventLoop) {
        if self.duration.is_some_and(|d| self.started.elapsed() >= d) {
            self.quit();
        }
        if let Some(stream) = &self.stream
            && stream.is_finished()
        {
            if let Some(stream) = self.stream.take() {
                self.end = Some(stream.join());
            }
            event_loop.exit();
            return;
        }
        // Poll for the stream's end and the overlay's refresh.
        event_loop.set_control_flow(ControlFlow::WaitUntil(
            Instant::now() + Duration::from_millis(100),
        ));
    }
}
