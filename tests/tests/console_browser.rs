//! The web console in a real browser (Debian's chromium, headless, driven
//! over WebDriver by chromedriver; scripts/setup installs both): an
//! administrator enrols through the link `host console enrol` prints,
//! terminates a live session from the Now page, signs out and in again with
//! a new code; a read-only user sees no Terminate button; at a phone's
//! width (390 px) the sign-in and Now pages do not scroll sideways; a
//! malformed policy is refused in words, the simulator decides, the
//! applications are listed and the audit log pages back. A PNG of each
//! page is saved under the scratch directory's `screenshots/`.

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use common::api::{Session, SessionState};
use common::client::Method;
use e2e::browser::{Chromedriver, page_and_window_width, screenshot, wait_for};
use e2e::{HostProcess, admin_command, scratch_dir};
use fantoccini::{Client, Locator};
use host::control_plane::entitlement::passwords::totp_code;

const ADA_PASSWORD: &str = "ada's long console password";
const RORY_PASSWORD: &str = "rory reads only, twelve+";
const READ_ONLY_POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    { "Effect": "Allow", "Action": "appstream:Get*", "Resource": "*" }
  ]
}"#;

fn now_unix_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// Prints how long each step took (the test's timings, on a 2-core machine).
struct Steps(Instant, Instant);

impl Steps {
    fn new() -> Self {
        Steps(Instant::now(), Instant::now())
    }
    fn done(&mut self, what: &str) {
        eprintln!(
            "[console_browser] {what}: {:.1} s (total {:.1} s)",
            self.1.elapsed().as_secs_f64(),
            self.0.elapsed().as_secs_f64()
        );
        self.1 = Instant::now();
    }
}

async fn shot(client: &Client, dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(format!("{name}.png"));
    screenshot(client, &path).await.expect("screenshot");
    eprintln!("[console_browser] screenshot: {}", path.display());
    path
}

async fn fill(client: &Client, css: &str, text: &str) {
    wait_for(client, css)
        .await
        .expect("field")
        .send_keys(text)
        .await
        .unwrap_or_else(|e| panic!("typing into {css}: {e}"));
}

async fn click(client: &Client, css: &str) {
    wait_for(client, css)
        .await
        .expect("button")
        .click()
        .await
        .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
}

async fn text_of(client: &Client, css: &str) -> String {
    wait_for(client, css)
        .await
        .expect("element")
        .text()
        .await
        .expect("text")
}

/// Signs in on the sign-in page (already open) and waits for the Now page.
async fn sign_in(client: &Client, user: &str, password: &str, code: &str) {
    fill(client, "#user", user).await;
    fill(client, "#password", password).await;
    fill(client, "#code", code).await;
    click(client, "main form button[type=submit]").await;
    // The Now page, or the sign-in page again with why (role=alert).
    wait_for(client, "#sessions, #no-sessions, p[role=alert]")
        .await
        .expect("a page after signing in");
    if let Ok(refusal) = client.find(Locator::Css("p[role=alert]")).await {
        panic!(
            "signing in as {user} was refused: {}",
            refusal.text().await.unwrap_or_default()
        );
    }
}

/// Asserts the page does not scroll sideways; returns the two widths.
async fn assert_no_horizontal_scroll(client: &Client, page: &str) -> (u64, u64) {
    let (scroll_width, inner_width) = page_and_window_width(client).await.expect("widths");
    assert!(
        scroll_width <= inner_width,
        "{page} scrolls sideways at {inner_width} px: the page is {scroll_width} px wide"
    );
    (scroll_width, inner_width)
}

/// The live sessions' ids on the Now page, in order.
async fn listed_sessions(client: &Client) -> Vec<String> {
    let mut ids = Vec::new();
    for row in client
        .find_all(Locator::Css("#sessions tr[data-session]"))
        .await
        .expect("rows")
    {
        ids.push(
            row.attr("data-session")
                .await
                .expect("attr")
                .expect("an id"),
        );
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_real_browser() {
    let mut steps = Steps::new();
    let dir = scratch_dir("console-browser");
    let shots = dir.join("screenshots");
    let mut driver = Chromedriver::start(&dir.join("chromedriver")).expect(
        "chromedriver starts (Debian's chromium and chromium-driver: scripts/setup installs them)",
    );
    let host =
        HostProcess::start_with(&dir.join("host"), 320, 180, 30, &["--capture", "synthetic"])
            .expect("host starts");
    let api = host.admin_api().expect("admin key");
    steps.done("chromedriver and host started");

    // The administrator's one-time link, as `host console enrol` prints it.
    let out = admin_command(
        &host.data_dir,
        &[
            "console",
            "enrol",
            "ada",
            "--administrator",
            "--url",
            &host.base_url,
        ],
        "",
    )
    .expect("host console enrol");
    let link = out
        .lines()
        .find(|l| l.starts_with("https://"))
        .unwrap_or_else(|| panic!("no link in {out}"))
        .to_string();
    assert!(
        link.starts_with(&format!("{}/console/enrol?token=", host.base_url)),
        "{link}"
    );

    let admin = driver.browser(1280, 900).await.expect("a browser");
    admin.goto(&link).await.expect("the enrolment page loads");
    let key = text_of(&admin, "main p code").await;
    let key_line = text_of(&admin, "main .card p:has(> code)").await;
    assert!(key_line.starts_with("Key:"), "{key_line}");
    assert!(
        admin.find(Locator::Css(".qr svg")).await.is_ok(),
        "a QR code"
    );
    fill(&admin, "#password", ADA_PASSWORD).await;
    fill(&admin, "#again", ADA_PASSWORD).await;
    let code = totp_code(&key, now_unix_s()).expect("a code from the shown key");
    fill(&admin, "#code", &code).await;
    let enrolment_png = shot(&admin, &shots, "1-enrolment").await;
    click(&admin, "main form button[type=submit]").await;
    let empty = text_of(&admin, "#no-sessions").await;
    assert_eq!(empty, "No one is streaming.");
    assert!(
        text_of(&admin, "header").await.contains("Signed in as ada"),
        "the header names the user"
    );
    steps.done("enrolled in the browser (password and TOTP), on the Now page");

    // A live (pending) session, made through the API as an administrator would.
    let created = api
        .create_session("demo", "demo", Some(600))
        .await
        .expect("CreateSession");
    let id = created.session.id.clone();
    admin.refresh().await.expect("reload");
    wait_for(&admin, &format!("tr[data-session='{id}'] button.danger"))
        .await
        .expect("a Terminate button on the live session");
    let row = text_of(&admin, &format!("tr[data-session='{id}']")).await;
    assert!(
        row.contains("demo") && row.contains("PENDING") && row.contains("Terminate"),
        "{row}"
    );
    let session_png = shot(&admin, &shots, "2-now-with-session").await;

    click(&admin, &format!("tr[data-session='{id}'] button.danger")).await;
    let notice = text_of(&admin, "p.notice").await;
    assert_eq!(notice, "The session was terminated.");
    assert!(
        !listed_sessions(&admin).await.contains(&id),
        "the terminated session's row is gone"
    );
    let terminated_png = shot(&admin, &shots, "3-now-after-terminate").await;
    let session: Session = api
        .call(
            Method::GET,
            &format!("/api/applications/demo/sessions/{id}"),
            None::<&()>,
        )
        .await
        .expect("GetSession");
    assert_eq!(session.state, SessionState::Terminated, "{session:?}");
    steps.done("terminated a live session from the Now page");

    // Another live session, for the phone-width and read-only views.
    let second = api
        .create_session("demo", "demo", Some(600))
        .await
        .expect("CreateSession")
        .session
        .id;

    // A phone's width: sign out, the sign-in page, sign in again with a new
    // code (the enrolment's step was used: the next step's code, which the
    // host accepts one step ahead, and only once).
    admin.set_window_size(390, 844).await.expect("resize");
    click(&admin, "header form button[type=submit]").await;
    wait_for(&admin, "#user").await.expect("the sign-in page");
    let sign_in_widths = assert_no_horizontal_scroll(&admin, "the sign-in page").await;
    let sign_in_png = shot(&admin, &shots, "4-sign-in-390px").await;
    let code = totp_code(&key, now_unix_s() + 30).expect("the next code");
    sign_in(&admin, "ada", ADA_PASSWORD, &code).await;
    assert_eq!(listed_sessions(&admin).await, vec![second.clone()]);
    let now_widths = assert_no_horizontal_scroll(&admin, "the Now page").await;
    // The Terminate button is within reach without scrolling the table.
    let reach = admin
        .execute(
            "const b = document.querySelector('#sessions button.danger'); \
             return b ? b.getBoundingClientRect().right : -1;",
            Vec::new(),
        )
        .await
        .expect("script");
    eprintln!(
        "[console_browser] at 390 px: sign-in {sign_in_widths:?}, Now {now_widths:?} \
         (scrollWidth, innerWidth); Terminate's right edge at {reach} px"
    );
    let reach = reach.as_f64().expect("a number");
    assert!(
        (0.0..=390.0).contains(&reach),
        "the Terminate button must be on screen at 390 px (its right edge at {reach} px)"
    );
    let now_390_png = shot(&admin, &shots, "5-now-390px").await;
    steps.done("signed out and in again at 390 px, no sideways scroll");

    // A read-only user (appstream:Get* only) in a browser of its own.
    admin_command(
        &host.data_dir,
        &["users", "add", "rory", "--password-stdin"],
        &format!("{RORY_PASSWORD}\n"),
    )
    .expect("users add");
    let out = admin_command(&host.data_dir, &["users", "enable-totp", "rory"], "")
        .expect("users enable-totp");
    let rory_secret = out
        .lines()
        .find_map(|l| l.strip_prefix("secret: "))
        .unwrap_or_else(|| panic!("no secret in {out}"))
        .to_string();
    let policy_file = dir.join("read-only.json");
    std::fs::write(&policy_file, READ_ONLY_POLICY).expect("policy file");
    let policy_path = policy_file.to_str().expect("a UTF-8 path");
    admin_command(
        &host.data_dir,
        &["policies", "put", "ReadOnly", policy_path],
        "",
    )
    .expect("policies put");
    admin_command(
        &host.data_dir,
        &["policies", "attach", "ReadOnly", "rory"],
        "",
    )
    .expect("policies attach");

    let reader = driver.browser(1280, 900).await.expect("a second browser");
    reader
        .goto(&format!("{}/console", host.base_url))
        .await
        .expect("the console loads");
    wait_for(&reader, "#user").await.expect("sent to sign in");
    let code = totp_code(&rory_secret, now_unix_s()).expect("rory's code");
    sign_in(&reader, "rory", RORY_PASSWORD, &code).await;
    assert_eq!(listed_sessions(&reader).await, vec![second.clone()]);
    assert!(
        reader
            .find_all(Locator::Css("#sessions button"))
            .await
            .expect("find")
            .is_empty(),
        "a read-only user sees no Terminate button"
    );
    // Posting the form anyway is refused too; a browser cannot send it
    // without script (the CSP allows none), so the router test
    // `a_read_only_user_sees_no_button_and_its_post_is_refused`
    // (host/src/control_plane/console/tests.rs) covers that post.
    let read_only_png = shot(&reader, &shots, "6-now-read-only").await;
    steps.done("a read-only user: the session listed, no button");

    // The administrator, back at a desktop's width: a malformed policy is
    // refused in words and kept; the simulator names what decided; the
    // applications; the audit log, paged back.
    admin.set_window_size(1280, 900).await.expect("resize");
    admin
        .goto(&format!("{}/console/policies", host.base_url))
        .await
        .expect("the policies page");
    fill(&admin, "#policy-name", "Broken").await;
    fill(
        &admin,
        "#policy-document",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"appstream:Get*"}]}"#,
    )
    .await;
    click(
        &admin,
        "form[action='/console/policies'][method='post'] button",
    )
    .await;
    let error = text_of(&admin, "#policy-error").await;
    assert!(
        error.contains("the policy is refused: statement 1"),
        "{error}"
    );
    let kept = admin
        .find(Locator::Css("#policy-document"))
        .await
        .expect("the editor")
        .prop("value")
        .await
        .expect("its text")
        .unwrap_or_default();
    assert!(
        kept.contains("appstream:Get*"),
        "the document stays: {kept}"
    );
    let policy_error_png = shot(&admin, &shots, "7-policy-refused").await;
    for (action, expected) in [
        (
            "appstream:UpdateSessionState",
            "Denied: no policy allows it.",
        ),
        ("appstream:GetSessions", "Allowed"),
    ] {
        admin
            .goto(&format!("{}/console/policies", host.base_url))
            .await
            .expect("the policies page");
        fill(&admin, "#sim-principal", "rory").await;
        fill(&admin, "#sim-action", action).await;
        fill(&admin, "#sim-resource", "application/demo").await;
        click(&admin, "#simulate button").await;
        let verdict = text_of(&admin, "#verdict").await;
        assert!(verdict.contains(expected), "{action}: {verdict}");
    }
    let simulated_png = shot(&admin, &shots, "8-simulated").await;
    admin
        .goto(&format!("{}/console/applications", host.base_url))
        .await
        .expect("the applications page");
    wait_for(&admin, "[data-application='demo']")
        .await
        .expect("demo listed");
    let applications_png = shot(&admin, &shots, "9-applications").await;

    // An application added in the form, with an icon uploaded from a file.
    let icon_file = dir.join("racer.png");
    image::RgbaImage::from_fn(64, 64, |x, y| {
        image::Rgba([(x * 4) as u8, (y * 4) as u8, 200, 255])
    })
    .save(&icon_file)
    .expect("an icon file");
    click(&admin, "#add-application").await;
    fill(&admin, "#name", "racer").await;
    fill(&admin, "#description", "A racing game (the test pattern)").await;
    // Stream defaults small enough for this 2-core machine.
    for (field, value) in [("#width", "320"), ("#height", "180"), ("#fps", "30")] {
        wait_for(&admin, field)
            .await
            .expect("a stream field")
            .clear()
            .await
            .expect("cleared");
        fill(&admin, field, value).await;
    }
    fill(&admin, "#icon", icon_file.to_str().expect("a UTF-8 path")).await;
    click(&admin, "#application-form button[type=submit]").await;
    assert_eq!(
        text_of(&admin, "p.notice").await,
        "The application was added."
    );
    wait_for(&admin, "[data-application='racer'] img.icon")
        .await
        .expect("the new application with its icon");
    let icon_width = admin
        .execute(
            "return document.querySelector(\"[data-application='racer'] img.icon\").naturalWidth;",
            Vec::new(),
        )
        .await
        .expect("script");
    assert_eq!(icon_width.as_u64(), Some(64), "the uploaded icon is shown");
    let added_png = shot(&admin, &shots, "11-application-added").await;
    steps.done("added an application with an icon");

    // The demo user entitled to it on the Users page.
    admin
        .goto(&format!("{}/console/users", host.base_url))
        .await
        .expect("the users page");
    let entitle = "tr[data-user='demo'] form[action$='/entitlements']";
    wait_for(&admin, &format!("{entitle} select"))
        .await
        .expect("demo's entitle form")
        .select_by_value("racer")
        .await
        .expect("racer offered");
    click(&admin, &format!("{entitle} button")).await;
    assert_eq!(
        text_of(&admin, "p.notice").await,
        "The user may start the application now."
    );
    let demo_row = text_of(&admin, "tr[data-user='demo']").await;
    assert!(demo_row.contains("racer"), "{demo_row}");
    let entitled_png = shot(&admin, &shots, "12-users-entitled").await;
    steps.done("entitled the demo user on the Users page");

    // A real stream of the new application: the demo user signs in to the
    // entitlement service and a headless viewer plays it; the Now page
    // shows its figures and chart as its receiver reports arrive.
    let mut entitlement = host.entitlement_client().expect("entitlement client");
    let demo_password = host.demo_password().expect("the demo password");
    entitlement
        .sign_in("demo", &demo_password, None)
        .await
        .expect("the demo user signs in");
    let url = entitlement
        .entitle("racer")
        .await
        .expect("demo is entitled to racer")
        .url;
    let viewer = std::thread::spawn(move || e2e::run_headless_viewer(&url, 40.0));
    let chart = "#sessions figure.chart polyline.latency[points*=',']";
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    loop {
        admin
            .goto(&format!("{}/console", host.base_url))
            .await
            .expect("the Now page");
        if admin.find(Locator::Css(chart)).await.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no chart with latency on the Now page within 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    // Two more reloads' worth of samples, for a line rather than a dot.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    admin.refresh().await.expect("reload");
    let row = text_of(&admin, "#sessions tr[data-session]:has(figure.chart)").await;
    assert!(
        row.contains("racer") && row.contains("ACTIVE") && row.contains("320×180 · 30 fps"),
        "{row}"
    );
    assert!(
        row.contains("kbit/s") && row.contains(" ms") && row.contains(" %"),
        "bitrate, latency and loss: {row}"
    );
    eprintln!("[console_browser] live row: {}", row.replace('\n', " | "));
    let live_png = shot(&admin, &shots, "13-now-live-chart").await;
    click(
        &admin,
        "#sessions tr[data-session]:has(figure.chart) button.danger",
    )
    .await;
    assert_eq!(
        text_of(&admin, "p.notice").await,
        "The session was terminated."
    );
    let run = tokio::task::spawn_blocking(move || viewer.join())
        .await
        .expect("join")
        .expect("the viewer thread")
        .expect("the viewer ran");
    assert_eq!(
        run.summary()["end"],
        "admin_terminated",
        "the viewer was told: {}",
        run.stderr
    );
    steps.done("a live stream's chart on the Now page, terminated");

    // A key made on the Keys page: its secret is shown once, then never.
    admin
        .goto(&format!("{}/console/keys", host.base_url))
        .await
        .expect("the keys page");
    wait_for(&admin, "#key-principal")
        .await
        .expect("the principal select")
        .select_by_value("demo")
        .await
        .expect("demo offered");
    click(&admin, "#create-key button").await;
    let secret = text_of(&admin, "#new-secret").await;
    assert!(secret.len() >= 32, "a secret is shown: {secret:?}");
    let keys_png = shot(&admin, &shots, "14-keys-secret-once").await;
    admin.refresh().await.expect("reload");
    wait_for(&admin, "#keys").await.expect("the keys table");
    let source = admin.source().await.expect("page source");
    assert!(
        !source.contains(&secret),
        "the secret is not shown a second time"
    );
    steps.done("a key created, its secret shown once");
    // Each page the console shows is audited (one entry per API call):
    // enough of them for more than one page of the log.
    for _ in 0..30 {
        admin
            .goto(&format!("{}/console/applications", host.base_url))
            .await
            .expect("the applications page");
    }
    admin
        .goto(&format!("{}/console/audit", host.base_url))
        .await
        .expect("the audit page");
    let first_page = admin
        .find_all(Locator::Css("#audit tbody tr"))
        .await
        .expect("rows")
        .len();
    assert!(first_page > 0, "audit entries listed");
    click(&admin, "#older").await;
    wait_for(&admin, "#audit tbody tr")
        .await
        .expect("an older page");
    let audit_png = shot(&admin, &shots, "15-audit-older").await;
    steps.done("policy refused in words, two simulations, applications, audit paged");

    reader.close().await.expect("close the second browser");
    admin.close().await.expect("close the browser");
    drop(driver);
    host.stop().expect("host stops");
    steps.done("browsers, chromedriver and host stopped");
    for png in [
        enrolment_png,
        session_png,
        terminated_png,
        sign_in_png,
        now_390_png,
        read_only_png,
        policy_error_png,
        simulated_png,
        applications_png,
        audit_png,
        added_png,
        entitled_png,
        live_png,
        keys_png,
    ] {
        println!("screenshot: {}", png.display());
    }
}
