//! `viewer stream URL` with a window: winit event loop, the picture drawn
//! by a presenter (GPU or software, aspect-correct, letterboxed) with the
//! stats overlay, local
//! keyboard and mouse sent to the host, and the stream running on its own
//! threads behind a frame slot.
//!
//! Shortcuts (Moonlight's, see `shortcuts`): Ctrl+Alt+Shift+Q quit, +S
//! overlay, +X (or F11) fullscreen, +Z release/capture the mouse, +M mouse mode.

mod input;
mod overlay_ui;
pub mod shortcuts;

pub use input::MouseMode;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::control::InputEvent;
use common::stream_url::StreamUrl;
use winit::application::ApplicationHandler;
use winit::dpi::PhysicalSize;
use winit::event::{DeviceEvent, DeviceId, ElementState, WindowEvent};
use winit::event_loop::{ActiveEventLoop, ControlFlow, EventLoop};
use winit::keyboard::{ModifiersState, PhysicalKey};
use winit::window::{CursorGrabMode, Fullscreen, Window, WindowId};

use crate::input::InputSender;
use crate::platform::audio::AudioOutput;
use crate::platform::present::{OverlayText, Presenter, RendererChoice, RendererKind};
use crate::platform::video::{FrameSlot, YuvPicture};
use crate::stats::{Rates, Snapshot, StreamStats};
use crate::stream::{RunningStream, StreamOptions};
use input::{LocalInput, PictureRect};
use shortcuts::{Chord, Shortcut};

/// How the window starts, from the launcher's settings.
#[derive(Debug, Clone, Copy)]
pub struct WindowOptions {
    pub fullscreen: bool,
    pub vsync: bool,
    pub renderer: RendererChoice,
    pub mouse: MouseMode,
    pub overlay: bool,
    pub chord: Chord,
}

#[derive(Debug, Clone, Copy)]
enum UserEvent {
    FrameReady,
}

/// What the overlay shows, refreshed once a second.
#[derive(Debug, Default)]
pub(crate) struct OverlayStats {
    at: Option<Instant>,
    pub last: Snapshot,
    pub rates: Rates,
    /// What the host said in words.
    pub notes: crate::stream::notes::HostNotes,
}

struct Graphics {
    window: Arc<Window>,
    presenter: Presenter,
}

struct StreamWindow {
    stream: Option<RunningStream>,
    slot: Arc<FrameSlot>,
    stats: Arc<StreamStats>,
    graphics: Option<Graphics>,
    /// The picture on screen (drawn again on a resize or overlay refresh).
    current: Option<YuvPicture>,
    renderer: Option<RendererKind>,
    overlay_stats: OverlayStats,
    show_overlay: bool,
    modifiers: ModifiersState,
    options: WindowOptions,
    input: InputSender,
    local: LocalInput,
    sized_to_stream: bool,
    started: Instant,
    duration: Option<Duration>,
    quit_sent: bool,
    end: Option<Result<crate::stream::net::StreamEnd, crate::stream::connect::ConnectError>>,
}

/// Runs the window until the stream ends; returns the process exit code.
pub fn run(
    url: StreamUrl,
    media_via: Option<std::net::SocketAddr>,
    request: Option<common::control::DisplayRequest>,
    duration: Option<Duration>,
    audio: AudioOutput,
    options: WindowOptions,
) -> i32 {
    let event_loop = match EventLoop::<UserEvent>::with_user_event().build() {
        Ok(event_loop) => event_loop,
        Err(e) => {
            crate::stream::ending::say(&format!("cannot open a window ({e}); try --headless"));
            return 2;
        }
    };
    // This thread presents every frame.
    crate::stream::raise_priority("window");
    let proxy = event_loop.create_proxy();
    let slot = Arc::new(FrameSlot::default());
    let wake = Box::new(move || {
        let _ = proxy.send_event(UserEvent::FrameReady);
    });
    let (input, input_rx) = crate::input::channel();
    let stream = match RunningStream::start(StreamOptions {
        url,
        media_via,
        synthetic: Default::default(),
        request,
        audio,
        display: Some((slot.clone(), wake)),
        input: Some(input_rx),
        gamepads: Some(input.clone()),
    }) {
        Ok(stream) => stream,
        Err(e) => {
            crate::stream::ending::say(&format!("{e:#}"));
            crate::stream::ending::print_end_line(
                "protocol_error",
                &format!("The stream could not start: {e:#}"),
            );
            return 2;
        }
    };
    let mut app = StreamWindow {
        stats: stream.stats.clone(),
        stream: Some(stream),
        slot,
        graphics: None,
        current: None,
        renderer: None,
        overlay_stats: OverlayStats::default(),
        show_overlay: options.overlay,
        modifiers: ModifiersState::empty(),
        input,
        local: LocalInput::new(options.mouse),
        options,
        sized_to_stream: false,
        started: Instant::now(),
        duration,
        quit_sent: false,
        end: None,
    };
    if let Err(e) = event_loop.run_app(&mut app) {
        crate::stream::ending::say(&format!("event loop failed: {e}"));
    }
    if let Some(stream) = app.stream.take() {
        stream.quit();
        app.overlay_stats.notes.take_from(&stream.notes);
        app.end = Some(stream.join());
    }
    let snapshot = app.stats.snapshot();
    crate::stream::ending::say(&format!(
        "frames decoded {} presented {} lost {}; latency p50 {:.1} ms",
        snapshot.frames_decoded,
        snapshot.frames_presented,
        snapshot.frames_lost,
        snapshot.latency_ms.map_or(f64::NAN, |p| p.p50)
    ));
    let mut summary = serde_json::json!({ "type": "summary" });
    if let (Some(summary), Ok(serde_json::Value::Object(fields))) =
        (summary.as_object_mut(), serde_json::to_value(&snapshot))
    {
        summary.extend(fields);
    }
    app.overlay_stats.notes.merge_into(&mut summary);
    if let (Some(summary), Some(kind)) = (summary.as_object_mut(), app.renderer) {
        summary.insert("renderer".into(), serde_json::json!(kind));
    }
    crate::stream::ending::print_json_line(&summary);
    let ending = match &app.end {
        Some(end) => crate::stream::ending::of_result(end),
        None => crate::stream::ending::of_reason(common::control::EndReason::UserQuit),
    };
    crate::stream::ending::say(&ending.words);
    crate::stream::ending::print_end_line(ending.code, &ending.words);
    ending.exit_code()
}

impl StreamWindow {
    fn create_graphics(&mut self, event_loop: &ActiveEventLoop) -> anyhow::Result<()> {
        let fullscreen = self
            .options
            .fullscreen
            .then_some(Fullscreen::Borderless(None));
        let attributes = Window::default_attributes()
            .with_title("AppStream stream")
            .with_inner_size(PhysicalSize::new(1280, 720))
            .with_min_inner_size(PhysicalSize::new(160, 90))
            .with_fullscreen(fullscreen);
        let window = Arc::new(event_loop.create_window(attributes)?);
        let presenter = Presenter::new(window.clone(), self.options.renderer, self.options.vsync)?;
        self.renderer = Some(presenter.kind());
        crate::stream::ending::say(&format!("renderer: {}", presenter.kind().describe()));
        self.graphics = Some(Graphics { window, presenter });
        Ok(())
    }

    fn redraw(&mut self) {
        self.refresh_overlay_stats();
        let Some(graphics) = self.graphics.as_mut() else {
            return;
        };
        let fresh = self.slot.take();
        if let Some(picture) = fresh.as_ref()
            && !self.sized_to_stream
        {
            // Start at the stream's size (1:1 pixels) until the user resizes.
            let _ = graphics
                .window
                .request_inner_size(PhysicalSize::new(picture.width, picture.height));
            self.sized_to_stream = true;
        }
        let is_fresh = fresh.is_some();
        if let Some(picture) = fresh
            && let Some(old) = self.current.replace(picture)
        {
            self.slot.recycle(old);
        }
        let overlay = self.show_overlay.then(|| OverlayText {
            lines: overlay_ui::lines(
                &self.overlay_stats,
                &self.local,
                &self.options.chord,
                self.renderer,
            ),
        });
        let result = graphics
            .presenter
            .present(self.current.as_ref(), is_fresh, overlay.as_ref());
        match result {
            Err(e) => tracing::error!(error = %format!("{e:#}"), "present failed"),
            Ok(()) => {
                if let Some(picture) = self.current.as_ref().filter(|_| is_fresh) {
                    let present_ms =
                        crate::clock::unix_now_us().saturating_sub(picture.last_shard_us) as f64
                            / 1000.0;
                    StreamStats::add(&self.stats.frames_presented, 1);
                    self.stats
                        .stages
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(picture.network_ms, picture.decode_ms, present_ms);
                }
            }
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
            if let Some(stream) = &self.stream {
                self.overlay_stats.notes.take_from(&stream.notes);
            }
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

    fn run_shortcut(&mut self, shortcut: Shortcut) {
        // The chord's keys went to the host on the way down: let them go.
        let released = self.local.release_all();
        self.send_all(released);
        match shortcut {
            Shortcut::Quit => self.quit(),
            Shortcut::ToggleOverlay => self.show_overlay = !self.show_overlay,
            Shortcut::ToggleFullscreen => self.toggle_fullscreen(),
            Shortcut::ToggleCapture => {
                let capture = !self.local.captured;
                self.set_capture(capture);
            }
            Shortcut::ToggleMouseMode => {
                self.local.mode = match self.local.mode {
                    MouseMode::Absolute => MouseMode::Relative,
                    MouseMode::Relative => MouseMode::Absolute,
                };
                let capture = self.local.mode == MouseMode::Relative;
                self.set_capture(capture);
            }
        }
        if let Some(graphics) = &self.graphics {
            graphics.window.request_redraw();
        }
    }

    /// Relative mode: locks (or at least confines) and hides the pointer;
    /// motion then comes as raw device deltas.
    fn set_capture(&mut self, capture: bool) {
        let Some(graphics) = &self.graphics else {
            return;
        };
        let window = &graphics.window;
        if capture {
            let grabbed = window
                .set_cursor_grab(CursorGrabMode::Locked)
                .or_else(|_| window.set_cursor_grab(CursorGrabMode::Confined));
            if let Err(e) = grabbed {
                tracing::warn!(error = %e, "cannot capture the pointer");
            }
            window.set_cursor_visible(false);
        } else {
            let _ = window.set_cursor_grab(CursorGrabMode::None);
            window.set_cursor_visible(true);
        }
        self.local.captured = capture;
        tracing::info!(captured = capture, mode = ?self.local.mode, "pointer");
    }

    fn send(&self, event: Option<InputEvent>) {
        if let Some(event) = event {
            self.input.send(event);
        }
    }

    fn send_all(&self, events: Vec<InputEvent>) {
        for event in events {
            self.input.send(event);
        }
    }

    fn picture_rect(&self) -> Option<PictureRect> {
        Some(self.graphics.as_ref()?.presenter.picture_rect())
    }

    fn handle_input(&mut self, event: &WindowEvent) {
        match event {
            WindowEvent::KeyboardInput { event, .. } => {
                let PhysicalKey::Code(code) = event.physical_key else {
                    return;
                };
                let pressed = event.state == ElementState::Pressed;
                if pressed && let Some(shortcut) = self.options.chord.shortcut(self.modifiers, code)
                {
                    self.run_shortcut(shortcut);
                    return;
                }
                let key = self.local.key(code, pressed, event.repeat);
                self.send(key);
            }
            WindowEvent::CursorMoved { position, .. } => {
                if let Some(rect) = self.picture_rect() {
                    self.send(self.local.cursor_moved(&rect, position.x, position.y));
                }
            }
            WindowEvent::MouseInput { state, button, .. } => {
                let pressed = *state == ElementState::Pressed;
                if pressed && self.local.mode == MouseMode::Relative && !self.local.captured {
                    // A click into the window takes the pointer back.
                    self.set_capture(true);
                    return;
                }
                if let Some(button) = input::mouse_button(*button) {
                    let event = self.local.button(button, pressed);
                    self.send(event);
                }
            }
            WindowEvent::MouseWheel { delta, .. } => self.send(self.local.wheel(*delta)),
            WindowEvent::Focused(false) => {
                let released = self.local.release_all();
                self.send_all(released);
                if self.local.captured {
                    self.set_capture(false);
                }
            }
            _ => {}
        }
    }
}

impl ApplicationHandler<UserEvent> for StreamWindow {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if self.graphics.is_none() {
            if let Err(e) = self.create_graphics(event_loop) {
                crate::stream::ending::say(&format!("cannot set up the window: {e:#}"));
                self.quit();
                event_loop.exit();
            } else if self.local.mode == MouseMode::Relative {
                self.set_capture(true);
            }
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
            graphics.presenter.handle_event(&graphics.window, &event);
        }
        match event {
            WindowEvent::CloseRequested => self.quit(),
            WindowEvent::Resized(_) => {
                if let Some(graphics) = self.graphics.as_mut() {
                    graphics.window.request_redraw();
                }
            }
            WindowEvent::ScaleFactorChanged { scale_factor, .. } => {
                if let Some(graphics) = self.graphics.as_mut() {
                    graphics.presenter.set_scale_factor(scale_factor);
                }
            }
            WindowEvent::ModifiersChanged(modifiers) => self.modifiers = modifiers.state(),
            WindowEvent::RedrawRequested => self.redraw(),
            other => self.handle_input(&other),
        }
    }

    fn device_event(&mut self, _event_loop: &ActiveEventLoop, _id: DeviceId, event: DeviceEvent) {
        if let DeviceEvent::MouseMotion { delta } = event {
            let motion = self.local.motion(delta.0, delta.1);
            self.send(motion);
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
