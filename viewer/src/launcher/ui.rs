//! The launcher's egui drawing: one `*_ui` function per screen. They read
//! the state, edit its forms in place and push [`Action`]s; they never touch
//! the network or files.

use std::collections::HashMap;

use egui::{Align, Align2, Color32, FontId, Key, Layout, RichText, Sense, TextEdit, Vec2};

use super::hosts::grouped_fingerprint;
use super::settings::{
    BITRATE_MAX_MBPS, BITRATE_MIN_MBPS, Codec, FPS_CHOICES, MouseMode, Renderer, Resolution,
    Settings, ShortcutModifiers,
};
use super::state::{Action, AppEntry, Field, Launcher, PendingTrust, Screen};

/// Application icons by application name (the current host's).
pub type Icons = HashMap<String, egui::TextureHandle>;

const TILE: Vec2 = Vec2::new(180.0, 200.0);
const ICON_SIDE: f32 = 96.0;
const FORM_WIDTH: f32 = 320.0;
/// Room for two lines of a message (or the spinner and one).
const STATUS_HEIGHT: f32 = 40.0;

/// The whole window.
pub fn launcher_ui(ui: &mut egui::Ui, state: &mut Launcher, icons: &Icons, out: &mut Vec<Action>) {
    egui::Panel::top("launcher-top").show(ui, |ui| top_bar_ui(ui, state, out));
    egui::CentralPanel::default().show(ui, |ui| {
        status_ui(ui, state);
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show(ui, |ui| match state.screen().clone() {
                Screen::Hosts => hosts_ui(ui, state, out),
                Screen::Trust(pending) => trust_ui(ui, &pending, out),
                Screen::SignIn => sign_in_ui(ui, state, out),
                Screen::Apps => apps_ui(ui, state, icons, out),
                Screen::Connecting { app } => connecting_ui(ui, &app),
                Screen::Playing { app } => playing_ui(ui, &app, state.settings.shortcut_modifiers),
                Screen::Settings => settings_ui(ui, state, out),
            });
    });
}

fn top_bar_ui(ui: &mut egui::Ui, state: &Launcher, out: &mut Vec<Action>) {
    ui.horizontal(|ui| {
        ui.heading("AppStream Viewer");
        ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
            let screen = state.screen();
            let streaming = matches!(screen, Screen::Connecting { .. } | Screen::Playing { .. });
            if !streaming && *screen != Screen::Settings && ui.button("Settings").clicked() {
                out.push(Action::OpenSettings);
            }
            if let (Some(user), Some(host)) = (&state.signed_in_as, &state.host)
                && !streaming
            {
                if ui.button("Sign out").clicked() {
                    out.push(Action::SignOut);
                }
                ui.label(format!("{user} on {}", host.name));
            }
        });
    });
}

/// Spinner, red error, calm notice: a strip of fixed height above every
/// screen, so nothing below it moves when a message comes or goes.
fn status_ui(ui: &mut egui::Ui, state: &Launcher) {
    let width = ui.available_width();
    let (rect, _) = ui.allocate_exact_size(Vec2::new(width, STATUS_HEIGHT), Sense::hover());
    ui.scope_builder(egui::UiBuilder::new().max_rect(rect), |ui| {
        ui.set_clip_rect(rect);
        if let Some(busy) = &state.busy {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(busy);
            });
        }
        if let Some(error) = &state.error {
            ui.label(
                RichText::new(error)
                    .color(ui.visuals().error_fg_color)
                    .size(14.0),
            );
        } else if let Some(notice) = &state.notice {
            ui.label(RichText::new(notice).size(14.0));
        }
    });
}

pub fn hosts_ui(ui: &mut egui::Ui, state: &mut Launcher, out: &mut Vec<Action>) {
    ui.heading("Hosts");
    ui.add_space(4.0);
    if state.hosts.hosts.is_empty() {
        ui.weak("No saved hosts yet: pick one found on this network, or add one by its address.");
    }
    for host in state.hosts.hosts.clone() {
        ui.horizontal(|ui| {
            let button = egui::Button::new(RichText::new(&host.name).size(17.0))
                .min_size(Vec2::new(220.0, 32.0));
            if ui.add(button).clicked() {
                out.push(Action::ChooseHost(host.fingerprint_hex.clone()));
            }
            ui.label(host.authority());
            if state.is_online(&host.fingerprint_hex) {
                ui.label(RichText::new("on this network").color(Color32::from_rgb(80, 180, 90)));
            }
            if state.credentials.get(&host.fingerprint_hex).is_some() {
                ui.weak("signed in");
            }
            if ui.small_button("Remove").clicked() {
                out.push(Action::RemoveHost(host.fingerprint_hex.clone()));
            }
        });
    }

    ui.add_space(12.0);
    ui.separator();
    ui.label(RichText::new("On this network").strong());
    let new_hosts: Vec<_> = state
        .discovered
        .iter()
        .filter(|d| state.hosts.find(&d.host.fingerprint_hex).is_none())
        .cloned()
        .collect();
    if new_hosts.is_empty() {
        match &state.discovery_problem {
            Some(problem) => ui.weak(problem),
            None if state.discovered.is_empty() => ui.weak("Looking for hosts…"),
            None => ui.weak("No other hosts found."),
        };
    }
    for found in new_hosts {
        ui.horizontal(|ui| {
            if ui
                .add(egui::Button::new(&found.host.name).min_size(Vec2::new(220.0, 28.0)))
                .clicked()
            {
                out.push(Action::ChooseDiscovered(found.fullname.clone()));
            }
            ui.label(found.host.authority());
            if found.protocol_version != common::control::PROTOCOL_VERSION {
                ui.label(
                    RichText::new("needs another version of this viewer")
                        .color(ui.visuals().warn_fg_color),
                );
            }
        });
    }

    ui.add_space(12.0);
    ui.separator();
    ui.label(RichText::new("Add a host by its address").strong());
    let busy = state.busy.is_some();
    let mut submit = false;
    egui::Grid::new("add-host")
        .num_columns(2)
        .spacing([12.0, 8.0])
        .show(ui, |ui| {
            ui.label("Address");
            ui.add(
                TextEdit::singleline(&mut state.add_form.address)
                    .hint_text("192.168.1.20:47990")
                    .desired_width(FORM_WIDTH),
            );
            ui.end_row();
            ui.label("Fingerprint");
            let fingerprint = ui.add(
                TextEdit::singleline(&mut state.add_form.fingerprint)
                    .hint_text("SHA-256 the host printed (optional)")
                    .desired_width(FORM_WIDTH),
            );
            submit |= enter_pressed(ui, &fingerprint);
            ui.end_row();
        });
    ui.weak("Leave the fingerprint empty to see the one the host presents and confirm it.");
    submit |= ui
        .add_enabled(!busy, egui::Button::new("Add host"))
        .clicked();
    if submit && !busy {
        out.push(Action::AddHost);
    }
}

pub fn trust_ui(ui: &mut egui::Ui, pending: &PendingTrust, out: &mut Vec<Action>) {
    ui.heading("Is this the right host?");
    ui.add_space(8.0);
    let how = if pending.probed {
        "presented this certificate fingerprint (SHA-256):"
    } else {
        "says on this network that its certificate fingerprint (SHA-256) is:"
    };
    ui.label(format!(
        "{} at {} {how}",
        pending.host.name,
        pending.host.authority()
    ));
    ui.add_space(8.0);
    ui.label(
        RichText::new(grouped_fingerprint(&pending.host.fingerprint_hex))
            .monospace()
            .size(16.0),
    );
    ui.add_space(8.0);
    ui.label(RichText::new("Does this match what the host printed?").strong());
    ui.weak("The host prints it when it starts: “certificate fingerprint (SHA-256): …”.");
    ui.add_space(8.0);
    ui.horizontal(|ui| {
        if ui.button("Yes, it matches: trust this host").clicked() {
            out.push(Action::Trust(true));
        }
        if ui.button("No, cancel").clicked() {
            out.push(Action::Trust(false));
        }
    });
}

pub fn sign_in_ui(ui: &mut egui::Ui, state: &mut Launcher, out: &mut Vec<Action>) {
    let Some(host) = state.host.clone() else {
        return;
    };
    ui.heading(format!("Sign in to {}", host.name));
    ui.weak(host.authority());
    ui.add_space(8.0);
    let focus = state.focus.take();
    if focus.is_some() {
        // Show the focused field (and its cursor) without waiting for input.
        ui.ctx().request_repaint();
    }
    let busy = state.busy.is_some();
    let mut submit = false;
    let form = &mut state.sign_in_form;
    egui::Grid::new("sign-in")
        .num_columns(2)
        .spacing([12.0, 8.0])
        .show(ui, |ui| {
            ui.label("User");
            let user = ui.add(TextEdit::singleline(&mut form.user).desired_width(FORM_WIDTH));
            if focus == Some(Field::User) {
                user.request_focus();
            }
            let user_entered = enter_pressed(ui, &user);
            ui.end_row();

            ui.label("Password");
            let password = ui.add(
                TextEdit::singleline(form.password.as_mut_string())
                    .password(true)
                    .desired_width(FORM_WIDTH),
            );
            if focus == Some(Field::Password) || user_entered {
                password.request_focus();
            }
            submit |= enter_pressed(ui, &password);
            ui.end_row();

            let label = if form.totp_needed {
                RichText::new("Authenticator code").strong()
            } else {
                RichText::new("Authenticator code\n(if you use one)")
            };
            ui.label(label);
            let totp = ui.add(
                TextEdit::singleline(&mut form.totp)
                    .hint_text("6 digits")
                    .char_limit(7)
                    .desired_width(100.0),
            );
            if focus == Some(Field::Totp) {
                totp.request_focus();
            }
            submit |= enter_pressed(ui, &totp);
            ui.end_row();

            ui.label("");
            ui.checkbox(&mut form.remember, "Remember me")
                .on_hover_text("Keeps a sign-in token on this computer (never the password).");
            ui.end_row();
        });
    ui.add_space(8.0);
    ui.horizontal(|ui| {
        submit |= ui
            .add_enabled(
                !busy,
                egui::Button::new("Sign in").min_size(Vec2::new(100.0, 28.0)),
            )
            .clicked();
        if ui.button("Other host").clicked() {
            out.push(Action::BackToHosts);
        }
    });
    if submit && !busy {
        out.push(Action::SubmitSignIn);
    }
}

pub fn apps_ui(ui: &mut egui::Ui, state: &Launcher, icons: &Icons, out: &mut Vec<Action>) {
    ui.horizontal(|ui| {
        ui.heading("Applications");
        if ui.small_button("Reload").clicked() {
            out.push(Action::ReloadApps);
        }
        if ui.small_button("Other host").clicked() {
            out.push(Action::BackToHosts);
        }
    });
    ui.add_space(8.0);
    if state.apps.is_empty() {
        ui.weak("No applications are available to you on this host.");
        return;
    }
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing = Vec2::splat(12.0);
        for app in &state.apps {
            if app_tile_ui(ui, app, icons.get(&app.name)) {
                out.push(Action::Launch(app.name.clone()));
            }
        }
    });
}

/// One application: icon (or a coloured tile with its first letter), name,
/// description; greyed and inert when disabled. True when clicked.
fn app_tile_ui(ui: &mut egui::Ui, app: &AppEntry, icon: Option<&egui::TextureHandle>) -> bool {
    let sense = if app.enabled {
        Sense::click()
    } else {
        Sense::hover()
    };
    let (rect, response) = ui.allocate_exact_size(TILE, sense);
    let response = response.on_hover_text(if app.enabled {
        format!("Start {}", app.name)
    } else {
        format!("{} is disabled by an administrator", app.name)
    });
    if !ui.is_rect_visible(rect) {
        return false;
    }
    let visuals = ui.visuals().clone();
    let painter = ui.painter_at(rect);
    let fill = if app.enabled && (response.hovered() || response.has_focus()) {
        visuals.widgets.hovered.weak_bg_fill
    } else {
        visuals.faint_bg_color
    };
    painter.rect_filled(rect, 8.0, fill);
    if response.has_focus() {
        painter.rect_stroke(
            rect,
            8.0,
            visuals.selection.stroke,
            egui::StrokeKind::Inside,
        );
    }
    let tint = if app.enabled {
        Color32::WHITE
    } else {
        Color32::from_white_alpha(70)
    };
    let icon_rect = egui::Rect::from_center_size(
        rect.center_top() + Vec2::new(0.0, 12.0 + ICON_SIDE / 2.0),
        Vec2::splat(ICON_SIDE),
    );
    match icon {
        Some(texture) => {
            painter.image(
                texture.id(),
                icon_rect,
                egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
                tint,
            );
        }
        None => {
            let colour = tile_colour(&app.name).gamma_multiply(if app.enabled { 1.0 } else { 0.3 });
            painter.rect_filled(icon_rect, 12.0, colour);
            let letter = app
                .name
                .chars()
                .next()
                .map(|c| c.to_uppercase().to_string())
                .unwrap_or_default();
            painter.text(
                icon_rect.center(),
                Align2::CENTER_CENTER,
                letter,
                FontId::proportional(48.0),
                Color32::WHITE.gamma_multiply(if app.enabled { 1.0 } else { 0.5 }),
            );
        }
    }
    let text_colour = if app.enabled {
        visuals.strong_text_color()
    } else {
        visuals.weak_text_color()
    };
    let mut y = icon_rect.bottom() + 8.0;
    let name = painter.layout(
        app.name.clone(),
        FontId::proportional(16.0),
        text_colour,
        TILE.x - 16.0,
    );
    painter.galley(
        egui::pos2(rect.center().x - name.size().x / 2.0, y),
        name.clone(),
        text_colour,
    );
    y += name.size().y + 2.0;
    if !app.enabled {
        let tag = painter.text(
            egui::pos2(rect.center().x, y),
            Align2::CENTER_TOP,
            "disabled",
            FontId::proportional(13.0),
            visuals.warn_fg_color.gamma_multiply(0.8),
        );
        y = tag.bottom() + 2.0;
    }
    let description: String = app.description.chars().take(90).collect();
    if !description.is_empty() {
        let galley = painter.layout(
            description,
            FontId::proportional(12.0),
            visuals.weak_text_color(),
            TILE.x - 16.0,
        );
        painter.galley(
            egui::pos2(rect.center().x - galley.size().x / 2.0, y),
            galley,
            visuals.weak_text_color(),
        );
    }
    app.enabled && response.clicked()
}

/// A stable, pleasant colour per name.
fn tile_colour(name: &str) -> Color32 {
    let hash = name.bytes().fold(2166136261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16777619)
    });
    let hue = (hash % 360) as f32 / 360.0;
    egui::ecolor::Hsva::new(hue, 0.55, 0.65, 1.0).into()
}

pub fn connecting_ui(ui: &mut egui::Ui, app: &str) {
    ui.add_space(60.0);
    ui.vertical_centered(|ui| {
        ui.add(egui::Spinner::new().size(48.0));
        ui.add_space(12.0);
        ui.heading(format!("Connecting to {app}…"));
    });
}

pub fn playing_ui(ui: &mut egui::Ui, app: &str, modifiers: ShortcutModifiers) {
    ui.add_space(60.0);
    ui.vertical_centered(|ui| {
        ui.heading(format!("Playing {app}"));
        ui.add_space(8.0);
        ui.label("The stream is in its own window.");
        ui.weak(format!(
            "{0}+Q quits it, {0}+S shows the statistics, {0}+X toggles fullscreen.",
            modifiers.label()
        ));
    });
}

pub fn settings_ui(ui: &mut egui::Ui, state: &mut Launcher, out: &mut Vec<Action>) {
    ui.heading("Settings");
    ui.add_space(8.0);
    let devices = state.audio_devices.clone();
    let s = &mut state.settings;
    egui::Grid::new("settings")
        .num_columns(2)
        .spacing([16.0, 10.0])
        .show(ui, |ui| {
            ui.label("Resolution");
            egui::ComboBox::from_id_salt("resolution")
                .selected_text(s.resolution.label())
                .width(200.0)
                .show_ui(ui, |ui| {
                    for r in Resolution::ALL {
                        ui.selectable_value(&mut s.resolution, r, r.label());
                    }
                });
            ui.end_row();

            ui.label("Frame rate");
            ui.horizontal(|ui| {
                for fps in FPS_CHOICES {
                    ui.selectable_value(&mut s.fps, fps, format!("{fps} fps"));
                }
            });
            ui.end_row();

            ui.label("Bitrate");
            bitrate_ui(ui, s);
            ui.end_row();

            ui.label("Video codec");
            egui::ComboBox::from_id_salt("codec")
                .selected_text(s.codec.label())
                .width(200.0)
                .show_ui(ui, |ui| {
                    for c in Codec::ALL {
                        ui.selectable_value(&mut s.codec, c, c.label());
                    }
                });
            ui.end_row();

            ui.label("Window");
            ui.vertical(|ui| {
                ui.checkbox(&mut s.fullscreen, "Start in fullscreen");
                ui.checkbox(&mut s.vsync, "V-sync (off: lowest latency, may tear)");
                ui.checkbox(&mut s.stats_overlay, "Statistics overlay");
            });
            ui.end_row();

            ui.label("Renderer");
            egui::ComboBox::from_id_salt("renderer")
                .selected_text(s.renderer.label())
                .width(200.0)
                .show_ui(ui, |ui| {
                    for r in Renderer::ALL {
                        ui.selectable_value(&mut s.renderer, r, r.label());
                    }
                });
            ui.end_row();

            ui.label("Audio output");
            let current = s.audio_device.clone().unwrap_or_else(|| "Default".into());
            egui::ComboBox::from_id_salt("audio")
                .selected_text(current)
                .width(260.0)
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut s.audio_device, None, "Default");
                    for name in &devices {
                        ui.selectable_value(&mut s.audio_device, Some(name.clone()), name);
                    }
                });
            ui.end_row();

            ui.label("Mouse");
            ui.vertical(|ui| {
                ui.radio_value(
                    &mut s.mouse,
                    MouseMode::Absolute,
                    "Absolute: the pointer maps onto the picture (desktop applications)",
                );
                ui.radio_value(
                    &mut s.mouse,
                    MouseMode::Relative,
                    "Relative: the pointer is captured (3D games)",
                );
            });
            ui.end_row();

            ui.label("Shortcut keys");
            egui::ComboBox::from_id_salt("shortcuts")
                .selected_text(s.shortcut_modifiers.label())
                .width(200.0)
                .show_ui(ui, |ui| {
                    for m in [ShortcutModifiers::CtrlAltShift, ShortcutModifiers::CtrlAlt] {
                        ui.selectable_value(&mut s.shortcut_modifiers, m, m.label());
                    }
                });
            ui.end_row();
        });
    ui.add_space(12.0);
    ui.horizontal(|ui| {
        if ui.button("Done").clicked() {
            out.push(Action::CloseSettings);
        }
        if ui.button("Restore defaults").clicked() {
            *s = Settings::default();
        }
    });
}

fn bitrate_ui(ui: &mut egui::Ui, s: &mut Settings) {
    ui.horizontal(|ui| {
        ui.spacing_mut().slider_width = 260.0;
        let auto = s.auto_bitrate_kbps().map(|kbps| kbps.div_ceil(1000));
        let mut mbps = s.bitrate_mbps.or(auto).unwrap_or(20);
        let slider = egui::Slider::new(&mut mbps, BITRATE_MIN_MBPS..=BITRATE_MAX_MBPS)
            .suffix(" Mbit/s")
            .integer();
        if ui.add(slider).changed() {
            s.bitrate_mbps = Some(mbps);
        }
        match (s.bitrate_mbps, auto) {
            (None, Some(_)) => {
                ui.weak("auto");
            }
            (None, None) => {
                ui.weak("auto (the host's choice)");
            }
            (Some(_), _) => {
                if ui.small_button("Auto").clicked() {
                    s.bitrate_mbps = None;
                }
            }
        }
    });
}

/// Enter pressed while this single-line field had focus.
fn enter_pressed(ui: &egui::Ui, response: &egui::Response) -> bool {
    response.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter))
}
