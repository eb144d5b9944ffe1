//! `demo-game`: a small game to stream. Moves a sprite with the arrow keys or
//! WASD, the mouse (click to jump) and a gamepad's left stick; paints each
//! frame's draw time as the latency barcode; beeps on key presses; writes
//! every input event it receives to `--input-log`. Speaks the host's SDK when
//! started by a host (announces `ready` after its first frame).

mod clock;
mod log;
mod scene;
mod sound;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use common::sdk::client::SdkClient;
use pixels::{Pixels, PixelsBuilder, SurfaceTexture};
use serde_json::json;
use winit::application::ApplicationHandler;
use winit::dpi::PhysicalSize;
use winit::event::{DeviceEvent, DeviceId, ElementState, MouseScrollDelta, WindowEvent};
use winit::event_loop::{ActiveEventLoop, ControlFlow, EventLoop};
use winit::keyboard::{KeyCode, PhysicalKey};
use winit::window::{Window, WindowId};

use crate::clock::unix_now_us;
use crate::log::EventLog;
use crate::scene::Scene;
use crate::sound::Beeper;

#[derive(Parser, Debug)]
#[command(name = "demo-game", about = "The demo game the host streams")]
struct Args {
    #[arg(long, default_value_t = 1280)]
    width: u32,
    #[arg(long, default_value_t = 720)]
    height: u32,
    #[arg(long, default_value = "demo game")]
    title: String,
    /// Append every input event received to this file (JSON lines);
    /// default: $DEMO_GAME_INPUT_LOG.
    #[arg(long)]
    input_log: Option<PathBuf>,
    #[arg(long, default_value_t = 60)]
    fps: u32,
}

const SPEED_PX_PER_FRAME: f32 = 6.0;

struct Graphics {
    window: Arc<Window>,
    pixels: Pixels<'static>,
    size: (u32, u32),
}

struct Game {
    args: Args,
    graphics: Option<Graphics>,
    scene: Scene,
    log: EventLog,
    beeper: Beeper,
    pads: Option<gilrs::Gilrs>,
    sdk: Option<SdkClient>,
    ready_sent: bool,
    held: HashSet<KeyCode>,
    next_frame: Instant,
}

impl Game {
    fn create_graphics(&mut self, event_loop: &ActiveEventLoop) -> anyhow::Result<()> {
        let attributes = Window::default_attributes()
            .with_title(self.args.title.clone())
            .with_inner_size(PhysicalSize::new(self.args.width, self.args.height));
        let window = Arc::new(event_loop.create_window(attributes)?);
        let size = window.inner_size();
        let (width, height) = (size.width.max(1), size.height.max(1));
        let surface = SurfaceTexture::new(width, height, window.clone());
        let pixels = PixelsBuilder::new(width, height, surface).build()?;
        self.graphics = Some(Graphics {
            window,
            pixels,
            size: (width, height),
        });
        Ok(())
    }

    fn redraw(&mut self) {
        let Some(graphics) = self.graphics.as_mut() else {
            return;
        };
        let (width, height) = graphics.size;
        let (mut dx, mut dy) = (0.0, 0.0);
        for key in &self.held {
            match key {
                KeyCode::ArrowLeft | KeyCode::KeyA => dx -= SPEED_PX_PER_FRAME,
                KeyCode::ArrowRight | KeyCode::KeyD => dx += SPEED_PX_PER_FRAME,
                KeyCode::ArrowUp | KeyCode::KeyW => dy -= SPEED_PX_PER_FRAME,
                KeyCode::ArrowDown | KeyCode::KeyS => dy += SPEED_PX_PER_FRAME,
                _ => {}
            }
        }
        if let Some(pads) = &self.pads {
            for (_, pad) in pads.gamepads() {
                dx += pad.value(gilrs::Axis::LeftStickX) * SPEED_PX_PER_FRAME;
                dy -= pad.value(gilrs::Axis::LeftStickY) * SPEED_PX_PER_FRAME;
            }
        }
        self.scene.move_by(dx, dy, width, height);
        self.scene
            .draw(graphics.pixels.frame_mut(), width, height, unix_now_us());
        if let Err(e) = graphics.pixels.render() {
            eprintln!("demo-game: render failed: {e}");
            return;
        }
        if !self.ready_sent {
            self.ready_sent = true;
            if let Some(sdk) = &mut self.sdk
                && let Err(e) = sdk.ready()
            {
                eprintln!("demo-game: cannot tell the host we are ready: {e}");
            }
        }
    }

    fn poll_sdk(&mut self) {
        let Some(sdk) = &mut self.sdk else { return };
        loop {
            match sdk.poll() {
                Ok(Some(message)) => self.log.write(json!({ "kind": "sdk", "message": message })),
                Ok(None) => break,
                Err(e) => {
                    eprintln!("demo-game: SDK connection closed: {e}");
                    self.sdk = None;
                    break;
                }
            }
        }
    }

    fn poll_pads(&mut self) {
        let Some(pads) = &mut self.pads else { return };
        while let Some(gilrs::Event { id, event, .. }) = pads.next_event() {
            let pad = usize::from(id);
            let entry = match event {
                gilrs::EventType::ButtonPressed(button, _) => {
                    json!({ "kind": "pad_button", "pad": pad, "button": format!("{button:?}"), "pressed": true })
                }
                gilrs::EventType::ButtonReleased(button, _) => {
                    json!({ "kind": "pad_button", "pad": pad, "button": format!("{button:?}"), "pressed": false })
                }
                gilrs::EventType::AxisChanged(axis, value, _) => {
                    json!({ "kind": "pad_axis", "pad": pad, "axis": format!("{axis:?}"), "value": value })
                }
                gilrs::EventType::Connected => json!({ "kind": "pad_connected", "pad": pad }),
                gilrs::EventType::Disconnected => {
                    json!({ "kind": "pad_disconnected", "pad": pad })
                }
                _ => continue,
            };
            self.log.write(entry);
        }
    }
}

impl ApplicationHandler for Game {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if self.graphics.is_none()
            && let Err(e) = self.create_graphics(event_loop)
        {
            eprintln!("demo-game: cannot open the window: {e:#}");
            event_loop.exit();
        }
    }

    fn window_event(&mut self, event_loop: &ActiveEventLoop, _id: WindowId, event: WindowEvent) {
        match event {
            WindowEvent::CloseRequested => event_loop.exit(),
            WindowEvent::Resized(size) => {
                if let Some(graphics) = self.graphics.as_mut()
                    && size.width > 0
                    && size.height > 0
                {
                    let resized = graphics
                        .pixels
                        .resize_surface(size.width, size.height)
                        .and_then(|()| graphics.pixels.resize_buffer(size.width, size.height));
                    match resized {
                        Ok(()) => graphics.size = (size.width, size.height),
                        Err(e) => eprintln!("demo-game: cannot resize: {e}"),
                    }
                    self.log.write(
                        json!({ "kind": "resized", "width": size.width, "height": size.height }),
                    );
                }
            }
            WindowEvent::KeyboardInput { event, .. } => {
                let PhysicalKey::Code(code) = event.physical_key else {
                    return;
                };
                let pressed = event.state == ElementState::Pressed;
                if event.repeat {
                    return;
                }
                if pressed {
                    self.held.insert(code);
                    self.beeper.beep();
                    self.scene.flash_frames = 6;
                } else {
                    self.held.remove(&code);
                }
                self.log.write(
                    json!({ "kind": "key", "code": format!("{code:?}"), "pressed": pressed }),
                );
            }
            WindowEvent::CursorMoved { position, .. } => {
                self.scene.cursor = Some((position.x as f32, position.y as f32));
                self.log.write(
                    json!({ "kind": "mouse_move", "x": position.x.round(), "y": position.y.round() }),
                );
            }
            WindowEvent::MouseInput { state, button, .. } => {
                let pressed = state == ElementState::Pressed;
                if pressed
                    && button == winit::event::MouseButton::Left
                    && let (Some((x, y)), Some(graphics)) = (self.scene.cursor, &self.graphics)
                {
                    let (width, height) = graphics.size;
                    self.scene.move_by(
                        x - self.scene.sprite_x,
                        y - self.scene.sprite_y,
                        width,
                        height,
                    );
                }
                self.log.write(json!({
                    "kind": "mouse_button",
                    "button": format!("{button:?}"),
                    "pressed": pressed,
                }));
            }
            WindowEvent::MouseWheel { delta, .. } => {
                let (dx, dy) = match delta {
                    MouseScrollDelta::LineDelta(x, y) => (f64::from(x), f64::from(y)),
                    MouseScrollDelta::PixelDelta(p) => (p.x, p.y),
                };
                self.log
                    .write(json!({ "kind": "wheel", "dx": dx, "dy": dy }));
            }
            WindowEvent::RedrawRequested => self.redraw(),
            _ => {}
        }
    }

    fn device_event(&mut self, _: &ActiveEventLoop, _: DeviceId, event: DeviceEvent) {
        if let DeviceEvent::MouseMotion { delta } = event {
            self.log
                .write(json!({ "kind": "mouse_motion", "dx": delta.0, "dy": delta.1 }));
        }
    }

    fn about_to_wait(&mut self, event_loop: &ActiveEventLoop) {
        self.poll_sdk();
        self.poll_pads();
        let now = Instant::now();
        if now >= self.next_frame {
            if let Some(graphics) = &self.graphics {
                graphics.window.request_redraw();
            }
            let interval = Duration::from_secs(1) / self.args.fps.max(1);
            self.next_frame = (self.next_frame + interval).max(now);
        }
        event_loop.set_control_flow(ControlFlow::WaitUntil(self.next_frame));
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let log_path = args
        .input_log
        .clone()
        .or_else(|| std::env::var_os("DEMO_GAME_INPUT_LOG").map(PathBuf::from));
    let log = EventLog::open(log_path.as_deref())?;
    let sdk = match SdkClient::from_env() {
        Some(Ok(client)) => Some(client),
        Some(Err(e)) => {
            eprintln!("demo-game: cannot reach the host's SDK socket: {e}");
            None
        }
        None => None,
    };
    let pads = match gilrs::Gilrs::new() {
        Ok(pads) => Some(pads),
        Err(e) => {
            eprintln!("demo-game: no gamepad support: {e}");
            None
        }
    };
    let event_loop = EventLoop::new()?;
    let mut game = Game {
        scene: Scene::new(args.width, args.height),
        args,
        graphics: None,
        log,
        beeper: Beeper::open(),
        pads,
        sdk,
        ready_sent: false,
        held: HashSet::new(),
        next_frame: Instant::now(),
    };
    event_loop.run_app(&mut game)?;
    Ok(())
}
