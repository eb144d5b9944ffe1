//! The launcher's core: which screen is up, the forms, the saved hosts and
//! sign-ins, and every transition between screens, free of UI and I/O.
//!
//! Screens go Hosts → (Trust) → SignIn → Apps → Connecting → Playing → Apps.
//! Inputs are the user's [`Action`]s, the worker's [`Reply`]s, discovery's
//! [`Discovery`] events and the stream process's [`StreamEvent`]s; each
//! returns the [`Effect`]s to carry out (network requests for the worker, a
//! stream to spawn, files to save). Every screen change and every error shown
//! is logged at info (`screen = ...` / `error = ...`, message `launcher`),
//! which is what end-to-end tests wait for.

use super::credentials::{Credentials, Secret};
use super::failure::Failure;
use super::hosts::{SavedHost, SavedHosts, parse_address, parse_fingerprint_hex};
pub use super::messages::{
    Action, AppEntry, DiscoveredHost, Discovery, Effect, IconImage, Reply, Request, StreamEvent,
    Ticket,
};
use super::settings::Settings;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screen {
    Hosts,
    /// "Does this fingerprint match what the host printed?"
    Trust(PendingTrust),
    SignIn,
    Apps,
    Connecting {
        app: String,
    },
    Playing {
        app: String,
    },
    Settings,
}

impl Screen {
    pub fn name(&self) -> &'static str {
        match self {
            Screen::Hosts => "hosts",
            Screen::Trust(_) => "trust",
            Screen::SignIn => "signin",
            Screen::Apps => "apps",
            Screen::Connecting { .. } => "connecting",
            Screen::Playing { .. } => "playing",
            Screen::Settings => "settings",
        }
    }
}

/// A host about to be saved once the user confirms its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingTrust {
    pub host: SavedHost,
    /// Shown by the host itself when probed; otherwise read from its LAN advert.
    pub probed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    User,
    Password,
    Totp,
}

#[derive(Debug, Clone, Default)]
pub struct AddHostForm {
    pub address: String,
    pub fingerprint: String,
}

#[derive(Debug, Clone, Default)]
pub struct SignInForm {
    pub user: String,
    pub password: Secret,
    pub totp: String,
    pub remember: bool,
    /// The service said this account needs a code.
    pub totp_needed: bool,
}

/// What a pending request is for, so its failure lands in the right place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Probe,
    SignIn,
    Refresh,
    ListApps,
    Entitle,
}

#[derive(Debug)]
pub struct Launcher {
    screen: Screen,
    before_settings: Screen,
    pub hosts: SavedHosts,
    pub discovered: Vec<DiscoveredHost>,
    pub discovery_problem: Option<String>,
    pub credentials: Credentials,
    pub settings: Settings,
    pub audio_devices: Vec<String>,
    /// The host being signed in to / played on.
    pub host: Option<SavedHost>,
    pub signed_in_as: Option<String>,
    pub apps: Vec<AppEntry>,
    pub add_form: AddHostForm,
    pub sign_in_form: SignInForm,
    /// A red label.
    pub error: Option<String>,
    /// A calm label (a session the user ended, a sign-out).
    pub notice: Option<String>,
    /// What the spinner says while a request is out.
    pub busy: Option<String>,
    /// A field to give keyboard focus to on the next frame.
    pub focus: Option<Field>,
    pending: Option<(Ticket, Pending)>,
    next_ticket: Ticket,
}

impl Launcher {
    /// `problems`: files that did not load, said on the first screen.
    pub fn new(
        hosts: SavedHosts,
        credentials: Credentials,
        settings: Settings,
        problems: Vec<String>,
    ) -> Launcher {
        let mut launcher = Launcher {
            screen: Screen::Hosts,
            before_settings: Screen::Hosts,
            hosts,
            discovered: Vec::new(),
            discovery_problem: None,
            credentials,
            settings,
            audio_devices: Vec::new(),
            host: None,
            signed_in_as: None,
            apps: Vec::new(),
            add_form: AddHostForm::default(),
            sign_in_form: SignInForm {
                remember: true,
                ..SignInForm::default()
            },
            error: None,
            notice: None,
            busy: None,
            focus: None,
            pending: None,
            next_ticket: 1,
        };
        log_screen(&launcher.screen, 0);
        if !problems.is_empty() {
            launcher.show_error(problems.join(" "));
        }
        launcher
    }

    pub fn screen(&self) -> &Screen {
        &self.screen
    }

    /// The command line's `--host/--fingerprint/--user`: add and choose that
    /// host (asking about its certificate when no fingerprint is given).
    pub fn start_with(
        &mut self,
        host: Option<&str>,
        fingerprint: Option<&str>,
        user: Option<&str>,
    ) -> Vec<Effect> {
        if let Some(user) = user {
            self.sign_in_form.user = user.to_string();
        }
        let Some(host) = host else {
            return Vec::new();
        };
        self.add_form = AddHostForm {
            address: host.to_string(),
            fingerprint: fingerprint.unwrap_or_default().to_string(),
        };
        let keep = self.error.clone();
        let effects = self.act(Action::AddHost);
        // A settings problem said at start stays visible unless adding failed.
        if self.error.is_none() {
            self.error = keep;
        }
        effects
    }

    /// The user did something.
    pub fn act(&mut self, action: Action) -> Vec<Effect> {
        // A new step: the last one's words go (a problem loading the files
        // stays until the user leaves the settings).
        self.notice = None;
        if !matches!(action, Action::OpenSettings | Action::CloseSettings) {
            self.error = None;
        }
        match action {
            Action::AddHost => self.add_host(),
            Action::ChooseHost(fingerprint_hex) => self.choose_host(&fingerprint_hex),
            Action::ChooseDiscovered(fullname) => self.choose_discovered(&fullname),
            Action::RemoveHost(fingerprint_hex) => self.remove_host(&fingerprint_hex),
            Action::Trust(yes) => self.trust(yes),
            Action::SubmitSignIn => self.submit_sign_in(),
            Action::SignOut => self.sign_out(),
            Action::BackToHosts => {
                self.cancel_pending();
                self.goto(Screen::Hosts);
                Vec::new()
            }
            Action::Launch(app) => self.launch(app),
            Action::ReloadApps => self.list_apps(Some("Loading applications…")),
            Action::OpenSettings => {
                if self.screen != Screen::Settings {
                    self.before_settings = self.screen.clone();
                }
                self.goto(Screen::Settings);
                if self.audio_devices.is_empty() {
                    vec![Effect::Send(Request::ListAudioDevices)]
                } else {
                    Vec::new()
                }
            }
            Action::CloseSettings => {
                let back = std::mem::replace(&mut self.before_settings, Screen::Hosts);
                self.goto(back);
                vec![Effect::SaveSettings]
            }
        }
    }

    /// The worker answered.
    pub fn on_reply(&mut self, reply: Reply) -> Vec<Effect> {
        match reply {
            Reply::Probed {
                ticket,
                presented_hex,
            } => {
                if self.take_pending(ticket).is_none() {
                    return Vec::new();
                }
                let Ok((address, port)) = parse_address(&self.add_form.address) else {
                    return Vec::new();
                };
                let host = SavedHost {
                    name: super::hosts::authority(&address, port),
                    address,
                    port,
                    fingerprint_hex: presented_hex,
                };
                self.goto(Screen::Trust(PendingTrust { host, probed: true }));
                Vec::new()
            }
            Reply::SignedIn {
                ticket,
                user,
                remembered,
            } => {
                if self.take_pending(ticket).is_none() {
                    return Vec::new();
                }
                let mut effects = Vec::new();
                self.signed_in_as = Some(user.clone());
                self.sign_in_form.user = user;
                self.sign_in_form.password.clear();
                self.sign_in_form.totp.clear();
                self.sign_in_form.totp_needed = false;
                if let (Some(remembered), Some(host)) = (remembered, &self.host) {
                    self.credentials.remember(&host.fingerprint_hex, remembered);
                    effects.push(Effect::SaveCredentials);
                }
                effects.extend(self.list_apps(Some("Loading applications…")));
                effects
            }
            Reply::Rotated {
                fingerprint_hex,
                remembered,
            } => {
                // A rotation landing after the user signed out (or signed in
                // without "remember me") must not bring the sign-in back:
                // the new token is revoked instead.
                let still_remembered = self
                    .credentials
                    .get(&fingerprint_hex)
                    .is_some_and(|saved| saved.user == remembered.user);
                if still_remembered {
                    self.credentials.remember(&fingerprint_hex, remembered);
                    vec![Effect::SaveCredentials]
                } else if let Some(host) = self.hosts.find(&fingerprint_hex) {
                    vec![Effect::Send(Request::SignOut {
                        host: host.clone(),
                        refresh_token: Some(remembered.refresh_token),
                    })]
                } else {
                    Vec::new()
                }
            }
            Reply::Applications { ticket, apps } => {
                if self.take_pending(ticket).is_none() {
                    return Vec::new();
                }
                self.apps = apps;
                // A quiet reload after a stream keeps its message on screen.
                if !matches!(
                    self.screen,
                    Screen::Connecting { .. } | Screen::Playing { .. } | Screen::Settings
                ) {
                    self.goto(Screen::Apps);
                }
                Vec::new()
            }
            Reply::Icon { .. } | Reply::AudioDevices(_) => {
                if let Reply::AudioDevices(devices) = reply {
                    self.audio_devices = devices;
                }
                Vec::new()
            }
            Reply::Entitled { ticket, app, url } => {
                if self.take_pending(ticket).is_none() {
                    return Vec::new();
                }
                vec![Effect::SpawnStream { app, url }]
            }
            Reply::Failed { ticket, failure } => match self.take_pending(ticket) {
                Some(what) => self.failed(what, failure),
                None => Vec::new(),
            },
        }
    }

    /// The stream process said something or ended.
    pub fn on_stream(&mut self, event: StreamEvent) -> Vec<Effect> {
        match event {
            StreamEvent::Connected => {
                if let Screen::Connecting { app } = &self.screen {
                    let app = app.clone();
                    self.goto(Screen::Playing { app });
                }
                Vec::new()
            }
            StreamEvent::Ended { ending, exit } => {
                match ending {
                    Some(ending) if ending.is_calm() => self.show_notice(ending.words),
                    Some(ending) => {
                        if ending.code == "application_disabled" {
                            self.mark_disabled();
                        }
                        self.show_error(ending.words)
                    }
                    None => self.show_error(Failure::StreamCrashed { exit }.words()),
                }
                self.goto(Screen::Apps);
                // The host's list may have changed (an application disabled).
                self.list_apps(None)
            }
            StreamEvent::CouldNotStart(why) => {
                self.show_error(Failure::CannotStartStream(why).words());
                self.goto(Screen::Apps);
                Vec::new()
            }
        }
    }

    pub fn on_discovery(&mut self, event: Discovery) {
        match event {
            Discovery::Found(found) => {
                // Adverts repeat; say each host once (and again if it changed).
                if !self.discovered.contains(&found) {
                    tracing::info!(
                        discovered = %found.host.name,
                        address = %found.host.authority(),
                        "launcher"
                    );
                }
                self.discovered.retain(|d| d.fullname != found.fullname);
                self.discovered.push(found);
                self.discovered
                    .sort_by(|a, b| a.host.name.cmp(&b.host.name));
            }
            Discovery::Lost { fullname } => self.discovered.retain(|d| d.fullname != fullname),
            Discovery::Unavailable(why) => self.discovery_problem = Some(why),
        }
    }

    /// Is this saved host advertising itself on the LAN right now?
    pub fn is_online(&self, fingerprint_hex: &str) -> bool {
        self.discovered
            .iter()
            .any(|d| d.host.fingerprint_hex == fingerprint_hex)
    }

    fn add_host(&mut self) -> Vec<Effect> {
        let (address, port) = match parse_address(&self.add_form.address) {
            Ok(parsed) => parsed,
            Err(words) => return self.fail_here(Failure::BadAddress(words)),
        };
        if self.add_form.fingerprint.trim().is_empty() {
            let ticket = self.begin(
                Pending::Probe,
                Some(format!(
                    "Asking {} for its certificate…",
                    super::hosts::authority(&address, port)
                )),
            );
            return vec![Effect::Send(Request::Probe {
                ticket,
                address,
                port,
            })];
        }
        let fingerprint_hex = match parse_fingerprint_hex(&self.add_form.fingerprint) {
            Ok(hex) => hex,
            Err(words) => return self.fail_here(Failure::BadFingerprint(words)),
        };
        let host = SavedHost {
            name: super::hosts::authority(&address, port),
            address,
            port,
            fingerprint_hex: fingerprint_hex.clone(),
        };
        self.hosts.upsert(host);
        self.add_form = AddHostForm::default();
        let mut effects = vec![Effect::SaveHosts];
        effects.extend(self.choose_host(&fingerprint_hex));
        effects
    }

    fn choose_host(&mut self, fingerprint_hex: &str) -> Vec<Effect> {
        self.cancel_pending();
        let Some(host) = self.hosts.find(fingerprint_hex).cloned() else {
            return Vec::new();
        };
        let mut effects = Vec::new();
        let same = self.host.as_ref() == Some(&host);
        if !same {
            self.signed_in_as = None;
            self.apps.clear();
            effects.push(Effect::ForgetIcons);
        }
        self.host = Some(host.clone());
        if same && self.signed_in_as.is_some() {
            self.goto(Screen::Apps);
            effects.extend(self.list_apps(None));
            return effects;
        }
        if let Some(remembered) = self.credentials.get(fingerprint_hex).cloned() {
            self.sign_in_form.user = remembered.user.clone();
            let ticket = self.begin(
                Pending::Refresh,
                Some(format!(
                    "Signing in to {} as {}…",
                    host.name, remembered.user
                )),
            );
            effects.push(Effect::Send(Request::Refresh {
                ticket,
                host,
                user: remembered.user,
                refresh_token: remembered.refresh_token,
            }));
            return effects;
        }
        self.show_sign_in();
        effects
    }

    fn choose_discovered(&mut self, fullname: &str) -> Vec<Effect> {
        let Some(found) = self
            .discovered
            .iter()
            .find(|d| d.fullname == fullname)
            .cloned()
        else {
            return Vec::new();
        };
        if self.hosts.find(&found.host.fingerprint_hex).is_some() {
            // Known already: it may have moved to another address.
            let fingerprint_hex = found.host.fingerprint_hex.clone();
            self.hosts.upsert(found.host);
            let mut effects = vec![Effect::SaveHosts];
            effects.extend(self.choose_host(&fingerprint_hex));
            return effects;
        }
        self.cancel_pending();
        self.goto(Screen::Trust(PendingTrust {
            host: found.host,
            probed: false,
        }));
        Vec::new()
    }

    fn remove_host(&mut self, fingerprint_hex: &str) -> Vec<Effect> {
        self.hosts.remove(fingerprint_hex);
        let mut effects = vec![Effect::SaveHosts];
        if self.credentials.forget(fingerprint_hex).is_some() {
            effects.push(Effect::SaveCredentials);
        }
        if self
            .host
            .as_ref()
            .is_some_and(|h| h.fingerprint_hex == fingerprint_hex)
        {
            self.host = None;
            self.signed_in_as = None;
            self.apps.clear();
            effects.push(Effect::ForgetIcons);
        }
        effects
    }

    fn trust(&mut self, yes: bool) -> Vec<Effect> {
        let Screen::Trust(pending) = self.screen.clone() else {
            return Vec::new();
        };
        if !yes {
            self.goto(Screen::Hosts);
            self.show_notice(format!(
                "{} was not added: its certificate was not confirmed.",
                pending.host.name
            ));
            return Vec::new();
        }
        let fingerprint_hex = pending.host.fingerprint_hex.clone();
        self.hosts.upsert(pending.host);
        self.add_form = AddHostForm::default();
        let mut effects = vec![Effect::SaveHosts];
        effects.extend(self.choose_host(&fingerprint_hex));
        effects
    }

    fn submit_sign_in(&mut self) -> Vec<Effect> {
        let Some(host) = self.host.clone() else {
            self.goto(Screen::Hosts);
            return Vec::new();
        };
        if self.pending.is_some() {
            return Vec::new();
        }
        let form = &self.sign_in_form;
        let user = form.user.trim().to_string();
        if user.is_empty() {
            self.focus = Some(Field::User);
            return self.fail_here(Failure::Form("Enter your user name."));
        }
        if form.password.is_empty() {
            self.focus = Some(Field::Password);
            return self.fail_here(Failure::Form("Enter your password."));
        }
        let totp: String = form.totp.chars().filter(|c| !c.is_whitespace()).collect();
        if !totp.is_empty() && (totp.len() != 6 || !totp.bytes().all(|b| b.is_ascii_digit())) {
            self.focus = Some(Field::Totp);
            return self.fail_here(Failure::Form("The authenticator code is 6 digits."));
        }
        let remember = form.remember;
        let password = form.password.clone();
        let mut effects = Vec::new();
        if !remember && self.credentials.forget(&host.fingerprint_hex).is_some() {
            effects.push(Effect::SaveCredentials);
        }
        let ticket = self.begin(Pending::SignIn, Some("Signing in…".into()));
        effects.push(Effect::Send(Request::SignIn {
            ticket,
            host,
            user,
            password,
            totp: (!totp.is_empty()).then_some(totp),
            remember,
        }));
        effects
    }

    fn sign_out(&mut self) -> Vec<Effect> {
        self.cancel_pending();
        let Some(host) = self.host.clone() else {
            return Vec::new();
        };
        let mut effects = Vec::new();
        let refresh_token = self
            .credentials
            .forget(&host.fingerprint_hex)
            .map(|r| r.refresh_token);
        if refresh_token.is_some() {
            effects.push(Effect::SaveCredentials);
        }
        effects.push(Effect::Send(Request::SignOut {
            host,
            refresh_token,
        }));
        self.signed_in_as = None;
        self.apps.clear();
        self.show_sign_in();
        self.show_notice("Signed out.".into());
        effects
    }

    fn launch(&mut self, app: String) -> Vec<Effect> {
        let Some(host) = self.host.clone() else {
            return Vec::new();
        };
        if matches!(
            self.screen,
            Screen::Connecting { .. } | Screen::Playing { .. }
        ) {
            return Vec::new();
        }
        match self.apps.iter().find(|a| a.name == app) {
            Some(entry) if !entry.enabled => {
                return self.fail_here(Failure::ApplicationDisabled);
            }
            Some(_) => {}
            None => return self.fail_here(Failure::ApplicationGone),
        }
        let ticket = self.begin(Pending::Entitle, None);
        self.goto(Screen::Connecting { app: app.clone() });
        vec![Effect::Send(Request::Entitle { ticket, host, app })]
    }

    /// `busy`: None reloads quietly (no spinner).
    fn list_apps(&mut self, busy: Option<&str>) -> Vec<Effect> {
        let Some(host) = self.host.clone() else {
            return Vec::new();
        };
        let ticket = self.begin(Pending::ListApps, busy.map(str::to_string));
        vec![Effect::Send(Request::ListApps { ticket, host })]
    }

    fn failed(&mut self, what: Pending, failure: Failure) -> Vec<Effect> {
        let mut effects = Vec::new();
        match (what, &failure) {
            (Pending::Refresh, Failure::RefreshExpired) => {
                if let Some(host) = &self.host
                    && self.credentials.forget(&host.fingerprint_hex).is_some()
                {
                    effects.push(Effect::SaveCredentials);
                }
                self.show_sign_in();
            }
            (_, Failure::NotSignedIn) => {
                self.signed_in_as = None;
                self.show_sign_in();
            }
            (Pending::SignIn, Failure::TotpRequired) => {
                self.sign_in_form.totp_needed = true;
                self.focus = Some(Field::Totp);
            }
            (Pending::SignIn, Failure::WrongTotp) => {
                self.sign_in_form.totp_needed = true;
                self.sign_in_form.totp.clear();
                self.focus = Some(Field::Totp);
            }
            (Pending::SignIn, Failure::WrongPassword) => {
                self.sign_in_form.password.clear();
                self.focus = Some(Field::Password);
            }
            (Pending::Entitle, _) => {
                if failure == Failure::ApplicationDisabled {
                    self.mark_disabled();
                }
                self.goto(Screen::Apps);
            }
            _ => {}
        }
        self.show_error(failure.words());
        effects
    }

    fn mark_disabled(&mut self) {
        let app = match &self.screen {
            Screen::Connecting { app } | Screen::Playing { app } => app.clone(),
            _ => return,
        };
        for entry in self.apps.iter_mut().filter(|a| a.name == app) {
            entry.enabled = false;
        }
    }

    fn show_sign_in(&mut self) {
        self.focus = Some(if self.sign_in_form.user.is_empty() {
            Field::User
        } else {
            Field::Password
        });
        self.goto(Screen::SignIn);
    }

    /// A failure that needs no request: shown where the user is.
    fn fail_here(&mut self, failure: Failure) -> Vec<Effect> {
        self.show_error(failure.words());
        Vec::new()
    }

    fn begin(&mut self, what: Pending, busy: Option<String>) -> Ticket {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.pending = Some((ticket, what));
        self.busy = busy;
        ticket
    }

    fn take_pending(&mut self, ticket: Ticket) -> Option<Pending> {
        match self.pending {
            Some((t, what)) if t == ticket => {
                self.pending = None;
                self.busy = None;
                Some(what)
            }
            _ => None,
        }
    }

    fn cancel_pending(&mut self) {
        self.pending = None;
        self.busy = None;
    }

    fn goto(&mut self, screen: Screen) {
        if self.screen != screen {
            log_screen(&screen, self.apps.len());
        }
        self.screen = screen;
    }

    /// A failure outside the state's own transitions (a file that cannot be
    /// saved, a full queue): shown and logged like the others.
    pub fn report(&mut self, words: String) {
        self.show_error(words);
    }

    fn show_error(&mut self, words: String) {
        tracing::info!(error = %words, "launcher");
        self.error = Some(words);
    }

    fn show_notice(&mut self, words: String) {
        tracing::info!(notice = %words, "launcher");
        self.notice = Some(words);
    }
}

fn log_screen(screen: &Screen, apps: usize) {
    match screen {
        Screen::Apps => tracing::info!(screen = "apps", apps, "launcher"),
        Screen::Connecting { app } => tracing::info!(screen = "connecting", app = %app, "launcher"),
        Screen::Playing { app } => tracing::info!(screen = "playing", app = %app, "launcher"),
        Screen::Trust(pending) => tracing::info!(
            screen = "trust",
            fingerprint = %pending.host.fingerprint_hex,
            "launcher"
        ),
        other => tracing::info!(screen = other.name(), "launcher"),
    }
}

#[cfg(test)]
mod tests;
