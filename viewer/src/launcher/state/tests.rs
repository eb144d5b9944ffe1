//! The launcher's screens and transitions, driven as the UI and the worker would.
use super::super::credentials::{Remembered, Secret};
use super::super::failure::StreamEnding;
use super::*;

const FP: &str = "abababababababababababababababababababababababababababababababab";

fn launcher() -> Launcher {
    Launcher::new(
        SavedHosts::default(),
        Credentials::default(),
        Settings::default(),
        Vec::new(),
    )
}

fn sent(effects: &[Effect]) -> Vec<Request> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

fn ticket_of(request: &Request) -> Ticket {
    match request {
        Request::Probe { ticket, .. }
        | Request::SignIn { ticket, .. }
        | Request::Refresh { ticket, .. }
        | Request::ListApps { ticket, .. }
        | Request::Entitle { ticket, .. } => *ticket,
        other => panic!("no ticket: {other:?}"),
    }
}

fn apps() -> Vec<AppEntry> {
    vec![
        AppEntry {
            name: "demo".into(),
            description: "The demo".into(),
            enabled: true,
        },
        AppEntry {
            name: "old".into(),
            description: String::new(),
            enabled: false,
        },
    ]
}

/// --host with a fingerprint and --user: straight to sign-in, password focused.
fn at_sign_in() -> Launcher {
    let mut l = launcher();
    let effects = l.start_with(Some("127.0.0.1:47990"), Some(FP), Some("demo"));
    assert!(effects.contains(&Effect::SaveHosts));
    assert_eq!(l.screen(), &Screen::SignIn);
    assert_eq!(l.focus, Some(Field::Password));
    assert_eq!(
        l.host.as_ref().unwrap().base_url(),
        "https://127.0.0.1:47990"
    );
    l
}

fn sign_in(l: &mut Launcher, password: &str) -> Request {
    *l.sign_in_form.password.as_mut_string() = password.into();
    let requests = sent(&l.act(Action::SubmitSignIn));
    assert_eq!(requests.len(), 1);
    requests[0].clone()
}

fn at_apps() -> Launcher {
    let mut l = at_sign_in();
    let request = sign_in(&mut l, "pw");
    let effects = l.on_reply(Reply::SignedIn {
        ticket: ticket_of(&request),
        user: "demo".into(),
        remembered: None,
    });
    let list = sent(&effects);
    assert!(matches!(list[0], Request::ListApps { .. }));
    l.on_reply(Reply::Applications {
        ticket: ticket_of(&list[0]),
        apps: apps(),
    });
    assert_eq!(l.screen(), &Screen::Apps);
    l
}

#[test]
fn hosts_sign_in_apps_connecting_playing_and_back() {
    let mut l = at_apps();
    assert_eq!(l.signed_in_as.as_deref(), Some("demo"));
    assert!(
        l.sign_in_form.password.is_empty(),
        "the password is not kept"
    );
    let entitle = sent(&l.act(Action::Launch("demo".into())));
    assert_eq!(l.screen(), &Screen::Connecting { app: "demo".into() });
    let effects = l.on_reply(Reply::Entitled {
        ticket: ticket_of(&entitle[0]),
        app: "demo".into(),
        url: Secret::new("appstream://127.0.0.1:47990/stream?token=t&fp=ab"),
    });
    assert!(matches!(&effects[0], Effect::SpawnStream { app, .. } if app == "demo"));
    l.on_stream(StreamEvent::Connected);
    assert_eq!(l.screen(), &Screen::Playing { app: "demo".into() });
    let effects = l.on_stream(StreamEvent::Ended {
        ending: StreamEnding::parse(r#"{"ended":"user_quit","words":"You ended the session."}"#),
        exit: "exit status 0".into(),
    });
    assert_eq!(l.screen(), &Screen::Apps);
    assert_eq!(l.error, None, "quitting is not alarming");
    assert_eq!(l.notice.as_deref(), Some("You ended the session."));
    assert!(matches!(sent(&effects)[0], Request::ListApps { .. }));
    assert_eq!(l.busy, None, "the reload is quiet");
    l.act(Action::BackToHosts);
    assert_eq!(l.screen(), &Screen::Hosts);
    // Choosing the same host again goes straight back to its applications.
    l.act(Action::ChooseHost(FP.into()));
    assert_eq!(l.screen(), &Screen::Apps);
}

#[test]
fn the_stream_ending_is_said_in_its_words() {
    let mut l = at_apps();
    l.act(Action::Launch("demo".into()));
    l.on_stream(StreamEvent::Ended {
        ending: StreamEnding::parse(
            r#"{"ended":"admin_terminated","words":"An administrator ended the session."}"#,
        ),
        exit: "exit status 0".into(),
    });
    assert_eq!(l.screen(), &Screen::Apps);
    assert_eq!(
        l.error.as_deref(),
        Some("An administrator ended the session.")
    );
    l.act(Action::Launch("demo".into()));
    l.on_stream(StreamEvent::Ended {
        ending: None,
        exit: "signal 11".into(),
    });
    assert_eq!(
        l.error.as_deref(),
        Some("The stream stopped unexpectedly (signal 11).")
    );
    l.act(Action::Launch("demo".into()));
    l.on_stream(StreamEvent::Ended {
        ending: StreamEnding::parse(
            r#"{"ended":"application_disabled","words":"An administrator has disabled this application."}"#,
        ),
        exit: "exit status 2".into(),
    });
    assert!(!l.apps[0].enabled, "the tile greys out at once");
}

#[test]
fn disabled_applications_do_not_start() {
    let mut l = at_apps();
    let effects = l.act(Action::Launch("old".into()));
    assert!(effects.is_empty());
    assert_eq!(l.screen(), &Screen::Apps);
    assert_eq!(
        l.error.as_deref(),
        Some("An administrator has disabled this application.")
    );
}

#[test]
fn entitle_failures_return_to_the_grid_in_words() {
    let mut l = at_apps();
    let entitle = sent(&l.act(Action::Launch("demo".into())));
    l.on_reply(Reply::Failed {
        ticket: ticket_of(&entitle[0]),
        failure: Failure::ApplicationDisabled,
    });
    assert_eq!(l.screen(), &Screen::Apps);
    assert!(!l.apps[0].enabled);
    assert!(l.error.as_deref().unwrap().contains("disabled"));
}

#[test]
fn sign_in_failures_keep_the_user_on_the_form() {
    let mut l = at_sign_in();
    let r = sign_in(&mut l, "wrong");
    l.on_reply(Reply::Failed {
        ticket: ticket_of(&r),
        failure: Failure::WrongPassword,
    });
    assert_eq!(l.screen(), &Screen::SignIn);
    assert_eq!(l.error.as_deref(), Some("Wrong user name or password."));
    assert!(l.sign_in_form.password.is_empty());
    assert_eq!(l.focus, Some(Field::Password));

    let r = sign_in(&mut l, "right");
    l.on_reply(Reply::Failed {
        ticket: ticket_of(&r),
        failure: Failure::TotpRequired,
    });
    assert!(l.sign_in_form.totp_needed);
    assert_eq!(l.focus, Some(Field::Totp));
    assert!(l.error.as_deref().unwrap().contains("6-digit code"));

    l.sign_in_form.totp = "12345".into();
    assert!(sent(&l.act(Action::SubmitSignIn)).is_empty());
    assert_eq!(
        l.error.as_deref(),
        Some("The authenticator code is 6 digits.")
    );
    l.sign_in_form.totp = "123 456".into();
    let r = sent(&l.act(Action::SubmitSignIn));
    assert!(matches!(&r[0], Request::SignIn { totp: Some(t), .. } if t == "123456"));
    l.on_reply(Reply::Failed {
        ticket: ticket_of(&r[0]),
        failure: Failure::WrongTotp,
    });
    assert!(l.sign_in_form.totp.is_empty());
    assert!(l.error.as_deref().unwrap().contains("code is wrong"));

    // A reply to a request the user walked away from is ignored.
    let r = sent(&l.act(Action::SubmitSignIn));
    l.act(Action::BackToHosts);
    l.on_reply(Reply::Failed {
        ticket: ticket_of(&r[0]),
        failure: Failure::WrongPassword,
    });
    assert_eq!(l.screen(), &Screen::Hosts);
    assert_eq!(l.error, None);
}

#[test]
fn empty_fields_are_said_before_asking() {
    let mut l = at_sign_in();
    assert!(sent(&l.act(Action::SubmitSignIn)).is_empty());
    assert_eq!(l.error.as_deref(), Some("Enter your password."));
    l.sign_in_form.user.clear();
    assert!(sent(&l.act(Action::SubmitSignIn)).is_empty());
    assert_eq!(l.error.as_deref(), Some("Enter your user name."));
    assert_eq!(l.focus, Some(Field::User));
}

#[test]
fn trust_on_first_use_is_explicit() {
    let mut l = launcher();
    let effects = l.start_with(Some("10.0.0.5:4000"), None, None);
    let probe = sent(&effects);
    assert!(
        matches!(&probe[0], Request::Probe { address, port: 4000, .. } if address == "10.0.0.5")
    );
    assert!(l.busy.as_deref().unwrap().contains("10.0.0.5:4000"));
    l.on_reply(Reply::Probed {
        ticket: ticket_of(&probe[0]),
        presented_hex: FP.into(),
    });
    let Screen::Trust(pending) = l.screen().clone() else {
        panic!("{:?}", l.screen())
    };
    assert_eq!(pending.host.fingerprint_hex, FP);
    assert!(l.hosts.hosts.is_empty(), "nothing saved before the answer");
    l.act(Action::Trust(false));
    assert_eq!(l.screen(), &Screen::Hosts);
    assert!(l.hosts.hosts.is_empty());

    let probe = sent(&l.start_with(Some("10.0.0.5:4000"), None, None));
    l.on_reply(Reply::Probed {
        ticket: ticket_of(&probe[0]),
        presented_hex: FP.into(),
    });
    let effects = l.act(Action::Trust(true));
    assert!(effects.contains(&Effect::SaveHosts));
    assert_eq!(l.hosts.hosts[0].fingerprint_hex, FP);
    assert_eq!(l.screen(), &Screen::SignIn);
    assert_eq!(l.focus, Some(Field::User));
}

#[test]
fn bad_addresses_and_fingerprints_are_said() {
    let mut l = launcher();
    l.add_form.address = "not an address".into();
    assert!(l.act(Action::AddHost).is_empty());
    assert!(
        l.error
            .as_deref()
            .unwrap()
            .contains("is not an address like")
    );
    l.add_form.address = "10.0.0.5".into();
    l.add_form.fingerprint = "abc".into();
    assert!(l.act(Action::AddHost).is_empty());
    assert!(
        l.error
            .as_deref()
            .unwrap()
            .contains("64 hexadecimal digits")
    );
}

#[test]
fn a_remembered_sign_in_skips_the_form_and_rotates() {
    let mut credentials = Credentials::default();
    credentials.remember(
        FP,
        Remembered {
            user: "demo".into(),
            refresh_token: Secret::new("r1"),
            refresh_expires_at: None,
        },
    );
    let mut l = Launcher::new(
        SavedHosts::default(),
        credentials,
        Settings::default(),
        Vec::new(),
    );
    let effects = l.start_with(Some("127.0.0.1:47990"), Some(FP), None);
    let refresh = sent(&effects);
    assert!(
        matches!(&refresh[0], Request::Refresh { refresh_token, .. } if refresh_token.expose() == "r1")
    );
    assert_eq!(l.screen(), &Screen::Hosts);
    let effects = l.on_reply(Reply::SignedIn {
        ticket: ticket_of(&refresh[0]),
        user: "demo".into(),
        remembered: Some(Remembered {
            user: "demo".into(),
            refresh_token: Secret::new("r2"),
            refresh_expires_at: None,
        }),
    });
    assert!(effects.contains(&Effect::SaveCredentials));
    assert_eq!(l.credentials.get(FP).unwrap().refresh_token.expose(), "r2");

    // Sign out forgets it, here and at the service.
    let effects = l.act(Action::SignOut);
    assert!(effects.contains(&Effect::SaveCredentials));
    assert!(matches!(
        &sent(&effects)[0],
        Request::SignOut { refresh_token: Some(t), .. } if t.expose() == "r2"
    ));
    assert!(l.credentials.get(FP).is_none());
    assert_eq!(l.screen(), &Screen::SignIn);
}

#[test]
fn an_expired_remembered_sign_in_asks_again() {
    let mut credentials = Credentials::default();
    credentials.remember(
        FP,
        Remembered {
            user: "demo".into(),
            refresh_token: Secret::new("old"),
            refresh_expires_at: None,
        },
    );
    let mut l = Launcher::new(
        SavedHosts::default(),
        credentials,
        Settings::default(),
        Vec::new(),
    );
    let refresh = sent(&l.start_with(Some("127.0.0.1:47990"), Some(FP), None));
    let effects = l.on_reply(Reply::Failed {
        ticket: ticket_of(&refresh[0]),
        failure: Failure::RefreshExpired,
    });
    assert!(effects.contains(&Effect::SaveCredentials));
    assert!(l.credentials.get(FP).is_none());
    assert_eq!(l.screen(), &Screen::SignIn);
    assert_eq!(l.sign_in_form.user, "demo");
    assert_eq!(l.focus, Some(Field::Password));
    assert_eq!(
        l.error.as_deref(),
        Some("Your saved sign-in has expired. Sign in again.")
    );
}

#[test]
fn unticking_remember_me_forgets_the_saved_sign_in() {
    let mut l = at_sign_in();
    l.credentials.remember(
        FP,
        Remembered {
            user: "demo".into(),
            refresh_token: Secret::new("r"),
            refresh_expires_at: None,
        },
    );
    l.sign_in_form.remember = false;
    *l.sign_in_form.password.as_mut_string() = "pw".into();
    let effects = l.act(Action::SubmitSignIn);
    assert!(effects.contains(&Effect::SaveCredentials));
    assert!(l.credentials.get(FP).is_none());
    assert!(matches!(
        &sent(&effects)[0],
        Request::SignIn {
            remember: false,
            ..
        }
    ));
}

#[test]
fn the_credentials_file_never_holds_the_password() {
    let mut l = at_sign_in();
    let request = sign_in(&mut l, "hunter2-password");
    assert!(
        !format!("{request:?}").contains("hunter2"),
        "redacted in logs"
    );
    l.on_reply(Reply::SignedIn {
        ticket: ticket_of(&request),
        user: "demo".into(),
        remembered: Some(Remembered {
            user: "demo".into(),
            refresh_token: Secret::new("refresh-abc"),
            refresh_expires_at: Some("2030-01-01T00:00:00Z".into()),
        }),
    });
    let dir = std::env::temp_dir().join(format!("launcher-state-{}", std::process::id()));
    let path = dir.join(super::super::credentials::CREDENTIALS_FILE);
    l.credentials.save(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("refresh-abc"));
    assert!(text.contains(FP));
    assert!(!text.contains("hunter2"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unreachable_hosts_and_mismatched_certificates_are_said() {
    let mut l = at_sign_in();
    let r = sign_in(&mut l, "pw");
    l.on_reply(Reply::Failed {
        ticket: ticket_of(&r),
        failure: Failure::HostUnreachable {
            address: "127.0.0.1:47990".into(),
        },
    });
    assert_eq!(
        l.error.as_deref(),
        Some("Cannot reach the host at 127.0.0.1:47990. Is it running, and on this network?")
    );
    let r = sign_in(&mut l, "pw");
    l.on_reply(Reply::Failed {
        ticket: ticket_of(&r),
        failure: Failure::CertificateMismatch {
            presented_hex: "cd".repeat(32),
        },
    });
    assert!(l.error.as_deref().unwrap().contains("does not match"));
    assert_eq!(l.screen(), &Screen::SignIn);
}

#[test]
fn settings_return_where_they_were_opened() {
    let mut l = at_apps();
    let effects = l.act(Action::OpenSettings);
    assert_eq!(sent(&effects), vec![Request::ListAudioDevices]);
    assert_eq!(l.screen(), &Screen::Settings);
    let effects = l.act(Action::CloseSettings);
    assert_eq!(effects, vec![Effect::SaveSettings]);
    assert_eq!(l.screen(), &Screen::Apps);
}

#[test]
fn discovered_hosts_are_confirmed_before_they_are_saved() {
    let mut l = launcher();
    let found = DiscoveredHost {
        fullname: "living-room._appstream._tcp.local.".into(),
        host: SavedHost {
            name: "living-room".into(),
            address: "10.0.0.7".into(),
            port: 47990,
            fingerprint_hex: FP.into(),
        },
        protocol_version: 1,
    };
    l.on_discovery(Discovery::Found(found.clone()));
    l.on_discovery(Discovery::Found(found.clone()));
    assert_eq!(l.discovered.len(), 1);
    assert!(l.is_online(FP));
    l.act(Action::ChooseDiscovered(found.fullname.clone()));
    assert!(matches!(l.screen(), Screen::Trust(p) if !p.probed));
    l.act(Action::Trust(true));
    assert_eq!(l.hosts.hosts[0].name, "living-room");
    assert_eq!(l.screen(), &Screen::SignIn);
    l.on_discovery(Discovery::Lost {
        fullname: found.fullname,
    });
    assert!(!l.is_online(FP));
}

#[test]
fn problems_loading_files_are_said_at_start() {
    let l = Launcher::new(
        SavedHosts::default(),
        Credentials::default(),
        Settings::default(),
        vec!["settings.toml line 3: bad; using the defaults.".into()],
    );
    assert_eq!(
        l.error.as_deref(),
        Some("settings.toml line 3: bad; using the defaults.")
    );
}

#[test]
fn a_rotation_after_sign_out_is_revoked_not_saved() {
    let mut l = at_sign_in();
    let remembered = Remembered {
        user: "demo".into(),
        refresh_token: Secret::new("late-token"),
        refresh_expires_at: None,
    };
    // Nothing remembered for this host (signed out meanwhile).
    let effects = l.on_reply(Reply::Rotated {
        fingerprint_hex: FP.into(),
        remembered: remembered.clone(),
    });
    assert!(!effects.contains(&Effect::SaveCredentials));
    assert!(l.credentials.get(FP).is_none(), "not brought back");
    assert!(
        matches!(sent(&effects).as_slice(), [Request::SignOut { refresh_token: Some(t), .. }] if t.expose() == "late-token"),
        "the late token is revoked: {effects:?}"
    );
    // Still remembered: the rotated token replaces the old one.
    l.credentials.remember(FP, remembered);
    let effects = l.on_reply(Reply::Rotated {
        fingerprint_hex: FP.into(),
        remembered: Remembered {
            user: "demo".into(),
            refresh_token: Secret::new("next-token"),
            refresh_expires_at: None,
        },
    });
    assert!(effects.contains(&Effect::SaveCredentials));
    assert_eq!(
        l.credentials.get(FP).map(|r| r.refresh_token.expose()),
        Some("next-token")
    );
}
