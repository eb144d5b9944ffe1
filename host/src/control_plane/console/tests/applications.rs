//! The Applications page and the Now page's stream figures: the list with
//! icons, add and edit through the form (an icon upload, a bad value that
//! keeps the form), a read-only user refused, and a streaming session's
//! row and chart.

use super::*;

#[tokio::test]
async fn applications_are_listed_with_icons_and_changed_by_those_allowed() {
    let h = harness();
    let (cookie, _) = enrol(&h, "ada", true).await;
    let icons = h._dir.path().join("icons");
    std::fs::create_dir_all(&icons).unwrap();
    let png = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../assets/icons/demo-game.png"
    ))
    .unwrap();
    std::fs::write(icons.join("game.png"), &png).unwrap();
    let new: common::api::NewApplication = serde_json::from_value(serde_json::json!({
        "name": "game", "description": "A game", "icon": "icons/game.png"
    }))
    .unwrap();
    h.store.create_application(&new, START).unwrap();
    let (_, page) = get(&h.router, "/console/applications", &cookie).await;
    assert!(
        page.contains("data-application=\"demo\"") && page.contains("A game"),
        "{page}"
    );
    assert!(
        page.contains("src=\"/console/applications/game/icon\""),
        "{page}"
    );
    let (response, body) = get(&h.router, "/console/applications/game/icon", &cookie).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "image/png");
    assert!(body.contains("PNG"), "a PNG");
    let (response, _) = get(&h.router, "/console/applications/game/icon", "").await;
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "signed out: no icon"
    );

    let csrf = field(&page, "csrf");
    let form = [("csrf", csrf.as_str()), ("state", "DISABLED")];
    let (response, _) = post(
        &h.router,
        "/console/applications/game/state",
        &cookie,
        &form,
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        h.store.application("game").unwrap().state,
        common::api::ApplicationState::Disabled
    );
    let notice = cookie_pair(&set_cookie(&response, NOTICE_COOKIE).unwrap());
    let with_notice = format!("{cookie}; {notice}");
    let (_, page) = get(&h.router, "/console/applications", &with_notice).await;
    assert!(
        page.contains("The application&#39;s state was changed.")
            || page.contains("state was changed"),
        "{page}"
    );
    assert!(page.contains(">Enable<"), "{page}");
    let (response, _) = post(
        &h.router,
        "/console/applications/game/remove",
        &cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(h.store.application("game").is_err());

    // Read-only: the list, no buttons, and the post refused.
    let rory = signed_in_read_only(&h).await;
    let (_, page) = get(&h.router, "/console/applications", &rory).await;
    assert!(page.contains("data-application=\"demo\""), "{page}");
    assert!(
        !page.contains(">Disable<") && !page.contains(">Remove<"),
        "{page}"
    );
    let csrf = field(&page, "csrf");
    let (response, _) = post(
        &h.router,
        "/console/applications/demo/remove",
        &rory,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(h.store.application("demo").is_ok());
}

#[tokio::test]
async fn a_streaming_session_shows_its_figures_and_chart() {
    let h = harness();
    let (cookie, _) = enrol(&h, "ada", true).await;
    let id = live_session(&h, "player");
    h.store
        .redeem(&token_hash("player"), START + 1)
        .unwrap()
        .unwrap();
    let _ended = h.plane.live.register(&id);
    let video = common::control::VideoParams {
        codec: common::control::VideoCodec::H264,
        width: 1280,
        height: 720,
        fps: 60,
        bitrate_kbps: 8000,
    };
    h.plane.live.set_video(&id, &video);
    for (i, latency) in [None, Some(11.0), Some(12.4)].into_iter().enumerate() {
        let sample = common::api::StreamSample {
            at_ms: START as u64 * 1000 + i as u64 * 1000,
            received_kbps: 4100.0,
            encoder_kbps: 4000,
            latency_p50_ms: latency,
            loss: 0.012,
            jitter_ms: 1.0,
        };
        h.plane.live.record(&id, sample);
    }
    let (response, page) = get(&h.router, "/console", &cookie).await;
    assert_eq!(response.status(), StatusCode::OK, "{page}");
    for shown in [
        "1280×720 · 60 fps · H.264",
        "4100 kbit/s",
        "encoder 4000 kbit/s",
        "1.2 %",
        "12 ms",
        "<svg",
        "class=\"latency\"",
        "http-equiv=\"refresh\"",
    ] {
        assert!(page.contains(shown), "{shown:?} missing: {page}");
    }
    // The same figures through the API, as GetSessionStatus.
    let status: common::api::SessionStatus = call::call(
        &crate::control_plane::api::router(h.plane.clone()),
        "ada",
        None,
        Method::GET,
        &format!("/api/applications/demo/sessions/{id}/status"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(status.stream.unwrap().samples.len(), 3);
}

/// A `multipart/form-data` body of text fields and an optional icon file.
fn multipart(fields: &[(&str, &str)], icon: Option<&[u8]>) -> (String, Vec<u8>) {
    let boundary = "console-test-boundary";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    if let Some(icon) = icon {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"icon\"; filename=\"game.png\"\r\n\
                 Content-Type: image/png\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(icon);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn post_multipart(
    router: &Router,
    path: &str,
    cookies: &str,
    fields: &[(&str, &str)],
    icon: Option<&[u8]>,
) -> (Response, String) {
    let (content_type, body) = multipart(fields, icon);
    let request = Request::post(path)
        .header(header::COOKIE, cookies)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .unwrap();
    send(router, request).await
}

#[tokio::test]
async fn an_application_is_added_with_an_icon_and_edited_and_a_bad_value_keeps_the_form() {
    let h = harness();
    let (cookie, _) = enrol(&h, "ada", true).await;
    let (_, page) = get(&h.router, "/console/applications", &cookie).await;
    assert!(
        page.contains("Add an application") && page.contains("Edit"),
        "{page}"
    );
    let (_, form) = get(&h.router, "/console/applications/new", &cookie).await;
    let csrf = field(&form, "csrf");
    let png = b"\x89PNG\r\n\x1a\nnot really pixels".to_vec();
    let fields = [
        ("csrf", csrf.as_str()),
        ("name", "game"),
        ("description", "A game"),
        ("command", ""),
        ("args", "--fast\n--level 2"),
        ("max_sessions", "2"),
        ("width", "1920"),
        ("height", "1080"),
        ("fps", "30"),
        ("bitrate_kbps", ""),
    ];
    // Without the page's CSRF token: refused, nothing added.
    let mut forged = fields;
    forged[0] = ("csrf", "forged");
    let (response, _) = post_multipart(
        &h.router,
        "/console/applications/new",
        &cookie,
        &forged,
        Some(&png),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(h.store.application("game").is_err());

    let (response, page) = post_multipart(
        &h.router,
        "/console/applications/new",
        &cookie,
        &fields,
        Some(&png),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{page}");
    let game = h.store.application("game").unwrap();
    assert_eq!(game.icon.as_deref(), Some("icons/game.png"));
    assert_eq!(game.args, ["--fast", "--level 2"]);
    assert_eq!(
        (game.stream.width, game.stream.fps, game.max_sessions),
        (1920, 30, 2)
    );
    let (response, icon) = get(&h.router, "/console/applications/game/icon", &cookie).await;
    assert_eq!(response.status(), StatusCode::OK);
    // (`send` reads the body as text: the first byte is not UTF-8.)
    assert!(
        icon.ends_with("PNG\r\n\u{1a}\nnot really pixels"),
        "{icon:?}"
    );

    // A value that is not a number: the form again, as typed, saying why.
    let edit = "/console/applications/game/edit";
    let (_, form) = get(&h.router, edit, &cookie).await;
    assert!(form.contains("value=\"1920\""), "{form}");
    let mut bad = fields;
    bad[8] = ("fps", "sixty");
    bad[2] = ("description", "Renamed");
    let (response, page) = post_multipart(&h.router, edit, &cookie, &bad, None).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        page.contains("Frames per second must be a whole number, not &quot;sixty&quot;"),
        "{page}"
    );
    assert!(page.contains("value=\"sixty\"") && page.contains("value=\"Renamed\""));
    assert_eq!(h.store.application("game").unwrap().description, "A game");
    // A PNG that is not one: saved, the icon refused in words.
    let mut good = fields;
    good[2] = ("description", "Renamed");
    let (response, page) = post_multipart(&h.router, edit, &cookie, &good, Some(b"GIF89a")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{page}");
    assert!(
        page.contains("the icon was refused") && page.contains("not a PNG"),
        "{page}"
    );
    assert_eq!(h.store.application("game").unwrap().description, "Renamed");
}

#[tokio::test]
async fn a_read_only_user_cannot_add_or_edit_an_application() {
    let h = harness();
    let cookie = signed_in_read_only(&h).await;
    let (_, page) = get(&h.router, "/console/applications", &cookie).await;
    assert!(
        !page.contains("Add an application") && !page.contains(">Edit<"),
        "{page}"
    );
    let (_, form) = get(&h.router, "/console/applications/demo/edit", &cookie).await;
    let csrf = field(&form, "csrf");
    let fields = [
        ("csrf", csrf.as_str()),
        ("name", "sneaky"),
        ("description", "changed"),
        ("command", ""),
        ("max_sessions", "1"),
        ("width", "640"),
        ("height", "480"),
        ("fps", "30"),
    ];
    let (response, page) = post_multipart(
        &h.router,
        "/console/applications/new",
        &cookie,
        &fields,
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "{page}");
    assert!(
        page.contains("may not perform appstream:CreateApplication"),
        "{page}"
    );
    let (response, page) = post_multipart(
        &h.router,
        "/console/applications/demo/edit",
        &cookie,
        &fields,
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "{page}");
    assert!(h.store.application("sneaky").is_err());
    assert_eq!(h.store.application("demo").unwrap().description, "");
}
