//! On a Windows target, embeds the viewer's icon and version in viewer.exe
//! (what Explorer, the taskbar and the appstream:// handler show). Cross
//! builds from Linux use MinGW's resource compiler (scripts/build-windows).

fn main() {
    println!("cargo:rerun-if-changed=../assets/icons/appstream-viewer.ico");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("windows") {
        return;
    }
    let mut resource = winresource::WindowsResource::new();
    resource
        .set_icon("../assets/icons/appstream-viewer.ico")
        .set("ProductName", "AppStream Viewer")
        .set("FileDescription", "AppStream Viewer");
    let cross_gnu = std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu") && !cfg!(windows);
    if cross_gnu {
        resource
            .set_windres_path("x86_64-w64-mingw32-windres")
            .set_ar_path("x86_64-w64-mingw32-ar");
    }
    if let Err(e) = resource.compile() {
        panic!("embedding the icon in viewer.exe: {e}");
    }
}
